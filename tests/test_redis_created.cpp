// `_created` across processes on Redis: the earliest creation of a series wins (HSETNX of the
// first writer into NAME:created), remove() deletes it so that a series created again is
// dated anew, and a series only other processes have shows their time.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "pytheus/backends/redis.hpp"
#include "pytheus/pytheus.hpp"
#include "redis_test_helpers.hpp"

using namespace pytheus;
using pytheus_test::RawRedis;
using pytheus_test::RedisModeTest;
using pytheus_test::RedisServer;
using pytheus_test::sample_count;
using pytheus_test::sample_value;

namespace {

using Labels = std::vector<std::pair<std::string, std::string>>;

struct Metrics {
  CollectorRegistry reg;
  Counter c{"jobs_total", "Jobs.", {"k"}, {}, &reg};
  Counter plain{"runs_total", "Runs.", {}, {}, &reg};
  Histogram h{"wait_seconds", "Wait.", {"k"}, {}, &reg, Buckets{1}};
  Summary s{"size_bytes", "Sizes.", {}, {}, &reg};
  Gauge g{"level", "Level.", {"k"}, {}, &reg};

  // Creates (and writes) the shared series and this process's own one.
  void touch(const std::string& own) {
    c.labels({{"k", "shared"}}).inc();
    c.labels({{"k", own}}).inc();
    plain.inc();
    h.labels({{"k", "shared"}}).observe(0.5);
    s.observe(2);
    g.labels({{"k", "shared"}}).set(1);
  }
};

// The `_created` samples of the labelled series "shared", in one scrape: jobs, wait.
std::vector<double> shared_created(Metrics& m) {
  const auto f = collect(m.reg);
  return {sample_value(f, "jobs_total", "_created", {{"k", "shared"}}),
          sample_value(f, "wait_seconds", "_created", {{"k", "shared"}})};
}

// The same of the unlabelled series, which exist from the metric's construction: runs, size.
std::vector<double> unlabelled_created(Metrics& m) {
  const auto f = collect(m.reg);
  return {sample_value(f, "runs_total", "_created"), sample_value(f, "size_bytes", "_created")};
}

// A time strictly after every time read so far (the clock may have a coarse step).
double next_time() {
  const double now = detail::unix_time_now();
  while (detail::unix_time_now() <= now + 0.002) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return detail::unix_time_now();
}

}  // namespace

TEST_P(RedisModeTest, CreatedIsTheEarliestProcesssAcrossProcesses) {
  RedisServer server;
  load(server, pytheus_test::mode_config(GetParam()));
  const double start = next_time();
  Metrics m;
  // Four processes, one after the other, create the same series; the parent has none.
  std::vector<std::pair<double, double>> window;
  for (int i = 0; i < 4; ++i) {
    const double begin = next_time();
    const pid_t pid = pytheus_test::fork_child([&m, i] {
      m.touch("own" + std::to_string(i));
      return MultiProcessRedisBackend::flush() ? 0 : 1;
    });
    ASSERT_EQ(pytheus_test::wait_child(pid), 0);
    window.emplace_back(begin, next_time());
  }
  auto f = collect(m.reg);
  for (const double created : shared_created(m)) {
    EXPECT_GE(created, window[0].first);
    EXPECT_LE(created, window[0].second);
  }
  // The parent made the unlabelled series (with the metrics) and never wrote them: still the
  // earliest creation, which the first child wrote.
  for (const double created : unlabelled_created(m)) {
    EXPECT_GE(created, start);
    EXPECT_LE(created, window[0].first);
  }
  // A series only one other process has: its time.
  for (int i = 0; i < 4; ++i) {
    const double own =
        sample_value(f, "jobs_total", "_created", {{"k", "own" + std::to_string(i)}});
    EXPECT_GE(own, window[i].first) << i;
    EXPECT_LE(own, window[i].second) << i;
  }
  EXPECT_EQ(sample_count(f, "level", "_created"), 0u);  // gauges have none

  // remove() and clear() in the parent (which never used the series) delete the times: the
  // series created again is dated anew.
  const double before_remove = next_time();
  m.c.labels({{"k", "shared"}});
  EXPECT_TRUE(m.c.remove({{"k", "shared"}}));
  m.h.labels({{"k", "shared"}});
  m.h.clear();
  ASSERT_TRUE(pytheus_test::flush_within(10));
  RawRedis raw(server.port());
  EXPECT_EQ(raw.hash("jobs_total:created").count(R"({"k": "shared"})"), 0u);
  EXPECT_EQ(raw.hash("wait_seconds:created").count(R"({"k": "shared"})"), 0u);
  m.touch("parent");
  ASSERT_TRUE(pytheus_test::flush_within(10));
  const double after_touch = next_time();
  for (const double created : shared_created(m)) {
    EXPECT_GE(created, before_remove);
    EXPECT_LE(created, after_touch);
  }
  // A later process keeps the parent's (earliest) time.
  const std::vector<double> parents = shared_created(m);
  const pid_t pid = pytheus_test::fork_child([&m] {
    Metrics later;  // its own objects, made after the parent's: a later creation
    later.touch("late");
    return MultiProcessRedisBackend::flush() ? 0 : 1;
  });
  ASSERT_EQ(pytheus_test::wait_child(pid), 0);
  EXPECT_EQ(shared_created(m), parents);

  // The switch turns them off on this backend too.
  set_created_samples(false);
  EXPECT_EQ(sample_count(collect(m.reg), "jobs_total", "_created"), 0u);
  EXPECT_EQ(generate_metrics(m.reg, Format::openmetrics).find("_created"), std::string::npos);
  set_created_samples(true);
}

// The created key expires like the values it dates, and a scrape refreshes it.
TEST_P(RedisModeTest, CreatedKeyExpiresWithTheValues) {
  RedisServer server;
  load(server, pytheus_test::mode_config(GetParam()));
  Metrics m;
  m.touch("a");
  ASSERT_TRUE(MultiProcessRedisBackend::flush());
  RawRedis raw(server.port());
  for (const char* key :
       {"jobs_total:created", "runs_total:created", "wait_seconds:created", "size_bytes:created"}) {
    EXPECT_GT(raw.integer({"TTL", key}), 0) << key;
  }
  EXPECT_EQ(raw.integer({"EXISTS", "level:created"}), 0);
}
