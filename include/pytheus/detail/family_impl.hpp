// The members of Family (family.hpp). Included by the core library, which compiles them
// once for the loaded backend, and by static_backend.hpp for static backend types.
#pragma once

#include <algorithm>

#include "pytheus/detail/family.hpp"

namespace pytheus::detail {

template <class S>
Family<S>::Family(MetricDescriptor d)
    : desc_(std::make_shared<const MetricDescriptor>(std::move(d))) {
  if constexpr (is_loaded<S>::value) track_rebindable(this);
}

template <class S>
std::vector<std::string> Family<S>::describe() const {
  return {desc_->name};
}

template <class S>
Family<S>::~Family() {
  if constexpr (is_loaded<S>::value) untrack_rebindable(this);
}

template <class S>
std::shared_ptr<S> Family<S>::child(const std::string_view* values) {
  const std::size_t n = desc_->label_names.size();
  const std::size_t h = hash_values(values, n);
  {
    std::shared_lock<std::shared_mutex> lock(mu_);
    if (auto found = find_locked(h, values)) return *found;
    if (at_limit_locked() && (desc_->overflow == Overflow::refuse || overflow_child_)) {
      return overflow_locked(values);
    }
  }
  std::unique_lock<std::shared_mutex> lock(mu_);
  if (auto found = find_locked(h, values)) return *found;
  if (at_limit_locked()) {
    if (desc_->overflow == Overflow::fold && !overflow_child_) {
      std::vector<std::string_view> folded(n, kOverflowLabelValue);
      overflow_child_ = make_locked(hash_values(folded.data(), n), folded.data());
    }
    return overflow_locked(values);
  }
  return make_locked(h, values);
}

template <class S>
bool Family<S>::remove(const std::string_view* values) {
  const std::size_t h = hash_values(values, desc_->label_names.size());
  std::shared_ptr<S> removed;
  {
    std::unique_lock<std::shared_mutex> lock(mu_);
    auto range = children_.equal_range(h);
    for (auto it = range.first; it != range.second; ++it) {
      if (equal(*it->second, values)) {
        removed = std::move(it->second);
        children_.erase(it);
        if (removed == overflow_child_) overflow_child_.reset();
        break;
      }
    }
  }
  if (!removed) return false;
  removed->erase();  // outside the lock: a shared store does I/O here
  return true;
}

template <class S>
void Family<S>::clear() {
  std::unordered_multimap<std::size_t, std::shared_ptr<S>> removed;
  {
    std::unique_lock<std::shared_mutex> lock(mu_);
    removed.swap(children_);
    overflow_child_.reset();
  }
  for (auto& entry : removed) entry.second->erase();
}

template <class S>
std::size_t Family<S>::size() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return children_.size();
}

template <class S>
std::vector<std::vector<std::string>> Family<S>::label_sets() const {
  std::vector<std::vector<std::string>> out;
  for (const auto& s : sorted_children()) out.push_back(s->values());
  return out;
}

template <class S>
std::vector<std::vector<std::string>> Family<S>::label_sets(std::vector<double>& created) const {
  std::vector<std::vector<std::string>> out;
  created.clear();
  for (const auto& s : sorted_children()) {
    out.push_back(s->values());
    created.push_back(s->created());
  }
  return out;
}

template <class S>
std::vector<MetricFamily> Family<S>::collect() const {
  FamilyBuilder builder;
  write_to(builder);
  return builder.take();
}

template <class S>
void Family<S>::write_to(MetricWriter& w) const {
  const MetricDescriptor& d = *desc_;
  w.family(d.name, d.help, d.type, d.unit);
  const std::size_t n = d.label_names.size();
  std::vector<LabelView> labels(n + 1);
  for (std::size_t i = 0; i < n; ++i) labels[i].name = d.label_names[i];
  for (const auto& s : sorted_children()) {
    for (std::size_t i = 0; i < n; ++i) labels[i].value = s->values()[i];
    write_series(w, *s, labels.data(), n);
  }
}

template <class S>
void Family<S>::rebind(const BackendClass& from, const BackendClass& to,
                       const BackendConfig& config) {
  std::shared_lock<std::shared_mutex> lock(mu_);
  for (auto& entry : children_) entry.second->rebind(from, to, config);
}

template <class S>
bool Family<S>::equal(const S& s, const std::string_view* values) {
  const auto& v = s.values();
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (!same(v[i], values[i])) return false;
  }
  return true;
}

template <class S>
bool Family<S>::at_limit_locked() const {
  return desc_->max_series != 0 &&
         children_.size() - (overflow_child_ ? 1 : 0) >= desc_->max_series;
}

template <class S>
std::shared_ptr<S> Family<S>::make_locked(std::size_t h, const std::string_view* values) {
  check_new_series(*desc_, values);
  std::vector<std::string> owned(values, values + desc_->label_names.size());
  auto s = std::make_shared<S>(desc_, this->weak_from_this(), std::move(owned), next_seq_++);
  children_.emplace(h, s);
  return s;
}

template <class S>
std::shared_ptr<S> Family<S>::overflow_locked(const std::string_view* values) const {
  count_overflow(desc_->name);
  if (desc_->overflow == Overflow::fold) return overflow_child_;
  throw_cardinality(*desc_, values);
}

template <class S>
const std::shared_ptr<S>* Family<S>::find_locked(std::size_t h,
                                                 const std::string_view* values) const {
  auto range = children_.equal_range(h);
  for (auto it = range.first; it != range.second; ++it) {
    if (equal(*it->second, values)) return &it->second;
  }
  return nullptr;
}

template <class S>
std::vector<std::shared_ptr<S>> Family<S>::sorted_children() const {
  std::vector<std::shared_ptr<S>> out;
  {
    std::shared_lock<std::shared_mutex> lock(mu_);
    out.reserve(children_.size());
    for (const auto& entry : children_) out.push_back(entry.second);
  }
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a->seq() < b->seq(); });
  return out;
}

template <class S>
void Family<S>::write_series(MetricWriter& w, S& s, LabelView* labels, std::size_t n) const {
  if constexpr (is_histogram_series<S>::value) {
    write_series_samples(w, *desc_, labels, n, s.get().snapshot(), s.created());
  } else {
    auto& v = s.get();
    std::optional<Exemplar> e;
    if (desc_->type == MetricType::counter) e = exemplar_of(v);
    write_series_samples(w, *desc_, labels, n, v.get(), {}, s.created(), e ? &*e : nullptr);
  }
}

}  // namespace pytheus::detail
