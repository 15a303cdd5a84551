// Histogram: observations counted in buckets, with their sum and count.
#pragma once

#include <algorithm>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pytheus/metric.hpp"

namespace pytheus {

/// BasicHistogram counts observations (request latencies, payload sizes) in cumulative
/// buckets and keeps their sum and count. An observation is one unit: a collect never sees
/// `+Inf` != `_count` or a lower bucket above a higher one. Buckets default to
/// default_buckets(); custom ones must be non-empty and strictly increasing (+Inf is
/// added). Use the alias Histogram.
///
/// **Example**:
///     pytheus::Histogram latency("request_seconds", "Latency.", {"route"}, {{"route", "/"}});
///     latency.observe(0.3);
///     { auto timer = latency.time(); handle(); }
template <class B = LoadedBackend>
class BasicHistogram : public detail::MetricHandle<BasicHistogram<B>, detail::HistogramSeries<B>>,
                       public detail::Timed<BasicHistogram<B>> {
  using Base = detail::MetricHandle<BasicHistogram<B>, detail::HistogramSeries<B>>;
  friend Base;
  friend detail::Timed<BasicHistogram>;

 public:
  BasicHistogram(std::string_view name, std::string_view description,
                 LabelNames required_labels = {}, LabelDefaults default_labels = {},
                 RegistryRef registry = {}, const Buckets& buckets = {})
      : Base(MetricType::histogram, name, description, required_labels, default_labels, registry,
             &buckets) {}
  /// A histogram with native buckets (see NativeHistogramOptions and docs/histograms.md):
  ///     pytheus::Histogram h("rpc_seconds", "RPC latency.", {}, {}, {}, {},
  ///                          pytheus::NativeHistogramOptions{});
  BasicHistogram(std::string_view name, std::string_view description, LabelNames required_labels,
                 LabelDefaults default_labels, RegistryRef registry, const Buckets& buckets,
                 const NativeHistogramOptions& native)
      : Base(MetricType::histogram,
             with_native(detail::make_options(name, description, required_labels, default_labels,
                                              registry, &buckets),
                         native)) {}
  explicit BasicHistogram(MetricOptions options)
      : Base(MetricType::histogram, std::move(options)) {}

  /// Records `value`. Throws InvalidValueError for NaN.
  void observe(double value) const {
    auto& series = this->series();
    const MetricDescriptor& d = series.descriptor();
    if (PYTHEUS_UNLIKELY(!detail::is_finite(value))) detail::throw_not_finite(d, "observe", value);
    const std::size_t bucket = static_cast<std::size_t>(
        std::lower_bound(d.bounds.begin(), d.bounds.end(), value) - d.bounds.begin());
    series.get().observe(value, bucket);
  }

  /// Returns the bucket upper bounds, ending with +Inf.
  const std::vector<double>& buckets() const { return this->descriptor().bounds; }

  /// Returns the cumulative bucket counts, sum and count of this series.
  HistogramSnapshot snapshot() const { return this->series().get().snapshot(); }

 private:
  explicit BasicHistogram(typename Base::Parts parts) : Base(std::move(parts)) {}
  static MetricOptions with_native(MetricOptions o, const NativeHistogramOptions& native) {
    o.native = native;
    return o;
  }
  void record_duration(double seconds) const { observe(seconds); }
};

/// Histogram is a histogram on the loaded backend.
using Histogram = BasicHistogram<>;

// Compiled once in the core library.
extern template class detail::MetricHandle<BasicHistogram<>,
                                           detail::HistogramSeries<LoadedBackend>>;

}  // namespace pytheus
