// MetricHandle: what Counter, Gauge, Histogram and Summary share. Its larger members are
// defined in handle_impl.hpp and compiled once in the core library for the loaded backend. A handle
// is cheap to copy and safe to use from many threads; it points at a shared family and, when all
// its labels are set, at one child series. labels() returns a new handle; the same label set, in
// whatever order it is given, always reaches the same series. Looking up an existing child
// allocates nothing and takes one shared lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pytheus/descriptor.hpp"
#include "pytheus/detail/label_lookup.hpp"
#include "pytheus/detail/likely.hpp"
#include "pytheus/detail/series.hpp"
#include "pytheus/errors.hpp"
#include "pytheus/labels.hpp"
#include "pytheus/metric_options.hpp"
#include "pytheus/registry.hpp"

namespace pytheus::detail {

template <class S>
class Family;

// The state every handle holds. Handles are values: copying one copies these pointers. A
// handle to a complete child holds only the child (one reference count per copy); root and
// partial handles hold the family.
template <class Derived, class S>
class MetricHandle {
 public:
  using FamilyType = Family<S>;

  /// Returns the handle with these labels set (merged over this handle's); partial when some
  /// remain unset. The values may be given in any order.
  Derived labels(std::initializer_list<LabelPair> labels) const {
    return with_labels(labels.begin(), labels.end());
  }
  /// The same, from any map-like container of string pairs.
  template <class Map,
            class = decltype(std::string_view(std::declval<const Map&>().begin()->first))>
  Derived labels(const Map& labels) const {
    LabelPairs pairs(labels);
    return with_labels(pairs.begin(), pairs.end());
  }

  /// The metric name (without registry prefix).
  const std::string& name() const { return descriptor().name; }
  const std::string& description() const { return descriptor().help; }
  /// The descriptor shared by every handle of the metric.
  const MetricDescriptor& descriptor() const {
    return series_ ? series_->descriptor() : family_descriptor();
  }
  /// The collector to register elsewhere or unregister.
  std::shared_ptr<MetricCollector> collector() const;
  /// Whether every label is set, so that values can be read and changed.
  bool is_observable() const { return series_ != nullptr; }

  /// The labels set on this handle (defaults included).
  Labels labels_set() const;

  /// Removes the child with label set `labels` (merged over this handle's labels and the
  /// defaults) from the metric, so it is no longer exported. Handles to it keep working
  /// but are no longer exported. Returns whether there was one.
  bool remove(std::initializer_list<LabelPair> labels) const {
    return remove_range(labels.begin(), labels.end());
  }
  template <class Map,
            class = decltype(std::string_view(std::declval<const Map&>().begin()->first))>
  bool remove(const Map& labels) const {
    LabelPairs pairs(labels);
    return remove_range(pairs.begin(), pairs.end());
  }

  /// Removes every child of the metric.
  void clear() const;

 protected:
  struct Parts {
    std::shared_ptr<FamilyType> family;
    std::shared_ptr<S> series;
    std::shared_ptr<const std::vector<std::optional<std::string>>> partial;
  };

  MetricHandle(MetricType type, MetricOptions&& options);
  // The positional constructors' arguments, viewed: the options are built in the library.
  MetricHandle(MetricType type, std::string_view name, std::string_view description,
               const LabelNames& required_labels, const LabelDefaults& default_labels,
               RegistryRef registry, const Buckets* buckets,
               GaugeMode gauge_mode = GaugeMode::backend_default);
  explicit MetricHandle(Parts parts)
      : family_(std::move(parts.family)),
        series_(std::move(parts.series)),
        partial_(std::move(parts.partial)) {}
  MetricHandle(const MetricHandle&) = default;
  MetricHandle(MetricHandle&&) noexcept = default;
  MetricHandle& operator=(const MetricHandle&) = default;
  MetricHandle& operator=(MetricHandle&&) noexcept = default;
  ~MetricHandle();

  // The child a value operation goes to; throws when labels are missing.
  S& series() const {
    if (PYTHEUS_UNLIKELY(!series_)) throw_unobservable(family_->descriptor());
    return *series_;
  }

  // The family, also for handles that hold only a child. Throws when the family is gone
  // (every handle to it dropped and no registry holding it).
  std::shared_ptr<FamilyType> family() const;
  const MetricDescriptor& family_descriptor() const;

  // Merges this handle's labels with `[first, last)` into `buf`; returns whether complete.
  bool merge(const LabelPair* first, const LabelPair* last, ValueBuffer& buf,
             const char* what) const;
  Derived with_labels(const LabelPair* first, const LabelPair* last) const;
  bool remove_range(const LabelPair* first, const LabelPair* last) const;

  std::shared_ptr<FamilyType> family_;
  std::shared_ptr<S> series_;
  std::shared_ptr<const std::vector<std::optional<std::string>>> partial_;
};

}  // namespace pytheus::detail
