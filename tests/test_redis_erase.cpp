// remove() and clear() on the Redis backend delete the series' hash fields (or keys) in Redis,
// in both write modes: what other processes see, what a later flush must not bring back, and
// what happens when Redis is unreachable at the time.
#include <chrono>
#include <cmath>
#include <limits>
#include <thread>

#include "redis_test_helpers.hpp"

using namespace pytheus;
using pytheus_test::flush_within;
using pytheus_test::RawRedis;
using pytheus_test::RedisModeTest;
using pytheus_test::RedisServer;
using pytheus_test::RedisTest;
using pytheus_test::sample_value;
using Clock = std::chrono::steady_clock;
using Hash = std::map<std::string, std::string>;

namespace {

const std::string kA = R"({"k": "a"})";
const std::string kB = R"({"k": "b"})";

// Every key but the flush sequence keys.
std::vector<std::string> metric_keys(RawRedis& raw) {
  std::vector<std::string> out;
  for (const auto& k : raw.keys()) {
    if (k.find("pytheus_flush_seq:") == std::string::npos) out.push_back(k);
  }
  return out;
}

struct Metrics {
  CollectorRegistry reg;
  Counter c{"jobs_total", "Jobs.", {"k"}, {}, &reg};
  Gauge g{"level", "Level.", {"k"}, {}, &reg};
  Histogram h{"wait_seconds", "Wait.", {"k"}, {}, &reg, Buckets{1, 2}};
  Summary s{"size_bytes", "Sizes.", {"k"}, {}, &reg};

  void touch(const std::string& k, double v) {
    c.labels({{"k", k}}).inc(v);
    g.labels({{"k", k}}).set(v);
    h.labels({{"k", k}}).observe(v);
    s.labels({{"k", k}}).observe(v);
  }
  void remove(const std::string& k) {
    EXPECT_TRUE(c.remove({{"k", k}}));
    EXPECT_TRUE(g.remove({{"k", k}}));
    EXPECT_TRUE(h.remove({{"k", k}}));
    EXPECT_TRUE(s.remove({{"k", k}}));
  }
};

// Values, and the series' creation times (NAME:created), which remove() deletes too.
const std::vector<std::string> kAllKeys = {
    "jobs_total",         "jobs_total:created",   "level",
    "size_bytes:count",   "size_bytes:created",   "size_bytes:sum",
    "wait_seconds:+Inf",  "wait_seconds:1",       "wait_seconds:2",
    "wait_seconds:count", "wait_seconds:created", "wait_seconds:sum"};

}  // namespace

TEST_P(RedisModeTest, RemoveAndClearDeleteTheSeriesInRedis) {
  RedisServer server;
  load(server, pytheus_test::mode_config(GetParam()));
  const auto errors = MultiProcessRedisBackend::stats().errors;
  Metrics m;
  m.touch("a", 1.5);
  m.touch("b", 0.5);
  ASSERT_TRUE(MultiProcessRedisBackend::flush());
  RawRedis raw(server.port());
  ASSERT_EQ(metric_keys(raw), kAllKeys);
  ASSERT_EQ(raw.hash("wait_seconds:+Inf").size(), 2u);

  m.remove("a");
  ASSERT_TRUE(MultiProcessRedisBackend::flush());
  // Every key still has b's field, and no key has a's.
  EXPECT_EQ(metric_keys(raw), kAllKeys);
  for (const std::string& key : kAllKeys) {
    if (key == "wait_seconds:1") {
      EXPECT_TRUE(raw.hash(key).empty() || raw.hash(key).count(kB)) << key;  // 0.5 <= 1
    } else {
      EXPECT_EQ(raw.hash(key).count(kA), 0u) << key;
      EXPECT_EQ(raw.hash(key).count(kB), 1u) << key;
    }
  }
  EXPECT_EQ(raw.hash("jobs_total"), (Hash{{kB, "0.5"}}));
  auto f = collect(m.reg);
  EXPECT_TRUE(std::isnan(sample_value(f, "jobs_total", "", {{"k", "a"}})));
  EXPECT_EQ(sample_value(f, "jobs_total", "", {{"k", "b"}}), 0.5);
  EXPECT_EQ(pytheus_test::sample_count(f, "wait_seconds", "_count"), 1u);

  // A series made again starts from nothing.
  m.c.labels({{"k", "a"}}).inc(2);
  EXPECT_EQ(m.c.labels({{"k", "a"}}).get(), 2);

  m.c.clear();
  m.g.clear();
  m.h.clear();
  m.s.clear();
  ASSERT_TRUE(MultiProcessRedisBackend::flush());
  EXPECT_EQ(metric_keys(raw), std::vector<std::string>{});
  EXPECT_EQ(pytheus_test::sample_count(collect(m.reg), "jobs_total", ""), 0u);
  EXPECT_EQ(MultiProcessRedisBackend::stats().errors, errors);
}

