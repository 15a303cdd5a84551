// In write-behind mode every operation lands in the local deltas. In write-through mode only
// while Redis is unreachable, while the series still holds deltas from such a time, or while a
// deletion waits: otherwise a direct send could overtake them and a series' operations would
// reach Redis out of order.
#include "instance.hpp"

#include <algorithm>

namespace pytheus::detail::redis {
namespace {

// True when a direct send needs no local delta: delivered, or lost on a broken connection
// (counted; sending it again could apply it twice).
bool settled(Sent sent) {
  if (sent == Sent::ambiguous) counters().dropped.fetch_add(1, std::memory_order_relaxed);
  return sent != Sent::not_sent;
}

// settled(), noting that Redis has the series' creation time when it was delivered (an
// ambiguous send leaves it to be sent again: set-if-absent makes that harmless).
bool sent(Slot& s, Sent result) {
  if (result == Sent::ok && s.created != 0) s.created_sent.store(true, std::memory_order_relaxed);
  return settled(result);
}

}  // namespace

Instance::Instance(Config c)
    : cfg(std::move(c)),
      health_(cfg.endpoint(), std::clamp(cfg.flush_interval_ms, 100, 1000)),
      locator_(cfg),
      watcher_(cfg, health_, locator_),
      liveness_(cfg),
      flusher_(cfg, health_, store_, locator_, liveness_),
      write_through_(cfg, health_, locator_) {}

bool Instance::deferred(const Slot& s) const {
  return cfg.write_behind || s.dirty.load(std::memory_order_seq_cst) || health_.is_down() ||
         flusher_.erasing() || (s.keys->per_process && !liveness_.announced());
}

void Instance::change(Slot& s, bool set, double v, const ExemplarData* e) {
  watcher_.ensure_running();
  if (s.keys->per_process) flusher_.ensure_running();  // the heartbeat, in every write mode
  if (!deferred(s) && sent(s, write_through_.send_value(*s.keys, set, v, s.created_to_send(), e))) {
    return;
  }
  dirtied(set ? store_.set(s, v) : store_.add(s, v, e));
}

void Instance::observe(Slot& s, double v, std::size_t bucket, const ExemplarData* e) {
  watcher_.ensure_running();
  if (s.native) {
    NativeDelta d;
    {
      std::lock_guard<std::mutex> lock(s.set_mu);
      d = s.native->bucket_of(v);
    }
    if (!deferred(s) &&
        sent(s, write_through_.send_observe(*s.keys, bucket, v, s.created_to_send(), e, &d))) {
      return;
    }
    dirtied(store_.observe(s, v, s.keys->buckets ? bucket : 0, e, &d));
    return;
  }
  if (!deferred(s) &&
      sent(s, write_through_.send_observe(*s.keys, bucket, v, s.created_to_send(), e))) {
    return;
  }
  dirtied(store_.observe(s, v, s.keys->buckets ? bucket : 0, e));
}

// Carried from an in-process backend: delivered with the next flush.
void Instance::merge(Slot& s, const HistogramSnapshot& other) {
  if (s.native && other.native) {
    std::lock_guard<std::mutex> lock(s.set_mu);
    s.native->state.merge(*other.native);
    const NativeBuckets& b = *other.native;
    NativeDelta z;
    z.zero_threshold = b.zero_threshold;
    if (b.zero_count) s.native->add_pending(z, b.zero_count);
    for (const auto& [index, n] : b.positive)
      s.native->add_pending({'p', b.schema, index, 0, 1}, n);
    for (const auto& [index, n] : b.negative)
      s.native->add_pending({'n', b.schema, index, 0, 1}, n);
  }
  dirtied(store_.merge(s, other.buckets, other.count, other.sum));
}

// Write-through sends the deletion at once; write-behind with the next flush. While Redis is
// unreachable it waits, like a delta, and is delivered when Redis is back.
void Instance::erase(Slot& s) {
  if (flusher_.erase(s, !cfg.write_behind)) flusher_.ensure_running();
}

// Lock order: the control connection, then the slots, then the flusher thread's, then the
// switch watcher's.
void Instance::lock_for_fork() {
  flusher_.lock_control_for_fork();
  store_.lock_for_fork();
  flusher_.lock_thread_for_fork();
  watcher_.lock_for_fork();
}

void Instance::unlock_in_parent() {
  watcher_.unlock_after_fork();
  store_.unlock_after_fork();
  flusher_.unlock_after_fork();
}

// What was pending belongs to the parent, which delivers it; the parent's sockets and
// threads are not ours.
void Instance::reset_in_child(std::vector<std::thread*>& abandoned_threads) {
  health_.reset_in_child();
  liveness_.reset_in_child();
  store_.reset_in_child(liveness_.id());
  flusher_.reset_in_child(abandoned_threads);
  watcher_.reset_in_child(abandoned_threads);
}

}  // namespace pytheus::detail::redis
