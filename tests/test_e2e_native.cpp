// End to end: a real Prometheus 2.42 with --enable-feature=native-histograms scrapes a
// histogram with native buckets over protobuf. histogram_count equals the observations and
// histogram_quantile(0.9) is within the schema's relative error of the true quantile: in one
// process (in memory), with 4 forked processes observing into one Redis, and with 4 forked
// processes observing into one directory of MultiProcessFileBackend.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "prometheus_harness.hpp"
#include "pytheus/http/exposer.hpp"
#include "pytheus/protobuf.hpp"
#include "pytheus/pytheus.hpp"
#ifdef PYTHEUS_TEST_REDIS
#include "redis_test_helpers.hpp"
#endif
#ifdef PYTHEUS_TEST_FILE
#include <sys/wait.h>
#include <unistd.h>

#include "child_process.hpp"
#include "pytheus/backends/file.hpp"
#endif

using namespace std::chrono_literals;
using pytheus_test::PrometheusOptions;
using pytheus_test::PrometheusServer;
using pytheus_test::wait_until;

namespace {

constexpr int kObservations = 2000;

// Observation i of worker w: latencies from 1 ms to about 5 s, log-spread, multiples of 2^-20
// so that every sum is exact in any order.
double value_of(int w, int i) {
  const double v = 0.001 * std::pow(1.0043, static_cast<double>((i * 7 + w * 13) % kObservations));
  return std::round(v * 1048576.0) / 1048576.0;
}

double true_quantile(double q, int workers) {
  std::vector<double> all;
  for (int w = 0; w < workers; ++w) {
    for (int i = 0; i < kObservations; ++i) all.push_back(value_of(w, i));
  }
  std::sort(all.begin(), all.end());
  return all[static_cast<std::size_t>(std::ceil(q * static_cast<double>(all.size()))) - 1];
}

// Serves `r`, starts Prometheus on it, and checks count, sum and the 0.9 quantile, within the
// relative width of a bucket at `schema`; and, when `trace_id` is given, that Prometheus
// stored the native histogram's exemplar with that trace id.
void check_with_prometheus(pytheus::CollectorRegistry& r, int workers, double sum, int schema,
                           const std::string& trace_id = "") {
  pytheus::http::ExposerOptions eo;
  eo.process_collector = false;
  pytheus::http::Exposer exposer("127.0.0.1", 0, eo);
  exposer.add("/metrics", r);
  exposer.start();

  PrometheusOptions options;
  options.binary = PYTHEUS_PROMETHEUS_BIN;
  options.targets = {"127.0.0.1:" + std::to_string(exposer.port())};
  options.extra_args = {"--enable-feature=native-histograms,exemplar-storage"};
  PrometheusServer prometheus(options);

  const std::string count = "histogram_count(rpc_seconds{route=\"/\"})";
  ASSERT_TRUE(wait_until([&] { return prometheus.query_value(count).has_value(); }, 30s, 100ms))
      << prometheus.log();
  EXPECT_EQ(prometheus.query_value(count), double(workers) * kObservations);
  EXPECT_EQ(prometheus.query_value("histogram_sum(rpc_seconds{route=\"/\"})"), sum);
  const auto q = prometheus.query_value("histogram_quantile(0.9, rpc_seconds{route=\"/\"})");
  ASSERT_TRUE(q.has_value());
  const double truth = true_quantile(0.9, workers);
  // A bucket's upper bound is 2^(2^-schema) times its lower bound (schema 3: 9.05%).
  const double max_error = std::exp2(std::exp2(-schema)) - 1;
  EXPECT_LE(std::fabs(*q - truth) / truth, max_error) << "quantile " << *q << ", true " << truth;
  std::printf(
      "histogram_quantile(0.9): %g, true 0.9 quantile %g, relative error %.4f (bound %.4f)\n", *q,
      truth, std::fabs(*q - truth) / truth, max_error);
  if (trace_id.empty()) return;
  std::vector<pytheus_test::StoredExemplar> stored;
  EXPECT_TRUE(wait_until(
      [&] {
        stored = pytheus_test::query_exemplars(prometheus, "rpc_seconds");
        return !stored.empty();
      },
      30s, 100ms))
      << "no exemplar of the native histogram in Prometheus\n"
      << prometheus.log();
  for (const auto& e : stored) EXPECT_EQ(e.trace_id, trace_id);
}

#if defined(PYTHEUS_TEST_REDIS) || defined(PYTHEUS_TEST_FILE)
// The series `h` of `workers` processes that observed value_of(w, *), worker 0 at a lower
// resolution: exact count, and Prometheus' view of it. The scrape merges at the lowest schema
// a process reached (worker 0's, 2): the quantile's bound is that schema's.
void check_merged_workers(pytheus::Histogram& h, pytheus::CollectorRegistry& r, int workers) {
  double sum = 0;
  for (int w = 0; w < workers; ++w) {
    for (int i = 0; i < kObservations; ++i) sum += value_of(w, i);
  }
  const auto s = h.labels({{"route", "/"}}).snapshot();
  ASSERT_TRUE(s.native);
  ASSERT_EQ(s.count, double(workers) * kObservations);
  EXPECT_EQ(s.native->schema, 2);
  check_with_prometheus(r, workers, sum, s.native->schema);
}
#endif

}  // namespace

