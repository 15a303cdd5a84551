// Info, Enum and StateSet (and counters' `_created`) through a real Prometheus (Debian package
// prometheus), on every backend: this process serves /metrics with the Exposer, Prometheus
// scrapes it over OpenMetrics, and its query API must answer with the info labels, the one
// enum state that holds, the states of the set, and the counter's creation time. On the
// multi-process backends a forked worker writes some of the series, so the values come
// through the shared store.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "child_process.hpp"
#include "every_backend.hpp"
#include "prometheus_harness.hpp"
#include "pytheus/backends/file.hpp"
#include "pytheus/backends/redis.hpp"
#include "pytheus/enum.hpp"
#include "pytheus/http/exposer.hpp"
#include "pytheus/info.hpp"
#include "pytheus/pytheus.hpp"
#include "pytheus/stateset.hpp"
#include "redis_test_helpers.hpp"

using namespace std::chrono_literals;
using namespace pytheus;
using pytheus_test::PrometheusOptions;
using pytheus_test::PrometheusServer;
using pytheus_test::wait_until;

namespace {

struct Metrics {
  CollectorRegistry reg;
  Info build{"build", "Build facts.", {"version", "commit"}, {}, &reg};
  Enum task{"task_state", "What the task does.", {"idle", "running", "done"}, {"task"}, {}, &reg};
  StateSet features{"features", "Enabled features.", {"cache", "gzip", "tls"}, {}, {}, &reg};
  Counter jobs{"jobs_total", "Jobs.", {"kind"}, {}, &reg};
};

class StateMetricsE2E : public pytheus_test::OnEveryBackend {};

}  // namespace

TEST_P(StateMetricsE2E, InfoEnumStateSetAndCreatedAreQueryable) {
  const double before = detail::unix_time_now();
  Metrics m;
  m.build.info({{"version", "1.2.3"}, {"commit", "abc \"quoted\""}});
  m.task.labels({{"task", "import"}}).state("done");
  m.features.set_state("cache");
  m.jobs.labels({{"kind", "parent"}}).inc(2);
  // The worker's series: written in another process on the multi-process backends.
  auto worker = [&m] {
    m.task.labels({{"task", "export"}}).state("running");
    m.features.set_state("gzip");
    m.features.set_state("cache");
    m.jobs.labels({{"kind", "worker"}}).inc(3);
  };
  if (GetParam() == "memory") {
    worker();
  } else {
    const pid_t pid = pytheus_test::fork_child([&] {
      worker();
      return GetParam() != "redis" || MultiProcessRedisBackend::flush() ? 0 : 1;
    });
    ASSERT_EQ(pytheus_test::wait_child(pid), 0);
  }
  const double after = detail::unix_time_now();

  http::ExposerOptions eo;
  eo.process_collector = false;
  http::Exposer exposer("127.0.0.1", 0, eo);
  exposer.add("/metrics", m.reg);
  exposer.start();
  PrometheusOptions options;
  options.binary = PYTHEUS_PROMETHEUS_BIN;
  options.targets = {"127.0.0.1:" + std::to_string(exposer.port())};
  PrometheusServer prometheus(options);

  const auto value = [&](const std::string& promql) {
    std::optional<double> v;
    wait_until(
        [&] {
          v = prometheus.query_value(promql);
          return v.has_value();
        },
        20s, 100ms);
    return v;
  };
  // Info: one series `build_info` with the info's labels, value 1.
  EXPECT_EQ(value(R"(build_info{version="1.2.3",commit="abc \"quoted\""})"), 1) << prometheus.log();
  // Enum: one series per state, 1 for the one that holds.
  EXPECT_EQ(value(R"(task_state{task="import",task_state="done"})"), 1);
  EXPECT_EQ(value(R"(task_state{task="import",task_state="idle"})"), 0);
  EXPECT_EQ(value(R"(task_state{task="export",task_state="running"})"), 1);
  EXPECT_EQ(value(R"(sum(task_state{task="export"}))"), 1);
  // StateSet: the latest change (the worker's) decides the whole set.
  EXPECT_EQ(value(R"(features{features="cache"})"), 1);
  EXPECT_EQ(value(R"(features{features="gzip"})"), 1);
  EXPECT_EQ(value(R"(features{features="tls"})"), 0);
  // Counters and their creation time (Prometheus 2.42 stores `_created` as a series).
  EXPECT_EQ(value(R"(jobs_total{kind="worker"})"), 3);
  for (const char* kind : {"parent", "worker"}) {
    const auto created = value(std::string("jobs_created{kind=\"") + kind + "\"}");
    ASSERT_TRUE(created.has_value()) << kind;
    EXPECT_GE(*created, before - 0.001) << kind;  // Prometheus keeps float64: exact enough
    EXPECT_LE(*created, after + 0.001) << kind;
  }
  // The scrape was OpenMetrics (the format with info and stateset types) and healthy.
  const nlohmann::json targets = prometheus.targets();
  ASSERT_EQ(targets.size(), 1u);
  EXPECT_EQ(targets[0]["health"], "up") << targets.dump(2);
  EXPECT_EQ(targets[0]["lastError"], "") << targets.dump(2);
  EXPECT_EQ(value(R"(sum(pytheus_http_scrapes_total{format="openmetrics"}) > 0)").has_value(),
            true);
}

INSTANTIATE_TEST_SUITE_P(Backends, StateMetricsE2E, pytheus_test::kEveryBackend,
                         pytheus_test::backend_param_name);
