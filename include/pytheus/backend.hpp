// The backend protocol: where metric values live.
//
// A backend object stores one value (a counter child has one; a histogram child has one per
// bucket plus sum and count). A backend *class* is a C++ type with this shape:
//
//     struct MyBackend {
//       MyBackend(const pytheus::BackendConfig& config, const pytheus::MetricInfo& metric,
//                 std::optional<std::string_view> histogram_bucket);
//       void inc(double); void dec(double); void set(double); double get();
//       // optional:
//       void erase();                                   // the series was removed
//       static void initialize(const pytheus::BackendConfig&);   // once, at load_backend
//       static std::vector<pytheus::MetricRows> generate_samples( // bulk read for a scrape
//           const pytheus::BackendConfig&, const std::vector<pytheus::MetricRequest>&);
//       class Histogram;  // a pytheus::HistogramBackend: one observation as one unit
//       static constexpr bool process_local = true;  // values live in this process only
//     };
//
// Every backend class, the shipped ones included, is made known by name the same way:
// register_backend<B>() or PYTHEUS_REGISTER_BACKEND (backends.hpp), then chosen with
// load_backend. Backend objects are used from many threads at once and must be thread-safe.
//
// BackendConfig is nlohmann::json, declared here only: code that builds or reads a
// configuration includes <nlohmann/json.hpp> itself.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "pytheus/collector.hpp"
#include "pytheus/exemplar.hpp"

