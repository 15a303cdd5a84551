// Local deltas: per series, what this process has added or set and not yet delivered to
// Redis. The hot path (add, set, observe) only touches atomics of its own series, plus one
// mutex for Gauge::set, and allocates nothing; the flusher takes the dirty series in bulk.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "key_layout.hpp"
#include "native.hpp"
#include "pytheus/exemplar.hpp"

namespace pytheus::detail::redis {

// Local deltas of one series, owned by its backend object until retired, then by the store.
struct Slot {
  Slot(std::shared_ptr<const Keys> k, std::size_t n, double created_at);

  const std::shared_ptr<const Keys> keys;
  // When this process created the series (Keys::created_key), and whether Redis has been
  // sent it (set-if-absent, so once is enough until the series is erased).
  const double created;
  std::atomic<bool> created_sent{false};
  // The creation time to send with the next update, or 0 when there is none to send.
  double created_to_send() const {
    return created_sent.load(std::memory_order_relaxed) ? 0 : created;
  }
  // A value's delta, or a histogram's sum delta.
  std::atomic<double> value{0};
  // A histogram's observations per bucket (not cumulative); a summary's count.
  const std::size_t ncounts;
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts;
  // A Gauge::set not yet delivered; deltas in `value` apply after it.
  std::mutex set_mu;
  bool has_set = false;
  double set_value = 0;
  double set_stamp = 0;  // set_stamp_now() of the set, for mostrecent modes (Keys::stamped)
  // The latest exemplar per Keys::exemplar_fields entry not yet delivered: stored, then
  // `fresh`, then the delta and `dirty`, so a flush that takes the delta sees it.
  ExemplarCells exemplars;
  std::unique_ptr<std::atomic<bool>[]> fresh;

  // A histogram with native buckets: this process's native state and pending deltas, under
  // set_mu, which then also covers the whole of each observation and of each take, so that a
  // flush carries counts and native buckets of the same observations.
  std::unique_ptr<NativeSlot> native;
  std::atomic<bool> dirty{false};
  Slot* next_dirty = nullptr;
  bool retired = false;  // under the store's mutex
  Slot* prev = nullptr;  // the store's list of slots, under its mutex
  Slot* next = nullptr;
};

// A dirty slot's deltas, taken for one flush transaction, or (`erase`) the deletion of a
// removed series' fields or keys.
struct Entry {
  std::shared_ptr<const Keys> keys;
  bool erase = false;
  double created = 0;  // sent set-if-absent when not 0
  bool has_set = false;
  double set_value = 0;
  double set_stamp = 0;
  double value = 0;
  std::vector<std::uint64_t> counts;
  // Exemplars to deliver: the index into Keys::exemplar_fields and the exemplar.
  std::vector<std::pair<std::size_t, ExemplarData>> exemplars;
  std::vector<NativeDelta> native;
};

// DeltaStore holds the slots of one configuration and the lock-free stack of dirty ones.
class DeltaStore {
 public:
  // A slot for a series with `ncounts` counters (histogram buckets, or 1 for a summary).
  // `created`: the series' creation time (Unix seconds); `native`: the options of a
  // histogram with native buckets.
  Slot* new_slot(std::shared_ptr<const Keys> keys, std::size_t ncounts, double created,
                 const NativeHistogramOptions* native = nullptr);
  // Its backend object is gone: the slot is freed once its last deltas are taken.
  void retire(Slot* s);

  // Each returns true when the slot became dirty (the caller makes sure a flusher runs).
  bool add(Slot& s, double v, const ExemplarData* e = nullptr);
  bool set(Slot& s, double v);
  // `native`: the observation's native bucket, for a histogram with native buckets.
  bool observe(Slot& s, double v, std::size_t bucket, const ExemplarData* e = nullptr,
               const NativeDelta* native = nullptr);
  // Adds a snapshot's observations (a histogram carried over from an in-process backend).
  bool merge(Slot& s, const std::vector<double>& cumulative_buckets, double count, double sum);
  // Drops the slot's deltas (its series was removed); its creation time is sent again with a
  // later update.
  static void clear(Slot& s);

  // Appends every dirty slot's deltas to `batch` and frees retired slots that are clean.
  void take_dirty(std::vector<Entry>& batch);
  // Series with deltas not yet taken.
  std::size_t dirty_count() const { return pending_.load(std::memory_order_relaxed); }

  // Fork: the mutex is held across fork(); in the child the parent's deltas are dropped (the
  // parent delivers them), and per-process series are rekeyed to the child's process id.
  void lock_for_fork() { mu_.lock(); }
  void unlock_after_fork() { mu_.unlock(); }
  void reset_in_child(const std::string& process);

 private:
  bool mark_dirty(Slot& s);
  void unlink(Slot* s);

  std::mutex mu_;
  Slot* slots_ = nullptr;
  std::size_t retired_count_ = 0;
  std::atomic<Slot*> dirty_{nullptr};
  std::atomic<std::size_t> pending_{0};
};

}  // namespace pytheus::detail::redis
