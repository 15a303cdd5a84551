// Counter: a value that only goes up.
#pragma once

#include <exception>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pytheus/exemplar.hpp"
#include "pytheus/metric.hpp"

namespace pytheus {

namespace detail {

// Returns whether the exception being handled is an E. Call only inside a handler.
template <class E>
bool current_exception_is() {
  try {
    throw;
  } catch (const E&) {
    return true;
  } catch (...) {
    return false;
  }
}

// Returns whether the exception being handled is one of Es (any, when Es is empty).
template <class... Es>
bool exception_matches() {
  if constexpr (sizeof...(Es) == 0) {
    return true;
  } else {
    return (current_exception_is<Es>() || ...);
  }
}

}  // namespace detail

/// BasicCounter is a metric whose value only goes up: requests served, tasks completed,
/// errors seen. `B` is where values live; the default, LoadedBackend, is whatever
/// load_backend() chose. Use the alias Counter.
///
/// **Example**:
///     pytheus::Counter requests("http_requests_total", "Requests served.", {"method", "code"});
///     requests.labels({{"method", "GET"}, {"code", "200"}}).inc();
template <class B = LoadedBackend>
class BasicCounter : public detail::MetricHandle<BasicCounter<B>, detail::ValueSeries<B>> {
  using Base = detail::MetricHandle<BasicCounter<B>, detail::ValueSeries<B>>;
  friend Base;

 public:
  /// Creates and registers a counter. Throws InvalidNameError, LabelError or
  /// RegistrationError for a bad name, bad labels or a name already taken.
  BasicCounter(std::string_view name, std::string_view description, LabelNames required_labels = {},
               LabelDefaults default_labels = {}, RegistryRef registry = {})
      : Base(MetricType::counter, name, description, required_labels, default_labels, registry,
             nullptr) {}
  explicit BasicCounter(MetricOptions options) : Base(MetricType::counter, std::move(options)) {}

  /// Adds `value` (default 1). Throws InvalidValueError for a negative, infinite or NaN
  /// value (no backend could store it the same way).
  void inc(double value = 1) const {
    if (PYTHEUS_UNLIKELY(!(value >= 0) || !detail::is_finite(value))) throw_bad_increment(value);
    auto& s = this->series();
    // An ExemplarScope or an exemplar provider exists somewhere: see whether it applies.
    if (PYTHEUS_UNLIKELY(detail::exemplar_hooks.load(std::memory_order_relaxed) != 0)) {
      return inc_hooked(s, value);
    }
    s.get().inc(value);
  }

  /// Adds `value` and records it as the series' exemplar, with labels `exemplar` (most often
  /// a trace id) and `timestamp` (Unix seconds; default now). OpenMetrics shows the latest
  /// one after the `_total` sample. Throws LabelError for an invalid label name, a value
  /// that is not UTF-8 or a label set over 128 characters; InvalidValueError as inc().
  /// Allocates nothing once the series has had its first exemplar.
  ///
  /// **Example**:
  ///     requests.inc(1, {{"trace_id", span.trace_id()}});
  void inc(double value, std::initializer_list<LabelPair> exemplar,
           std::optional<double> timestamp = std::nullopt) const {
    if (PYTHEUS_UNLIKELY(!(value >= 0) || !detail::is_finite(value))) throw_bad_increment(value);
    auto& s = this->series();
    ExemplarData e;
    detail::encode_exemplar(s.descriptor().name, exemplar.begin(), exemplar.size(), e);
    inc_exemplar(s, value, e, timestamp);
  }
  void inc(double value, const Labels& exemplar,
           std::optional<double> timestamp = std::nullopt) const {
    if (PYTHEUS_UNLIKELY(!(value >= 0) || !detail::is_finite(value))) throw_bad_increment(value);
    auto& s = this->series();
    ExemplarData e;
    detail::encode_exemplar(s.descriptor().name, exemplar, e);
    inc_exemplar(s, value, e, timestamp);
  }

  /// Returns the latest exemplar of this series, if the backend keeps one.
  std::optional<Exemplar> exemplar() const { return detail::exemplar_of(this->series().get()); }

  /// Returns the current value.
  double get() const { return this->series().get().get(); }

  /// Returns a guard that adds 1 if the scope it lives in is left by an exception.
  ///
  /// **Example**:
  ///     { auto guard = failures.count_exceptions(); risky(); }
  auto count_exceptions() const {
    this->series();  // fail now, not in a destructor, when labels are missing
    class Guard {
     public:
      explicit Guard(BasicCounter c) : c_(std::move(c)), uncaught_(std::uncaught_exceptions()) {}
      Guard(Guard&& o) noexcept : c_(o.c_), uncaught_(o.uncaught_), active_(o.active_) {
        o.active_ = false;
      }
      Guard(const Guard&) = delete;
      Guard& operator=(const Guard&) = delete;
      Guard& operator=(Guard&&) = delete;
      ~Guard() {
        if (active_ && std::uncaught_exceptions() > uncaught_) {
          try {
            c_.inc();
          } catch (...) {  // never throw from a destructor during unwinding
          }
        }
      }

     private:
      BasicCounter c_;
      int uncaught_;
      bool active_ = true;
    };
    return Guard(*this);
  }

  /// Calls `f()`; if it throws one of `Es` (any exception when none are given), adds 1 and
  /// rethrows. Returns what `f` returns.
  template <class... Es, class F>
  decltype(auto) count_exceptions(F&& f) const {
    this->series();
    try {
      return std::invoke(std::forward<F>(f));
    } catch (...) {
      if (detail::exception_matches<Es...>()) inc();
      throw;
    }
  }

  /// Returns `f` wrapped so that every call counts the exceptions of types `Es` (any when
  /// none are given) it throws: the decorator form.
  template <class... Es, class F>
  auto wrap_count_exceptions(F f) const {
    return [c = *this, f = std::move(f)](auto&&... args) mutable -> decltype(auto) {
      return c.template count_exceptions<Es...>([&]() -> decltype(auto) {
        return std::invoke(f, std::forward<decltype(args)>(args)...);
      });
    };
  }

 private:
  explicit BasicCounter(typename Base::Parts parts) : Base(std::move(parts)) {}

  template <class S>
  void inc_exemplar(S& s, double value, ExemplarData& e, std::optional<double> timestamp) const {
    if (timestamp && !detail::is_finite(*timestamp)) {
      detail::throw_not_finite(s.descriptor(), "exemplar timestamp", *timestamp);
    }
    e.value = value;
    e.timestamp = timestamp ? *timestamp : detail::unix_time_now();
    detail::inc_with_exemplar(s.get(), value, e);
  }

  template <class S>
  void inc_hooked(S& s, double value) const {
    ExemplarData e;
    if (!detail::hooked_exemplar(s.descriptor().name, e)) return s.get().inc(value);
    inc_exemplar(s, value, e, std::nullopt);
  }

  [[noreturn]] void throw_bad_increment(double value) const {
    detail::throw_bad_increment(this->descriptor(), value);
  }
};

/// Counter is a counter on the loaded backend.
using Counter = BasicCounter<>;

// Compiled once in the core library.
extern template class detail::MetricHandle<BasicCounter<>, detail::ValueSeries<LoadedBackend>>;

}  // namespace pytheus
