// End to end with MultiProcessFileBackend and a real Prometheus server: examples/multiprocess
// runs 4 worker processes on shared files, chosen through PYTHEUS_BACKEND_CLASS/_CONFIG only
// (inline JSON); Prometheus scrapes every worker, and each must have reported exactly the
// total that all the workers produced together. (The helpers repeat test_e2e_redis.cpp's.)
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "child_process.hpp"
#include "prometheus_harness.hpp"

using namespace std::chrono_literals;
using pytheus_test::ChildProcess;
using pytheus_test::PrometheusOptions;
using pytheus_test::PrometheusServer;
using pytheus_test::TempDir;
using pytheus_test::wait_until;

namespace {

constexpr int kWorkers = 4;
constexpr double kTotal = kWorkers * 10000.0;  // examples/multiprocess: 10,000 jobs per worker

// The "HOST:PORT" of every "serving http://HOST:PORT/metrics" line of `log`.
std::vector<std::string> serving_targets(const std::string& log) {
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
std::map<std::string, double> by_instance(const PrometheusServer& prometheus,
                                          const std::string& promql) {
  std::map<std::string, double> out;
  for (const auto& sample : prometheus.query(promql)) {
    out[sample["metric"].value("instance", "")] = std::stod(sample["value"][1].get<std::string>());
  }
  return out;
}

}  // namespace

TEST(PrometheusFileE2E, EveryWorkerServesTheExactTotalOfAllWorkers) {
  TempDir dir("pytheus-e2e-file");
  std::filesystem::create_directory(dir / "metrics");
  std::string tsan = std::getenv("TSAN_OPTIONS") ? std::getenv("TSAN_OPTIONS") : "";
  ChildProcess service(
      {PYTHEUS_MULTIPROCESS_BIN, std::to_string(kWorkers), "0"}, dir / "multiprocess.log",
      {{"PYTHEUS_BACKEND_CLASS", "MultiProcessFileBackend"},
       {"PYTHEUS_BACKEND_CONFIG", "{\"directory\": \"" + (dir / "metrics").string() + "\"}"},
       {"TSAN_OPTIONS", tsan + ":die_after_fork=0"}});
  std::vector<std::string> targets;
  ASSERT_TRUE(wait_until(
      [&] {
        targets = serving_targets(service.output());
        return targets.size() == kWorkers || !service.running();
      },
      20s))
      << service.output();
  ASSERT_EQ(targets.size(), static_cast<std::size_t>(kWorkers)) << service.output();
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
          if (value != kTotal) return false;
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
    EXPECT_EQ(value, kTotal / 10) << instance;
  }
  const auto counts = by_instance(prometheus, "job_seconds_count");
  EXPECT_EQ(counts.size(), targets.size());
  for (const auto& [instance, value] : counts) EXPECT_EQ(value, kTotal) << instance;
  for (const auto& [instance, value] : by_instance(prometheus, "job_seconds_bucket{le=\"+Inf\"}")) {
    EXPECT_EQ(value, kTotal) << instance;
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
