// Choosing the backend: the registry of backend classes and load_backend().
//
// load_backend() resolves the class and its configuration in this order: the explicit
// arguments, then the environment (PYTHEUS_BACKEND_CLASS names the class,
// PYTHEUS_BACKEND_CONFIG is the path of a JSON file holding its configuration), then
// SingleProcessBackend with `{}`. It runs by itself before the first value is used or the
// first scrape. Metrics on the loaded backend (the default for every metric type) move to a
// newly loaded class at once, carrying their values over when the old class kept them in
// process memory. All functions here are thread-safe.
#pragma once

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <typeindex>
#include <unordered_set>
#include <utility>
#include <vector>

#include "pytheus/backend.hpp"
#include "pytheus/backends/atomic.hpp"
#include "pytheus/backends/single_process.hpp"
#include "pytheus/errors.hpp"

namespace pytheus {

/// LoadedBackend is the default backend parameter of the metric templates: values go to
/// whatever class load_backend() chose.
struct LoadedBackend {};

/// Environment variable naming the backend class load_backend() uses by default.
inline constexpr const char* kBackendClassEnv = "PYTHEUS_BACKEND_CLASS";
/// Environment variable holding the path of the JSON file with the backend configuration.
inline constexpr const char* kBackendConfigEnv = "PYTHEUS_BACKEND_CONFIG";

namespace detail {

// Implemented by families whose values live on the loaded backend, so that load_backend
// can move them.
class Rebindable {
 public:
  virtual void rebind(const BackendClass& from, const BackendClass& to,
                      const BackendConfig& config) = 0;

 protected:
  ~Rebindable() = default;
};

class BackendRegistry {
 public:
  // Never destroyed: metrics defined as globals may outlive any other static.
  static BackendRegistry& instance() {
    static BackendRegistry* r = new BackendRegistry();
    return *r;
  }

  void add(BackendClass cls, std::optional<std::type_index> type) {
    auto shared = std::make_shared<const BackendClass>(std::move(cls));
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> names{shared->name};
    names.insert(names.end(), shared->aliases.begin(), shared->aliases.end());
    for (const std::string& n : names) {
      auto it = by_name_.find(n);
      if (it == by_name_.end()) continue;
      auto t = type_of_.find(it->second->name);
      const bool other_type = type && t != type_of_.end() && t->second != *type;
      if (it->second->name != shared->name || other_type) {
        throw BackendError("backend class name \"" + n + "\" is already registered for " +
                           it->second->name);
      }
    }
    for (const std::string& n : names) by_name_[n] = shared;
    if (type) {
      by_type_[*type] = shared->name;
      type_of_.insert_or_assign(shared->name, *type);
    }
    if (current_ && current_->name == shared->name) current_ = shared;
  }

  std::string name_of(std::type_index type) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = by_type_.find(type);
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
  }

