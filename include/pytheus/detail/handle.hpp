// MetricHandle: what Counter, Gauge, Histogram and Summary share. A handle is cheap to
// copy and safe to use from many threads; it points at a shared family and, when all its
// labels are set, at one child series. labels() returns a new handle; the same label set,
// in whatever order it is given, always reaches the same series. Looking up an existing
// child allocates nothing and takes one shared lock.
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
#include "pytheus/detail/family.hpp"
#include "pytheus/detail/label_lookup.hpp"
#include "pytheus/detail/likely.hpp"
#include "pytheus/errors.hpp"
#include "pytheus/labels.hpp"
#include "pytheus/metric_options.hpp"
#include "pytheus/registry.hpp"

namespace pytheus::detail {

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
    return with_labels(labels.begin(), labels.end());
  }

  /// The metric name (without registry prefix).
  const std::string& name() const { return descriptor().name; }
  const std::string& description() const { return descriptor().help; }
  /// The descriptor shared by every handle of the metric.
  const MetricDescriptor& descriptor() const {
    return series_ ? series_->descriptor() : family_->descriptor();
  }
  /// The collector to register elsewhere or unregister.
  std::shared_ptr<MetricCollector> collector() const { return family(); }
  /// Whether every label is set, so that values can be read and changed.
  bool is_observable() const { return series_ != nullptr; }

  /// The labels set on this handle (defaults included).
  Labels labels_set() const {
    Labels out;
    const MetricDescriptor& d = descriptor();
    for (std::size_t i = 0; i < d.label_names.size(); ++i) {
      if (series_) {
        out[d.label_names[i]] = series_->values()[i];
      } else if (partial_ && (*partial_)[i]) {
        out[d.label_names[i]] = *(*partial_)[i];
      }
    }
    return out;
  }

  /// Removes the child with label set `labels` (merged over this handle's labels and the
  /// defaults) from the metric, so it is no longer exported. Handles to it keep working
  /// but are no longer exported. Returns whether there was one.
  bool remove(std::initializer_list<LabelPair> labels) const {
    return remove_range(labels.begin(), labels.end());
  }
  template <class Map,
            class = decltype(std::string_view(std::declval<const Map&>().begin()->first))>
  bool remove(const Map& labels) const {
    return remove_range(labels.begin(), labels.end());
  }

  /// Removes every child of the metric.
  void clear() const {
    require_labels("clear");
    family()->clear();
  }

 protected:
  struct Parts {
    std::shared_ptr<FamilyType> family;
    std::shared_ptr<S> series;
    std::shared_ptr<const std::vector<std::optional<std::string>>> partial;
  };

  MetricHandle(MetricType type, MetricOptions&& options) {
    RegistryRef registry = options.registry;
    family_ = std::make_shared<FamilyType>(make_descriptor(type, options));
    const MetricDescriptor& d = family_->descriptor();
    const std::size_t n = d.label_names.size();
    if (n == 0) {
      series_ = family_->child(nullptr);
    } else {
      bool complete = true, any = false;
      for (const auto& v : d.defaults) {
        complete = complete && v.has_value();
        any = any || v.has_value();
      }
      if (complete) {
        std::vector<std::string_view> sv;
        for (const auto& v : d.defaults) sv.emplace_back(*v);
        series_ = family_->child(sv.data());
      } else if (any) {
        partial_ = std::make_shared<const std::vector<std::optional<std::string>>>(d.defaults);
      }
    }
    if (Registry* r = registry.get()) r->register_collector(family_);
  }

  explicit MetricHandle(Parts parts)
      : family_(std::move(parts.family)),
        series_(std::move(parts.series)),
        partial_(std::move(parts.partial)) {}

  // The child a value operation goes to; throws when labels are missing.
  S& series() const {
    if (PYTHEUS_UNLIKELY(!series_)) throw_unobservable(family_->descriptor());
    return *series_;
  }

  // The family, also for handles that hold only a child. Throws when the family is gone
  // (every handle to it dropped and no registry holding it).
  std::shared_ptr<FamilyType> family() const {
    if (family_) return family_;
    auto f = std::static_pointer_cast<FamilyType>(series_->family());
    if (!f) throw_family_gone(series_->descriptor());
    return f;
  }

  void require_labels(const char* what) const {
    if (descriptor().label_names.empty()) throw_no_labels(descriptor(), what);
  }

  // Merges this handle's labels with `[first, last)` into `buf`; returns whether complete.
  template <class It>
  bool merge(It first, It last, ValueBuffer& buf, const char* what) const {
    require_labels(what);
    const MetricDescriptor& d = descriptor();
    const std::size_t n = d.label_names.size();
    std::string_view* vals = buf.values();
    bool* set = buf.set();
    if (series_) {
      for (std::size_t i = 0; i < n; ++i) {
        vals[i] = series_->values()[i];
        set[i] = true;
      }
    } else if (partial_) {
      for (std::size_t i = 0; i < n; ++i) {
        if ((*partial_)[i]) {
          vals[i] = *(*partial_)[i];
          set[i] = true;
        }
      }
    }
    std::uint64_t given = 0;  // bits for the first 64 labels: enough to catch duplicates
    for (std::size_t k = 0; first != last; ++first, ++k) {
      std::string_view label = first->first;
      std::size_t i = d.index_of(label, k);
      if (i == MetricDescriptor::npos) throw_unknown(label);
      if (i < 64) {
        if (given & (std::uint64_t{1} << i)) throw_label_twice(d, label);
        given |= std::uint64_t{1} << i;
      }
      vals[i] = first->second;
      set[i] = true;
    }
    for (std::size_t i = 0; i < n; ++i) {
      if (!set[i]) return false;
    }
    return true;
  }

  template <class It>
  Derived with_labels(It first, It last) const {
    ValueBuffer buf(descriptor().label_names.size());
    if (merge(first, last, buf, "labels")) {
      if (family_) return Derived(Parts{nullptr, family_->child(buf.values()), nullptr});
      return Derived(Parts{nullptr, family()->child(buf.values()), nullptr});
    }
    auto partial = std::make_shared<std::vector<std::optional<std::string>>>(buf.size());
    for (std::size_t i = 0; i < buf.size(); ++i) {
      if (buf.set()[i]) (*partial)[i] = std::string(buf.values()[i]);
    }
    return Derived(Parts{family(), nullptr, std::move(partial)});
  }

  template <class It>
  bool remove_range(It first, It last) const {
    ValueBuffer buf(descriptor().label_names.size());
    if (!merge(first, last, buf, "remove")) throw_remove_incomplete(descriptor());
    return family()->remove(buf.values());
  }

  [[noreturn]] void throw_unknown(std::string_view label) const {
    throw_unknown_label(descriptor(), label);
  }

  std::shared_ptr<FamilyType> family_;
  std::shared_ptr<S> series_;
  std::shared_ptr<const std::vector<std::optional<std::string>>> partial_;
};

}  // namespace pytheus::detail