TEST_P(RedisModeTest, RemovingAnUnusedChildDeletesWhatOtherProcessesWrote) {
  RedisServer server;
  load(server, pytheus_test::mode_config(GetParam()));
  RawRedis raw(server.port());
  raw.run({"HSET", "jobs_total", kA, "7"});
  raw.run({"HSET", "jobs_total", kB, "8"});
  CollectorRegistry reg;
  Counter c("jobs_total", "Jobs.", {"k"}, {}, &reg);
  c.labels({{"k", "a"}});  // never updated here
  EXPECT_TRUE(c.remove({{"k", "a"}}));
  ASSERT_TRUE(MultiProcessRedisBackend::flush());
  EXPECT_EQ(raw.hash("jobs_total"), (Hash{{kB, "8"}}));
  // clear() only deletes the series this process has: b is not one of them.
  c.labels({{"k", "c"}}).inc();
  c.clear();
  ASSERT_TRUE(MultiProcessRedisBackend::flush());
  EXPECT_EQ(raw.hash("jobs_total"), (Hash{{kB, "8"}}));
}

TEST_F(RedisTest, PendingDeltasOfARemovedSeriesAreDropped) {
  RedisServer server;
  load(server, {{"flush_interval_ms", 60000}});
  Metrics m;
  m.touch("a", 1);
  m.touch("b", 1);
  ASSERT_TRUE(MultiProcessRedisBackend::flush());
  m.touch("a", 2);  // local deltas, not yet flushed
  m.touch("b", 2);
  m.remove("a");
  ASSERT_TRUE(MultiProcessRedisBackend::flush());
  RawRedis raw(server.port());
  for (const std::string& key : kAllKeys) EXPECT_EQ(raw.hash(key).count(kA), 0u) << key;
  EXPECT_EQ(raw.hash("jobs_total"), (Hash{{kB, "3"}}));
  EXPECT_EQ(raw.hash("wait_seconds:count"), (Hash{{kB, "2"}}));
  EXPECT_EQ(MultiProcessRedisBackend::stats().pending_series, 0u);
}

// Removed while Redis is down: nothing throws, the removal waits like a delta, and when Redis
// is back the series' old deltas (already taken for a flush that failed) are not delivered.
TEST_P(RedisModeTest, RemovedDuringAnOutageStaysRemoved) {
  RedisServer::Options o;
  o.aof = true;
  RedisServer server(o);
  nlohmann::json cfg = pytheus_test::mode_config(GetParam());
  cfg["command_timeout_ms"] = 200;
  cfg["connect_timeout_ms"] = 200;
  load(server, cfg);
  Metrics m;
  m.touch("a", 1);
  m.touch("b", 1);
  ASSERT_TRUE(MultiProcessRedisBackend::flush());
  const auto errors = MultiProcessRedisBackend::stats().errors;
  const auto dropped = MultiProcessRedisBackend::stats().dropped;
  server.kill();
  m.touch("a", 2);
  m.touch("b", 2);
  EXPECT_FALSE(MultiProcessRedisBackend::flush());  // takes the deltas into a batch, fails
  const auto t0 = Clock::now();
  EXPECT_NO_THROW(m.remove("a"));
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  EXPECT_LT(ms, 200 + 1000);  // at most about one timeout
  EXPECT_GT(MultiProcessRedisBackend::stats().errors, errors);
  EXPECT_GE(MultiProcessRedisBackend::stats().pending_series, 1u);
  server.restart();
  ASSERT_TRUE(flush_within(10));
  RawRedis raw(server.port());
  for (const std::string& key : kAllKeys) EXPECT_EQ(raw.hash(key).count(kA), 0u) << key;
  EXPECT_EQ(raw.hash("jobs_total"), (Hash{{kB, "3"}}));
  EXPECT_EQ(raw.hash("wait_seconds:count"), (Hash{{kB, "2"}}));
  auto f = collect(m.reg);
  EXPECT_EQ(pytheus_test::sample_count(f, "jobs_total", ""), 1u);
  EXPECT_EQ(pytheus_test::histogram_problem(f), "");
  EXPECT_EQ(MultiProcessRedisBackend::stats().dropped, dropped);
}

TEST_F(RedisTest, UnlabelledSeriesEraseDeletesItsKeys) {
  // remove()/clear() need labels; the backend hook itself deletes string keys as well.
  RedisServer server;
  load(server, {{"write_mode", "write_through"}});
  CollectorRegistry reg;
  Counter c("hits_total", "Hits.", {}, {}, &reg);
  c.inc(3);
  RawRedis raw(server.port());
  ASSERT_EQ(raw.str({"GET", "hits_total"}), "3");
  // The protocol type itself, as the library makes its objects.
  MultiProcessRedisBackend backend(nlohmann::json::object(),
                                   MetricInfo{"hits_total",
                                              "Hits.",
                                              MetricType::counter,
                                              {},
                                              GaugeMode::backend_default,
                                              "",
                                              0,
                                              std::nullopt},
                                   std::nullopt);
  MultiProcessRedisBackend::Histogram histogram(
      nlohmann::json::object(),
      MetricInfo{
          "lat", "L.", MetricType::histogram, {}, GaugeMode::backend_default, "", 0, std::nullopt},
      {1.0, std::numeric_limits<double>::infinity()});
  histogram.observe(0.5, 0);
  ASSERT_EQ(raw.str({"GET", "lat:count"}), "1");
  ASSERT_EQ(raw.str({"GET", "lat:1"}), "1");
  backend.erase();
  histogram.erase();
  EXPECT_EQ(metric_keys(raw), std::vector<std::string>{});
}

// RedisModeTest is instantiated for both write modes in test_redis.cpp.
