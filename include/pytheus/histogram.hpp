// Histogram: observations counted in buckets, with their sum and count.
#pragma once

#include <algorithm>
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
    // An ExemplarScope or an exemplar provider exists somewhere: see whether it applies.
    if (PYTHEUS_UNLIKELY(detail::exemplar_hooks.load(std::memory_order_relaxed) != 0)) {
      ExemplarData e;
      if (detail::hooked_exemplar(d.name, e)) {
        return observe_exemplar(series, value, bucket, e, std::nullopt);
      }
    }
    series.get().observe(value, bucket);
  }

  /// Records `value` and makes it the exemplar of the bucket it falls in, with labels
  /// `exemplar` (most often a trace id) and `timestamp` (Unix seconds; default now).
  /// OpenMetrics shows each bucket's latest exemplar after its `_bucket` sample. Throws
  /// LabelError for an invalid label name, a value that is not UTF-8 or a label set over
  /// 128 characters. Allocates nothing once the series has had its first exemplar.
  ///
  /// **Example**:
  ///     latency.observe(0.25, {{"trace_id", span.trace_id()}});
  void observe(double value, std::initializer_list<LabelPair> exemplar,
               std::optional<double> timestamp = std::nullopt) const {
    auto& series = this->series();
    ExemplarData e;
    detail::encode_exemplar(series.descriptor().name, exemplar.begin(), exemplar.size(), e);
    observe_exemplar(series, value, e, timestamp);
  }
  void observe(double value, const Labels& exemplar,
               std::optional<double> timestamp = std::nullopt) const {
    auto& series = this->series();
    ExemplarData e;
    detail::encode_exemplar(series.descriptor().name, exemplar, e);
    observe_exemplar(series, value, e, timestamp);
  }

  /// Returns the bucket upper bounds, ending with +Inf.
  const std::vector<double>& buckets() const { return this->descriptor().bounds; }

  /// Returns the cumulative bucket counts, sum and count of this series.
  HistogramSnapshot snapshot() const { return this->series().get().snapshot(); }

 private:
  explicit BasicHistogram(typename Base::Parts parts) : Base(std::move(parts)) {}

  template <class S>
  void observe_exemplar(S& series, double value, ExemplarData& e,
                        std::optional<double> timestamp) const {
    const MetricDescriptor& d = series.descriptor();
    if (PYTHEUS_UNLIKELY(!detail::is_finite(value))) detail::throw_not_finite(d, "observe", value);
    const std::size_t bucket = static_cast<std::size_t>(
        std::lower_bound(d.bounds.begin(), d.bounds.end(), value) - d.bounds.begin());
    observe_exemplar(series, value, bucket, e, timestamp);
  }

  template <class S>
  void observe_exemplar(S& series, double value, std::size_t bucket, ExemplarData& e,
                        std::optional<double> timestamp) const {
    if (timestamp && !detail::is_finite(*timestamp)) {
      detail::throw_not_finite(series.descriptor(), "exemplar timestamp", *timestamp);
    }
    e.value = value;
    e.timestamp = timestamp ? *timestamp : detail::unix_time_now();
    series.get().observe_with_exemplar(value, bucket, e);
  }
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
