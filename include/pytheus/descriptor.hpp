// MetricDescriptor: the immutable description of a metric family (name, help, type, label
// schema, buckets, cardinality limit), and MetricCollector, the collector of a built-in
// metric. Descriptors are made once, when the metric is defined, and shared by its series.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pytheus/backend.hpp"
#include "pytheus/collector.hpp"
#include "pytheus/detail/label_lookup.hpp"
#include "pytheus/metric_options.hpp"

namespace pytheus {

/// MetricDescriptor is the immutable description of a metric family.
struct MetricDescriptor {
  std::string name;
  std::string help;
  std::string unit;
  MetricType type = MetricType::untyped;
  /// The required label names, in the order they were declared (and are written).
  std::vector<std::string> label_names;
  /// The default value of each label, or nullopt.
  std::vector<std::optional<std::string>> defaults;
  /// Histogram bucket upper bounds, ending with +Inf; empty for other types.
  std::vector<double> bounds;
  /// The bounds as written in `le` labels ("0.005", "1", "+Inf").
  std::vector<std::string> le_values;
  /// Histograms with native buckets: their options, the schema resolved from any factor.
  std::optional<NativeHistogramOptions> native;
  /// The most label sets the metric takes (0: no limit), and what happens beyond it.
  std::size_t max_series = 0;
  Overflow overflow = Overflow::refuse;
  /// Gauges: the mode as declared, and the label of the process in modes all and liveall.
  GaugeMode gauge_mode = GaugeMode::backend_default;
  std::string process_label;
  /// Whether `_created` samples are shown; nullopt: created_samples_default().
  std::optional<bool> created_samples;
  /// Enum and StateSet: the states; whether exactly one holds (Enum: the value is the index
  /// of that state) or any may (StateSet: the value is a bit mask of those that hold).
  std::vector<std::string> states;
  bool exclusive_states = false;
  /// The prefix of the registry the metric was created in (at construction), or "".
  std::string registry_prefix;

  static constexpr std::size_t npos = static_cast<std::size_t>(-1);

  /// Returns the position of label `label` in label_names, or npos. `hint` is checked
  /// first: labels are usually given in their declared order.
  std::size_t index_of(std::string_view label, std::size_t hint = 0) const {
    if (hint < label_names.size() && detail::same(label_names[hint], label)) return hint;
    for (std::size_t i = 0; i < label_names.size(); ++i) {
      if (detail::same(label_names[i], label)) return i;
    }
    return npos;
  }
};

/// MetricCollector is the collector of a built-in metric: the scrape reads its series
/// through the loaded backend's bulk read when there is one.
class MetricCollector : public Collector {
 public:
  virtual const MetricDescriptor& descriptor() const = 0;
  /// True when the metric's values live on the backend load_backend() chose.
  virtual bool on_loaded_backend() const = 0;
  /// The label values (in label_names order) of each child this process created, in
  /// creation order.
  virtual std::vector<std::vector<std::string>> label_sets() const = 0;
  /// The same and, in `created`, each child's creation time (Unix seconds), from one
  /// consistent look at the children.
  virtual std::vector<std::vector<std::string>> label_sets(std::vector<double>& created) const = 0;
};

namespace detail {

// Validates `options` for a metric of `type` and builds its descriptor; throws
// InvalidNameError, LabelError or BucketError naming what is wrong.
MetricDescriptor make_descriptor(MetricType type, MetricOptions& options);

// The MetricInfo of the series with label `values` (label_names order).
MetricInfo make_info(const MetricDescriptor& d, const std::vector<std::string>& values,
                     double created = 0);

// `{}`, for backends of a static type, which get no loaded configuration.
const BackendConfig& empty_config();

// What a backend stores a metric of `type` as: info and stateset metrics are gauges (one value
// per series), so every backend stores them.
constexpr MetricType stored_type(MetricType type) {
  return type == MetricType::info || type == MetricType::stateset ? MetricType::gauge : type;
}

// The wall clock in Unix seconds: a series' creation time.
double unix_time_now();

// Whether the series of `d` show `_created` samples (counters, histograms and summaries
// whose setting, or else the process-wide default, says so).
bool shows_created(const MetricDescriptor& d);

// Refuses label values a new series cannot be exposed with (not valid UTF-8), with a
// LabelError naming the label; called once per series, when it is created.
void check_new_series(const MetricDescriptor& d, const std::string_view* values);

[[noreturn]] void throw_unobservable(const MetricDescriptor& d);
[[noreturn]] void throw_not_finite(const MetricDescriptor& d, const char* operation, double value);

// Whether `v` is neither infinite nor NaN, without <cmath>: x - x is 0 only for finite x.
constexpr bool is_finite(double v) {
  return v - v == 0;
}
[[noreturn]] void throw_bad_increment(const MetricDescriptor& d, double value);
[[noreturn]] void throw_unknown_label(const MetricDescriptor& d, std::string_view label);
[[noreturn]] void throw_label_twice(const MetricDescriptor& d, std::string_view label);
[[noreturn]] void throw_family_gone(const MetricDescriptor& d);
[[noreturn]] void throw_no_labels(const MetricDescriptor& d, const char* what);
[[noreturn]] void throw_remove_incomplete(const MetricDescriptor& d);
[[noreturn]] void throw_cardinality(const MetricDescriptor& d, const std::string_view* values);

}  // namespace detail
}  // namespace pytheus
