// Family: a metric's descriptor and its labelled children (series). The collector that a
// registry holds for every built-in metric. Its members are defined in family_impl.hpp and
// compiled once in the core library for the loaded backend (every Counter, Gauge,
// Histogram and Summary); a static backend type brings them in with static_backend.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <new>
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

#if defined(__SANITIZE_THREAD__)
#define PYTHEUS_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PYTHEUS_TSAN 1
#endif
#endif
#ifndef PYTHEUS_TSAN
#define PYTHEUS_TSAN 0
#endif
#if PYTHEUS_TSAN
#include <sanitizer/tsan_interface.h>
#endif

namespace pytheus::detail {

// A metric family: the descriptor and the children, keyed by the hash of their label
// values. Reads take a shared lock; creating or removing a child takes it exclusively.
template <class S>
class Family final : public MetricCollector,
                     public Rebindable,
                     public std::enable_shared_from_this<Family<S>> {
 public:
  explicit Family(MetricDescriptor d);
  ~Family() override;

  const MetricDescriptor& descriptor() const override { return *desc_; }
  bool on_loaded_backend() const override { return is_loaded<S>::value; }
  std::vector<std::string> describe() const override;

  // Returns the child with these label values (label_names order), creating it if needed.
  // Beyond max_series, a new label set is refused or folded into the overflow child.
  std::shared_ptr<S> child(const std::string_view* values);

  // Removes the child with these label values and deletes what its backend stores; returns
  // whether there was one.
  bool remove(const std::string_view* values);

  // Removes every child and deletes what their backends store.
  void clear();

  std::size_t size() const;
  std::vector<std::vector<std::string>> label_sets() const override;
  std::vector<std::vector<std::string>> label_sets(std::vector<double>& created) const override;
  std::vector<MetricFamily> collect() const override;
  void write_to(MetricWriter& w) const override;
  void rebind(const BackendClass& from, const BackendClass& to,
              const BackendConfig& config) override;
  void lock_for_fork() override { mu_.lock(); }
  void unlock_for_fork(bool in_child) override {
    if (in_child) {
      // glibc cannot unlock a write-held rwlock from a thread whose id changed (the forking
      // thread's has, in the child): make it anew, and tell ThreadSanitizer it was released.
#if PYTHEUS_TSAN
      __tsan_mutex_pre_unlock(&mu_, 0);
      __tsan_mutex_post_unlock(&mu_, 0);
#endif
      new (&mu_) std::shared_mutex();
    } else {
      mu_.unlock();
    }
  }

 private:
  static bool equal(const S& s, const std::string_view* values);
  bool at_limit_locked() const;
  std::shared_ptr<S> make_locked(std::size_t h, const std::string_view* values);
  std::shared_ptr<S> overflow_locked(const std::string_view* values) const;
  const std::shared_ptr<S>* find_locked(std::size_t h, const std::string_view* values) const;
  std::vector<std::shared_ptr<S>> sorted_children() const;
  void write_series(MetricWriter& w, S& s, LabelView* labels, std::size_t n) const;

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
