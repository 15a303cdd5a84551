// How the library holds a backend class: the protocol type `B` (backend.hpp) turned into a
// table of plain functions by make_backend_class<B>. Internal: users register protocol types
// with register_backend<B>() or PYTHEUS_REGISTER_BACKEND.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "pytheus/backend.hpp"
#include "pytheus/detail/format.hpp"

namespace pytheus::detail {

// A backend class as the library stores it: its names and how to make its objects.
struct BackendClass {
  std::string name;
  std::vector<std::string> aliases;
  // True when values live in this process only, so they can be carried to a newly loaded
  // backend without counting anything twice.
  bool process_local = false;
  void (*initialize)(const BackendConfig&) = nullptr;
  std::unique_ptr<Backend> (*make_value)(const BackendConfig&, const MetricInfo&,
                                         std::optional<std::string_view>) = nullptr;
  std::unique_ptr<HistogramBackend> (*make_histogram)(const BackendConfig&, const MetricInfo&,
                                                      const std::vector<double>&) = nullptr;
  std::vector<MetricRows> (*generate_samples)(const BackendConfig&,
                                              const std::vector<MetricRequest>&) = nullptr;
};

template <class B, class = void>
struct has_initialize : std::false_type {};
template <class B>
struct has_initialize<B, std::void_t<decltype(B::initialize(std::declval<const BackendConfig&>()))>>
    : std::true_type {};

template <class B, class = void>
struct has_generate_samples : std::false_type {};
template <class B>
struct has_generate_samples<B, std::void_t<decltype(B::generate_samples(
                                   std::declval<const BackendConfig&>(),
                                   std::declval<const std::vector<MetricRequest>&>()))>>
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

}  // namespace pytheus::detail

namespace pytheus {

/// BucketwiseHistogram stores a histogram with one backend object per bucket (cumulative,
/// named by its `le` value: "0.005", "1", "+Inf"), plus "sum" and "count", the way pytheus
/// does; it is used for backend classes that bring no Histogram of their own. A mutex makes
/// each observation one unit within the process.
template <class B>
class BucketwiseHistogram final : public HistogramBackend {
 public:
  BucketwiseHistogram(const BackendConfig& config, const MetricInfo& metric,
                      const std::vector<double>& bounds) {
    buckets_.reserve(bounds.size());
    for (double bound : bounds) {
      buckets_.push_back(detail::make_value<B>(config, metric, detail::format_double(bound)));
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
template <class B, bool = detail::has_histogram<B>::value>
struct histogram_backend {
  using type = BucketwiseHistogram<B>;
};
template <class B>
struct histogram_backend<B, true> {
  using type = typename B::Histogram;
};
template <class B>
using histogram_backend_t = typename histogram_backend<B>::type;

namespace detail {

template <class B>
std::unique_ptr<HistogramBackend> make_histogram(const BackendConfig& config,
                                                 const MetricInfo& metric,
                                                 const std::vector<double>& bounds) {
  return std::make_unique<histogram_backend_t<B>>(config, metric, bounds);
}

// Builds the class table of protocol type `B` under `name` and `aliases`.
template <class B>
BackendClass make_backend_class(std::string name, std::vector<std::string> aliases = {}) {
  BackendClass c;
  c.name = std::move(name);
  c.aliases = std::move(aliases);
  c.process_local = is_process_local<B>::value;
  if constexpr (has_initialize<B>::value) {
    c.initialize = [](const BackendConfig& config) { B::initialize(config); };
  }
  c.make_value = &make_value<B>;
  c.make_histogram = &make_histogram<B>;
  if constexpr (has_generate_samples<B>::value) {
    c.generate_samples = [](const BackendConfig& config,
                            const std::vector<MetricRequest>& metrics) -> std::vector<MetricRows> {
      return B::generate_samples(config, metrics);
    };
  }
  return c;
}

}  // namespace detail
}  // namespace pytheus
