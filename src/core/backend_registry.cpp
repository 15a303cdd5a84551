// The registry of backend classes, load_backend(), and binding values to the loaded class.
//
// One mutex guards the classes, the loaded class and the set of families on the loaded
// backend. Binding a value takes it too, so a value can never be made on a class that
// load_backend() is replacing: it is either bound before (and then moved by rebind) or after.
// fork() holds it (pthread_atfork), so that a child forked while another thread binds a value
// (inside a backend's constructor, maybe for a while) does not inherit it held; components'
// fork handlers (on_fork) run inside, so their locks nest within it as they do in binding.
#include <pthread.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <typeindex>
#include <unordered_set>
#include <utility>
#include <vector>

#include "pytheus/backends.hpp"
#include "pytheus/backends/atomic.hpp"
#include "pytheus/backends/single_process.hpp"
#include "pytheus/descriptor.hpp"
#include "pytheus/detail/loaded.hpp"
#include "pytheus/detail/storage.hpp"
#include "pytheus/errors.hpp"

namespace pytheus::detail {
namespace {

void fork_prepare();
void fork_parent();
void fork_child();

// nlohmann quotes the text it last read ("last read: '...'"): that may be a password, so
// the message keeps only what is before it.
std::string without_quoted_text(const nlohmann::json::exception& e) {
  std::string why = e.what();
  const std::size_t quoted = why.find("; last read: ");
  if (quoted != std::string::npos) why.erase(quoted);
  return why;
}

BackendConfig parse_config_text(std::string_view text, const std::string& where) {
  try {
    return nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    throw BackendError("invalid JSON in " + where + ": " + without_quoted_text(e));
  }
}

// PYTHEUS_BACKEND_CONFIG holds a file path or, when it starts with '{', the JSON object
// itself (containers set configuration through the environment). Neither is ever echoed:
// it may hold a password.
BackendConfig config_from_environment(const char* value) {
  std::string_view v(value);
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t' || v.front() == '\n')) {
    v.remove_prefix(1);
  }
  if (!v.empty() && v.front() == '{') {
    return parse_config_text(v, std::string("the inline JSON of ") + kBackendConfigEnv);
  }
  const std::string path(value);
  std::ifstream in(path);
  if (!in) {
    throw BackendError(std::string("cannot read backend config file \"") + path + "\" (from " +
                       kBackendConfigEnv + ")");
  }
  std::stringstream text;
  text << in.rdbuf();
  return parse_config_text(text.str(), std::string("backend config file \"") + path + "\" (from " +
                                           kBackendConfigEnv + ")");
}

class BackendRegistry {
 public:
  // Never destroyed: metrics defined as globals may outlive any other static.
  static BackendRegistry& instance() {
    static BackendRegistry* r = [] {
      auto* made = new BackendRegistry();
      ::pthread_atfork(&fork_prepare, &fork_parent, &fork_child);
      return made;
    }();
    return *r;
  }

  // The families on the loaded backend too: a child must be able to look up and create series.
  void lock_for_fork() {
    mu_.lock();
    for (Rebindable* r : tracked_) r->lock_for_fork();
  }
  void unlock_for_fork(bool in_child) {
    for (Rebindable* r : tracked_) r->unlock_for_fork(in_child);
    mu_.unlock();
  }

  void add(BackendClass cls, const std::type_info* type) {
    auto shared = std::make_shared<const BackendClass>(std::move(cls));
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> names{shared->name};
    names.insert(names.end(), shared->aliases.begin(), shared->aliases.end());
    for (const std::string& n : names) {
      auto it = by_name_.find(n);
      if (it == by_name_.end()) continue;
      auto t = type_of_.find(it->second->name);
      const bool other_type = type && t != type_of_.end() && t->second != std::type_index(*type);
      if (it->second->name != shared->name || other_type) {
        throw BackendError("backend class name \"" + n + "\" is already registered for " +
                           it->second->name);
      }
    }
    for (const std::string& n : names) by_name_[n] = shared;
    if (type) {
      by_type_.insert_or_assign(std::type_index(*type), shared->name);
      type_of_.insert_or_assign(shared->name, std::type_index(*type));
    }
    if (current_ && current_->name == shared->name) current_ = shared;
    // The class the environment names registered after the first use of a metric (a static
    // library's registration object running after the user's static initialisers): load it
    // now, so that linking is enough in every initialisation order.
    if (pending_ && std::find(names.begin(), names.end(), *pending_) != names.end()) {
      pending_.reset();
      load_implicitly_locked(std::nullopt);
    }
  }

