// Building a metric's descriptor: every check of names, labels, unit and buckets happens
// here, once, when the metric is defined.
#include "pytheus/descriptor.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "pytheus/detail/format.hpp"
#include "pytheus/detail/native.hpp"
#include "pytheus/detail/strings.hpp"
#include "pytheus/errors.hpp"
#include "pytheus/labels.hpp"
#include "pytheus/registry.hpp"

namespace pytheus {
namespace {
std::atomic<bool> g_created_samples{true};
}  // namespace

void set_created_samples(bool enabled) {
  g_created_samples.store(enabled, std::memory_order_relaxed);
}

bool created_samples_default() {
  return g_created_samples.load(std::memory_order_relaxed);
}

/// The default histogram buckets: 0.005 ... 10 seconds, then +Inf.
const std::vector<double>& default_buckets() {
  static const std::vector<double> b = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  return b;
}

/// Returns `count` buckets: start, start + width, ... Throws BucketError unless count > 0
/// and width > 0.
std::vector<double> linear_buckets(double start, double width, std::size_t count) {
  if (count == 0 || !(width > 0) || !std::isfinite(start)) {
    throw BucketError("linear_buckets needs count > 0, width > 0 and a finite start");
  }
  std::vector<double> b(count);
  for (std::size_t i = 0; i < count; ++i) b[i] = start + width * static_cast<double>(i);
  return b;
}

/// Returns `count` buckets: start, start * factor, ... Throws BucketError unless count > 0,
/// start > 0 and factor > 1.
std::vector<double> exponential_buckets(double start, double factor, std::size_t count) {
  if (count == 0 || !(start > 0) || !(factor > 1) || !std::isfinite(start)) {
    throw BucketError("exponential_buckets needs count > 0, start > 0 and factor > 1");
  }
  std::vector<double> b(count);
  double v = start;
  for (std::size_t i = 0; i < count; ++i, v *= factor) b[i] = v;
  return b;
}

std::vector<std::string> LabelNames::to_vector() const {
  if (vector_ != nullptr) return *vector_;
  return std::vector<std::string>(list_.begin(), list_.end());
}

Labels LabelDefaults::to_labels() const {
  if (map_ != nullptr) return *map_;
  Labels out;
  for (const Pair& p : list_) {
    if (!out.emplace(std::string(p.first), std::string(p.second)).second) {
      throw LabelError("default label " + detail::quote_name(p.first) + " is given twice");
    }
  }
  return out;
}

namespace {
constexpr std::pair<GaugeMode, std::string_view> kGaugeModes[] = {
    {GaugeMode::backend_default, "backend_default"},
    {GaugeMode::shared, "shared"},
    {GaugeMode::all, "all"},
    {GaugeMode::sum, "sum"},
    {GaugeMode::max, "max"},
    {GaugeMode::min, "min"},
    {GaugeMode::mostrecent, "mostrecent"},
    {GaugeMode::liveall, "liveall"},
    {GaugeMode::livesum, "livesum"},
    {GaugeMode::livemax, "livemax"},
    {GaugeMode::livemin, "livemin"},
    {GaugeMode::livemostrecent, "livemostrecent"},
};
}  // namespace

std::string_view to_string(GaugeMode mode) {
  for (const auto& [m, name] : kGaugeModes) {
    if (m == mode) return name;
  }
  return "backend_default";
}

GaugeMode parse_gauge_mode(std::string_view name) {
  for (const auto& [m, n] : kGaugeModes) {
    if (n == name) return m;
  }
  return GaugeMode::backend_default;
}

namespace detail {

MetricOptions make_options(std::string_view name, std::string_view description,
                           const LabelNames& required_labels, const LabelDefaults& default_labels,
                           RegistryRef registry, const Buckets* buckets, GaugeMode gauge_mode) {
  MetricOptions o;
  o.name = std::string(name);
  o.description = std::string(description);
  o.required_labels = required_labels.to_vector();
  o.default_labels = default_labels.to_labels();
  o.registry = registry;
  if (buckets != nullptr) o.buckets = *buckets;
  o.gauge_mode = gauge_mode;
  return o;
}

const BackendConfig& empty_config() {
  static const BackendConfig* c = new BackendConfig(BackendConfig::object());
  return *c;
}

namespace {

// Checks native options and resolves the schema from a bucket factor.
NativeHistogramOptions validate_native(const std::string& name, NativeHistogramOptions n) {
  const std::string of = " of histogram " + quote_name(name);
  if (n.bucket_factor != 0) {
    if (!(n.bucket_factor > 1) || !std::isfinite(n.bucket_factor)) {
      throw BucketError("native bucket_factor " + format_double(n.bucket_factor) + of +
                        " must be a finite number above 1 (or 0 to use schema)");
    }
    n.schema = native::schema_for_factor(n.bucket_factor);
  } else if (n.schema < native::kMinSchema || n.schema > native::kMaxSchema) {
    throw BucketError("native schema " + std::to_string(n.schema) + of +
                      " is out of range; it must be from -4 to 8");
  }
  if (!(n.zero_threshold >= 0) || !std::isfinite(n.zero_threshold)) {
    throw BucketError("native zero_threshold " + format_double(n.zero_threshold) + of +
                      " must be a finite number >= 0");
  }
  if (n.max_buckets == 0) {
    throw BucketError("native max_buckets" + of + " is 0; it must be at least 1");
  }
  if (!(n.max_zero_threshold >= 0) || !std::isfinite(n.max_zero_threshold)) {
    throw BucketError("native max_zero_threshold " + format_double(n.max_zero_threshold) + of +
                      " must be a finite number >= 0");
  }
  if (!(n.min_reset_seconds >= 0) || !std::isfinite(n.min_reset_seconds)) {
    throw BucketError("native min_reset_seconds " + format_double(n.min_reset_seconds) + of +
                      " must be a finite number >= 0");
  }
  return n;
}

}  // namespace

MetricDescriptor make_descriptor(MetricType type, MetricOptions& o) {
  MetricDescriptor d;
  validate_metric_name(o.name);
  d.name = o.name;
  d.help = o.description;
  d.type = type;
  if (!o.unit.empty()) {
    if (!matches_name(o.unit, false) && !(o.unit[0] >= '0' && o.unit[0] <= '9')) {
      throw InvalidNameError("invalid unit " + quote_name(o.unit) + " for metric " +
                             quote_name(o.name));
    }
    std::string suffix = "_" + o.unit;
    auto ends_with = [&](const std::string& s) {
      return d.name.size() > s.size() && d.name.compare(d.name.size() - s.size(), s.size(), s) == 0;
    };
    if (!ends_with(suffix) && !(type == MetricType::counter && ends_with(suffix + "_total"))) {
      throw InvalidNameError("metric " + quote_name(o.name) + " has unit " + quote_name(o.unit) +
                             " so its name must end with " + quote_name(suffix) +
                             (type == MetricType::counter
                                  ? " (or " + quote_name(suffix + "_total") + ")"
                                  : std::string()));
    }
    d.unit = o.unit;
  }
  std::string_view reserved = type == MetricType::histogram ? "le"
                              : type == MetricType::summary ? "quantile"
                                                            : "";
  for (const std::string& label : o.required_labels) {
    validate_label_name(label, o.name, reserved);
    if (d.index_of(label) != MetricDescriptor::npos) {
      throw LabelError("label " + quote_name(label) +
                       " is listed twice in required_labels of metric " + quote_name(o.name));
    }
    d.label_names.push_back(label);
  }
  if (o.gauge_mode != GaugeMode::backend_default && type != MetricType::gauge) {
    throw InvalidValueError("metric " + quote_name(o.name) + " is a " +
                            std::string(to_string(type)) + "; gauge_mode applies to gauges only");
  }
  d.gauge_mode = o.gauge_mode;
  if (type == MetricType::gauge) {
    validate_label_name(o.process_label, o.name);
    for (const std::string& label : o.required_labels) {
      if (label == o.process_label && is_per_process_series(o.gauge_mode)) {
        throw LabelError("label " + quote_name(label) + " of gauge " + quote_name(o.name) +
                         " is its process label in gauge_mode " +
                         std::string(to_string(o.gauge_mode)) +
                         "; set process_label to another name");
      }
    }
    d.process_label = o.process_label;
  }
  if (type == MetricType::info || type == MetricType::stateset) {
    // One value per series, set by its one process: across processes the latest set wins.
    d.gauge_mode = GaugeMode::mostrecent;
    if (type == MetricType::info && d.name.size() >= 5 &&
        d.name.compare(d.name.size() - 5, 5, "_info") == 0) {
      throw InvalidNameError("info metric " + quote_name(o.name) +
                             " must be named without _info: the sample adds it");
    }
  }
  if (type == MetricType::stateset) {
    if (o.states.empty()) {
      throw InvalidValueError("metric " + quote_name(o.name) + " needs at least one state");
    }
    if (!o.exclusive_states && o.states.size() > 53) {
      throw InvalidValueError("state set " + quote_name(o.name) + " has " +
                              std::to_string(o.states.size()) + " states; at most 53");
    }
    // The state is a label named after the metric.
    validate_label_name(o.name, o.name);
    for (const std::string& label : o.required_labels) {
      if (label == o.name) {
        throw LabelError("label " + quote_name(label) + " of " + quote_name(o.name) +
                         " is its state label");
      }
    }
    for (std::size_t i = 0; i < o.states.size(); ++i) {
      if (!is_valid_utf8(o.states[i])) {
        throw InvalidValueError("a state of " + quote_name(o.name) + " is not valid UTF-8");
      }
      for (std::size_t j = 0; j < i; ++j) {
        if (o.states[i] == o.states[j]) {
          throw InvalidValueError("state " + quote_name(o.states[i]) + " of " + quote_name(o.name) +
                                  " is given twice");
        }
      }
    }
    d.states = o.states;
    d.exclusive_states = o.exclusive_states;
  }
  if (Registry* r = o.registry.get()) d.registry_prefix = r->prefix();
  d.max_series = o.max_series;
  d.created_samples = o.created_samples;
  d.overflow = o.overflow;
  if (d.max_series != 0 && d.label_names.empty()) {
    throw LabelError("metric " + quote_name(o.name) +
                     " has no labels, so max_series cannot apply to it");
  }
  d.defaults.resize(d.label_names.size());
  for (const auto& [label, value] : o.default_labels) {
    std::size_t i = d.index_of(label);
    if (i == MetricDescriptor::npos) {
      throw LabelError("default label " + quote_name(label) + " of metric " + quote_name(o.name) +
                       " is not one of its required_labels");
    }
    d.defaults[i] = value;
  }
  if (o.native && type != MetricType::histogram) {
    throw InvalidValueError("metric " + quote_name(o.name) + " is a " +
                            std::string(to_string(type)) +
                            "; native buckets apply to histograms only");
  }
  if (type == MetricType::histogram && o.native) {
    d.native = validate_native(o.name, *o.native);
    if (!o.native->classic_buckets) {
      if (o.buckets.bounds()) {
        throw BucketError("histogram " + quote_name(o.name) +
                          " has native buckets only, so it takes no classic buckets; set "
                          "native->classic_buckets to keep them alongside");
      }
      o.buckets = Buckets(std::vector<double>{std::numeric_limits<double>::infinity()});
    }
  }
  if (type == MetricType::histogram) {
    std::vector<double> b = o.buckets.bounds().value_or(default_buckets());
    if (b.empty()) {
      throw BucketError("histogram " + quote_name(o.name) + " needs at least one bucket");
    }
    for (std::size_t i = 0; i < b.size(); ++i) {
      if (std::isnan(b[i]))
        throw BucketError("histogram " + quote_name(o.name) + " has a NaN bucket");
      if (i > 0 && !(b[i] > b[i - 1])) {
        throw BucketError("buckets of histogram " + quote_name(o.name) +
                          " must be strictly increasing; " + format_double(b[i]) + " follows " +
                          format_double(b[i - 1]));
      }
    }
    if (b.back() != std::numeric_limits<double>::infinity()) {
      b.push_back(std::numeric_limits<double>::infinity());
    }
    d.bounds = std::move(b);
    for (double bound : d.bounds) d.le_values.push_back(format_double(bound));
  }
  return d;
}

MetricInfo make_info(const MetricDescriptor& d, const std::vector<std::string>& values,
                     double created) {
  MetricInfo info;
  info.created = created;
  info.name = d.name;
  info.description = d.help;
  info.type = stored_type(d.type);
  info.gauge_mode = d.gauge_mode;
  info.registry_prefix = d.registry_prefix;
  info.native = d.native;
  info.labels.reserve(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    info.labels.emplace_back(d.label_names[i], values[i]);
  }
  std::sort(info.labels.begin(), info.labels.end());
  return info;
}

void throw_unobservable(const MetricDescriptor& d) {
  std::string missing;
  for (std::size_t i = 0; i < d.label_names.size(); ++i) {
    if (!missing.empty()) missing += ", ";
    missing += d.label_names[i];
  }
  throw UnobservableMetricError("metric " + quote_name(d.name) +
                                " needs all its labels set before it can be used (labels: " +
                                missing + "); call labels() first");
}

double unix_time_now() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

bool shows_created(const MetricDescriptor& d) {
  if (d.type != MetricType::counter && d.type != MetricType::histogram &&
      d.type != MetricType::summary) {
    return false;
  }
  return d.created_samples.value_or(g_created_samples.load(std::memory_order_relaxed));
}

void check_new_series(const MetricDescriptor& d, const std::string_view* values) {
  for (std::size_t i = 0; i < d.label_names.size(); ++i) {
    const std::string_view v = values[i];
    std::size_t at = 0;
    while (at < v.size()) {
      const std::size_t len = utf8_sequence(v, at);
      if (len == 0) break;
      at += len;
    }
    if (at == v.size()) continue;
    // Two such values would print alike (each bad byte as U+FFFD): refused, not merged.
    throw LabelError("the value of label " + quote_name(d.label_names[i]) + " of metric " +
                     quote_name(d.name) + " is not valid UTF-8 (bad byte at offset " +
                     std::to_string(at) + " of " + std::to_string(v.size()) +
                     "); label values must be UTF-8 text");
  }
}

void throw_not_finite(const MetricDescriptor& d, const char* operation, double value) {
  throw InvalidValueError(std::string(to_string(d.type)) + " " + quote_name(d.name) + ": " +
                          operation + "(" + format_double(value) +
                          ") refused; values must be finite on every backend");
}

void throw_bad_increment(const MetricDescriptor& d, double value) {
  throw InvalidValueError("counter " + quote_name(d.name) + " can only increase; inc(" +
                          format_double(value) + ") refused");
}

void throw_unknown_label(const MetricDescriptor& d, std::string_view label) {
  std::string known;
  for (const auto& n : d.label_names) known += (known.empty() ? "" : ", ") + n;
  throw LabelError("unknown label " + quote_name(label) + " for metric " + quote_name(d.name) +
                   " (its labels: " + known + ")");
}

void throw_label_twice(const MetricDescriptor& d, std::string_view label) {
  throw LabelError("label " + quote_name(label) + " is given twice for metric " +
                   quote_name(d.name));
}

void throw_family_gone(const MetricDescriptor& d) {
  throw Error("metric " + quote_name(d.name) +
              " no longer exists (no handle or registry holds it)");
}

void throw_no_labels(const MetricDescriptor& d, const char* what) {
  throw LabelError("metric " + quote_name(d.name) + " has no labels (required_labels is empty); " +
                   what + "() cannot be used");
}

void throw_remove_incomplete(const MetricDescriptor& d) {
  throw LabelError("remove() on metric " + quote_name(d.name) + " needs every label set");
}

void throw_cardinality(const MetricDescriptor& d, const std::string_view* values) {
  std::string set;
  for (std::size_t i = 0; i < d.label_names.size(); ++i) {
    set += (i ? ", " : "") + d.label_names[i] + "=" + quote_name(values[i]);
  }
  throw CardinalityError("metric " + quote_name(d.name) + " already has its limit of " +
                         std::to_string(d.max_series) + " label sets (max_series); {" + set +
                         "} refused");
}

}  // namespace detail
}  // namespace pytheus
