// The load that happens by itself at first use (PYTHEUS_BACKEND_CLASS set, no load_backend
// call) with Redis unreachable: an outage like any other, never an exception from every
// update (issue 11, edge 1). Its own program: the implicit load happens once per process.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>

#include "pytheus/backends/redis.hpp"
#include "pytheus/pytheus.hpp"
#include "redis_server.hpp"

using pytheus_test::RawRedis;
using pytheus_test::RedisServer;

TEST(RedisImplicitLoad, UnreachableRedisAtFirstUseIsAnOutageNotAnError) {
  RedisServer server;
  const int timeout_ms = 300;
  const std::string path = ::testing::TempDir() + "redis_implicit_config.json";
  std::ofstream(path) << server
                             .config({{"write_mode", "write_behind"},
                                      {"flush_interval_ms", 50},
                                      {"connect_timeout_ms", timeout_ms},
                                      {"command_timeout_ms", timeout_ms}})
                             .dump();
  setenv(pytheus::kBackendClassEnv, "MultiProcessRedisBackend", 1);
  setenv(pytheus::kBackendConfigEnv, path.c_str(), 1);
  server.kill();

  const auto start = std::chrono::steady_clock::now();
  pytheus::Counter c("implicit_jobs_total", "Jobs.");
  for (int i = 0; i < 100; ++i) EXPECT_NO_THROW(c.inc());
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(pytheus::loaded_backend(), "MultiProcessRedisBackend");
  // At most the one connect attempt of the load, never one per update.
  EXPECT_LT(took, std::chrono::milliseconds(2 * timeout_ms));

  server.restart();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!pytheus::MultiProcessRedisBackend::flush() &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  RawRedis raw(server.port());
  EXPECT_EQ(raw.str({"GET", "implicit_jobs_total"}), "100");
}

TEST(RedisImplicitLoad, ExplicitLoadStillFailsClearlyForAnUnreachableServer) {
  RedisServer server;
  nlohmann::json config = server.config({{"connect_timeout_ms", 300}});
  server.kill();
  try {
    pytheus::load_backend("MultiProcessRedisBackend", config);
    FAIL() << "load_backend succeeded with no server";
  } catch (const pytheus::Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot use Redis at"), std::string::npos) << e.what();
  }
}