  std::string name_of(const std::type_info& type) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = by_type_.find(std::type_index(type));
    if (it == by_type_.end()) {
      throw BackendError(std::string("backend type ") + type.name() +
                         " is not registered; call pytheus::register_backend<T>(\"Name\") first");
    }
    return it->second;
  }

  std::vector<std::string> names() {
    std::lock_guard<std::mutex> lock(mu_);
    return names_locked();
  }

  // `config` null: from the environment, else {}.
  void load(std::optional<std::string_view> cls, const BackendConfig* config) {
    std::lock_guard<std::mutex> lock(mu_);
    load_locked(cls, config);
    pending_.reset();  // an explicit choice: no later registration overrides it
    implicit_error_.reset();
  }

  LoadedClass loaded() {
    std::lock_guard<std::mutex> lock(mu_);
    if (!current_) load_implicitly_locked(std::nullopt);
    return {current_, config_};
  }

  std::optional<std::string> implicit_error() {
    std::lock_guard<std::mutex> lock(mu_);
    return implicit_error_;
  }

  template <class Impl, class Make>
  Impl& bind(std::atomic<Impl*>& slot, Make make) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!current_) load_implicitly_locked(std::nullopt);
    Impl* p = slot.load(std::memory_order_acquire);
    if (p == nullptr) {
      p = make(*current_, *config_).release();
      slot.store(p, std::memory_order_release);
    }
    return *p;
  }

  void track(Rebindable* r) {
    std::lock_guard<std::mutex> lock(mu_);
    tracked_.insert(r);
  }
  void untrack(Rebindable* r) {
    std::lock_guard<std::mutex> lock(mu_);
    tracked_.erase(r);
  }

  // Old backend objects may still be in use by a thread that read the pointer before it was
  // swapped; they are kept until exit. load_backend normally runs once, at start-up.
  // Called with the lock held (from rebind).
  void retire(std::unique_ptr<Backend> b) { retired_values_.push_back(std::move(b)); }
  void retire(std::unique_ptr<HistogramBackend> h) { retired_histograms_.push_back(std::move(h)); }

 private:
  BackendRegistry() {
    auto add_builtin = [this](BackendClass c, std::type_index t) {
      auto shared = std::make_shared<const BackendClass>(std::move(c));
      by_name_[shared->name] = shared;
      for (const auto& a : shared->aliases) by_name_[a] = shared;
      by_type_.insert_or_assign(t, shared->name);
      type_of_.insert_or_assign(shared->name, t);
    };
    add_builtin(make_backend_class<SingleProcessBackend>(
                    "SingleProcessBackend", {"pytheus.backends.base.SingleProcessBackend",
                                             "pytheus.backends.SingleProcessBackend"}),
                typeid(SingleProcessBackend));
    add_builtin(make_backend_class<AtomicBackend>("AtomicBackend"), typeid(AtomicBackend));
    add_builtin(make_backend_class<ShardedBackend>("ShardedBackend"), typeid(ShardedBackend));
  }

  std::vector<std::string> names_locked() const {
    std::vector<std::string> out;
    for (const auto& [name, cls] : by_name_) out.push_back(name);
    return out;
  }

  std::string registered_list() const {
    std::string out;
    for (const std::string& n : names_locked()) {
      if (!out.empty()) out += ", ";
      out += n;
    }
    return out;
  }

  // The load that runs by itself at first use. It never throws: a misconfiguration would
  // otherwise become an exception from every update. It is reported once on stderr and by
  // backend_load_error(), and values stay in this process's memory until a load succeeds.
  void load_implicitly_locked(std::optional<std::string_view> cls) {
    implicit_ = true;
    try {
      load_locked(cls, nullptr);
      implicit_ = false;
      implicit_error_.reset();
      return;
    } catch (const BackendError& e) {
      implicit_ = false;
      const char* env = std::getenv(kBackendClassEnv);
      if (!cls && env && *env && by_name_.find(std::string_view(env)) == by_name_.end()) {
        pending_ = env;  // loaded when a class of that name registers
      }
      implicit_error_ = e.what();
    } catch (...) {
      implicit_ = false;
      implicit_error_ = "the backend's initialisation failed";
    }
    std::fprintf(stderr,
                 "pytheus: no backend could be loaded at first use: %s; values stay in this "
                 "process's memory (SingleProcessBackend) until load_backend() succeeds\n",
                 implicit_error_->c_str());
    if (!current_) {
      const BackendConfig empty = BackendConfig::object();
      load_locked(std::string_view("SingleProcessBackend"), &empty);
    }
  }

  void load_locked(std::optional<std::string_view> cls_arg, const BackendConfig* cfg_arg) {
    std::string source = "argument";
    std::string cls_name;
    if (cls_arg) {
      cls_name = std::string(*cls_arg);
    } else if (const char* env = std::getenv(kBackendClassEnv); env && *env) {
      cls_name = env;
      source = std::string("environment variable ") + kBackendClassEnv;
    } else {
      cls_name = "SingleProcessBackend";
    }
    BackendConfig cfg;
    if (cfg_arg) {
      cfg = *cfg_arg;
    } else if (const char* value = std::getenv(kBackendConfigEnv); value && *value) {
      cfg = config_from_environment(value);
    }
    if (cfg.is_null()) cfg = BackendConfig::object();
    if (!cfg.is_object()) {
      throw BackendError("backend config for " + cls_name + " must be a JSON object, not " +
                         std::string(cfg.type_name()));
    }
    auto it = by_name_.find(cls_name);
    if (it == by_name_.end()) {
      throw BackendError("unknown backend class \"" + cls_name + "\" (from " + source +
                         "); registered classes: " + registered_list());
    }
    std::shared_ptr<const BackendClass> next = it->second;
    if (next->initialize) next->initialize(cfg);  // may throw; nothing has changed yet
    std::shared_ptr<const BackendClass> previous = current_;
    current_ = next;
    config_ = std::make_shared<const BackendConfig>(std::move(cfg));
    if (previous) {
      for (Rebindable* r : tracked_) r->rebind(*previous, *current_, *config_);
    }
  }

  std::mutex mu_;
  std::map<std::string, std::shared_ptr<const BackendClass>, std::less<>> by_name_;
  std::map<std::type_index, std::string> by_type_;
  std::map<std::string, std::type_index> type_of_;
  std::shared_ptr<const BackendClass> current_;
  std::shared_ptr<const BackendConfig> config_;
  std::unordered_set<Rebindable*> tracked_;
  std::vector<std::unique_ptr<Backend>> retired_values_;
  std::vector<std::unique_ptr<HistogramBackend>> retired_histograms_;
  // The class PYTHEUS_BACKEND_CLASS names, not yet registered at the first use.
  std::optional<std::string> pending_;
  std::optional<std::string> implicit_error_;

 public:
  // True while the load that runs at first use calls a class's initialize.
  static inline thread_local bool implicit_ = false;
};

