// Timers: time(), time(f) and wrap_time(f) for gauges, histograms and summaries.
#pragma once

#include <chrono>
#include <functional>
#include <utility>

namespace pytheus::detail {

// Keeps a callable to run with the elapsed seconds when the scope ends.
template <class F>
class ScopeTimer {
 public:
  explicit ScopeTimer(F record)
      : record_(std::move(record)), start_(std::chrono::steady_clock::now()) {}
  ScopeTimer(ScopeTimer&& other) noexcept
      : record_(std::move(other.record_)), start_(other.start_), active_(other.active_) {
    other.active_ = false;
  }
  ScopeTimer(const ScopeTimer&) = delete;
  ScopeTimer& operator=(const ScopeTimer&) = delete;
  ScopeTimer& operator=(ScopeTimer&&) = delete;
  ~ScopeTimer() {
    if (active_) record_(elapsed());
  }
  /// Seconds since the timer started.
  double elapsed() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }
  /// Records now instead of at scope exit; returns the seconds recorded.
  double stop() {
    double s = elapsed();
    if (active_) record_(s);
    active_ = false;
    return s;
  }

 private:
  F record_;
  std::chrono::steady_clock::time_point start_;
  bool active_ = true;
};

template <class F>
ScopeTimer(F) -> ScopeTimer<F>;

// Adds time(), time(f) and wrap_time(f) to a handle whose record_duration(seconds) records
// a duration (a gauge sets it, a histogram or summary observes it).
template <class Derived>
class Timed {
 public:
  /// Returns a timer that records the seconds elapsed when the scope ends.
  auto time() const {
    const Derived& self = static_cast<const Derived&>(*this);
    self.series();  // fail now, not in a destructor, when labels are missing
    return ScopeTimer([h = self](double seconds) { h.record_duration(seconds); });
  }
  /// Calls `f()` and records the seconds it took; returns what `f` returns.
  template <class F>
  decltype(auto) time(F&& f) const {
    auto timer = time();
    return std::invoke(std::forward<F>(f));
  }
  /// Returns `f` wrapped so that each call's duration is recorded: the decorator form.
  template <class F>
  auto wrap_time(F f) const {
    return [h = static_cast<const Derived&>(*this),
            f = std::move(f)](auto&&... args) mutable -> decltype(auto) {
      auto timer = h.time();
      return std::invoke(f, std::forward<decltype(args)>(args)...);
    };
  }
};

}  // namespace pytheus::detail
