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
class BasicSummary : public detail::MetricHandle<BasicSummary<B>, detail::HistogramSeries<B>>,
                     public detail::Timed<BasicSummary<B>> {
  using Base = detail::MetricHandle<BasicSummary<B>, detail::HistogramSeries<B>>;
  friend Base;
  friend detail::Timed<BasicSummary>;

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

 private:
  explicit BasicSummary(typename Base::Parts parts) : Base(std::move(parts)) {}
  void record_duration(double seconds) const { observe(seconds); }
};

/// Summary is a summary on the loaded backend.
using Summary = BasicSummary<>;

}  // namespace pytheus
