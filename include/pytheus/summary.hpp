// Summary: the sum and count of observations.
#pragma once

#include <functional>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "pytheus/metric.hpp"

namespace pytheus {

/// BasicSummary keeps the sum and count of observations (no quantiles, as in pytheus); an
/// observation updates both as one unit. Use the alias Summary.
///
/// **Example**:
///     pytheus::Summary sizes("payload_bytes", "Payload sizes.");
///     sizes.observe(512);
template <class B = LoadedBackend>
class BasicSummary : public detail::MetricHandle<detail::HistogramSeries<B>> {
  using Base = detail::MetricHandle<detail::HistogramSeries<B>>;
  friend Base;

 public:
  BasicSummary(std::string name, std::string description,
               std::vector<std::string> required_labels = {}, Labels default_labels = {},
               RegistryRef registry = {})
      : BasicSummary(MetricOptions{std::move(name),
                                   std::move(description),
                                   std::move(required_labels),
                                   std::move(default_labels),
                                   registry,
                                   {},
                                   {}}) {}
  explicit BasicSummary(MetricOptions options) : Base(MetricType::summary, std::move(options)) {}

  BasicSummary labels(std::initializer_list<LabelPair> labels) const {
    return this->template with_labels<BasicSummary>(labels.begin(), labels.end());
  }
  template <class Map,
            class = decltype(std::string_view(std::declval<const Map&>().begin()->first))>
  BasicSummary labels(const Map& labels) const {
    return this->template with_labels<BasicSummary>(labels.begin(), labels.end());
  }

  /// Records `value`. Throws InvalidValueError for NaN.
  void observe(double value) const {
    if (PYTHEUS_UNLIKELY(value != value)) {
      throw InvalidValueError("summary " + detail::quote_name(this->name()) +
                              ": observe(NaN) refused");
    }
    this->series().get().observe(value, 0);
  }

  /// Returns the sum and count of this series (buckets empty).
  HistogramSnapshot snapshot() const { return this->series().get().snapshot(); }

  /// Returns a timer that observes the seconds elapsed when the scope ends.
  auto time() const {
    this->series();
    return detail::ScopeTimer([s = *this](double seconds) { s.observe(seconds); });
  }
  template <class F>
  decltype(auto) time(F&& f) const {
    auto timer = time();
    return std::invoke(std::forward<F>(f));
  }
  template <class F>
  auto wrap_time(F f) const {
    return [s = *this, f = std::move(f)](auto&&... args) mutable -> decltype(auto) {
      auto timer = s.time();
      return std::invoke(f, std::forward<decltype(args)>(args)...);
    };
  }

 private:
  explicit BasicSummary(typename Base::Parts parts) : Base(std::move(parts)) {}
};

/// Summary is a summary on the loaded backend.
using Summary = BasicSummary<>;

}  // namespace pytheus