std::unique_ptr<Backend> make_loaded(const BackendClass& cls, const BackendConfig& config,
                                     const MetricDescriptor& d,
                                     const std::vector<std::string>& values, double created,
                                     Backend*) {
  return cls.make_value(config, make_info(d, values, created), std::nullopt);
}

std::unique_ptr<HistogramBackend> make_loaded(const BackendClass& cls, const BackendConfig& config,
                                              const MetricDescriptor& d,
                                              const std::vector<std::string>& values,
                                              double created, HistogramBackend*) {
  return cls.make_histogram(config, make_info(d, values, created), d.bounds);
}

// A gauge's value is carried with set(): an early set(7) in each of two processes must
// stay 7 on a shared store, not become 14. Counters add.
void carry(Backend& from, Backend& to, const MetricDescriptor& d) {
  const double v = from.get();
  if (stored_type(d.type) == MetricType::gauge) {
    to.set(v);
  } else if (v != 0) {
    to.inc(v);
  }
}

void carry(HistogramBackend& from, HistogramBackend& to, const MetricDescriptor&) {
  HistogramSnapshot s = from.snapshot();
  if (s.count != 0 || s.sum != 0) to.merge(s);
}

template <class Impl>
Impl& bind_any(std::atomic<Impl*>& slot, const MetricDescriptor& d,
               const std::vector<std::string>& values, double created) {
  return BackendRegistry::instance().bind(
      slot, [&](const BackendClass& cls, const BackendConfig& config) {
        return make_loaded(cls, config, d, values, created, static_cast<Impl*>(nullptr));
      });
}

