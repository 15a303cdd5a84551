// Configuration parsing. Strict on purpose: an unknown key is a typo that would otherwise
// silently leave a default in place (a wrong port, say), and a value of the wrong type or out
// of range is refused here rather than becoming a surprise in hiredis. The password and user
// name are never echoed, not even when they have the wrong type.
#include "config.hpp"

#include <algorithm>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "pytheus/errors.hpp"

namespace pytheus::detail::redis {
namespace {

const std::vector<std::string>& known_keys() {
  static const std::vector<std::string> k = {"host",
                                             "port",
                                             "db",
                                             "username",
                                             "password",
                                             "unix_socket",
                                             "key_prefix",
                                             "expire_key_time",
                                             "connect_timeout_ms",
                                             "command_timeout_ms",
                                             "write_mode",
                                             "flush_interval_ms",
                                             "gauge_mode",
                                             "process_ttl_s"};
  return k;
}

[[noreturn]] void config_error(const std::string& message) {
  throw BackendError(std::string(kClass) + " config: " + message);
}

void refuse_unknown_keys(const BackendConfig& j) {
  const auto& k = known_keys();
  std::string unknown;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (std::find(k.begin(), k.end(), it.key()) == k.end()) {
      unknown += (unknown.empty() ? "\"" : ", \"") + it.key() + "\"";
    }
  }
  if (unknown.empty()) return;
  std::string known;
  for (const auto& name : k) known += (known.empty() ? "" : ", ") + name;
  config_error("unknown key " + unknown + " (known keys: " + known + ")");
}

std::optional<std::string> string_of(const BackendConfig& j, const char* key, bool secret) {
  auto it = j.find(key);
  if (it == j.end()) return std::nullopt;
  if (!it->is_string()) {
    config_error(std::string("\"") + key + "\" must be a string, not " +
                 (secret ? std::string("a ") + it->type_name() : it->dump()));
  }
  return it->get<std::string>();
}

std::optional<long long> int_of(const BackendConfig& j, const char* key, long long lo,
                                long long hi) {
  auto it = j.find(key);
  if (it == j.end()) return std::nullopt;
  bool ok = false;
  long long v = 0;
  if (it->is_number_unsigned()) {
    auto u = it->get<std::uint64_t>();
    ok = u <= static_cast<std::uint64_t>(hi);
    v = static_cast<long long>(u);
  } else if (it->is_number_integer()) {
    v = it->get<long long>();
    ok = true;
  }
  if (!ok || v < lo || v > hi) {
    config_error(std::string("\"") + key + "\" must be an integer from " + std::to_string(lo) +
                 " to " + std::to_string(hi) + ", not " + it->dump());
  }
  return v;
}

}  // namespace

std::string Config::endpoint() const {
  return unix_socket ? "unix socket " + *unix_socket : host + ":" + std::to_string(port);
}

Config parse_config(const BackendConfig& j) {
  if (!j.is_object()) config_error("must be a JSON object, not " + std::string(j.type_name()));
  refuse_unknown_keys(j);
  constexpr long long kMaxMs = 24LL * 3600 * 1000;
  Config c;
  if (auto v = string_of(j, "host", false)) {
    if (v->empty()) config_error("\"host\" must not be empty");
    c.host = *v;
  }
  if (auto v = int_of(j, "port", 1, 65535)) c.port = static_cast<int>(*v);
  if (auto v = int_of(j, "db", 0, 1LL << 31)) c.db = *v;
  c.username = string_of(j, "username", true);
  c.password = string_of(j, "password", true);
  c.unix_socket = string_of(j, "unix_socket", false);
  c.key_prefix = string_of(j, "key_prefix", false);
  if (auto v = int_of(j, "expire_key_time", 1, 1LL << 31)) c.expire_key_time = *v;
  if (auto v = int_of(j, "connect_timeout_ms", 1, kMaxMs)) {
    c.connect_timeout_ms = static_cast<int>(*v);
  }
  if (auto v = int_of(j, "command_timeout_ms", 1, kMaxMs)) {
    c.command_timeout_ms = static_cast<int>(*v);
  }
  if (auto v = int_of(j, "flush_interval_ms", 1, kMaxMs))
    c.flush_interval_ms = static_cast<int>(*v);
  if (auto v = string_of(j, "write_mode", false)) {
    if (*v == "write_behind") {
      c.write_behind = true;
    } else if (*v == "write_through") {
      c.write_behind = false;
    } else {
      config_error("\"write_mode\" must be \"write_behind\" or \"write_through\", not \"" + *v +
                   "\"");
    }
  }
  if (auto v = string_of(j, "gauge_mode", false)) {
    c.gauge_mode = parse_gauge_mode(*v);
    if (c.gauge_mode == GaugeMode::backend_default) {
      config_error(
          "\"gauge_mode\" must be one of shared, all, sum, max, min, mostrecent, "
          "liveall, livesum, livemax, livemin, livemostrecent, not \"" +
          *v + "\"");
    }
  }
  if (auto v = int_of(j, "process_ttl_s", 1, 24LL * 3600)) c.process_ttl_s = static_cast<int>(*v);
  if (c.username && !c.password) config_error("\"username\" is given without \"password\"");
  if (c.unix_socket && (j.contains("host") || j.contains("port"))) {
    config_error("\"unix_socket\" and \"host\"/\"port\" exclude each other; give one");
  }
  if (c.unix_socket && c.unix_socket->empty()) config_error("\"unix_socket\" must not be empty");
  return c;
}

}  // namespace pytheus::detail::redis