namespace pytheus {

/// GaugeMode says what a gauge means when several processes set it (a multi-process
/// backend); in one process every mode is the one-process case of itself (the value, or for
/// `all` one series labelled with this process).
enum class GaugeMode {
  /// The backend configuration's `gauge_mode`, else `shared`.
  backend_default,
  /// One value for every process: inc/dec add up, set replaces (pytheus's behaviour).
  shared,
  /// One series per process, labelled with its process id.
  all,
  /// The sum, the largest or the smallest of the processes' values.
  sum,
  max,
  min,
  /// The value of the latest set() across processes (wall-clock time).
  mostrecent,
  /// The same, leaving out processes that are no longer alive.
  liveall,
  livesum,
  livemax,
  livemin,
  livemostrecent,
};

/// Returns the configuration name of `mode` ("shared", "all", "livesum", ...).
std::string_view to_string(GaugeMode mode);
/// Returns the mode named `name`, or backend_default when there is none of that name.
GaugeMode parse_gauge_mode(std::string_view name);
/// Whether `mode` keeps one value per process (every mode but shared and backend_default).
constexpr bool is_per_process(GaugeMode mode) {
  return mode != GaugeMode::shared && mode != GaugeMode::backend_default;
}
/// Whether `mode` leaves out processes that are no longer alive.
constexpr bool is_live(GaugeMode mode) {
  return mode == GaugeMode::liveall || mode == GaugeMode::livesum || mode == GaugeMode::livemax ||
         mode == GaugeMode::livemin || mode == GaugeMode::livemostrecent;
}
/// Whether `mode` shows one series per process (all, liveall).
constexpr bool is_per_process_series(GaugeMode mode) {
  return mode == GaugeMode::all || mode == GaugeMode::liveall;
}

/// NativeHistogramOptions turn on a histogram's native (sparse exponential) buckets, as
/// Prometheus 2.40+ reads them over protobuf; see docs/histograms.md. The defaults follow
/// client_golang where it has one.
struct NativeHistogramOptions {
  /// Resolution, -4..8: bucket boundaries are the powers of 2^(2^-schema) (schema 3: each
  /// bucket about 9% wider than the one below, quantiles within about 4.3%).
  std::int32_t schema = 3;
  /// When > 1, picks the schema instead: the largest whose bucket growth factor is at most
  /// this (client_golang's NativeHistogramBucketFactor; 1.1 gives schema 3).
  double bucket_factor = 0;
  /// Observations whose absolute value is at most this go to the zero bucket. The default is
  /// 2^-128, a bucket boundary at every schema.
  double zero_threshold = 2.938735877055719e-39;
  /// The most populated buckets (positive and negative together) a series keeps; beyond it,
  /// the series resets (min_reset_seconds), widens its zero bucket (max_zero_threshold) or
  /// halves its resolution, in that order of preference, as client_golang does. At least 1.
  std::uint32_t max_buckets = 160;
  /// The zero bucket may be widened up to this to stay within max_buckets; 0: never.
  double max_zero_threshold = 0;
  /// A series over max_buckets resets (every count, the classic ones too) when its last
  /// reset is at least this many seconds ago; 0: never.
  double min_reset_seconds = 0;
  /// Keep the classic buckets (MetricOptions::buckets, default default_buckets()) alongside.
  /// Without them the text formats show only `_bucket{le="+Inf"}`, `_count` and `_sum`.
  bool classic_buckets = false;
};

/// BackendConfig is the configuration of a backend class: a JSON object, the analogue of
/// pytheus's `dict[str, Any]`.
using BackendConfig = nlohmann::json;

/// MetricInfo describes the series a backend object stores a value of.
struct MetricInfo {
  /// The metric name as defined, without any registry prefix.
  std::string name;
  std::string description;
  MetricType type = MetricType::untyped;
  /// The complete label set of the series (defaults applied), sorted by label name.
  std::vector<std::pair<std::string, std::string>> labels;
  /// For a gauge, its mode as declared (backend_default: the backend decides).
  GaugeMode gauge_mode = GaugeMode::backend_default;
  /// The prefix of the registry the metric was created in ("svc" exposes "svc_NAME"), or "".
  /// A shared store keys by the exposed name, so that metrics that differ there never share.
  std::string registry_prefix;
  /// When this process created the series (Unix seconds; 0: unknown). A shared store that
  /// keeps the earliest creation across processes (its `_created`) records it.
  double created = 0;
  /// For a histogram with native buckets, their options (schema already resolved from any
  /// bucket_factor): its HistogramBackend computes each observation's native bucket.
  std::optional<NativeHistogramOptions> native{};
};

/// Backend is the interface of one stored value as the library sees it. Protocol types that
/// do not derive from it are wrapped in an adapter by register_backend.
class Backend {
 public:
  virtual ~Backend() = default;
  virtual void inc(double value) = 0;
  virtual void dec(double value) = 0;
  virtual void set(double value) = 0;
  virtual double get() = 0;
  /// The series was removed from its metric (remove() or clear()): delete what is stored
  /// for it. A shared store deletes its key or hash field; the default does nothing.
  virtual void erase() {}
  /// inc(value) that also records `exemplar` as the series' latest (a counter's). Called on
  /// the hot path: should not allocate. The default drops the exemplar: a backend that
  /// keeps none shows none.
  virtual void inc_with_exemplar(double value, const ExemplarData& exemplar) {
    (void)exemplar;
    inc(value);
  }
  /// The latest exemplar recorded, if any (the default: none).
  virtual std::optional<Exemplar> exemplar() { return std::nullopt; }
};

/// HistogramSnapshot is a consistent read of one histogram or summary series.
struct HistogramSnapshot {
  /// Cumulative count per bucket, one per upper bound (the last is +Inf). Empty for
  /// summaries.
  std::vector<double> buckets;
  double sum = 0;
  double count = 0;
  /// The latest exemplar per bucket (same length as `buckets`, or empty when none).
  std::vector<std::optional<Exemplar>> exemplars;
  /// For a histogram with native buckets, those buckets.
  std::optional<NativeBuckets> native;
};

/// HistogramBackend stores one histogram or summary series (buckets, sum and count) and
/// applies an observation as one unit: a snapshot never shows `+Inf` != count or a lower
/// bucket above a higher one. A backend class's `Histogram` is constructed as
/// `Histogram(const BackendConfig&, const MetricInfo&, const std::vector<double>& bounds)`,
/// `bounds` being the bucket upper bounds ending with +Inf (empty for a summary).
class HistogramBackend {
 public:
  virtual ~HistogramBackend() = default;
  /// Records `value`, whose bucket is `bucket`: the index of the first bound >= value. For a
  /// summary there are no buckets and `bucket` is 0.
  virtual void observe(double value, std::size_t bucket) = 0;
  /// observe(value, bucket) that also records `exemplar` as the latest of bucket `bucket`
  /// (then shown in snapshot().exemplars). The default drops the exemplar.
  virtual void observe_with_exemplar(double value, std::size_t bucket,
                                     const ExemplarData& exemplar) {
    (void)exemplar;
    observe(value, bucket);
  }
  /// Returns a consistent read of the series.
  virtual HistogramSnapshot snapshot() = 0;
  /// Adds a snapshot's counts and sum (used to carry values over when the backend changes).
  virtual void merge(const HistogramSnapshot& other) = 0;
  /// The series was removed from its metric: delete what is stored for it (see
  /// Backend::erase). The default does nothing.
  virtual void erase() {}
};

/// MetricRequest is one metric a bulk read (a backend class's `generate_samples`) is asked
/// for: plain data, so that a backend never needs the library's collectors.
struct MetricRequest {
  /// The metric name as defined, without any registry prefix.
  std::string name;
  MetricType type = MetricType::untyped;
  /// The label names, in declared order.
  std::vector<std::string> label_names;
  /// Histogram bucket upper bounds, ending with +Inf; empty for other types.
  std::vector<double> bounds;
  /// For a gauge, its mode as declared (backend_default: the backend decides).
  GaugeMode gauge_mode = GaugeMode::backend_default;
  /// The label values (declared order) of the series this process has, in creation order;
  /// a bulk read answers these first, then any series only other processes have.
  std::vector<std::vector<std::string>> local_series;
  /// When this process created each of local_series (Unix seconds), for a backend that
  /// keeps the earliest creation across processes.
  std::vector<double> local_created;
  /// The prefix of the metric's registry, as in MetricInfo::registry_prefix.
  std::string registry_prefix;
  /// For a histogram with native buckets, their options, as in MetricInfo::native.
  std::optional<NativeHistogramOptions> native;
};

/// SeriesRow is one series as a bulk read returns it.
struct SeriesRow {
  /// The label values, in the request's label_names order.
  std::vector<std::string> label_values;
  /// The value of a counter or gauge.
  double value = 0;
  /// A counter's latest exemplar, if any.
  std::optional<Exemplar> exemplar;
  /// The buckets (one per bound), sum and count of a histogram; sum and count of a summary.
  HistogramSnapshot histogram;
  /// For a gauge in mode all or liveall: the process the row belongs to (its id), which the
  /// library exposes as the gauge's process label. Empty otherwise.
  std::string process;
  /// When the series was first created (Unix seconds), if the backend knows: across
  /// processes the earliest. Left empty, the library uses this process's own creation time
  /// of the series, when it has the series.
  std::optional<double> created;
};

/// MetricRows is the answer to one MetricRequest: its series, in the order to expose them.
using MetricRows = std::vector<SeriesRow>;

namespace detail {

// Exemplars on a value object of any backend type: a protocol type that does not derive
// from Backend keeps none.
template <class V>
void inc_with_exemplar(V& v, double value, const ExemplarData& e) {
  if constexpr (std::is_base_of_v<Backend, V>) {
    v.inc_with_exemplar(value, e);
  } else {
    v.inc(value);
  }
}
template <class V>
std::optional<Exemplar> exemplar_of(V& v) {
  if constexpr (std::is_base_of_v<Backend, V>) {
    return v.exemplar();
  } else {
    return std::nullopt;
  }
}

}  // namespace detail

}  // namespace pytheus
