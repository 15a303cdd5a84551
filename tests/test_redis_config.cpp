// The Redis backend's configuration parsing on its own, without a server: every key, its
// default, wrong types, out-of-range values, and error messages that name the key and never
// print a secret.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "pytheus/errors.hpp"
#include "redis/config.hpp"

using pytheus::BackendError;
using pytheus::detail::redis::Config;
using pytheus::detail::redis::parse_config;

namespace {

// The message parse_config throws for `j`, or "" when it accepts it.
std::string error_of(const nlohmann::json& j) {
  try {
    parse_config(j);
  } catch (const BackendError& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

}  // namespace

TEST(RedisConfig, EmptyObjectGivesTheDefaults) {
  const Config c = parse_config(nlohmann::json::object());
  EXPECT_EQ(c.host, "localhost");
  EXPECT_EQ(c.port, 6379);
  EXPECT_EQ(c.db, 0);
  EXPECT_FALSE(c.username);
  EXPECT_FALSE(c.password);
  EXPECT_FALSE(c.unix_socket);
  EXPECT_FALSE(c.key_prefix);
  EXPECT_EQ(c.expire_key_time, 3600);
  EXPECT_EQ(c.connect_timeout_ms, 1000);
  EXPECT_EQ(c.command_timeout_ms, 1000);
  EXPECT_TRUE(c.write_behind);
  EXPECT_EQ(c.flush_interval_ms, 1000);
  EXPECT_EQ(c.endpoint(), "localhost:6379");
}

TEST(RedisConfig, EveryKeyIsRead) {
  const Config c = parse_config({{"host", "10.0.0.7"},
                                 {"port", 6380},
                                 {"db", 3},
                                 {"username", "svc"},
                                 {"password", "pw"},
                                 {"key_prefix", "app"},
                                 {"expire_key_time", 60},
                                 {"connect_timeout_ms", 250},
                                 {"command_timeout_ms", 500},
                                 {"write_mode", "write_through"},
                                 {"flush_interval_ms", 20}});
  EXPECT_EQ(c.host, "10.0.0.7");
  EXPECT_EQ(c.port, 6380);
  EXPECT_EQ(c.db, 3);
  EXPECT_EQ(c.username, "svc");
  EXPECT_EQ(c.password, "pw");
  EXPECT_EQ(c.key_prefix, "app");
  EXPECT_EQ(c.expire_key_time, 60);
  EXPECT_EQ(c.connect_timeout_ms, 250);
  EXPECT_EQ(c.command_timeout_ms, 500);
  EXPECT_FALSE(c.write_behind);
  EXPECT_EQ(c.flush_interval_ms, 20);
  EXPECT_EQ(c.endpoint(), "10.0.0.7:6380");
  EXPECT_TRUE(parse_config({{"write_mode", "write_behind"}}).write_behind);
  EXPECT_TRUE(parse_config({{"password", "pw"}}).password);  // a password without a user
}

TEST(RedisConfig, UnixSocketExcludesHostAndPort) {
  const Config c = parse_config({{"unix_socket", "/run/redis.sock"}});
  EXPECT_EQ(c.unix_socket, "/run/redis.sock");
  EXPECT_EQ(c.endpoint(), "unix socket /run/redis.sock");
  for (const char* key : {"host", "port"}) {
    nlohmann::json j = {{"unix_socket", "/run/redis.sock"}};
    j[key] = key == std::string("host") ? nlohmann::json("h") : nlohmann::json(6379);
    const std::string e = error_of(j);
    EXPECT_TRUE(contains(e, "\"unix_socket\"") && contains(e, "exclude")) << e;
  }
  EXPECT_TRUE(contains(error_of({{"unix_socket", ""}}), "\"unix_socket\" must not be empty"));
}

TEST(RedisConfig, NotAnObject) {
  for (const nlohmann::json& j :
       {nlohmann::json::array(), nlohmann::json("host"), nlohmann::json(1), nlohmann::json()}) {
    const std::string e = error_of(j);
    EXPECT_TRUE(contains(e, "MultiProcessRedisBackend config: must be a JSON object")) << e;
  }
}

TEST(RedisConfig, UnknownKeysAreNamedWithTheKnownOnes) {
  const std::string e = error_of({{"hots", "x"}, {"prot", 1}, {"port", 1}});
  EXPECT_TRUE(contains(e, "unknown key \"hots\", \"prot\"")) << e;
  EXPECT_TRUE(contains(e, "known keys: host, port, db,")) << e;
  EXPECT_TRUE(contains(e, "flush_interval_ms")) << e;
}

TEST(RedisConfig, WrongTypesNameTheKeyAndValue) {
  for (const char* key : {"host", "unix_socket", "key_prefix", "write_mode"}) {
    const std::string e = error_of({{key, 42}});
    EXPECT_TRUE(contains(e, std::string("\"") + key + "\" must be a string, not 42")) << e;
  }
  for (const char* key : {"port", "db", "expire_key_time", "connect_timeout_ms",
                          "command_timeout_ms", "flush_interval_ms"}) {
    for (const nlohmann::json& v : {nlohmann::json("1"), nlohmann::json(1.5), nlohmann::json(true),
                                    nlohmann::json::array()}) {
      const std::string e = error_of({{key, v}});
      EXPECT_TRUE(contains(e, std::string("\"") + key + "\" must be an integer from ") &&
                  contains(e, ", not " + v.dump()))
          << e;
    }
  }
  EXPECT_TRUE(contains(error_of({{"host", ""}}), "\"host\" must not be empty"));
}

TEST(RedisConfig, RangesAreChecked) {
  struct Case {
    const char* key;
    long long lo, hi;
  };
  const long long max_ms = 24LL * 3600 * 1000;
  for (const Case& c :
       {Case{"port", 1, 65535}, Case{"db", 0, 1LL << 31}, Case{"expire_key_time", 1, 1LL << 31},
        Case{"connect_timeout_ms", 1, max_ms}, Case{"command_timeout_ms", 1, max_ms},
        Case{"flush_interval_ms", 1, max_ms}}) {
    EXPECT_EQ(error_of({{c.key, c.lo}}), "") << c.key;
    EXPECT_EQ(error_of({{c.key, c.hi}}), "") << c.key;
    const std::string range =
        "from " + std::to_string(c.lo) + " to " + std::to_string(c.hi) + ", not ";
    EXPECT_TRUE(contains(error_of({{c.key, c.lo - 1}}), range + std::to_string(c.lo - 1))) << c.key;
    EXPECT_TRUE(contains(error_of({{c.key, c.hi + 1}}), range + std::to_string(c.hi + 1))) << c.key;
  }
  // Beyond the 64-bit signed range (an unsigned JSON number) and far below it.
  EXPECT_TRUE(contains(error_of({{"port", 18446744073709551615ULL}}), "\"port\" must be"));
  EXPECT_TRUE(contains(error_of({{"port", -9223372036854775807LL}}), "\"port\" must be"));
}

TEST(RedisConfig, UnknownWriteModeListsTheModes) {
  const std::string e = error_of({{"write_mode", "write_sideways"}});
  EXPECT_TRUE(contains(e,
                       "\"write_mode\" must be \"write_behind\" or \"write_through\", not "
                       "\"write_sideways\""))
      << e;
}

TEST(RedisConfig, SecretsAreNeverPrinted) {
  const std::string secret = "s3cr3t-Value";
  // Wrong types: the type is named, never the value.
  for (const char* key : {"password", "username"}) {
    for (const nlohmann::json& v : {nlohmann::json(424242), nlohmann::json::array({secret}),
                                    nlohmann::json({{"k", secret}})}) {
      nlohmann::json j = {{"password", "pw"}};
      j[key] = v;
      const std::string e = error_of(j);
      EXPECT_TRUE(contains(e, std::string("\"") + key + "\" must be a string, not a ")) << e;
      EXPECT_FALSE(contains(e, secret) || contains(e, "424242")) << e;
    }
  }
  // Other errors in a configuration holding secrets do not echo them either.
  for (const nlohmann::json& j :
       {nlohmann::json{{"username", secret}}, nlohmann::json{{"password", secret}, {"port", 0}},
        nlohmann::json{{"password", secret}, {"username", secret}, {"typo", 1}},
        nlohmann::json{{"password", secret}, {"write_mode", "x"}}}) {
    const std::string e = error_of(j);
    EXPECT_NE(e, "");
    EXPECT_FALSE(contains(e, secret)) << e;
  }
  EXPECT_TRUE(contains(error_of({{"username", secret}}), "\"username\" is given without"));
}

TEST(RedisConfig, SentinelKeys) {
  const Config c = parse_config(
      nlohmann::json{{"sentinels", {{{"host", "10.0.0.1"}, {"port", 26380}}, {{"host", "s2"}}}},
                     {"master_name", "metrics"},
                     {"sentinel_username", "watcher"},
                     {"sentinel_password", "s3cret"},
                     {"password", "redis-pass"}});
  ASSERT_EQ(c.sentinels.size(), 2u);
  EXPECT_EQ(c.sentinels[0].host, "10.0.0.1");
  EXPECT_EQ(c.sentinels[0].port, 26380);
  EXPECT_EQ(c.sentinels[1].host, "s2");
  EXPECT_EQ(c.sentinels[1].port, 26379);
  EXPECT_EQ(c.master_name, "metrics");
  EXPECT_EQ(*c.sentinel_username, "watcher");
  EXPECT_EQ(*c.sentinel_password, "s3cret");
  EXPECT_EQ(*c.password, "redis-pass");
  EXPECT_EQ(c.endpoint(), "master \"metrics\" (sentinels 10.0.0.1:26380, s2:26379)");
  EXPECT_TRUE(parse_config(nlohmann::json::object()).sentinels.empty());
}

TEST(RedisConfig, SentinelErrorsNameTheKeyAndNoSecret) {
  const nlohmann::json one = {{{"host", "127.0.0.1"}, {"port", 26379}}};
  EXPECT_TRUE(contains(error_of({{"sentinels", one}}), "\"master_name\""));
  EXPECT_TRUE(contains(error_of({{"master_name", "m"}}), "\"master_name\" is given without"));
  EXPECT_TRUE(contains(error_of({{"sentinels", nlohmann::json::array()}, {"master_name", "m"}}),
                       "non-empty array"));
  EXPECT_TRUE(contains(error_of({{"sentinels", "127.0.0.1:26379"}, {"master_name", "m"}}),
                       "\"sentinels\" must be"));
  EXPECT_TRUE(
      contains(error_of({{"sentinels", {{{"port", 26379}}}}, {"master_name", "m"}}), "\"host\""));
  EXPECT_TRUE(
      contains(error_of({{"sentinels", {{{"host", "h"}, {"port", 70000}}}}, {"master_name", "m"}}),
               "\"port\" must be an integer from 1 to 65535"));
  EXPECT_TRUE(
      contains(error_of({{"sentinels", {{{"host", "h"}, {"prot", 1}}}}, {"master_name", "m"}}),
               "unknown key \"prot\""));
  EXPECT_TRUE(contains(error_of({{"sentinels", one}, {"master_name", "m"}, {"port", 6380}}),
                       "\"port\" and \"sentinels\" exclude each other"));
  EXPECT_TRUE(
      contains(error_of({{"sentinels", one}, {"master_name", "m"}, {"sentinel_username", "u"}}),
               "\"sentinel_username\" is given without \"sentinel_password\""));
  const std::string e =
      error_of({{"sentinels", one}, {"master_name", "m"}, {"sentinel_password", {{"hunter2", 1}}}});
  EXPECT_TRUE(contains(e, "\"sentinel_password\" must be a string")) << e;
  EXPECT_FALSE(contains(e, "hunter2")) << e;
  const std::string e2 = error_of({{"sentinel_password", "hunter2"}});
  EXPECT_TRUE(contains(e2, "without \"sentinels\"")) << e2;
  EXPECT_FALSE(contains(e2, "hunter2")) << e2;
}

TEST(RedisConfig, WaitReplicas) {
  const Config none = parse_config(nlohmann::json::object());
  EXPECT_EQ(none.wait_replicas, 0);
  const Config c = parse_config({{"wait_replicas", 1}});
  EXPECT_EQ(c.wait_replicas, 1);
  EXPECT_EQ(c.wait_timeout_ms, 500);  // half the default command timeout
  const Config t = parse_config({{"wait_replicas", 2}, {"wait_timeout_ms", 50}});
  EXPECT_EQ(t.wait_replicas, 2);
  EXPECT_EQ(t.wait_timeout_ms, 50);
  EXPECT_TRUE(contains(error_of({{"wait_replicas", -1}}), "\"wait_replicas\" must be an integer"));
  EXPECT_TRUE(contains(error_of({{"wait_timeout_ms", 10}}),
                       "\"wait_timeout_ms\" is given without \"wait_replicas\""));
  EXPECT_TRUE(contains(error_of({{"wait_replicas", 1}, {"wait_timeout_ms", 1000}}),
                       "must be below \"command_timeout_ms\" (1000)"));
  EXPECT_TRUE(contains(error_of({{"wait_replicas", 1}, {"write_mode", "write_through"}}),
                       "needs \"write_mode\": \"write_behind\""));
}

TEST(RedisConfig, GaugeModeAndProcessTtl) {
  EXPECT_EQ(parse_config(nlohmann::json::object()).gauge_mode, pytheus::GaugeMode::shared);
  EXPECT_EQ(parse_config(nlohmann::json::object()).process_ttl_s, 5);
  const auto c = parse_config({{"gauge_mode", "livesum"}, {"process_ttl_s", 2}});
  EXPECT_EQ(c.gauge_mode, pytheus::GaugeMode::livesum);
  EXPECT_EQ(c.process_ttl_s, 2);
  std::string e = error_of({{"gauge_mode", "average"}});
  EXPECT_NE(e.find("\"gauge_mode\""), std::string::npos) << e;
  EXPECT_NE(e.find("livemostrecent"), std::string::npos) << e;
  EXPECT_NE(e.find("\"average\""), std::string::npos) << e;
  EXPECT_NE(error_of({{"gauge_mode", "backend_default"}}), "");
  EXPECT_NE(error_of({{"process_ttl_s", 0}}).find("\"process_ttl_s\""), std::string::npos);
}

TEST(RedisConfig, ClusterSeeds) {
  const Config c = parse_config(nlohmann::json::parse(
      R"({"cluster": {"seeds": [{"host": "10.0.0.1", "port": 7000}, {"host": "10.0.0.2"}]},
          "password": "pw", "key_prefix": "svc"})"));
  ASSERT_TRUE(c.cluster());
  ASSERT_EQ(c.cluster_seeds.size(), 2u);
  EXPECT_EQ(c.cluster_seeds[0].host, "10.0.0.1");
  EXPECT_EQ(c.cluster_seeds[0].port, 7000);
  EXPECT_EQ(c.cluster_seeds[1].port, 6379);
  EXPECT_EQ(c.endpoint(), "cluster (seeds 10.0.0.1:7000, 10.0.0.2:6379)");
  EXPECT_FALSE(parse_config(nlohmann::json::object()).cluster());
}

TEST(RedisConfig, ClusterErrorsSayWhatAndWhy) {
  auto seeds = nlohmann::json::parse(R"({"seeds": [{"host": "h", "port": 7000}]})");
  EXPECT_TRUE(contains(error_of({{"cluster", nlohmann::json::array()}}), "\"cluster\" must be"));
  EXPECT_TRUE(contains(error_of({{"cluster", nlohmann::json::object()}}), "at least one seed"));
  EXPECT_TRUE(contains(error_of(nlohmann::json::parse(R"({"cluster": {"seeds": []}})")),
                       "at least one seed"));
  EXPECT_TRUE(contains(error_of(nlohmann::json::parse(R"({"cluster": {"nodes": []}})")),
                       "unknown key \"nodes\""));
  EXPECT_TRUE(contains(error_of(nlohmann::json::parse(R"({"cluster": {"seeds": [{"port": 1}]}})")),
                       "missing \"host\""));
  EXPECT_TRUE(contains(
      error_of(nlohmann::json::parse(R"({"cluster": {"seeds": [{"host": "h", "port": 0}]}})")),
      "\"port\" must be an integer from 1 to 65535"));
  for (const char* key : {"host", "port", "unix_socket"}) {
    nlohmann::json j = {{"cluster", seeds}};
    j[key] = std::string(key) == "port" ? nlohmann::json(6379) : nlohmann::json("x");
    EXPECT_TRUE(contains(error_of(j), std::string("\"") + key + "\" and \"cluster\" exclude"))
        << key << ": " << error_of(j);
  }
  nlohmann::json sentinel = {
      {"cluster", seeds}, {"sentinels", {{{"host", "s"}}}}, {"master_name", "m"}};
  EXPECT_TRUE(contains(error_of(sentinel), "\"sentinels\" and \"cluster\" exclude"));
  EXPECT_TRUE(contains(error_of({{"cluster", seeds}, {"db", 2}}), "\"db\" must be 0"));
  EXPECT_TRUE(contains(error_of({{"cluster", seeds}, {"write_mode", "write_through"}}),
                       "needs \"write_mode\": \"write_behind\""));
  EXPECT_TRUE(contains(error_of({{"cluster", seeds}, {"wait_replicas", 1}}),
                       "not available with \"cluster\""));
  const std::string secret = error_of({{"cluster", seeds}, {"password", "hunter2"}, {"db", 3}});
  EXPECT_FALSE(contains(secret, "hunter2"));
}
