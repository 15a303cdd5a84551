// The configuration of MultiProcessRedisBackend as a plain struct, parsed and validated once
// at load_backend, so that nothing past this point ever looks at JSON. Internal to
// pytheus::redis; tests/test_redis_config.cpp and fuzz/fuzz_redis_config.cpp use it directly.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "pytheus/backend.hpp"

namespace pytheus::detail::redis {

// The registered class name, which every error message starts with.
inline constexpr const char* kClass = "MultiProcessRedisBackend";

struct Config {
  std::string host = "localhost";
  int port = 6379;
  long long db = 0;
  std::optional<std::string> username;
  std::optional<std::string> password;
  std::optional<std::string> unix_socket;
  std::optional<std::string> key_prefix;
  long long expire_key_time = 3600;
  int connect_timeout_ms = 1000;
  int command_timeout_ms = 1000;
  bool write_behind = true;
  int flush_interval_ms = 1000;
  // What a gauge declared backend_default means (never backend_default itself).
  GaugeMode gauge_mode = GaugeMode::shared;
  // How long a process's heartbeat lives: a process silent this long is dead (live modes).
  int process_ttl_s = 5;

  // Redis Sentinel (sentinel.hpp): when `sentinels` is not empty the master is asked of
  // them, and host/port/unix_socket are not used.
  struct SentinelAddress {
    std::string host;
    int port = 26379;
  };
  std::vector<SentinelAddress> sentinels;
  std::string master_name;
  std::optional<std::string> sentinel_username;
  std::optional<std::string> sentinel_password;
  // Durability: each write-behind flush keeps its deltas until WAIT says this many replicas
  // have them (0: no WAIT), waiting at most wait_timeout_ms on the server.
  int wait_replicas = 0;
  int wait_timeout_ms = 0;

  // Redis Cluster (cluster_router.hpp): when `cluster_seeds` is not empty the nodes and the
  // slot map are discovered from these, and every key of a metric carries a hash tag.
  struct ClusterSeed {
    std::string host;
    int port = 6379;
  };
  std::vector<ClusterSeed> cluster_seeds;
  bool cluster() const { return !cluster_seeds.empty(); }

  // Where the server is, as messages name it: "host:port", "unix socket PATH" or
  // "master NAME (sentinels HOST:PORT, ...)" or "cluster (seeds HOST:PORT, ...)".
  std::string endpoint() const;
};

// Parses `config` (a JSON object). Throws BackendError naming the offending key and, unless
// it is a secret (username, password), its value.
Config parse_config(const BackendConfig& config);

}  // namespace pytheus::detail::redis
