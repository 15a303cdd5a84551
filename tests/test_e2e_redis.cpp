// End to end with Redis and a real Prometheus server: examples/multiprocess runs 4 worker
// processes on a real redis-server, chosen through PYTHEUS_BACKEND_CLASS/_CONFIG only (a
// config file); Prometheus scrapes every worker, and each must have reported exactly the
// total that all the workers produced together (multiprocess_e2e.hpp, as for shared files).
#include <gtest/gtest.h>

#include <fstream>

#include "multiprocess_e2e.hpp"
#include "redis_server.hpp"

TEST(PrometheusRedisE2E, EveryWorkerServesTheExactTotalOfAllWorkers) {
  pytheus_test::RedisServer redis;
  pytheus_test::TempDir dir("pytheus-e2e-redis");
  std::ofstream(dir / "redis.json") << redis.config().dump();  // write-behind, the default
  pytheus_test::expect_every_worker_serves_the_total(
      {{"PYTHEUS_BACKEND_CLASS", "MultiProcessRedisBackend"},
       {"PYTHEUS_BACKEND_CONFIG", (dir / "redis.json").string()}},
      dir.path());
}
