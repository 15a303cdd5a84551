// End to end with a real Prometheus (Debian 12's 2.42, --enable-feature=exemplar-storage):
// a service attaches exemplars, Prometheus scrapes it over OpenMetrics, and
// /api/v1/query_exemplars gives the trace ids back. In memory, and on Redis with four
// processes attaching exemplars.
#include <pytheus/backends/redis.hpp>
#include <pytheus/http/exposer.hpp>
#include <pytheus/pytheus.hpp>

#include <chrono>
#include <set>
#include <string>

#include "prometheus_harness.hpp"
#include "redis_test_helpers.hpp"

using namespace std::chrono_literals;
using pytheus_test::PrometheusOptions;
using pytheus_test::PrometheusServer;
using pytheus_test::query_exemplars;
using pytheus_test::wait_until;

namespace {

PrometheusServer start_prometheus(const std::string& target) {
  PrometheusOptions options;
  options.binary = PYTHEUS_PROMETHEUS_BIN;
  options.targets = {target};
  options.extra_args = {"--enable-feature=exemplar-storage"};
  return PrometheusServer(options);
}

std::string target_of(const pytheus::http::Exposer& e) {
  return "127.0.0.1:" + std::to_string(e.port());
}

}  // namespace

TEST(ExemplarE2E, InMemoryTraceIdsComeBackFromQueryExemplars) {
  pytheus::load_backend("SingleProcessBackend", pytheus::BackendConfig::object());
  pytheus::CollectorRegistry reg;
  pytheus::Counter requests("requests_total", "Requests.", {"route"}, {}, &reg);
  pytheus::Histogram latency("request_seconds", "Latency.", {"route"}, {}, &reg, {0.1, 1});
  requests.labels({{"route", "/a"}}).inc(1, {{"trace_id", "trace-counter"}});
  latency.labels({{"route", "/a"}}).observe(0.05, {{"trace_id", "trace-fast"}});
  {
    pytheus::ExemplarScope scope({{"trace_id", "trace-slow"}});
    latency.labels({{"route", "/a"}}).observe(3);
  }
  pytheus::http::Exposer exposer("127.0.0.1", 0);
  exposer.add("/metrics", reg);
  exposer.start();
  PrometheusServer prometheus = start_prometheus(target_of(exposer));

  std::vector<pytheus_test::StoredExemplar> buckets, counter;
  EXPECT_TRUE(wait_until(
      [&] {
        buckets = query_exemplars(prometheus, "request_seconds_bucket");
        counter = query_exemplars(prometheus, "requests_total");
        return buckets.size() >= 2 && !counter.empty();
      },
      30s, 200ms))
      << prometheus.log();
  std::set<std::pair<std::string, std::string>> got;
  for (const pytheus_test::StoredExemplar& s : buckets) got.insert({s.trace_id, s.le});
  EXPECT_TRUE(got.count({"trace-fast", "0.1"})) << buckets.size();
  EXPECT_TRUE(got.count({"trace-slow", "+Inf"})) << buckets.size();
  ASSERT_FALSE(counter.empty());
  EXPECT_EQ(counter[0].trace_id, "trace-counter");
  EXPECT_EQ(counter[0].value, 1);
}

TEST(ExemplarE2E, RedisFourProcessesTraceIdsComeBackFromQueryExemplars) {
  pytheus_test::RedisServer server;
  const nlohmann::json config = server.config(pytheus_test::mode_config("write_behind"));
  struct Metrics {
    pytheus::CollectorRegistry reg;
    pytheus::Histogram latency{"job_seconds", "Jobs.", {}, {}, &reg, pytheus::Buckets{1, 2, 3}};
  };
  // Worker w observes w + 0.5 (its own bucket, the last one +Inf) with trace id "worker-w".
  std::vector<pid_t> children;
  for (int w = 0; w < 4; ++w) {
    children.push_back(pytheus_test::fork_child([&, w] {
      pytheus::load_backend("MultiProcessRedisBackend", config);
      Metrics m;
      m.latency.observe(w + 0.5, {{"trace_id", "worker-" + std::to_string(w)}});
      return pytheus::MultiProcessRedisBackend::flush() ? 0 : 1;
    }));
  }
  for (pid_t c : children) ASSERT_EQ(pytheus_test::wait_child(c), 0);
  pytheus::load_backend("MultiProcessRedisBackend", config);
  Metrics m;
  pytheus::http::Exposer exposer("127.0.0.1", 0);
  exposer.add("/metrics", m.reg);
  exposer.start();
  PrometheusServer prometheus = start_prometheus(target_of(exposer));

  std::vector<pytheus_test::StoredExemplar> got;
  EXPECT_TRUE(wait_until(
      [&] {
        got = query_exemplars(prometheus, "job_seconds_bucket");
        return got.size() >= 4;
      },
      30s, 200ms))
      << prometheus.log();
  const char* les[] = {"1.0", "2.0", "3.0", "+Inf"};  // OpenMetrics canonical bounds
  std::set<std::string> seen;
  for (const pytheus_test::StoredExemplar& s : got) {
    ASSERT_EQ(s.trace_id.rfind("worker-", 0), 0u) << s.trace_id;
    const int w = std::stoi(s.trace_id.substr(7));
    EXPECT_EQ(s.value, w + 0.5);
    EXPECT_EQ(s.le, les[w]);
    seen.insert(s.trace_id);
  }
  EXPECT_EQ(seen.size(), 4u);
  pytheus::load_backend("SingleProcessBackend", pytheus::BackendConfig::object());
}