template <class Impl>
void rebind_any(std::atomic<Impl*>& slot, const MetricDescriptor& d,
                const std::vector<std::string>& values, const BackendClass& from,
                const BackendClass& to, const BackendConfig& config, double created) {
  Impl* old = slot.load(std::memory_order_acquire);
  if (old == nullptr) return;  // never used: binds to the new class on first use
  std::unique_ptr<Impl> next =
      make_loaded(to, config, d, values, created, static_cast<Impl*>(nullptr));
  if (from.process_local) carry(*old, *next, d);
  slot.store(next.release(), std::memory_order_release);
  BackendRegistry::instance().retire(std::unique_ptr<Impl>(old));
}

}  // namespace

namespace {

struct ForkHooks {
  void (*prepare)();
  void (*parent)();
  void (*child)();
};
std::array<std::atomic<const ForkHooks*>, 8> fork_hooks{};

void fork_prepare() {
  BackendRegistry::instance().lock_for_fork();
  for (auto& h : fork_hooks) {
    if (const ForkHooks* f = h.load(std::memory_order_acquire)) f->prepare();
  }
}
void fork_parent() {
  for (auto it = fork_hooks.rbegin(); it != fork_hooks.rend(); ++it) {
    if (const ForkHooks* f = it->load(std::memory_order_acquire)) f->parent();
  }
  BackendRegistry::instance().unlock_for_fork(false);
}
void fork_child() {
  for (auto it = fork_hooks.rbegin(); it != fork_hooks.rend(); ++it) {
    if (const ForkHooks* f = it->load(std::memory_order_acquire)) f->child();
  }
  BackendRegistry::instance().unlock_for_fork(true);
}

}  // namespace

void on_fork(void (*prepare)(), void (*parent)(), void (*child)()) {
  auto* hooks = new ForkHooks{prepare, parent, child};
  for (auto& h : fork_hooks) {
    const ForkHooks* empty = nullptr;
    if (h.compare_exchange_strong(empty, hooks)) return;
  }
  delete hooks;
  throw BackendError("too many fork handlers registered (at most 8)");
}

void register_backend_class(BackendClass cls, const std::type_info* type) {
  BackendRegistry::instance().add(std::move(cls), type);
}

std::string backend_name_of(const std::type_info& type) {
  return BackendRegistry::instance().name_of(type);
}

LoadedClass loaded_class() {
  return BackendRegistry::instance().loaded();
}

bool loading_implicitly() {
  return BackendRegistry::implicit_;
}

void track_rebindable(Rebindable* r) {
  BackendRegistry::instance().track(r);
}
void untrack_rebindable(Rebindable* r) {
  BackendRegistry::instance().untrack(r);
}

Backend& bind_loaded(std::atomic<Backend*>& slot, const MetricDescriptor& d,
                     const std::vector<std::string>& values, double created) {
  return bind_any(slot, d, values, created);
}

HistogramBackend& bind_loaded(std::atomic<HistogramBackend*>& slot, const MetricDescriptor& d,
                              const std::vector<std::string>& values, double created) {
  return bind_any(slot, d, values, created);
}

void rebind_loaded(std::atomic<Backend*>& slot, const MetricDescriptor& d,
                   const std::vector<std::string>& values, const BackendClass& from,
                   const BackendClass& to, const BackendConfig& config, double created) {
  rebind_any(slot, d, values, from, to, config, created);
}

void rebind_loaded(std::atomic<HistogramBackend*>& slot, const MetricDescriptor& d,
                   const std::vector<std::string>& values, const BackendClass& from,
                   const BackendClass& to, const BackendConfig& config, double created) {
  rebind_any(slot, d, values, from, to, config, created);
}

}  // namespace pytheus::detail

namespace pytheus {

std::vector<std::string> registered_backends() {
  return detail::BackendRegistry::instance().names();
}

void load_backend(std::optional<std::string_view> backend_class) {
  detail::BackendRegistry::instance().load(backend_class, nullptr);
}

void load_backend(std::optional<std::string_view> backend_class,
                  const BackendConfig& backend_config) {
  detail::BackendRegistry::instance().load(backend_class, &backend_config);
}

void load_backend_json(std::string_view backend_class, std::string_view config_json) {
  const BackendConfig config =
      detail::parse_config_text(config_json, "the configuration given to load_backend_json for " +
                                                 std::string(backend_class));
  detail::BackendRegistry::instance().load(backend_class, &config);
}

std::string loaded_backend() {
  return detail::loaded_class().cls->name;
}

std::optional<std::string> backend_load_error() {
  return detail::BackendRegistry::instance().implicit_error();
}

BackendConfig loaded_backend_config() {
  return *detail::loaded_class().config;
}

}  // namespace pytheus
