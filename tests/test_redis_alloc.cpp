// Write-behind updates on the Redis backend allocate nothing once their series is bound. Its
// own binary: it replaces the global operator new to count allocations.
#include <atomic>
#include <cstdlib>
#include <new>

#include "redis_test_helpers.hpp"

#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

using namespace pytheus;
using pytheus_test::RedisServer;
using pytheus_test::RedisTest;

namespace {
std::atomic<bool> count_allocations{false};
std::atomic<long> allocations{0};
}  // namespace

void* operator new(std::size_t n) {
  if (count_allocations.load(std::memory_order_relaxed)) allocations.fetch_add(1);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}

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
  count_allocations = true;
  for (int i = 0; i < 1000; ++i) {
    child.inc();
    g.inc();
    g.set(i);
    h.observe(i * 0.001);
    s.observe(i);
  }
  count_allocations = false;
  EXPECT_EQ(allocations.load(), 0);
  ASSERT_TRUE(MultiProcessRedisBackend::flush());
  EXPECT_EQ(child.get(), 1001);
  EXPECT_EQ(g.get(), 999);
  EXPECT_EQ(h.snapshot().count, 1001);
}
