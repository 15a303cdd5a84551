// Fork: the core's fork handlers (detail::on_fork) hold every lock of every configuration
// across fork(), inside the core's own lock (the order a binding thread takes them in), so the
// child never inherits one held by a thread that does not exist there; the child then starts with
// fresh connections, no deltas (the parent delivers its own) and, lazily, its own flusher.
// The parent's flusher thread object is kept, never joined or destroyed, in the child.
//
// Exit: the flushers stop, then whatever is pending is delivered once, connecting even while
// an outage's retry delay runs; what cannot be delivered is counted dropped and logged.
#include "process.hpp"

#include <pthread.h>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>

#include "health.hpp"
#include "pytheus/backends.hpp"
#include "pytheus/errors.hpp"
#include "self_metrics.hpp"

namespace pytheus::detail::redis {
namespace {

struct Globals {
  std::mutex mu;
  std::vector<Instance*> instances;
  std::atomic<Instance*> current{nullptr};
  std::vector<std::thread*> abandoned_threads;  // a forked child's copies of parent threads
  std::once_flag hooks_once;
};
Globals& globals() {
  static Globals* g = new Globals();
  return *g;
}

void fork_prepare() {
  Globals& g = globals();
  g.mu.lock();
  for (Instance* i : g.instances) i->lock_for_fork();
}

void fork_parent() {
  Globals& g = globals();
  for (Instance* i : g.instances) i->unlock_in_parent();
  g.mu.unlock();
}

void fork_child() {
  Globals& g = globals();
  for (Instance* i : g.instances) i->reset_in_child(g.abandoned_threads);
  reset_counters_in_child();
  g.mu.unlock();
}

void flush_at_exit() {
  const std::vector<Instance*> all = all_instances();
  for (Instance* i : all) {
    i->watcher().stop();
    i->flusher().stop();
  }
  for (Instance* i : all) {
    std::string why;
    if (i->flusher().flush(why, true)) {
      i->flusher().leave();
    } else {
      const std::size_t lost = i->pending();
      counters().dropped.fetch_add(lost, std::memory_order_relaxed);
      log_line("at exit, " + std::to_string(lost) +
               " series with updates could not be sent to Redis at " + i->health().endpoint() +
               " (" + why + ")");
    }
  }
}

}  // namespace

void adopt(std::unique_ptr<Instance> inst) {
  Globals& g = globals();
  std::call_once(g.hooks_once, [] {
    detail::on_fork(fork_prepare, fork_parent, fork_child);
    std::atexit(flush_at_exit);
    register_self_metrics();
  });
  Instance* raw = inst.release();
  {
    std::lock_guard<std::mutex> lock(g.mu);
    g.instances.push_back(raw);
  }
  g.current.store(raw, std::memory_order_release);
}

Instance& current_instance() {
  Instance* i = globals().current.load(std::memory_order_acquire);
  if (i == nullptr) {
    throw BackendError(std::string(kClass) + " is used before load_backend initialised it");
  }
  return *i;
}

bool is_current(const Instance& inst) {
  return globals().current.load() == &inst;
}

std::vector<Instance*> all_instances() {
  std::lock_guard<std::mutex> lock(globals().mu);
  return globals().instances;
}

}  // namespace pytheus::detail::redis
