// Shared by the unit tests: a fixture that starts each test on a fresh in-memory backend,
// and a real backend that records what is done to it (a counting double, not a mock).
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "pytheus/backends/atomic.hpp"
#include "pytheus/backends/single_process.hpp"
#include "pytheus/pytheus.hpp"

namespace pytheus_test {

// Starts every test on SingleProcessBackend with {} and no backend environment variables.
class CoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    unsetenv(pytheus::kBackendClassEnv);
    unsetenv(pytheus::kBackendConfigEnv);
    pytheus::load_backend("SingleProcessBackend", pytheus::BackendConfig::object());
  }
  void TearDown() override {
    pytheus::set_created_samples(true);
    unsetenv(pytheus::kBackendClassEnv);
    unsetenv(pytheus::kBackendConfigEnv);
    pytheus::load_backend("SingleProcessBackend", pytheus::BackendConfig::object());
  }
};

// A backend that keeps values in memory and logs every object it makes and every call, by
// key ("name", "name:bucket", with the labels), so tests can see where values went.
struct RecordingBackend {
  struct Log {
    std::mutex mu;
    std::vector<std::string> created;    // key of each object made
    std::vector<std::string> erased;     // key of each object erased
    std::vector<std::string> destroyed;  // key of each object destroyed
    std::map<std::string, double> values;
    std::vector<pytheus::BackendConfig> initialized;
    int calls = 0;
  };
  static Log& log() {
    static Log* l = new Log();
    return *l;
  }
  static void reset() {
    std::lock_guard<std::mutex> lock(log().mu);
    log().created.clear();
    log().erased.clear();
    log().destroyed.clear();
    log().values.clear();
    log().initialized.clear();
    log().calls = 0;
  }
  static double value(const std::string& key) {
    std::lock_guard<std::mutex> lock(log().mu);
    auto it = log().values.find(key);
    return it == log().values.end() ? 0 : it->second;
  }

  RecordingBackend(const pytheus::BackendConfig&, const pytheus::MetricInfo& metric,
                   std::optional<std::string_view> bucket) {
    key_ = metric.name;
    if (bucket) key_ += ":" + std::string(*bucket);
    for (const auto& [k, v] : metric.labels) key_ += "|" + k + "=" + v;
    std::lock_guard<std::mutex> lock(log().mu);
    log().created.push_back(key_);
    log().values[key_];
  }
  RecordingBackend(const RecordingBackend&) = delete;
  RecordingBackend& operator=(const RecordingBackend&) = delete;
  ~RecordingBackend() {
    std::lock_guard<std::mutex> lock(log().mu);
    log().destroyed.push_back(key_);
  }
  static void initialize(const pytheus::BackendConfig& config) {
    if (config.value("fail", false)) throw pytheus::BackendError("RecordingBackend: told to fail");
    std::lock_guard<std::mutex> lock(log().mu);
    log().initialized.push_back(config);
  }
  void inc(double v) {
    change([&](double& x) { x += v; });
  }
  void dec(double v) {
    change([&](double& x) { x -= v; });
  }
  void set(double v) {
    change([&](double& x) { x = v; });
  }
  double get() {
    std::lock_guard<std::mutex> lock(log().mu);
    return log().values[key_];
  }
  void erase() {
    std::lock_guard<std::mutex> lock(log().mu);
    log().erased.push_back(key_);
    log().values.erase(key_);
  }

 private:
  template <class F>
  void change(F f) {
    std::lock_guard<std::mutex> lock(log().mu);
    ++log().calls;
    f(log().values[key_]);
  }
  std::string key_;
};

inline void register_recording_backend() {
  static bool done = [] {
    pytheus::register_backend<RecordingBackend>("RecordingBackend", {"tests.RecordingBackend"});
    return true;
  }();
  (void)done;
}

}  // namespace pytheus_test
