// Summary: the sum and count of observations.
#pragma once

#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
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
  BasicSummary(std::string_view name, std::string_view description, LabelNames required_labels = {},
               LabelDefaults default_labels = {}, RegistryRef registry = {})
      : Base(MetricType::summary, name, description, required_labels, default_labels, registry,
             nullptr) {}
  explicit BasicSummary(MetricOptions options) : Base(MetricType::summary, std::move(options)) {}

  /// Records `value`. Throws InvalidValueError for NaN.
  void observe(double value) const {
    if (PYTHEUS_UNLIKELY(!detail::is_finite(value))) {
      detail::throw_not_finite(this->descriptor(), "observe", value);
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

// Compiled once in the core library.
extern template class detail::MetricHandle<BasicSummary<>, detail::HistogramSeries<LoadedBackend>>;

}  // namespace pytheus