TEST(NativeHistogramE2E, PrometheusReadsNativeBucketsInMemory) {
  pytheus::protobuf::enable();
  pytheus::load_backend("SingleProcessBackend");
  pytheus::CollectorRegistry r;
  pytheus::Histogram h("rpc_seconds", "RPC latency.", {"route"}, {}, &r, {},
                       pytheus::NativeHistogramOptions{});
  double sum = 0;
  for (int i = 0; i + 1 < kObservations; ++i) {
    h.labels({{"route", "/"}}).observe(value_of(0, i));
    sum += value_of(0, i);
  }
  // The last observation carries an exemplar (exposed on its bucket, as client_golang does
  // for a native histogram, where Prometheus 2.42 reads it).
  h.labels({{"route", "/"}})
      .observe(value_of(0, kObservations - 1), {{"trace_id", "native-trace"}});
  sum += value_of(0, kObservations - 1);
  ASSERT_EQ(h.labels({{"route", "/"}}).snapshot().native->schema, 3);
  check_with_prometheus(r, 1, sum, 3, "native-trace");
}

#ifdef PYTHEUS_TEST_REDIS
TEST(NativeHistogramE2E, PrometheusReadsNativeBucketsOfFourRedisProcesses) {
  pytheus_test::RedisServer server;
  const nlohmann::json config = server.config({{"write_mode", "write_behind"}});
  constexpr int kWorkers = 4;
  std::vector<pid_t> children;
  for (int w = 0; w < kWorkers; ++w) {
    children.push_back(pytheus_test::fork_child([&, w] {
      pytheus::load_backend("MultiProcessRedisBackend", config);
      pytheus::NativeHistogramOptions o;
      o.max_buckets = w == 0 ? 60 : 160;  // worker 0 halves its resolution, the others not
      pytheus::CollectorRegistry r;
      pytheus::Histogram h("rpc_seconds", "RPC latency.", {"route"}, {}, &r, {}, o);
      for (int i = 0; i < kObservations; ++i) h.labels({{"route", "/"}}).observe(value_of(w, i));
      return pytheus::MultiProcessRedisBackend::flush() ? 0 : 1;
    }));
  }
  for (pid_t c : children) ASSERT_EQ(pytheus_test::wait_child(c), 0);
  pytheus::protobuf::enable();
  pytheus::load_backend("MultiProcessRedisBackend", config);
  pytheus::CollectorRegistry r;
  pytheus::NativeHistogramOptions o;
  o.max_buckets = 160;
  pytheus::Histogram h("rpc_seconds", "RPC latency.", {"route"}, {}, &r, {}, o);
  check_merged_workers(h, r, kWorkers);
}
#endif

#ifdef PYTHEUS_TEST_FILE
TEST(NativeHistogramE2E, PrometheusReadsNativeBucketsOfFourFileBackendProcesses) {
  pytheus_test::TempDir dir("pytheus-e2e-native");
  const nlohmann::json config{{"directory", dir.path().string()}};
  pytheus::load_backend("MultiProcessFileBackend", config);
  pytheus::protobuf::enable();
  pytheus::CollectorRegistry r;
  pytheus::Histogram h("rpc_seconds", "RPC latency.", {"route"}, {}, &r, {},
                       pytheus::NativeHistogramOptions{});
  h.labels({{"route", "/"}});
  constexpr int kWorkers = 4;
  std::vector<pid_t> children;
  for (int w = 0; w < kWorkers; ++w) {
    std::fflush(nullptr);
    const pid_t pid = fork();
    if (pid == 0) {
      int code = 0;
      try {
        pytheus::NativeHistogramOptions o;
        o.max_buckets = w == 0 ? 60 : 160;  // worker 0 halves its resolution, the others not
        pytheus::CollectorRegistry mine;
        pytheus::Histogram hw("rpc_seconds", "RPC latency.", {"route"}, {}, &mine, {}, o);
        for (int i = 0; i < kObservations; ++i) hw.labels({{"route", "/"}}).observe(value_of(w, i));
      } catch (...) {
        code = 1;
      }
      _exit(code);
    }
    children.push_back(pid);
  }
  for (pid_t c : children) {
    int status = 0;
    waitpid(c, &status, 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  check_merged_workers(h, r, kWorkers);
  pytheus::load_backend("SingleProcessBackend");
}
#endif
