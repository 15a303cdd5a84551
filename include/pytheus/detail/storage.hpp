// Where a series keeps its value(s): in an object of a static backend type, or on the
// loaded backend, bound on first use and moved by load_backend().
#pragma once

#include <atomic>
#include <optional>
#include <string>
#include <vector>

#include "pytheus/backend.hpp"
#include "pytheus/backends.hpp"
#include "pytheus/descriptor.hpp"
#include "pytheus/detail/backend_class.hpp"
#include "pytheus/detail/likely.hpp"

namespace pytheus::detail {

// Implemented by families whose values live on the loaded backend, so that load_backend
// can move them.
class Rebindable {
 public:
  virtual void rebind(const BackendClass& from, const BackendClass& to,
                      const BackendConfig& config) = 0;
  // Held across fork() (the core's atfork handlers), so a child never inherits it locked.
  virtual void lock_for_fork() = 0;
  // In the child, `in_child`: the lock is made anew (a rwlock cannot be unlocked by a thread
  // whose id changed).
  virtual void unlock_for_fork(bool in_child) = 0;

 protected:
  ~Rebindable() = default;
};

void track_rebindable(Rebindable* r);
void untrack_rebindable(Rebindable* r);

// Binding to the loaded backend, under the lock load_backend takes, so that no value stays
// on an old class. bind_loaded makes the object when `slot` is still empty; rebind_loaded
// moves a bound one to class `to` (carrying its values when `from` kept them in memory).
// `created` is the series' creation time (MetricInfo::created).
Backend& bind_loaded(std::atomic<Backend*>& slot, const MetricDescriptor& d,
                     const std::vector<std::string>& values, double created = 0);
HistogramBackend& bind_loaded(std::atomic<HistogramBackend*>& slot, const MetricDescriptor& d,
                              const std::vector<std::string>& values, double created = 0);
void rebind_loaded(std::atomic<Backend*>& slot, const MetricDescriptor& d,
                   const std::vector<std::string>& values, const BackendClass& from,
                   const BackendClass& to, const BackendConfig& config, double created = 0);
void rebind_loaded(std::atomic<HistogramBackend*>& slot, const MetricDescriptor& d,
                   const std::vector<std::string>& values, const BackendClass& from,
                   const BackendClass& to, const BackendConfig& config, double created = 0);

// One stored value of a static backend type B, made with the series.
template <class B>
class ValueStorage {
 public:
  ValueStorage(const MetricDescriptor& d, const std::vector<std::string>& values,
               double created = 0)
      : value_(empty_config(), make_info(d, values, created), std::nullopt) {}
  B& get(const MetricDescriptor&, const std::vector<std::string>&) { return value_; }
  void erase(const MetricDescriptor&, const std::vector<std::string>&) {
    if constexpr (has_erase<B>::value) value_.erase();
  }
  void rebind(const MetricDescriptor&, const std::vector<std::string>&, const BackendClass&,
              const BackendClass&, const BackendConfig&) {}

 private:
  B value_;
};

// One histogram or summary series of a static backend type B.
template <class B>
class HistogramStorage {
 public:
  HistogramStorage(const MetricDescriptor& d, const std::vector<std::string>& values,
                   double created = 0)
      : value_(empty_config(), make_info(d, values, created), d.bounds) {}
  histogram_backend_t<B>& get(const MetricDescriptor&, const std::vector<std::string>&) {
    return value_;
  }
  void erase(const MetricDescriptor&, const std::vector<std::string>&) { value_.erase(); }
  void rebind(const MetricDescriptor&, const std::vector<std::string>&, const BackendClass&,
              const BackendClass&, const BackendConfig&) {}

 private:
  histogram_backend_t<B> value_;
};

// One stored object (a Backend or a HistogramBackend) on the loaded backend.
template <class Impl>
class LoadedStorage {
 public:
  LoadedStorage(const MetricDescriptor&, const std::vector<std::string>&, double created = 0)
      : created_(created) {}
  LoadedStorage(const LoadedStorage&) = delete;
  LoadedStorage& operator=(const LoadedStorage&) = delete;
  ~LoadedStorage() { delete impl_.load(std::memory_order_acquire); }

  Impl& get(const MetricDescriptor& d, const std::vector<std::string>& values) {
    Impl* p = impl_.load(std::memory_order_acquire);
    if (PYTHEUS_LIKELY(p != nullptr)) return *p;
    return bind_loaded(impl_, d, values, created_);
  }

  // Binds first when unused: a shared store may hold the series from other processes.
  void erase(const MetricDescriptor& d, const std::vector<std::string>& values) {
    get(d, values).erase();
  }

  // Called by load_backend with its lock held.
  void rebind(const MetricDescriptor& d, const std::vector<std::string>& values,
              const BackendClass& from, const BackendClass& to, const BackendConfig& config) {
    rebind_loaded(impl_, d, values, from, to, config, created_);
  }

 private:
  std::atomic<Impl*> impl_{nullptr};
  const double created_;  // the series' creation time, for the objects it binds
};

template <>
class ValueStorage<LoadedBackend> : public LoadedStorage<Backend> {
 public:
  using LoadedStorage<Backend>::LoadedStorage;
};

template <>
class HistogramStorage<LoadedBackend> : public LoadedStorage<HistogramBackend> {
 public:
  using LoadedStorage<HistogramBackend>::LoadedStorage;
};

}  // namespace pytheus::detail
