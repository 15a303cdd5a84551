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
//       static void initialize(const pytheus::BackendConfig&);          // once, at load_backend
//       static pytheus::Samples generate_samples(const pytheus::Registry&);  // bulk scrape read
//       class Histogram;  // a pytheus::HistogramBackend: one observation as one unit
//       static constexpr bool process_local = true;  // values live in this process only
//     };
//
// Backend classes are made known by name with register_backend (backends.hpp) and chosen
// with load_backend. Backend objects are used from many threads at once and must be
// thread-safe.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "pytheus/collector.hpp"

namespace pytheus {

class Registry;

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
};

/// HistogramSnapshot is a consistent read of one histogram or summary series.
struct HistogramSnapshot {
  /// Cumulative count per bucket, in the order of the bucket keys (the last is `+Inf`).
  /// Empty for summaries.
  std::vector<double> buckets;
  double sum = 0;
  double count = 0;
};

/// HistogramBackend stores one histogram or summary series (buckets, sum and count) and
/// applies an observation as one unit: a snapshot never shows `+Inf` != count or a lower
/// bucket above a higher one.
class HistogramBackend {
 public:
  virtual ~HistogramBackend() = default;
  /// Records `value`, whose bucket is `bucket`: the index of the first bound >= value. For a
  /// summary there are no buckets and `bucket` is 0.
  virtual void observe(double value, std::size_t bucket) = 0;
  /// Returns a consistent read of the series.
  virtual HistogramSnapshot snapshot() = 0;
  /// Adds a snapshot's counts and sum (used to carry values over when the backend changes).
  virtual void merge(const HistogramSnapshot& other) = 0;
  /// The series was removed from its metric: delete what is stored for it (see
  /// Backend::erase). The default does nothing.
  virtual void erase() {}
};

/// Samples is what a backend class's bulk read returns for a scrape: the families of each
/// collector it read, by collector. Collectors it leaves out are collected one by one.
using Samples = std::unordered_map<const Collector*, std::vector<MetricFamily>>;

/// BackendClass is a backend class as the library stores it: its names and how to make its
/// objects. register_backend<B> builds one from a protocol type; a backend may also fill one
/// in by hand.
struct BackendClass {
  /// The short class name, e.g. "SingleProcessBackend".
  std::string name;
  /// Other accepted names, e.g. the pytheus dotted path.
  std::vector<std::string> aliases;
  /// True when values live in this process only, so they can be carried to a newly loaded
  /// backend without counting anything twice.
  bool process_local = false;
  /// Called once by load_backend with the configuration; may throw BackendError. Optional.
  std::function<void(const BackendConfig&)> initialize;
  /// Makes the object storing one value.
  std::function<std::unique_ptr<Backend>(const BackendConfig&, const MetricInfo&,
                                         std::optional<std::string_view>)>
      make_value;
  /// Makes the object storing one histogram or summary series. `bucket_keys` are the bucket
  /// bounds as written in Redis keys and `le` labels ("0.005", "1", "+Inf"); empty for a
  /// summary.
  std::function<std::unique_ptr<HistogramBackend>(const BackendConfig&, const MetricInfo&,
                                                  const std::vector<std::string>& bucket_keys)>
      make_histogram;
  /// Reads every series of the registry's metrics on this backend in bulk. Optional.
  std::function<Samples(const Registry&)> generate_samples;
};

namespace detail {

template <class B, class = void>
struct has_initialize : std::false_type {};
template <class B>
struct has_initialize<B, std::void_t<decltype(B::initialize(std::declval<const BackendConfig&>()))>>
    : std::true_type {};

template <class B, class = void>
struct has_generate_samples : std::false_type {};
template <class B>
struct has_generate_samples<
    B, std::void_t<decltype(B::generate_samples(std::declval<const Registry&>()))>>
    : std::true_type {};

template <class B, class = void>
struct has_histogram : std::false_type {};
template <class B>
struct has_histogram<B, std::void_t<typename B::Histogram>>
    : std::is_base_of<HistogramBackend, typename B::Histogram> {};

template <class B, class = void>
struct has_erase : std::false_type {};
template <class B>
struct has_erase<B, std::void_t<decltype(std::declval<B&>().erase())>> : std::true_type {};

template <class B, class = void>
struct is_process_local : std::false_type {};
template <class B>
struct is_process_local<B, std::void_t<decltype(B::process_local)>>
    : std::bool_constant<B::process_local> {};

// Wraps a protocol type that does not derive from Backend.
template <class B>
class BackendAdapter final : public Backend {
 public:
  BackendAdapter(const BackendConfig& config, const MetricInfo& metric,
                 std::optional<std::string_view> bucket)
      : b_(config, metric, bucket) {}
  void inc(double v) override { b_.inc(v); }
  void dec(double v) override { b_.dec(v); }
  void set(double v) override { b_.set(v); }
  double get() override { return b_.get(); }
  void erase() override {
    if constexpr (has_erase<B>::value) b_.erase();
  }

