// Gauge: a value that goes up and down.
#pragma once

#include <chrono>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pytheus/metric.hpp"

namespace pytheus {

/// BasicGauge is a metric whose value goes up and down: requests in flight, queue length,
/// temperature. `B` is where values live (see BasicCounter). Use the alias Gauge.
///
/// **Example**:
///     pytheus::Gauge in_flight("in_flight_requests", "Requests being served.");
///     { auto guard = in_flight.track_inprogress(); serve(); }
template <class B = LoadedBackend>
class BasicGauge : public detail::MetricHandle<BasicGauge<B>, detail::ValueSeries<B>>,
                   public detail::Timed<BasicGauge<B>> {
  using Base = detail::MetricHandle<BasicGauge<B>, detail::ValueSeries<B>>;
  friend Base;
  friend detail::Timed<BasicGauge>;

 public:
  BasicGauge(std::string_view name, std::string_view description, LabelNames required_labels = {},
             LabelDefaults default_labels = {}, RegistryRef registry = {},
             GaugeMode mode = GaugeMode::backend_default)
      : Base(MetricType::gauge, name, description, required_labels, default_labels, registry,
             nullptr, mode) {}
  explicit BasicGauge(MetricOptions options) : Base(MetricType::gauge, std::move(options)) {}

  /// Adds `value` (default 1). Throws InvalidValueError for NaN.
  void inc(double value = 1) const {
    check(value, "inc");
    this->series().get().inc(value);
  }
  /// Subtracts `value` (default 1). Throws InvalidValueError for NaN.
  void dec(double value = 1) const {
    check(value, "dec");
    this->series().get().dec(value);
  }
  /// Sets the value. Throws InvalidValueError for NaN.
  void set(double value) const {
    check(value, "set");
    this->series().get().set(value);
  }
  /// Sets the value to the current Unix time in seconds.
  void set_to_current_time() const {
    set(std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
  }
  double get() const { return this->series().get().get(); }

  /// Returns a guard that adds 1 now and subtracts it when the scope ends, also by an
  /// exception.
  auto track_inprogress() const {
    inc();
    class Guard {
     public:
      explicit Guard(BasicGauge g) : g_(std::move(g)) {}
      Guard(Guard&& o) noexcept : g_(o.g_), active_(o.active_) { o.active_ = false; }
      Guard(const Guard&) = delete;
      Guard& operator=(const Guard&) = delete;
      Guard& operator=(Guard&&) = delete;
      ~Guard() {
        if (active_) {
          try {
            g_.dec();
          } catch (...) {
          }
        }
      }

     private:
      BasicGauge g_;
      bool active_ = true;
    };
    return Guard(*this);
  }
  /// Calls `f()` with the gauge raised by 1 for its duration; returns what `f` returns.
  template <class F>
  decltype(auto) track_inprogress(F&& f) const {
    auto guard = track_inprogress();
    return std::invoke(std::forward<F>(f));
  }
  /// Returns `f` wrapped so that each call is tracked in progress: the decorator form.
  template <class F>
  auto wrap_track_inprogress(F f) const {
    return [g = *this, f = std::move(f)](auto&&... args) mutable -> decltype(auto) {
      auto guard = g.track_inprogress();
      return std::invoke(f, std::forward<decltype(args)>(args)...);
    };
  }

 private:
  explicit BasicGauge(typename Base::Parts parts) : Base(std::move(parts)) {}
  void record_duration(double seconds) const { set(seconds); }

  void check(double value, const char* op) const {
    if (PYTHEUS_UNLIKELY(!detail::is_finite(value)))
      detail::throw_not_finite(this->descriptor(), op, value);
  }
};

/// Gauge is a gauge on the loaded backend.
using Gauge = BasicGauge<>;

// Compiled once in the core library.
extern template class detail::MetricHandle<BasicGauge<>, detail::ValueSeries<LoadedBackend>>;

}  // namespace pytheus
