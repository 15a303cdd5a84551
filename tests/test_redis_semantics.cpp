// Multi-process semantics on Redis (issue 11): registries with prefixes never share storage,
// one refused update never takes the others of its flush down, gauge modes and process
// liveness.
#include <atomic>
#include <cmath>
#include <thread>

#include "redis_test_helpers.hpp"

using namespace pytheus;
using pytheus_test::RawRedis;
using pytheus_test::RedisModeTest;
using pytheus_test::RedisServer;
using pytheus_test::RedisTest;
using pytheus_test::sample_value;

// Edge 7: the same metric name in registries "svc_a" and "svc_b" is two metrics
// (svc_a_jobs_total, svc_b_jobs_total), stored under two keys.
TEST_P(RedisModeTest, RegistryPrefixesNeverShareAKey) {
  RedisServer server;
  load(server, pytheus_test::mode_config(GetParam()));
  CollectorRegistry a("svc_a"), b("svc_b");
  Counter ja("jobs_total", "Jobs.", {}, {}, &a);
  Counter jb("jobs_total", "Jobs.", {}, {}, &b);
  Gauge ga("level", "Level.", {"room"}, {}, &a);
  Gauge gb("level", "Level.", {"room"}, {}, &b);
  ja.inc(1);
  jb.inc(2);
  ga.labels({{"room", "x"}}).set(5);
  gb.labels({{"room", "x"}}).set(7);
  ASSERT_TRUE(MultiProcessRedisBackend::flush());
  RawRedis raw(server.port());
  EXPECT_EQ(raw.str({"GET", "svc_a_jobs_total"}), "1");
  EXPECT_EQ(raw.str({"GET", "svc_b_jobs_total"}), "2");
  EXPECT_EQ(raw.integer({"EXISTS", "jobs_total"}), 0);
  EXPECT_EQ(raw.hash("svc_a_level").at(R"({"room": "x"})"), "5");
  EXPECT_EQ(raw.hash("svc_b_level").at(R"({"room": "x"})"), "7");
  EXPECT_NE(generate_metrics(a).find("svc_a_jobs_total 1\n"), std::string::npos);
  EXPECT_NE(generate_metrics(b).find("svc_b_jobs_total 2\n"), std::string::npos);
  EXPECT_NE(generate_metrics(b).find("svc_b_level{room=\"x\"} 7\n"), std::string::npos);
}

// Edge 5: two Gauge::inc(1e308) overflow the window's delta to +Inf... Each inc is finite, so
// the API takes it; Redis refuses the one series. Every other series of the same flush is
// applied, and the refusal is counted and logged once.
TEST_F(RedisTest, OneRefusedDeltaNeverTakesTheOthersOfItsFlushDown) {
  RedisServer server;
  load(server, {{"write_mode", "write_behind"}, {"flush_interval_ms", 600000}});
  CollectorRegistry reg;
  Gauge big("big", "Big.", {}, {}, &reg);
  Counter jobs("refused_jobs_total", "Jobs.", {}, {}, &reg);
  Gauge level("refused_level", "Level.", {"k"}, {}, &reg);
  Histogram lat("refused_seconds", "Latency.", {}, {}, &reg, {1});
  ASSERT_TRUE(MultiProcessRedisBackend::flush());
  const auto errors_before = MultiProcessRedisBackend::stats().errors;
  big.inc(1e308);
  big.inc(1e308);
  jobs.inc(3);
  level.labels({{"k", "v"}}).set(4);
  lat.observe(0.5);
  EXPECT_TRUE(MultiProcessRedisBackend::flush());
  const auto f = collect(reg);
  EXPECT_EQ(sample_value(f, "refused_jobs_total", ""), 3);
  EXPECT_EQ(sample_value(f, "refused_level", "", {{"k", "v"}}), 4);
  EXPECT_EQ(sample_value(f, "refused_seconds", "_count"), 1);
  EXPECT_EQ(sample_value(f, "big", ""), 0);
  EXPECT_GE(MultiProcessRedisBackend::stats().errors, errors_before + 1);
  // The next window goes through.
  big.inc(1);
  EXPECT_TRUE(MultiProcessRedisBackend::flush());
  EXPECT_EQ(sample_value(collect(reg), "big", ""), 1);
}

INSTANTIATE_TEST_SUITE_P(Modes, RedisModeTest, ::testing::Values("write_through", "write_behind"));
