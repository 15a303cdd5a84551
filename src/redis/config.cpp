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
                                             "sentinels",
                                             "master_name",
                                             "sentinel_username",
                                             "sentinel_password",
                                             "wait_replicas",
                                             "wait_timeout_ms",
                                             "cluster",
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

// "sentinels": [{"host": H, "port": P}, ...] with "master_name"; the sentinels' own
// credentials are separate from Redis's.
void parse_sentinel(const BackendConfig& j, Config& c) {
  c.sentinel_username = string_of(j, "sentinel_username", true);
  c.sentinel_password = string_of(j, "sentinel_password", true);
  auto name = string_of(j, "master_name", false);
  auto it = j.find("sentinels");
  if (it == j.end()) {
    if (name || c.sentinel_username || c.sentinel_password) {
      config_error(std::string("\"") +
                   (name                  ? "master_name"
                    : c.sentinel_username ? "sentinel_username"
                                          : "sentinel_password") +
                   "\" is given without \"sentinels\"");
    }
    return;
  }
  const std::string shape =
      "\"sentinels\" must be a non-empty array of {\"host\": string, "
      "\"port\": integer} objects";
  if (!it->is_array() || it->empty()) config_error(shape + ", not " + it->dump());
  for (const auto& s : *it) {
    if (!s.is_object()) config_error(shape + "; found " + s.dump());
    for (auto f = s.begin(); f != s.end(); ++f) {
      if (f.key() != "host" && f.key() != "port") {
        config_error(shape + "; unknown key \"" + f.key() + "\" in " + s.dump());
      }
    }
    Config::SentinelAddress a;
    auto h = s.find("host");
    if (h == s.end() || !h->is_string() || h->get<std::string>().empty()) {
      config_error(shape + "; bad or missing \"host\" in " + s.dump());
    }
    a.host = h->get<std::string>();
    if (s.contains("port")) {
      auto p = int_of(s, "port", 1, 65535);
      a.port = static_cast<int>(*p);
    }
    c.sentinels.push_back(std::move(a));
  }
  if (!name || name->empty())
    config_error("\"sentinels\" needs \"master_name\" (a non-empty string)");
  c.master_name = *name;
  if (c.sentinel_username && !c.sentinel_password) {
    config_error("\"sentinel_username\" is given without \"sentinel_password\"");
  }
  for (const char* k : {"host", "port", "unix_socket"}) {
    if (j.contains(k)) {
      config_error(std::string("\"") + k +
                   "\" and \"sentinels\" exclude each other: the sentinels name the master");
    }
  }
}

// "cluster": {"seeds": [{"host": H, "port": P}, ...]}. The cluster's nodes share Redis's
// credentials; what a cluster cannot do is refused here with the reason.
void parse_cluster(const BackendConfig& j, Config& c) {
  auto it = j.find("cluster");
  if (it == j.end()) return;
  const std::string shape =
      "\"cluster\" must be {\"seeds\": [{\"host\": string, \"port\": integer}, ...]} with at "
      "least one seed";
  if (!it->is_object()) config_error(shape + ", not " + it->dump());
  for (auto f = it->begin(); f != it->end(); ++f) {
    if (f.key() != "seeds") config_error(shape + "; unknown key \"" + f.key() + "\" in it");
  }
  auto seeds = it->find("seeds");
  if (seeds == it->end() || !seeds->is_array() || seeds->empty()) {
    config_error(shape + ", not " + it->dump());
  }
  for (const auto& s : *seeds) {
    if (!s.is_object()) config_error(shape + "; found " + s.dump());
    for (auto f = s.begin(); f != s.end(); ++f) {
      if (f.key() != "host" && f.key() != "port") {
        config_error(shape + "; unknown key \"" + f.key() + "\" in " + s.dump());
      }
    }
    Config::ClusterSeed a;
    auto h = s.find("host");
    if (h == s.end() || !h->is_string() || h->get<std::string>().empty()) {
      config_error(shape + "; bad or missing \"host\" in " + s.dump());
    }
    a.host = h->get<std::string>();
    if (s.contains("port")) a.port = static_cast<int>(*int_of(s, "port", 1, 65535));
    c.cluster_seeds.push_back(std::move(a));
  }
  for (const char* k : {"host", "port", "unix_socket", "sentinels"}) {
    if (j.contains(k)) {
      config_error(std::string("\"") + k +
                   "\" and \"cluster\" exclude each other: the seeds name the cluster's nodes");
    }
  }
  if (c.db != 0) {
    config_error("\"db\" must be 0 with \"cluster\" (Redis Cluster has database 0 only), not " +
                 std::to_string(c.db));
  }
  if (!c.write_behind) {
    config_error(
        "\"cluster\" needs \"write_mode\": \"write_behind\" (write-through is not available "
        "on a cluster; docs/redis.md says why)");
  }
  if (c.wait_replicas != 0) {
    config_error("\"wait_replicas\" is not available with \"cluster\" (WAIT is per node)");
  }
}

// "wait_replicas": N and "wait_timeout_ms": WAIT after each write-behind flush.
void parse_wait(const BackendConfig& j, Config& c) {
  if (auto v = int_of(j, "wait_replicas", 0, 1000)) c.wait_replicas = static_cast<int>(*v);
  auto t = int_of(j, "wait_timeout_ms", 1, 24LL * 3600 * 1000);
  if (c.wait_replicas == 0) {
    if (t) config_error("\"wait_timeout_ms\" is given without \"wait_replicas\"");
    return;
  }
  if (!c.write_behind) {
    config_error(
        "\"wait_replicas\" needs \"write_mode\": \"write_behind\" (it delays "
        "flushes, not operations)");
  }
  // WAIT blocks on the server: its reply must come before the command timeout.
  c.wait_timeout_ms = t ? static_cast<int>(*t) : std::max(1, c.command_timeout_ms / 2);
  if (c.wait_timeout_ms >= c.command_timeout_ms) {
    config_error("\"wait_timeout_ms\" (" + std::to_string(c.wait_timeout_ms) +
                 ") must be below \"command_timeout_ms\" (" + std::to_string(c.command_timeout_ms) +
                 ")");
  }
}

}  // namespace

std::string Config::endpoint() const {
  if (!sentinels.empty()) {
    std::string s = "master \"" + master_name + "\" (sentinels ";
    for (std::size_t i = 0; i < sentinels.size(); ++i) {
      s += (i == 0 ? "" : ", ") + sentinels[i].host + ":" + std::to_string(sentinels[i].port);
    }
    return s + ")";
  }
  if (cluster()) {
    std::string s = "cluster (seeds ";
    for (std::size_t i = 0; i < cluster_seeds.size(); ++i) {
      s += (i == 0 ? "" : ", ") + cluster_seeds[i].host + ":" +
           std::to_string(cluster_seeds[i].port);
    }
    return s + ")";
  }
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
  parse_sentinel(j, c);
  parse_wait(j, c);
  parse_cluster(j, c);
  if (c.unix_socket && (j.contains("host") || j.contains("port"))) {
    config_error("\"unix_socket\" and \"host\"/\"port\" exclude each other; give one");
  }
  if (c.unix_socket && c.unix_socket->empty()) config_error("\"unix_socket\" must not be empty");
  return c;
}

}  // namespace pytheus::detail::redis
