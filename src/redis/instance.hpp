// Instance: one loaded configuration, the parts it is made of, and the routing of each
// operation: straight to Redis (write-through) or into the local deltas.
#pragma once

#include <cstddef>
#include <string>
#include <thread>
#include <vector>

#include "config.hpp"
#include "delta_store.hpp"
#include "flusher.hpp"
#include "health.hpp"
#include "key_layout.hpp"
#include "liveness.hpp"
#include "sentinel.hpp"
#include "write_through.hpp"

namespace pytheus::detail::redis {

// Instances are never destroyed: retired backend objects may use theirs until exit.
class Instance {
 public:
  explicit Instance(Config c);

  const Config cfg;

  // Operations of one series (its slot). Never throw for Redis errors.
  // `e`: an exemplar that comes with the update (a counter's inc, an observation).
  void change(Slot& s, bool set, double v, const ExemplarData* e = nullptr);
  void observe(Slot& s, double v, std::size_t bucket, const ExemplarData* e = nullptr);
  void merge(Slot& s, const HistogramSnapshot& other);
  void erase(Slot& s);

  Slot* new_slot(std::shared_ptr<const Keys> keys, std::size_t ncounts, double created,
                 const NativeHistogramOptions* native = nullptr) {
    return store_.new_slot(std::move(keys), ncounts, created, native);
  }
  void retire(Slot* s) { store_.retire(s); }

  // What a gauge declared with `declared` is stored as here.
  GaugeMode resolve(GaugeMode declared) const {
    return declared == GaugeMode::backend_default ? cfg.gauge_mode : declared;
  }
  // A per-process gauge series was bound: heartbeats start.
  void per_process_key(const std::string& key, bool live) {
    liveness_.note_key(key, live);
    flusher_.ensure_running();
    watcher_.ensure_running();
  }

  Health& health() { return health_; }
  SwitchWatcher& watcher() { return watcher_; }
  Liveness& liveness() { return liveness_; }
  Flusher& flusher() { return flusher_; }
  std::size_t pending() const { return flusher_.pending(); }

  // Fork (detail::on_fork): every lock held across fork(), released in both processes.
  void lock_for_fork();
  void unlock_in_parent();
  void reset_in_child(std::vector<std::thread*>& abandoned_threads);

 private:
  bool deferred(const Slot& s) const;
  // The slot became dirty: a flusher must run.
  void dirtied(bool became_dirty) {
    if (became_dirty) flusher_.ensure_running();
  }

  Health health_;
  Locator locator_;
  SwitchWatcher watcher_;
  DeltaStore store_;
  Liveness liveness_;
  Flusher flusher_;
  WriteThrough write_through_;
};

}  // namespace pytheus::detail::redis
