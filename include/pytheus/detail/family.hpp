// Family: a metric's descriptor and its labelled children (series). The collector that a
// registry holds for every built-in metric.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "pytheus/collector.hpp"
#include "pytheus/descriptor.hpp"
#include "pytheus/detail/label_lookup.hpp"
#include "pytheus/detail/overflow.hpp"
#include "pytheus/detail/sample_layout.hpp"
#include "pytheus/detail/series.hpp"
#include "pytheus/detail/storage.hpp"

namespace pytheus::detail {

// A metric family: the descriptor and the children, keyed by the hash of their label
// values. Reads take a shared lock; creating or removing a child takes it exclusively.
template <class S>
class Family final : public MetricCollector,
                     public Rebindable,
                     public std::enable_shared_from_this<Family<S>> {
 public:
  explicit Family(MetricDescriptor d)
      : desc_(std::make_shared<const MetricDescriptor>(std::move(d))) {
    if constexpr (is_loaded<S>::value) track_rebindable(this);
  }
  ~Family() override {
    if constexpr (is_loaded<S>::value) untrack_rebindable(this);
  }

  const MetricDescriptor& descriptor() const override { return *desc_; }
  bool on_loaded_backend() const override { return is_loaded<S>::value; }

  std::vector<std::string> describe() const override { return {desc_->name}; }

  // Returns the child with these label values (label_names order), creating it if needed.
  // Beyond max_series, a new label set is refused or folded into the overflow child.
  std::shared_ptr<S> child(const std::string_view* values) {
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

  // Removes the child with these label values and deletes what its backend stores; returns
  // whether there was one.
  bool remove(const std::string_view* values) {
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

  // Removes every child and deletes what their backends store.
  void clear() {
    std::unordered_multimap<std::size_t, std::shared_ptr<S>> removed;
    {
      std::unique_lock<std::shared_mutex> lock(mu_);
      removed.swap(children_);
      overflow_child_.reset();
    }
    for (auto& entry : removed) entry.second->erase();
  }

  std::size_t size() const {
    std::shared_lock<std::shared_mutex> lock(mu_);
    return children_.size();
  }

  std::vector<std::vector<std::string>> label_sets() const override {
    std::vector<std::vector<std::string>> out;
    for (const auto& s : sorted_children()) out.push_back(s->values());
    return out;
  }

  std::vector<MetricFamily> collect() const override {
    FamilyBuilder builder;
    write_to(builder);
    return builder.take();
  }

  void write_to(MetricWriter& w) const override {
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

  void rebind(const BackendClass& from, const BackendClass& to,
              const BackendConfig& config) override {
    std::shared_lock<std::shared_mutex> lock(mu_);
    for (auto& entry : children_) entry.second->rebind(from, to, config);
  }

 private:
  static bool equal(const S& s, const std::string_view* values) {
    const auto& v = s.values();
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (!same(v[i], values[i])) return false;
    }
    return true;
  }

  bool at_limit_locked() const {
    return desc_->max_series != 0 &&
           children_.size() - (overflow_child_ ? 1 : 0) >= desc_->max_series;
  }

  std::shared_ptr<S> make_locked(std::size_t h, const std::string_view* values) {
    std::vector<std::string> owned(values, values + desc_->label_names.size());
    auto s = std::make_shared<S>(desc_, this->weak_from_this(), std::move(owned), next_seq_++);
    children_.emplace(h, s);
    return s;
  }

  std::shared_ptr<S> overflow_locked(const std::string_view* values) const {
    count_overflow(desc_->name);
    if (desc_->overflow == Overflow::fold) return overflow_child_;
    throw_cardinality(*desc_, values);
  }

  const std::shared_ptr<S>* find_locked(std::size_t h, const std::string_view* values) const {
    auto range = children_.equal_range(h);
    for (auto it = range.first; it != range.second; ++it) {
      if (equal(*it->second, values)) return &it->second;
    }
    return nullptr;
  }

  std::vector<std::shared_ptr<S>> sorted_children() const {
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

  void write_series(MetricWriter& w, S& s, LabelView* labels, std::size_t n) const {
    if constexpr (is_histogram_series<S>::value) {
      write_series_samples(w, *desc_, labels, n, s.get().snapshot());
    } else {
      write_series_samples(w, *desc_, labels, n, s.get().get());
    }
  }

  const std::shared_ptr<const MetricDescriptor> desc_;
  mutable std::shared_mutex mu_;
  std::unordered_multimap<std::size_t, std::shared_ptr<S>> children_;
  std::shared_ptr<S> overflow_child_;
  std::uint64_t next_seq_ = 0;
};

// The families of the loaded backend are compiled once, in the core library.
extern template class Family<ValueSeries<LoadedBackend>>;
extern template class Family<HistogramSeries<LoadedBackend>>;

}  // namespace pytheus::detail
