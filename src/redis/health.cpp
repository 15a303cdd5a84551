// Logging is once per kind of problem and process: a failing Redis must not flood stderr at
// the rate of metric updates; the counters say how often it happened.
#include "health.hpp"

#include <chrono>
#include <cstdio>
#include <new>
#include <unordered_set>

namespace pytheus::detail::redis {
namespace {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct Logged {
  std::mutex mu;
  std::unordered_set<std::string> keys;
};
Logged& logged() {
  static Logged* l = new Logged();
  return *l;
}

}  // namespace

Counters& counters() {
  static Counters* c = new Counters();
  return *c;
}

void log_line(const std::string& message) {
  std::string line = "pytheus: " + message + "\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
}

void log_once(const std::string& key, const std::string& message) {
  Logged& l = logged();
  {
    std::lock_guard<std::mutex> lock(l.mu);
    if (!l.keys.insert(key).second) return;
  }
  log_line(message);
}

void reset_counters_in_child() {
  new (&logged().mu) std::mutex();  // a parent thread may have held it
  Counters& c = counters();
  c.errors.store(0);
  c.dropped.store(0);
  c.invalid_fields.store(0);
  c.flushes.store(0);
  c.redirections.store(0);
}

Health::Health(std::string endpoint, int retry_ms)
    : endpoint_(std::move(endpoint)), retry_ms_(retry_ms) {}

void Health::mark_down(const std::string& why) {
  counters().errors.fetch_add(1, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(last_error_mu_);
    last_error_ = why;
  }
  next_probe_.store(now_ms() + retry_ms_, std::memory_order_relaxed);
  if (!down_.exchange(true)) {
    epoch_.fetch_add(1);
    log_line("Redis at " + endpoint_ + " is unreachable (" + why +
             "); metric updates are kept in this process and sent when it is back");
  }
}

void Health::mark_up() {
  if (down_.exchange(false)) log_line("Redis at " + endpoint_ + " is reachable again");
}

bool Health::waiting_to_retry() const {
  return down_.load() && now_ms() < next_probe_.load();
}

std::string Health::last_error() const {
  std::lock_guard<std::mutex> lock(last_error_mu_);
  return last_error_.empty() ? "connection failed" : last_error_;
}

void Health::command_error(const std::string& text) const {
  counters().errors.fetch_add(1, std::memory_order_relaxed);
  log_once("cmd:" + text, "Redis at " + endpoint_ + " refused a metric update: " + text +
                              " (a key of another type under a metric's name? further errors "
                              "are counted in pytheus_redis_errors_total)");
}

void Health::reset_in_child() {
  epoch_.fetch_add(1);
  new (&last_error_mu_) std::mutex();  // a parent thread may have held it
}

}  // namespace pytheus::detail::redis