  // Runs f(class, config) with the loaded backend, loading it first if needed. Binding a
  // value happens under the same lock as load_backend, so no value stays on an old class.
  template <class F>
  decltype(auto) with_loaded(F&& f) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!current_) load_locked(std::nullopt, nullptr);
    return f(*current_, *config_);
  }

  std::pair<std::shared_ptr<const BackendClass>, std::shared_ptr<const BackendConfig>> loaded() {
    std::lock_guard<std::mutex> lock(mu_);
    if (!current_) load_locked(std::nullopt, nullptr);
    return {current_, config_};
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
  void retire(std::unique_ptr<Backend> b) { retired_values_.push_back(std::move(b)); }
  void retire(std::unique_ptr<HistogramBackend> h) { retired_histograms_.push_back(std::move(h)); }

 private:
  BackendRegistry() {
    auto add_builtin = [this](BackendClass c, std::type_index t) {
      auto shared = std::make_shared<const BackendClass>(std::move(c));
      by_name_[shared->name] = shared;
      for (const auto& a : shared->aliases) by_name_[a] = shared;
      by_type_[t] = shared->name;
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

  static BackendConfig read_config_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) {
      throw BackendError(std::string("cannot read backend config file \"") + path + "\" (from " +
                         kBackendConfigEnv + ")");
    }
    std::stringstream text;
    text << in.rdbuf();
    try {
      return nlohmann::json::parse(text.str());
    } catch (const nlohmann::json::exception& e) {
      // nlohmann quotes the text it last read ("last read: '...'"): that may be a password.
      std::string why = e.what();
      const std::size_t quoted = why.find("; last read: ");
      if (quoted != std::string::npos) why.erase(quoted);
      throw BackendError(std::string("invalid JSON in backend config file \"") + path +
                         "\" (from " + kBackendConfigEnv + "): " + why);
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
    } else if (const char* path = std::getenv(kBackendConfigEnv); path && *path) {
      cfg = read_config_file(path);
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
};

}  // namespace detail

/// Registers a backend class built by hand (see BackendClass). Throws BackendError when one
/// of its names belongs to another class.
inline void register_backend(BackendClass cls) {
  detail::BackendRegistry::instance().add(std::move(cls), std::nullopt);
}

/// Registers protocol type `B` under `name` and `aliases`, so that load_backend and
/// PYTHEUS_BACKEND_CLASS can find it.
///
/// **Example**:
///     pytheus::register_backend<MyBackend>("MyBackend");
template <class B>
void register_backend(std::string name, std::vector<std::string> aliases = {}) {
  detail::BackendRegistry::instance().add(
      make_backend_class<B>(std::move(name), std::move(aliases)), std::type_index(typeid(B)));
}

/// Returns the registered class names and aliases, sorted.
inline std::vector<std::string> registered_backends() {
  return detail::BackendRegistry::instance().names();
}

/// Loads a backend class: `backend_class` (a registered name or alias) or else
/// PYTHEUS_BACKEND_CLASS or else "SingleProcessBackend"; with `backend_config` or else the
/// JSON file PYTHEUS_BACKEND_CONFIG names or else `{}`. Throws BackendError naming what was
/// wrong (unknown class, with the registered ones; unreadable file; invalid JSON; a failed
/// initialisation) and then leaves the previous backend in place.
///
/// **Example**:
///     pytheus::load_backend("MultiProcessRedisBackend", {{"host", "127.0.0.1"}, {"port", 6379}});
inline void load_backend(std::optional<std::string_view> backend_class = std::nullopt,
                         std::optional<BackendConfig> backend_config = std::nullopt) {
  detail::BackendRegistry::instance().load(backend_class,
                                           backend_config ? &*backend_config : nullptr);
}

/// Loads the class registered for type `B`.
template <class B>
void load_backend(BackendConfig backend_config = BackendConfig::object()) {
  std::string name = detail::BackendRegistry::instance().name_of(typeid(B));
  load_backend(name, std::move(backend_config));
}

/// Returns the name of the loaded backend class, loading the default first if needed.
inline std::string loaded_backend() {
  return detail::BackendRegistry::instance().loaded().first->name;
}

/// Returns the configuration the loaded backend class was loaded with.
inline BackendConfig loaded_backend_config() {
  return *detail::BackendRegistry::instance().loaded().second;
}

}  // namespace pytheus

#define PYTHEUS_DETAIL_CONCAT2(a, b) a##b
#define PYTHEUS_DETAIL_CONCAT(a, b) PYTHEUS_DETAIL_CONCAT2(a, b)

/// Registers backend type `Type` at static-initialisation time, in one line at namespace
/// scope: `PYTHEUS_REGISTER_BACKEND(MyBackend, "MyBackend");` (aliases may follow the name).
#define PYTHEUS_REGISTER_BACKEND(Type, ...)                                        \
  static const bool PYTHEUS_DETAIL_CONCAT(pytheus_registered_backend_, __LINE__) = \
      (::pytheus::register_backend<Type>(__VA_ARGS__), true)
