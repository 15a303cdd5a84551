// Write-behind delivery: the control connection, the batch of deltas in flight, queued
// deletions of removed series, and the flusher thread. Scrapes read through it too, so that
// what this process has counted is in Redis before Redis is read.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cluster_router.hpp"
#include "config.hpp"
#include "connection.hpp"
#include "delta_store.hpp"
#include "health.hpp"
#include "liveness.hpp"
#include "sentinel.hpp"

namespace pytheus::detail::redis {

class Flusher {
 public:
  Flusher(const Config& cfg, Health& health, DeltaStore& store, Locator& locator,
          Liveness& liveness);

  // Opens the control connection at load time; throws BackendError when it cannot.
  void connect_or_throw();
  // The same without throwing: an unreachable server is marked down (retried later).
  void try_connect();

  // Delivers every pending delta and deletion. Returns true when nothing is left pending;
  // else `why` says what failed. A connection that was open and fails is retried once on a
  // new one at once (the server may just have restarted). With `force` (at exit) it connects
  // even while waiting to retry after a failure.
  bool flush(std::string& why, bool force = false);

  // Flushes, then reads `keys` (read_keys) on the control connection. Throws CollectError
  // naming the server when Redis cannot be reached.
  Reply flush_and_read(const std::vector<KeyToRead>& keys);

  // Runs one command on the control connection (after a scrape's read). Throws CollectError
  // when Redis cannot be reached.
  Reply run(const std::vector<std::string>& args);

  // At a clean exit, once everything is delivered: this process's heartbeat and flush
  // sequence key are deleted (nobody needs them any more).
  void leave();

  // The series of `s` was removed: its local deltas, and those taken for a flush but not
  // yet delivered, are dropped (a later flush must not bring it back), and the deletion of
  // its fields or keys is queued behind every earlier update; with `now`, delivered at once.
  // Returns true when the deletion is left pending.
  bool erase(Slot& s, bool now);

  // Deletions not yet delivered (write-through operations wait behind them).
  bool erasing() const { return erasing_.load(std::memory_order_relaxed) != 0; }
  // Series with updates not yet in Redis: dirty, in the batch, or deletions.
  std::size_t pending() const;

  // Starts the flusher thread unless it runs (or was stopped).
  void ensure_running() {
    if (!running_.load(std::memory_order_acquire)) start();
  }
  // Stops the thread for good (at exit).
  void stop();

  // Fork: lock order control, then the store's, then the thread's.
  void lock_control_for_fork() { control_mu_.lock(); }
  void lock_thread_for_fork() { thread_mu_.lock(); }
  void unlock_after_fork();
  // In the child: what was pending belongs to the parent; its socket and thread are not
  // ours. Releases the locks; the store's is released by its own reset_in_child.
  void reset_in_child(std::vector<std::thread*>& abandoned_threads);

 private:
  bool flush_locked(std::string& why);
  void beat_if_due();
  bool control_usable();
  bool ensure_control(std::string& why, bool force = false);
  void control_failed(std::string& why);
  void take_pending();
  bool deliver_batch(std::string& why);
  bool sequence_applied(std::string& why, bool& applied);
  void append_sequence_set(const std::string& seq);
  void append_wait();
  bool replicated(const redisReply* wait, std::string& why);
  bool confirm_replicated(std::string& why);
  void append_entry(Connection& c, const Entry& e, std::size_t& cmds);
  std::vector<Reply> run_commands(const std::vector<std::vector<std::string>>& cmds,
                                  std::string& why);
  Runner runner(std::string& why);
  bool deliver_cluster(std::string& why);
  void drop_entries(const std::string& tag);
  Reply read_cluster(const std::vector<KeyToRead>& keys, std::string& why);
  void batch_applied();
  void new_identity();
  void start();
  void main();

  const Config& cfg_;
  Health& health_;
  DeltaStore& store_;
  Locator& locator_;
  Liveness& liveness_;
  const std::string ttl_;
  const std::string wait_replicas_;
  const std::string wait_timeout_;

  std::mutex control_mu_;
  Connection control_;
  // On a Redis Cluster (cfg.cluster()): the routing, used instead of control_. A batch then
  // goes out as one transaction per hash tag, each with its own sequence key; the tags whose
  // transaction's fate is unknown (its connection failed) and every tag that has a sequence
  // key (deleted at exit).
  std::unique_ptr<ClusterRouter> router_;
  std::set<std::string> maybe_applied_;
  std::set<std::string> seq_tags_;
  std::uint64_t control_epoch_ = 0;
  std::vector<Entry> batch_;
  bool batch_sent_ = false;  // its EXEC may have been applied: look the sequence key up
  std::uint64_t batch_seq_ = 0;
  std::uint64_t seq_ = 0;
  std::string seq_key_;
  std::atomic<std::size_t> batch_size_{0};
  // Removed series whose deletion is not yet in batch_ (control_mu_), their number, and the
  // number of deletions not yet delivered (queued or in batch_).
  std::vector<std::shared_ptr<const Keys>> erasures_;
  std::atomic<std::size_t> queued_erasures_{0};
  std::atomic<std::size_t> erasing_{0};

  std::mutex thread_mu_;
  std::condition_variable cv_;
  std::thread* thread_ = nullptr;
  std::atomic<bool> running_{false};
  bool stopped_ = false;
};

}  // namespace pytheus::detail::redis
