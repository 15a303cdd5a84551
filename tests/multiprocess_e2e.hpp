// The end-to-end check shared by the multi-process backends (test_e2e_redis.cpp,
// test_e2e_file.cpp): examples/multiprocess runs kWorkers worker processes on the backend
// that `backend_env` (PYTHEUS_BACKEND_CLASS/_CONFIG) chooses, a real Prometheus scrapes
// every worker, and each must report exactly the total that all the workers produced
// together. Needs PYTHEUS_PROMETHEUS_BIN and PYTHEUS_MULTIPROCESS_BIN defined by CMake.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "child_process.hpp"
#include "prometheus_harness.hpp"

namespace pytheus_test {

inline constexpr int kE2EWorkers = 4;
// examples/multiprocess: 10,000 jobs per worker.
inline constexpr double kE2ETotal = kE2EWorkers * 10000.0;

// The "HOST:PORT" of every "serving http://HOST:PORT/metrics" line of `log`.
inline std::vector<std::string> serving_targets(const std::string& log) {
  std::vector<std::string> targets;
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    const std::size_t at = line.find("serving http://");
    if (at == std::string::npos) continue;
    const std::size_t start = at + 15;
    targets.push_back(line.substr(start, line.find("/metrics", start) - start));
  }
  return targets;
}

// The value of `promql` per instance label.
inline std::map<std::string, double> by_instance(const PrometheusServer& prometheus,
                                                 const std::string& promql) {
  std::map<std::string, double> out;
  for (const auto& sample : prometheus.query(promql)) {
    out[sample["metric"].value("instance", "")] = std::stod(sample["value"][1].get<std::string>());
  }
  return out;
}

// Runs the service with `backend_env` (its log in `dir`) and checks every worker's scrape.
inline void expect_every_worker_serves_the_total(
    std::vector<std::pair<std::string, std::string>> backend_env,
    const std::filesystem::path& dir) {
  using namespace std::chrono_literals;
  const char* tsan_env = std::getenv("TSAN_OPTIONS");
  backend_env.emplace_back("TSAN_OPTIONS",
                           std::string(tsan_env != nullptr ? tsan_env : "") + ":die_after_fork=0");
  ChildProcess service({PYTHEUS_MULTIPROCESS_BIN, std::to_string(kE2EWorkers), "0"},
                       dir / "multiprocess.log", std::move(backend_env));
  std::vector<std::string> targets;
  ASSERT_TRUE(wait_until(
      [&] {
        targets = serving_targets(service.output());
        return targets.size() == kE2EWorkers || !service.running();
      },
      20s))
      << service.output();
  ASSERT_EQ(targets.size(), static_cast<std::size_t>(kE2EWorkers)) << service.output();
  ASSERT_EQ(std::set<std::string>(targets.begin(), targets.end()).size(), targets.size());

  PrometheusOptions options;
  options.binary = PYTHEUS_PROMETHEUS_BIN;
  options.targets = targets;
  PrometheusServer prometheus(options);

  // Each worker counted only its own 10,000 jobs, yet every one of them must serve the total.
  std::map<std::string, double> jobs;
  const bool exact = wait_until(
      [&] {
        jobs = by_instance(prometheus, "jobs_total");
        if (jobs.size() != targets.size()) return false;
        for (const auto& [instance, value] : jobs) {
          if (value != kE2ETotal) return false;
        }
        return true;
      },
      30s, 100ms);
  std::ostringstream seen;
  for (const auto& [instance, value] : jobs) seen << instance << "=" << value << " ";
  ASSERT_TRUE(exact) << "jobs_total per worker: " << seen.str() << "\n"
                     << service.output() << prometheus.log();
  for (const std::string& target : targets) EXPECT_EQ(jobs.count(target), 1u) << target;

  // The labelled counter and the histogram of the same scrapes agree, on every worker.
  for (const auto& [instance, value] :
       by_instance(prometheus, "job_outcomes_total{outcome=\"error\"}")) {
    EXPECT_EQ(value, kE2ETotal / 10) << instance;
  }
  const auto counts = by_instance(prometheus, "job_seconds_count");
  EXPECT_EQ(counts.size(), targets.size());
  for (const auto& [instance, value] : counts) EXPECT_EQ(value, kE2ETotal) << instance;
  for (const auto& [instance, value] : by_instance(prometheus, "job_seconds_bucket{le=\"+Inf\"}")) {
    EXPECT_EQ(value, kE2ETotal) << instance;
  }

  // Every target is healthy: up, and its last scrape had no error.
  const nlohmann::json active = prometheus.targets();
  ASSERT_EQ(active.size(), targets.size()) << active.dump(2);
  for (const auto& target : active) {
    EXPECT_EQ(target["health"], "up") << target.dump(2);
    EXPECT_EQ(target["lastError"], "") << target.dump(2);
  }
  // Four processes answered: each target has process metrics of its own.
  EXPECT_EQ(by_instance(prometheus, "process_resident_memory_bytes").size(), targets.size());

  // SIGTERM to the parent stops the workers, and everything exits cleanly.
  EXPECT_EQ(service.stop(SIGTERM, 10s), 0) << service.output();
}

}  // namespace pytheus_test
