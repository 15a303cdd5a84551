// Collectors and the samples they yield.
//
// A Collector yields metric families at scrape time. Built-in metrics stream their samples
// into a MetricWriter without copying label values; custom collectors return owning
// MetricFamily objects, which are replayed into the writer. Collectors are called
// concurrently with updates and must be safe for that.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pytheus {

/// MetricType is the type of a metric family, as written in OpenMetrics' `# TYPE` (the text
/// format writes info and stateset as gauge). Enum metrics are statesets.
enum class MetricType { counter, gauge, histogram, summary, untyped, info, stateset };

/// Returns the Prometheus text name of `type` ("counter", "gauge", ..., "untyped").
constexpr std::string_view to_string(MetricType type) {
  switch (type) {
    case MetricType::counter:
      return "counter";
    case MetricType::gauge:
      return "gauge";
    case MetricType::histogram:
      return "histogram";
    case MetricType::summary:
      return "summary";
    case MetricType::info:
      return "info";
    case MetricType::stateset:
      return "stateset";
    case MetricType::untyped:
      break;
  }
  return "untyped";
}

/// Exemplar is a reference from a sample to one observation that contributed to it, most
/// often its trace (OpenMetrics exemplars): a label set of at most 128 UTF-8 characters
/// (names and values together), the observed value and, optionally, when it was observed.
struct Exemplar {
  std::vector<std::pair<std::string, std::string>> labels;
  double value = 0;
  /// Unix seconds; empty when none was recorded.
  std::optional<double> timestamp;

  friend bool operator==(const Exemplar& a, const Exemplar& b) {
    return a.labels == b.labels && a.value == b.value && a.timestamp == b.timestamp;
  }
};

/// Sample is one line of a family: the family name plus `suffix` ("", "_bucket", "_sum",
/// "_count", "_created", "_info"), its labels in output order, and its value. The text
/// format leaves out "_created" samples of counters, histograms and summaries.
///
/// For counters the plain value has suffix "": the writer adds `_total` where the format
/// asks for it. `exemplar` may be set on a counter's value and on a histogram's `_bucket`
/// samples; OpenMetrics shows it, the text format leaves it out.
struct Sample {
  // Constructors rather than an aggregate, so that `{suffix, labels, value}` written before
  // exemplars existed stays warning-free (-Wmissing-field-initializers).
  Sample() = default;
  Sample(std::string suffix_, std::vector<std::pair<std::string, std::string>> labels_ = {},
         double value_ = 0, std::optional<Exemplar> exemplar_ = std::nullopt)
      : suffix(std::move(suffix_)),
        labels(std::move(labels_)),
        value(value_),
        exemplar(std::move(exemplar_)) {}

  std::string suffix;
  std::vector<std::pair<std::string, std::string>> labels;
  double value = 0;
  std::optional<Exemplar> exemplar;

  friend bool operator==(const Sample& a, const Sample& b) {
    return a.suffix == b.suffix && a.labels == b.labels &&
           (a.value == b.value || (a.value != a.value && b.value != b.value)) &&
           a.exemplar == b.exemplar;
  }
};

/// MetricFamily is a named group of samples of one type, with its help text and unit.
struct MetricFamily {
  std::string name;
  std::string help;
  MetricType type = MetricType::untyped;
  std::string unit;
  std::vector<Sample> samples;
};

/// LabelView is one label of a sample, viewed for the duration of a MetricWriter call.
struct LabelView {
  std::string_view name;
  std::string_view value;
};

/// NativeBuckets are the sparse exponential buckets of a native histogram series, as
/// Prometheus defines them: bucket `i` of schema `s` holds values in
/// (base^(i-1), base^i] with base = 2^(2^-s); negative values go to `negative` by their
/// absolute value; values whose absolute value is at most `zero_threshold` to the zero
/// bucket. Counts are per bucket (not cumulative); bucket lists are sorted by index and
/// leave out empty buckets. The series' count and sum are those of its HistogramSnapshot.
struct NativeBuckets {
  std::int32_t schema = 0;
  double zero_threshold = 0;
  std::uint64_t zero_count = 0;
  std::vector<std::pair<std::int32_t, std::uint64_t>> positive;
  std::vector<std::pair<std::int32_t, std::uint64_t>> negative;

  friend bool operator==(const NativeBuckets& a, const NativeBuckets& b) {
    return a.schema == b.schema && a.zero_threshold == b.zero_threshold &&
           a.zero_count == b.zero_count && a.positive == b.positive && a.negative == b.negative;
  }
};

/// MetricWriter receives families one at a time: `family()` opens one, the `sample()` calls
/// that follow belong to it. The exposition writers implement it.
class MetricWriter {
 public:
  virtual ~MetricWriter() = default;
  virtual void family(std::string_view name, std::string_view help, MetricType type,
                      std::string_view unit) = 0;
  virtual void sample(std::string_view suffix, const LabelView* labels, std::size_t label_count,
                      double value) = 0;
  /// The exemplar of the sample written just before (a counter's value or a histogram
  /// bucket). Formats without exemplars ignore it (the default).
  virtual void exemplar(const Exemplar& e) { (void)e; }
  /// The native buckets of the histogram series with these labels; called before the
  /// series' `_bucket`/`_count`/`_sum` samples. Formats without native histograms ignore it
  /// (the default) and show the classic samples.
  virtual void native_histogram(const LabelView* labels, std::size_t label_count,
                                const NativeBuckets& buckets) {
    (void)labels, (void)label_count, (void)buckets;
  }
};

/// Collector is anything that yields metric families at scrape time: the built-in metrics,
/// and user classes for values the code cannot instrument directly (a queue length read
/// from elsewhere, say).
///
/// **Example**:
///
///     struct QueueCollector : pytheus::Collector {
///       std::vector<pytheus::MetricFamily> collect() const override {
///         return {{"queue_length", "Jobs waiting.", pytheus::MetricType::gauge, "",
///                  {{"", {}, double(queue.size())}}}};
///       }
///     };
class Collector {
 public:
  virtual ~Collector() = default;

  /// Names of the families this collector yields, checked against the other collectors of
  /// a registry when it is registered. Empty (the default) means unchecked.
  virtual std::vector<std::string> describe() const { return {}; }

  /// Returns the families with their current samples.
  virtual std::vector<MetricFamily> collect() const = 0;

  /// Streams the families into `writer`. The default replays collect(); built-in metrics
  /// override it to write without copies.
  virtual void write_to(MetricWriter& writer) const;
};

/// Writes already collected families into `writer`.
void replay(const std::vector<MetricFamily>& families, MetricWriter& writer);

/// FamilyBuilder is a MetricWriter that records what it is given as MetricFamily objects;
/// it turns a streaming collector into the owning form.
class FamilyBuilder final : public MetricWriter {
 public:
  void family(std::string_view name, std::string_view help, MetricType type,
              std::string_view unit) override;
  void sample(std::string_view suffix, const LabelView* labels, std::size_t label_count,
              double value) override;
  void exemplar(const Exemplar& e) override;
  std::vector<MetricFamily> take();

 private:
  std::vector<MetricFamily> families_;
};

}  // namespace pytheus