 private:
  B b_;
};

template <class B>
std::unique_ptr<Backend> make_value(const BackendConfig& config, const MetricInfo& metric,
                                    std::optional<std::string_view> bucket) {
  if constexpr (std::is_base_of_v<Backend, B>) {
    return std::make_unique<B>(config, metric, bucket);
  } else {
    return std::make_unique<BackendAdapter<B>>(config, metric, bucket);
  }
}

}  // namespace detail

/// BucketwiseHistogram stores a histogram with one backend object per bucket (cumulative),
/// plus "sum" and "count", the way pytheus does; it is used for backend classes that bring
/// no Histogram of their own. A mutex makes each observation one unit within the process.
template <class B>
class BucketwiseHistogram final : public HistogramBackend {
 public:
  BucketwiseHistogram(const BackendConfig& config, const MetricInfo& metric,
                      const std::vector<std::string>& bucket_keys) {
    buckets_.reserve(bucket_keys.size());
    for (const std::string& key : bucket_keys) {
      buckets_.push_back(detail::make_value<B>(config, metric, key));
    }
    sum_ = detail::make_value<B>(config, metric, "sum");
    count_ = detail::make_value<B>(config, metric, "count");
  }

  void observe(double value, std::size_t bucket) override {
    std::lock_guard<std::mutex> lock(mu_);
    for (std::size_t i = bucket; i < buckets_.size(); ++i) buckets_[i]->inc(1);
    sum_->inc(value);
    count_->inc(1);
  }

  HistogramSnapshot snapshot() override {
    std::lock_guard<std::mutex> lock(mu_);
    HistogramSnapshot s;
    s.buckets.reserve(buckets_.size());
    for (auto& b : buckets_) s.buckets.push_back(b->get());
    s.sum = sum_->get();
    s.count = count_->get();
    return s;
  }

  void merge(const HistogramSnapshot& other) override {
    std::lock_guard<std::mutex> lock(mu_);
    for (std::size_t i = 0; i < buckets_.size() && i < other.buckets.size(); ++i) {
      if (other.buckets[i] != 0) buckets_[i]->inc(other.buckets[i]);
    }
    if (other.sum != 0) sum_->inc(other.sum);
    if (other.count != 0) count_->inc(other.count);
  }

  void erase() override {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& b : buckets_) b->erase();
    sum_->erase();
    count_->erase();
  }

 private:
  std::mutex mu_;
  std::vector<std::unique_ptr<Backend>> buckets_;
  std::unique_ptr<Backend> sum_;
  std::unique_ptr<Backend> count_;
};

/// Returns the histogram storage a static backend type uses: its own `B::Histogram` when it
/// has one, else BucketwiseHistogram<B>.
template <class B>
using histogram_backend_t = std::conditional_t<detail::has_histogram<B>::value,
                                               typename B::Histogram, BucketwiseHistogram<B>>;

/// Builds the BackendClass of protocol type `B` under `name` and `aliases`.
template <class B>
BackendClass make_backend_class(std::string name, std::vector<std::string> aliases = {}) {
  BackendClass c;
  c.name = std::move(name);
  c.aliases = std::move(aliases);
  c.process_local = detail::is_process_local<B>::value;
  if constexpr (detail::has_initialize<B>::value) {
    c.initialize = [](const BackendConfig& config) { B::initialize(config); };
  }
  c.make_value = &detail::make_value<B>;
  c.make_histogram = [](const BackendConfig& config, const MetricInfo& metric,
                        const std::vector<std::string>& keys) -> std::unique_ptr<HistogramBackend> {
    if constexpr (detail::has_histogram<B>::value) {
      return std::make_unique<typename B::Histogram>(config, metric, keys);
    } else {
      return std::make_unique<BucketwiseHistogram<B>>(config, metric, keys);
    }
  };
  if constexpr (detail::has_generate_samples<B>::value) {
    c.generate_samples = [](const Registry& r) { return B::generate_samples(r); };
  }
  return c;
}

}  // namespace pytheus
