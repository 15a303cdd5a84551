// MetricOptions: every setting of a metric, and the histogram bucket helpers. The
// positional constructors of Counter, Gauge, Histogram and Summary fill the common ones.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pytheus/backend.hpp"
#include "pytheus/labels.hpp"
#include "pytheus/registry.hpp"

namespace pytheus {

/// Overflow says what a metric limited to `max_series` label sets does with a new one.
enum class Overflow {
  /// labels() throws CardinalityError.
  refuse,
  /// The update goes to one overflow series whose every label value is kOverflowLabelValue.
  fold,
};

/// The label value of the overflow series of a metric with Overflow::fold.
inline constexpr std::string_view kOverflowLabelValue = "__overflow__";

/// Buckets is the bucket argument of a histogram: left out or `{}`, the default buckets;
/// otherwise the given upper bounds, which must be non-empty and strictly increasing.
class Buckets {
 public:
  Buckets() = default;
  Buckets(std::initializer_list<double> bounds) : bounds_(bounds) {}   // NOLINT: implicit
  Buckets(std::vector<double> bounds) : bounds_(std::move(bounds)) {}  // NOLINT: implicit
  /// The bounds given, or nullopt for the default buckets.
  const std::optional<std::vector<double>>& bounds() const { return bounds_; }

 private:
  std::optional<std::vector<double>> bounds_;
};

/// MetricOptions is every setting of a metric; the positional constructors fill the common
/// ones.
struct MetricOptions {
  std::string name;
  std::string description;
  std::vector<std::string> required_labels;
  Labels default_labels;
  RegistryRef registry;
  /// OpenMetrics unit ("seconds"); the name must then end with "_<unit>" (before "_total").
  std::string unit;
  /// Histogram bucket upper bounds (default: default_buckets()). Ignored elsewhere.
  Buckets buckets;
  /// Histograms: native (sparse exponential) buckets. Without `classic_buckets`, the
  /// histogram has no classic buckets but +Inf, and `buckets` must be left out.
  std::optional<NativeHistogramOptions> native;
  /// Cardinality protection: the most label sets the metric takes (0: no limit). Beyond
  /// it, new label sets are refused or folded into one overflow series (`overflow`), and
  /// counted in `pytheus_series_overflow_total{metric="<name>"}` in the default registry.
  std::size_t max_series = 0;
  Overflow overflow = Overflow::refuse;
  /// Gauges only: what the gauge means across processes (see GaugeMode).
  GaugeMode gauge_mode = GaugeMode::backend_default;
  /// Gauges in mode all or liveall: the label naming each series' process.
  std::string process_label = "pid";
  /// Counters, histograms and summaries: whether OpenMetrics shows each series' `_created`
  /// sample (its creation time). nullopt: the process-wide default, set_created_samples().
  std::optional<bool> created_samples;
  /// Enum and StateSet: the states, in exposition order.
  std::vector<std::string> states;
  /// Enum sets it: exactly one state holds at a time.
  bool exclusive_states = false;
};

/// Sets whether metrics whose MetricOptions leave `created_samples` unset show `_created`
/// samples in OpenMetrics (default true). Read at each scrape, so it may be called at any
/// time, before or after the metrics are defined.
void set_created_samples(bool enabled);
/// The process-wide default that set_created_samples() sets.
bool created_samples_default();

/// LabelNames is the required_labels argument of the positional metric constructors: a
/// braced list of names (`{"method", "code"}`) or a vector of strings. It views its
/// argument, so it is only a parameter type.
class LabelNames {
 public:
  LabelNames() = default;
  LabelNames(std::initializer_list<std::string_view> names)  // NOLINT: implicit by design
      : list_(names) {}
  LabelNames(const std::vector<std::string>& names) : vector_(&names) {}  // NOLINT
  /// The names as strings.
  std::vector<std::string> to_vector() const;

 private:
  std::initializer_list<std::string_view> list_;
  const std::vector<std::string>* vector_ = nullptr;
};

/// LabelDefaults is the default_labels argument of the positional metric constructors: a
/// braced list of pairs (`{{"route", "/"}}`) or a Labels map. It views its argument.
class LabelDefaults {
 public:
  using Pair = std::pair<std::string_view, std::string_view>;
  LabelDefaults() = default;
  LabelDefaults(std::initializer_list<Pair> labels)  // NOLINT: implicit by design
      : list_(labels) {}
  LabelDefaults(const Labels& labels) : map_(&labels) {}  // NOLINT
  /// The labels as a Labels map.
  Labels to_labels() const;

 private:
  std::initializer_list<Pair> list_;
  const Labels* map_ = nullptr;
};

namespace detail {
// The options of a positional constructor call.
MetricOptions make_options(std::string_view name, std::string_view description,
                           const LabelNames& required_labels, const LabelDefaults& default_labels,
                           RegistryRef registry, const Buckets* buckets,
                           GaugeMode gauge_mode = GaugeMode::backend_default);
}  // namespace detail

/// The default histogram buckets: 0.005 ... 10 seconds, then +Inf.
const std::vector<double>& default_buckets();

/// Returns `count` buckets: start, start + width, ... Throws BucketError unless count > 0
/// and width > 0.
std::vector<double> linear_buckets(double start, double width, std::size_t count);

/// Returns `count` buckets: start, start * factor, ... Throws BucketError unless count > 0,
/// start > 0 and factor > 1.
std::vector<double> exponential_buckets(double start, double factor, std::size_t count);

}  // namespace pytheus
