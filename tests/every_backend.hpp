// A fixture for tests that run once per backend class: the parameter "memory", "redis" or
// "file" (kEveryBackend) picks SingleProcessBackend, MultiProcessRedisBackend on a
// redis-server of the test's own, or MultiProcessFileBackend on a fresh directory; SetUp loads
// it (with `_created` samples on) and TearDown goes back to the in-memory default.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "child_process.hpp"
#include "pytheus/backends/file.hpp"
#include "pytheus/backends/redis.hpp"
#include "pytheus/pytheus.hpp"
#include "redis_test_helpers.hpp"

namespace pytheus_test {

class OnEveryBackend : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    unsetenv(pytheus::kBackendClassEnv);
    unsetenv(pytheus::kBackendConfigEnv);
    pytheus::set_created_samples(true);
    if (GetParam() == "memory") {
      pytheus::load_backend("SingleProcessBackend", pytheus::BackendConfig::object());
    } else if (GetParam() == "redis") {
      redis_ = std::make_unique<RedisServer>();
      pytheus::load_backend("MultiProcessRedisBackend", redis_->config());
    } else {
      pytheus::load_backend("MultiProcessFileBackend", {{"directory", dir_.path().string()}});
    }
  }
  void TearDown() override {
    pytheus::load_backend("SingleProcessBackend", pytheus::BackendConfig::object());
  }

  bool multi_process() const { return GetParam() != "memory"; }

  TempDir dir_{"pytheus-every-backend"};
  std::unique_ptr<RedisServer> redis_;
};

inline const auto kEveryBackend = ::testing::Values("memory", "redis", "file");
inline std::string backend_param_name(const ::testing::TestParamInfo<std::string>& p) {
  return p.param;
}

}  // namespace pytheus_test
