// The larger members of MetricHandle (handle.hpp). Included by the core library, which
// compiles them once for the loaded backend, and by static_backend.hpp for static backend
// types.
#pragma once

#include "pytheus/detail/family_impl.hpp"
#include "pytheus/detail/handle.hpp"

namespace pytheus::detail {

template <class Derived, class S>
MetricHandle<Derived, S>::MetricHandle(MetricType type, MetricOptions&& options) {
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

template <class Derived, class S>
MetricHandle<Derived, S>::MetricHandle(MetricType type, std::string_view name,
                                       std::string_view description,
                                       const LabelNames& required_labels,
                                       const LabelDefaults& default_labels, RegistryRef registry,
                                       const Buckets* buckets, GaugeMode gauge_mode)
    : MetricHandle(type, make_options(name, description, required_labels, default_labels, registry,
                                      buckets, gauge_mode)) {}

template <class Derived, class S>
MetricHandle<Derived, S>::~MetricHandle() = default;

template <class Derived, class S>
std::shared_ptr<MetricCollector> MetricHandle<Derived, S>::collector() const {
  return family();
}

template <class Derived, class S>
const MetricDescriptor& MetricHandle<Derived, S>::family_descriptor() const {
  return family_->descriptor();
}

template <class Derived, class S>
Labels MetricHandle<Derived, S>::labels_set() const {
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

template <class Derived, class S>
void MetricHandle<Derived, S>::clear() const {
  if (descriptor().label_names.empty()) throw_no_labels(descriptor(), "clear");
  family()->clear();
}

template <class Derived, class S>
std::shared_ptr<Family<S>> MetricHandle<Derived, S>::family() const {
  if (family_) return family_;
  auto f = std::static_pointer_cast<FamilyType>(series_->family());
  if (!f) throw_family_gone(series_->descriptor());
  return f;
}

template <class Derived, class S>
bool MetricHandle<Derived, S>::merge(const LabelPair* first, const LabelPair* last,
                                     ValueBuffer& buf, const char* what) const {
  const MetricDescriptor& d = descriptor();
  if (d.label_names.empty()) throw_no_labels(d, what);
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
  // A label given twice is an error: a bit per label for the first 64, a scan of what was
  // given before for the rare label past them.
  std::uint64_t given = 0;
  const LabelPair* const begin = first;
  for (std::size_t k = 0; first != last; ++first, ++k) {
    std::string_view label = first->first;
    std::size_t i = d.index_of(label, k);
    if (i == MetricDescriptor::npos) throw_unknown_label(d, label);
    if (i < 64) {
      if (given & (std::uint64_t{1} << i)) throw_label_twice(d, label);
      given |= std::uint64_t{1} << i;
    } else {
      for (const LabelPair* p = begin; p != first; ++p) {
        if (same(p->first, label)) throw_label_twice(d, label);
      }
    }
    vals[i] = first->second;
    set[i] = true;
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (!set[i]) return false;
  }
  return true;
}

template <class Derived, class S>
Derived MetricHandle<Derived, S>::with_labels(const LabelPair* first, const LabelPair* last) const {
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

template <class Derived, class S>
bool MetricHandle<Derived, S>::remove_range(const LabelPair* first, const LabelPair* last) const {
  ValueBuffer buf(descriptor().label_names.size());
  if (!merge(first, last, buf, "remove")) throw_remove_incomplete(descriptor());
  return family()->remove(buf.values());
}

}  // namespace pytheus::detail
