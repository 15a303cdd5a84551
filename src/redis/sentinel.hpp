// Locator: where the master is. Without sentinels it is the configured server; with them
// (Redis Sentinel) the sentinels are asked each time a connection opens, so that every
// reconnection after a failure follows a failover. Thread-safe; holds no lock, so fork is safe.
//
// SwitchWatcher follows the sentinels' `+switch-master` announcements, so that a failover
// with the old master still up (SENTINEL FAILOVER, say) is followed at once rather than when
// a connection fails.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "config.hpp"
#include "health.hpp"

struct redisReply;

namespace pytheus::detail::redis {

class Connection;

class Locator {
 public:
  explicit Locator(const Config& cfg);

  // Opens `conn` to the master. With sentinels: asks them in turn (the last one that
  // answered first) with SENTINEL get-master-addr-by-name and connects to the address named,
  // which must answer ROLE with "master". Returns an empty string, or why it failed (never a
  // secret). Takes at most (sentinels + 1) x (connect_timeout_ms + command_timeout_ms).
  std::string open(Connection& conn, int connect_timeout_ms);

  // The next open asks sentinel `i` first (it just announced a new master, which the others
  // may not know yet).
  void prefer(std::size_t i) { first_.store(i, std::memory_order_relaxed); }

 private:
  // The master's address by sentinel `i`, or an empty host and `why`.
  bool ask(std::size_t i, int connect_timeout_ms, std::string& host, int& port,
           std::string& why) const;

  const Config& cfg_;
  Config sentinel_cfg_;  // the sentinels' credentials, no database
  std::atomic<std::size_t> first_{0};
};

// A thread subscribed to one sentinel's `+switch-master` channel on its own connection (the
// next sentinel when that one fails or stops answering). When a sentinel announces a new
// master for master_name, every connection of the configuration is reopened before its next
// use (Health::reconnect), and the Locator asks that sentinel first. Application threads never
// wait for it. Started lazily (with the first update, in each process: a forked child starts
// its own), only when sentinels are configured.
class SwitchWatcher {
 public:
  SwitchWatcher(const Config& cfg, Health& health, Locator& locator);

  void ensure_running() {
    if (active_ && !running_.load(std::memory_order_acquire)) start();
  }
  // Stops the thread for good (at exit).
  void stop();
  // Master switches followed by this process.
  std::uint64_t switches() const { return switches_.load(std::memory_order_relaxed); }

  // Fork: its lock is held across fork(); in the child the parent's thread and socket are
  // let go of (the socket closed, the thread object kept, never joined).
  void lock_for_fork() { thread_mu_.lock(); }
  void unlock_after_fork() { thread_mu_.unlock(); }
  void reset_in_child(std::vector<std::thread*>& abandoned_threads);

 private:
  void start();
  void main();
  bool subscribe(Connection& c, std::size_t i, std::string& why);
  void handle(const redisReply* r, std::size_t sentinel);
  bool stopping();
  void pause(int ms);

  const Config& cfg_;
  Health& health_;
  Locator& locator_;
  Config sentinel_cfg_;
  const bool active_;
  std::atomic<int> fd_{-1};  // the subscription's socket, for a forked child to close
  std::atomic<std::uint64_t> switches_{0};

  std::mutex thread_mu_;
  std::condition_variable cv_;
  std::thread* thread_ = nullptr;
  std::atomic<bool> running_{false};
  bool stopped_ = false;
};

}  // namespace pytheus::detail::redis
