// Process liveness for per-process gauges: this process's heartbeat key (TTL process_ttl_s,
// refreshed about every third of it), and the collection of dead processes' fields, so that
// per-process hashes stay bounded however many processes come and go. Runs on the flusher's
// control connection, under its lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "config.hpp"
#include "connection.hpp"

namespace pytheus::detail::redis {

// Runs commands (each an argument list, its key first after the name) and returns their
// replies in order, or an empty vector when Redis could not be reached: one pipeline on the
// flusher's connection, or routed per key on a cluster.
using Runner = std::function<std::vector<Reply>(const std::vector<std::vector<std::string>>&)>;

// Wall-clock milliseconds since the epoch.
double wall_ms();

class Liveness {
 public:
  explicit Liveness(const Config& cfg);

  // This process's id in per-process keys ("<pid>@<host>").
  std::string id() const;

  // A per-process gauge key is in use here: heartbeats start, and the key is made known to
  // the garbage collection of every process. `live`: its mode drops dead processes at once.
  void note_key(const std::string& key, bool live);
  bool active() const { return active_.load(std::memory_order_acquire); }
  // True once this process's heartbeat was sent: until then its per-process values go
  // through the flusher, which sends the heartbeat first.
  bool announced() const { return last_beat_.load(std::memory_order_acquire) != 0; }

  // Milliseconds between heartbeats.
  int period_ms() const { return period_ms_; }
  // True when a heartbeat is due.
  bool due() const;

  // Sends the heartbeat and, once per process_ttl_s across all processes, collects dead
  // processes' fields. False when the connection failed (the caller marks it down).
  bool beat(const Runner& run);

  // At a clean exit: the heartbeat is deleted, so live modes drop this process at once.
  void leave(const Runner& run);

  // In a forked child: a new id, a heartbeat due at once.
  void reset_in_child();

 private:
  bool collect(const Runner& run);

  const Config& cfg_;
  const int period_ms_;
  std::string host_;
  mutable std::mutex mu_;
  std::string id_;
  std::vector<std::string> members_;  // "live|KEY" / "keep|KEY": every key noted here
  std::atomic<bool> active_{false};
  std::atomic<std::int64_t> last_beat_{0};
  std::int64_t last_gc_ = 0;
};

}  // namespace pytheus::detail::redis
