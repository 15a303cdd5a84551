// Series: one child of a metric family, its label values and its stored value(s).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "pytheus/descriptor.hpp"
#include "pytheus/detail/storage.hpp"

namespace pytheus::detail {

// One child of a family: its label values and its stored value(s). It shares the family's
// descriptor, so a handle holding only the child can use it, and refers back to the family
// weakly (the family owns its children).
template <class Storage>
class Series {
 public:
  Series(std::shared_ptr<const MetricDescriptor> d, std::weak_ptr<MetricCollector> family,
         std::vector<std::string> values, std::uint64_t seq)
      : desc_(std::move(d)),
        family_(std::move(family)),
        values_(std::move(values)),
        seq_(seq),
        created_(unix_time_now()),
        storage_(*desc_, values_, created_) {}

  decltype(auto) get() { return storage_.get(*desc_, values_); }
  const MetricDescriptor& descriptor() const { return *desc_; }
  std::shared_ptr<MetricCollector> family() const { return family_.lock(); }
  const std::vector<std::string>& values() const { return values_; }
  std::uint64_t seq() const { return seq_; }
  // When this series was created (Unix seconds): its `_created` sample.
  double created() const { return created_; }
  void rebind(const BackendClass& from, const BackendClass& to, const BackendConfig& config) {
    storage_.rebind(*desc_, values_, from, to, config);
  }
  // Deletes what the backend stores for this series (the series was removed).
  void erase() { storage_.erase(*desc_, values_); }

 private:
  const std::shared_ptr<const MetricDescriptor> desc_;
  const std::weak_ptr<MetricCollector> family_;
  const std::vector<std::string> values_;
  const std::uint64_t seq_;
  const double created_;
  Storage storage_;
};

template <class B>
using ValueSeries = Series<ValueStorage<B>>;
template <class B>
using HistogramSeries = Series<HistogramStorage<B>>;

template <class S>
struct is_histogram_series : std::false_type {};
template <class B>
struct is_histogram_series<Series<HistogramStorage<B>>> : std::true_type {};

template <class S>
struct is_loaded : std::false_type {};
template <>
struct is_loaded<Series<ValueStorage<LoadedBackend>>> : std::true_type {};
template <>
struct is_loaded<Series<HistogramStorage<LoadedBackend>>> : std::true_type {};

}  // namespace pytheus::detail
