// Write-behind updates on the Redis backend allocate nothing once their series is bound. Its
// own binary: it replaces the global operator new to count allocations.
#include "allocation_counter.hpp"
#include "redis_test_helpers.hpp"

using namespace pytheus;
using pytheus_test::RedisServer;
using pytheus_test::RedisTest;

TEST_F(RedisTest, WriteBehindUpdatesAllocateNothing) {
  RedisServer server;
  load(server, {{"flush_interval_ms", 60000}});
  CollectorRegistry reg;
  Counter c("jobs_total", "Jobs.", {"queue"}, {}, &reg);
  Gauge g("level", "Level.", {}, {}, &reg);
  Histogram h("wait_seconds", "Wait.", {}, {}, &reg);
  Summary s("size_bytes", "Size.", {}, {}, &reg);
  auto child = c.labels({{"queue", "a"}});
  child.inc();  // binds the series: that allocates, once
  g.set(1);
  h.observe(1);
  s.observe(1);
  ASSERT_TRUE(MultiProcessRedisBackend::flush());
  const long n = pytheus_test::allocations_in([&] {
    for (int i = 0; i < 1000; ++i) {
      child.inc();
      g.inc();
      g.set(i);
      h.observe(i * 0.001);
      s.observe(i);
    }
  });
  EXPECT_EQ(n, 0);
  ASSERT_TRUE(MultiProcessRedisBackend::flush());
  EXPECT_EQ(child.get(), 1001);
  EXPECT_EQ(g.get(), 999);
  EXPECT_EQ(h.snapshot().count, 1001);
}
