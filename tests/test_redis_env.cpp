// A program that links pytheus::redis but never includes its header nor names the class:
// PYTHEUS_BACKEND_CLASS and PYTHEUS_BACKEND_CONFIG alone must select it.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "pytheus/pytheus.hpp"
#include "redis_server.hpp"

using pytheus_test::RedisServer;

class RedisEnvTest : public ::testing::TestWithParam<std::string> {};

TEST_P(RedisEnvTest, EnvironmentAloneSelectsTheLinkedClass) {
  RedisServer server;
  const std::string path = ::testing::TempDir() + "redis_env_config.json";
  std::ofstream(path) << server.config({{"write_mode", "write_through"}}).dump();
  setenv(pytheus::kBackendClassEnv, GetParam().c_str(), 1);
  setenv(pytheus::kBackendConfigEnv, path.c_str(), 1);
  pytheus::load_backend();
  EXPECT_EQ(pytheus::loaded_backend(), "MultiProcessRedisBackend");
  pytheus::Counter c("env_jobs_total", "Jobs.");
  c.inc(3);
  pytheus_test::RawRedis raw(server.port());
  EXPECT_EQ(raw.str({"GET", "env_jobs_total"}), "3");
  EXPECT_NE(pytheus::generate_metrics().find("env_jobs_total 3\n"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Names, RedisEnvTest,
                         ::testing::Values("MultiProcessRedisBackend",
                                           "pytheus.backends.redis.MultiProcessRedisBackend"));
