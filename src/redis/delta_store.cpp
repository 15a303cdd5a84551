// Why the orderings are seq_cst: a write-through operation checks `dirty` to decide whether
// it may bypass the slot; it must see a delta that another thread has just put there, or its
// operation would reach Redis before an earlier one. The dirty stack is a Treiber stack that
// only the flusher pops (all at once, with exchange), so there is no ABA problem.
#include "delta_store.hpp"

#include <algorithm>
#include <chrono>
#include <new>
#include <utility>

#include "pytheus/descriptor.hpp"
#include "pytheus/detail/strings.hpp"

namespace pytheus::detail::redis {
namespace {

// The creation time a slot keeps: none for a series without `_created`; the time the object
// was made when the library did not say (a backend object built outside it).
double k_created(const Keys& k, double created) {
  if (k.created_key.empty()) return 0;
  return created > 0 ? created : unix_time_now();
}

}  // namespace

Slot::Slot(std::shared_ptr<const Keys> k, std::size_t n, double created_at)
    : keys(std::move(k)),
      created(k_created(*keys, created_at)),
      ncounts(n),
      counts(n ? new std::atomic<std::uint64_t>[n] : nullptr),
      exemplars(keys->exemplar_fields.size()),
      fresh(new std::atomic<bool>[keys->exemplar_fields.size()]) {
  for (std::size_t i = 0; i < ncounts; ++i) counts[i].store(0, std::memory_order_relaxed);
  for (std::size_t i = 0; i < keys->exemplar_fields.size(); ++i) fresh[i].store(false);
}

namespace {

// Stores the exemplar of field `i` before the delta it comes with is published.
void keep_exemplar(Slot& s, std::size_t i, const ExemplarData* e) {
  if (e == nullptr || i >= s.keys->exemplar_fields.size()) return;
  s.exemplars.store(i, *e);
  s.fresh[i].store(true, std::memory_order_seq_cst);
}

}  // namespace

Slot* DeltaStore::new_slot(std::shared_ptr<const Keys> keys, std::size_t ncounts, double created,
                           const NativeHistogramOptions* native) {
  auto* s = new Slot(std::move(keys), ncounts, created);
  if (native != nullptr) s->native = std::make_unique<NativeSlot>(*native);
  std::lock_guard<std::mutex> lock(mu_);
  s->next = slots_;
  if (slots_) slots_->prev = s;
  slots_ = s;
  return s;
}

void DeltaStore::retire(Slot* s) {
  std::lock_guard<std::mutex> lock(mu_);
  s->retired = true;
  ++retired_count_;
}

bool DeltaStore::mark_dirty(Slot& s) {
  if (s.dirty.load(std::memory_order_seq_cst)) return false;
  if (s.dirty.exchange(true, std::memory_order_seq_cst)) return false;
  pending_.fetch_add(1, std::memory_order_relaxed);
  Slot* head = dirty_.load(std::memory_order_relaxed);
  do {
    s.next_dirty = head;
  } while (!dirty_.compare_exchange_weak(head, &s, std::memory_order_release,
                                         std::memory_order_relaxed));
  return true;
}

// detail::atomic_add is relaxed; the fence orders it before the `dirty` check as a seq_cst
// add would, so a flusher that clears `dirty` afterwards also takes this delta.
bool DeltaStore::add(Slot& s, double v, const ExemplarData* e) {
  keep_exemplar(s, 0, e);
  atomic_add(s.value, v);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  return mark_dirty(s);
}

bool DeltaStore::set(Slot& s, double v) {
  {
    std::lock_guard<std::mutex> lock(s.set_mu);
    s.has_set = true;
    s.set_value = v;
    if (s.keys->stamped) {
      s.set_stamp = set_stamp_now();
    }
    s.value.store(0, std::memory_order_seq_cst);
  }
  return mark_dirty(s);
}

bool DeltaStore::observe(Slot& s, double v, std::size_t bucket, const ExemplarData* e,
                         const NativeDelta* native) {
  keep_exemplar(s, bucket, e);
  if (native != nullptr && s.native) {
    std::lock_guard<std::mutex> lock(s.set_mu);
    s.counts[std::min(bucket, s.ncounts - 1)].fetch_add(1, std::memory_order_seq_cst);
    atomic_add(s.value, v);
    s.native->add_pending(*native);
    return mark_dirty(s);
  }
  s.counts[std::min(bucket, s.ncounts - 1)].fetch_add(1, std::memory_order_seq_cst);
  atomic_add(s.value, v);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  return mark_dirty(s);
}

bool DeltaStore::merge(Slot& s, const std::vector<double>& cumulative_buckets, double count,
                       double sum) {
  const std::size_t buckets = s.keys->buckets;
  double previous = 0;
  for (std::size_t i = 0; i < buckets && i < cumulative_buckets.size(); ++i) {
    const double n = cumulative_buckets[i] - previous;
    previous = cumulative_buckets[i];
    if (n > 0) s.counts[i].fetch_add(static_cast<std::uint64_t>(n));
  }
  if (buckets == 0 && count > 0) s.counts[0].fetch_add(static_cast<std::uint64_t>(count));
  return add(s, sum);
}

void DeltaStore::clear(Slot& s) {
  std::lock_guard<std::mutex> lock(s.set_mu);
  s.has_set = false;
  s.value.store(0, std::memory_order_seq_cst);
  for (std::size_t i = 0; i < s.ncounts; ++i) s.counts[i].store(0);
  s.created_sent.store(false, std::memory_order_relaxed);
  for (std::size_t i = 0; i < s.keys->exemplar_fields.size(); ++i) s.fresh[i].store(false);
  s.exemplars.clear();
  if (s.native) s.native->pending.clear();
}

void DeltaStore::take_dirty(std::vector<Entry>& batch) {
  Slot* s = dirty_.exchange(nullptr, std::memory_order_acquire);
  while (s != nullptr) {
    Slot* next = s->next_dirty;
    s->dirty.store(false, std::memory_order_seq_cst);
    pending_.fetch_sub(1, std::memory_order_relaxed);
    Entry e;
    e.keys = s->keys;
    {
      std::lock_guard<std::mutex> lock(s->set_mu);
      e.has_set = s->has_set;
      e.set_value = s->set_value;
      e.set_stamp = s->set_stamp;
      s->has_set = false;
      e.value = s->value.exchange(0, std::memory_order_seq_cst);
      if (s->native) {
        // Counts and native buckets of the same observations (see Slot::native).
        e.native = s->native->pending;
        s->native->pending.clear();
        e.counts.resize(s->ncounts);
        for (std::size_t i = 0; i < s->ncounts; ++i) {
          e.counts[i] = s->counts[i].exchange(0, std::memory_order_seq_cst);
        }
      }
    }
    bool any = e.has_set || e.value != 0 || !e.native.empty();
    if (s->ncounts) {
      if (!s->native) {
        e.counts.resize(s->ncounts);
        for (std::size_t i = 0; i < s->ncounts; ++i) {
          e.counts[i] = s->counts[i].exchange(0, std::memory_order_seq_cst);
        }
      }
      for (std::size_t i = 0; i < s->ncounts; ++i) any = any || e.counts[i] != 0;
    }
    for (std::size_t i = 0; i < s->keys->exemplar_fields.size(); ++i) {
      if (!s->fresh[i].exchange(false, std::memory_order_seq_cst)) continue;
      if (std::optional<ExemplarData> x = s->exemplars.load_data(i)) {
        e.exemplars.emplace_back(i, *x);
        any = true;
      }
    }
    if (any) {
      // Taken once: a batch that fails is sent again as it is, and a series removed before
      // its batch went out sends it again (clear()).
      e.created = s->created_to_send();
      if (e.created != 0) s->created_sent.store(true, std::memory_order_relaxed);
      batch.push_back(std::move(e));
    }
    s = next;
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (retired_count_ == 0) return;
  for (Slot* r = slots_; r != nullptr;) {
    Slot* next = r->next;
    // A retired slot is used by nobody; if it is not dirty it is on no stack either.
    if (r->retired && !r->dirty.load()) {
      unlink(r);
      delete r;
      --retired_count_;
    }
    r = next;
  }
}

// Keys are immutable while threads run; the child has one thread, and Series allocates them
// non-const, so rewriting the field of a per-process series here is safe.
void DeltaStore::reset_in_child(const std::string& process) {
  for (Slot* s = slots_; s != nullptr;) {
    Slot* next = s->next;
    if (s->retired) {
      unlink(s);
      delete s;
    } else {
      if (s->keys->per_process) {
        Keys& k = const_cast<Keys&>(*s->keys);
        k.field = process + k.field.substr(k.field.find('|'));
      }
      new (&s->set_mu) std::mutex();  // a parent thread may have held it
      s->has_set = false;
      s->value.store(0);
      for (std::size_t i = 0; i < s->ncounts; ++i) s->counts[i].store(0);
      for (std::size_t i = 0; i < s->keys->exemplar_fields.size(); ++i) s->fresh[i].store(false);
      s->exemplars.clear();
      s->dirty.store(false);
      s->next_dirty = nullptr;
    }
    s = next;
  }
  retired_count_ = 0;
  dirty_.store(nullptr);
  pending_.store(0);
  mu_.unlock();
}

void DeltaStore::unlink(Slot* s) {
  if (s->prev) s->prev->next = s->next;
  if (s->next) s->next->prev = s->prev;
  if (slots_ == s) slots_ = s->next;
}

}  // namespace pytheus::detail::redis
