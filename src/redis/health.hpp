// What went wrong and whether the server is reachable: the process-wide failure counters
// (exported by self_metrics), one-time logging, and each configuration's up/down state.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

namespace pytheus::detail::redis {

struct Counters {
  std::atomic<std::uint64_t> errors{0};
  std::atomic<std::uint64_t> dropped{0};
  std::atomic<std::uint64_t> invalid_fields{0};
  std::atomic<std::uint64_t> flushes{0};
  std::atomic<std::uint64_t> redirections{0};
};

// This process's counters; never destroyed (backend objects may count until exit).
Counters& counters();

void log_line(const std::string& message);

// Logs `message` the first time `key` is seen in this process.
void log_once(const std::string& key, const std::string& message);

// In a forked child: counts and logged problems start afresh (they are per process).
void reset_counters_in_child();

// Health is one configuration's view of its server. Outages are noticed by whichever thread
// fails first; every connection of the configuration is then reopened (the epoch changes) and
// new attempts wait `retry_ms`, so that an outage costs at most one timeout now and then.
class Health {
 public:
  Health(std::string endpoint, int retry_ms);

  const std::string& endpoint() const { return endpoint_; }
  // How long attempts wait after a failure.
  int retry_ms() const { return retry_ms_; }

  // A connection or round trip failed: counted, logged when the outage begins.
  void mark_down(const std::string& why);
  // A connection succeeded: logged when an outage ends.
  void mark_up();
  bool is_down() const { return down_.load(std::memory_order_relaxed); }
  // True while down and the next attempt is not yet due.
  bool waiting_to_retry() const;
  // Why the last connection or round trip failed (what a scrape reports while it waits).
  std::string last_error() const;

  // Bumped when every connection must be reopened (an outage began, a fork, or the sentinels
  // announced a new master).
  std::uint64_t epoch() const { return epoch_.load(std::memory_order_acquire); }
  // Every connection is reopened before its next use (the master moved), without an outage.
  void reconnect() { epoch_.fetch_add(1); }

  // A command Redis refused (a key of the wrong type, say): counted, logged once.
  void command_error(const std::string& text) const;

  // In a forked child: connections are the parent's, and a parent thread may have held the
  // lock.
  void reset_in_child();

 private:
  const std::string endpoint_;
  const int retry_ms_;
  std::atomic<bool> down_{false};
  std::atomic<std::int64_t> next_probe_{0};
  std::atomic<std::uint64_t> epoch_{1};
  mutable std::mutex last_error_mu_;
  std::string last_error_;
};

}  // namespace pytheus::detail::redis
