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

#include <optional>
#include <string>
#include <string_view>
#include <typeindex>
#include <typeinfo>
#include <vector>

#include "pytheus/backend.hpp"
#include "pytheus/detail/backend_class.hpp"

namespace pytheus {

/// LoadedBackend is the default backend parameter of the metric templates: values go to
/// whatever class load_backend() chose.
struct LoadedBackend {};

/// Environment variable naming the backend class load_backend() uses by default.
inline constexpr const char* kBackendClassEnv = "PYTHEUS_BACKEND_CLASS";
/// Environment variable holding the path of the JSON file with the backend configuration.
inline constexpr const char* kBackendConfigEnv = "PYTHEUS_BACKEND_CONFIG";

namespace detail {
// Adds a class; `type` is the protocol type's, when there is one. Throws BackendError when
// one of its names belongs to another class.
void register_backend_class(BackendClass cls, const std::type_info* type);
std::string backend_name_of(const std::type_info& type);
// True while a class's initialize runs in the load that happens by itself at first use (no
// load_backend() call): a backend whose server is unreachable should then start
// disconnected and recover, as in any outage, rather than fail.
bool loading_implicitly();
// Adds fork handlers of a component (at most 8). The core's own pthread_atfork handlers run
// them with the core's lock held: `prepare` after taking it, `parent` and `child` before
// releasing it. A component whose locks are taken inside a backend call (under the core's
// lock) thus always takes them after it, and a child never inherits either held.
void on_fork(void (*prepare)(), void (*parent)(), void (*child)());
}  // namespace detail

/// Registers protocol type `B` under `name` and `aliases`, so that load_backend and
/// PYTHEUS_BACKEND_CLASS can find it. The shipped backends register the same way.
///
/// **Example**:
///     pytheus::register_backend<MyBackend>("MyBackend");
template <class B>
void register_backend(std::string name, std::vector<std::string> aliases = {}) {
  detail::register_backend_class(detail::make_backend_class<B>(std::move(name), std::move(aliases)),
                                 &typeid(B));
}

/// Returns the registered class names and aliases, sorted.
std::vector<std::string> registered_backends();

/// Loads a backend class: `backend_class` (a registered name or alias) or else
/// PYTHEUS_BACKEND_CLASS or else "SingleProcessBackend", with the configuration in
/// PYTHEUS_BACKEND_CONFIG or else `{}`. Throws BackendError naming what was wrong (unknown
/// class, with the registered ones; unreadable file; invalid JSON; a failed initialisation)
/// and then leaves the previous backend in place.
void load_backend(std::optional<std::string_view> backend_class = std::nullopt);

/// Loads `backend_class` (nullopt: PYTHEUS_BACKEND_CLASS, else the default) with
/// `backend_config`, a JSON object (include <nlohmann/json.hpp> where the literal is built).
///
/// **Example**:
///     pytheus::load_backend("MultiProcessRedisBackend",
///                           nlohmann::json{{"host", "127.0.0.1"}, {"port", 6379}});
void load_backend(std::optional<std::string_view> backend_class,
                  const BackendConfig& backend_config);

/// Loads `backend_class` with its configuration given as JSON text, so that the caller
/// needs no JSON header. Throws BackendError for invalid JSON (without echoing the text,
/// which may hold a password).
///
/// **Example**:
///     pytheus::load_backend_json("MultiProcessRedisBackend", R"({"port": 6379})");
void load_backend_json(std::string_view backend_class, std::string_view config_json);

/// Loads the class registered for type `B`, with `{}` or `backend_config`.
template <class B>
void load_backend() {
  load_backend(std::string_view(detail::backend_name_of(typeid(B))));
}
template <class B>
void load_backend(const BackendConfig& backend_config) {
  load_backend(std::string_view(detail::backend_name_of(typeid(B))), backend_config);
}

/// Returns the name of the loaded backend class, loading the default first if needed.
std::string loaded_backend();

/// Returns why the load that runs by itself at first use (no load_backend() call) could not
/// load the class or configuration of the environment, or nullopt. Such a failure never
/// throws from an update: it is printed once on stderr, values stay in this process's memory
/// (SingleProcessBackend) until load_backend() succeeds, and a class named by
/// PYTHEUS_BACKEND_CLASS that registers later (a static library initialised after the first
/// metric was used) is loaded as soon as it registers.
std::optional<std::string> backend_load_error();

/// Returns the configuration the loaded backend class was loaded with.
BackendConfig loaded_backend_config();

}  // namespace pytheus

#define PYTHEUS_DETAIL_CONCAT2(a, b) a##b
#define PYTHEUS_DETAIL_CONCAT(a, b) PYTHEUS_DETAIL_CONCAT2(a, b)

/// Registers backend type `Type` at static-initialisation time, in one line at namespace
/// scope: `PYTHEUS_REGISTER_BACKEND(MyBackend, "MyBackend");` (aliases may follow the name).
#define PYTHEUS_REGISTER_BACKEND(Type, ...)                                        \
  static const bool PYTHEUS_DETAIL_CONCAT(pytheus_registered_backend_, __LINE__) = \
      (::pytheus::register_backend<Type>(__VA_ARGS__), true)
