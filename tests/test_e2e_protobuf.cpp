// End to end with a real Prometheus 2.42 started with --enable-feature=native-histograms,
// which makes it ask for the protobuf format first: the exposer (with pytheus::protobuf
// enabled) serves protobuf, and every value Prometheus ingested equals what the service set,
// for counters, gauges, classic histograms, summaries, info and enum metrics.
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>

#include "prometheus_harness.hpp"
#include "pytheus/enum.hpp"
#include "pytheus/http/exposer.hpp"
#include "pytheus/info.hpp"
#include "pytheus/protobuf.hpp"
#include "pytheus/pytheus.hpp"

using namespace std::chrono_literals;
using pytheus_test::PrometheusOptions;
using pytheus_test::PrometheusServer;
using pytheus_test::wait_until;

TEST(ProtobufE2E, PrometheusWithNativeHistogramsScrapesProtobufWithEqualValues) {
  pytheus::protobuf::enable();
  pytheus::CollectorRegistry r;
  pytheus::Counter requests("requests_total", "Requests.", {"code"}, {}, &r);
  requests.labels({{"code", "200"}}).inc(41);
  requests.labels({{"code", "500"}}).inc(2);
  pytheus::Gauge temperature("temperature_celsius", "Temperature.", {}, {}, &r);
  temperature.set(-12.25);
  pytheus::Histogram latency("latency_seconds", "Latency.", {"op"}, {}, &r, {0.1, 0.5, 2.5});
  for (double v : {0.05, 0.2, 0.3, 1.0, 9.0}) latency.labels({{"op", "read"}}).observe(v);
  pytheus::Summary size("size_bytes", "Sizes.", {}, {}, &r);
  size.observe(100);
  size.observe(28);
  pytheus::Info build("build", "Build.", {"version"}, {}, &r);
  build.info({{"version", "1.2.3"}});
  pytheus::Enum state("task_state", "State.", {"idle", "busy"}, {}, {}, &r);
  state.state("busy");

  pytheus::http::ExposerOptions eo;
  eo.process_collector = false;
  pytheus::http::Exposer exposer("127.0.0.1", 0, eo);
  exposer.add("/metrics", r);
  exposer.start();

  PrometheusOptions options;
  options.binary = PYTHEUS_PROMETHEUS_BIN;
  options.targets = {"127.0.0.1:" + std::to_string(exposer.port())};
  options.extra_args = {"--enable-feature=native-histograms"};
  PrometheusServer prometheus(options);

  // The exposer counts each scrape by the format it served.
  const std::string protobuf_scrapes =
      "sum(pytheus_http_scrapes_total{format=\"protobuf\",status=\"200\"})";
  ASSERT_TRUE(wait_until(
      [&] {
        return prometheus.query_value(protobuf_scrapes).value_or(0) >= 1 &&
               prometheus.query_value("requests_total{code=\"200\"}").has_value();
      },
      30s, 100ms))
      << prometheus.log();
  EXPECT_EQ(prometheus.query_value("sum(pytheus_http_scrapes_total{format!=\"protobuf\"})"),
            std::nullopt);

  EXPECT_EQ(prometheus.query_value("requests_total{code=\"200\"}"), 41);
  EXPECT_EQ(prometheus.query_value("requests_total{code=\"500\"}"), 2);
  EXPECT_EQ(prometheus.query_value("temperature_celsius"), -12.25);
  EXPECT_EQ(prometheus.query_value("latency_seconds_bucket{op=\"read\",le=\"0.1\"}"), 1);
  EXPECT_EQ(prometheus.query_value("latency_seconds_bucket{op=\"read\",le=\"0.5\"}"), 3);
  EXPECT_EQ(prometheus.query_value("latency_seconds_bucket{op=\"read\",le=\"2.5\"}"), 4);
  EXPECT_EQ(prometheus.query_value("latency_seconds_bucket{op=\"read\",le=\"+Inf\"}"), 5);
  EXPECT_EQ(prometheus.query_value("latency_seconds_count{op=\"read\"}"), 5);
  EXPECT_EQ(prometheus.query_value("latency_seconds_sum{op=\"read\"}"), 10.55);
  EXPECT_EQ(prometheus.query_value("size_bytes_count"), 2);
  EXPECT_EQ(prometheus.query_value("size_bytes_sum"), 128);
  EXPECT_EQ(prometheus.query_value("build_info{version=\"1.2.3\"}"), 1);
  EXPECT_EQ(prometheus.query_value("task_state{task_state=\"busy\"}"), 1);
  EXPECT_EQ(prometheus.query_value("task_state{task_state=\"idle\"}"), 0);
  // The quantile computed from the ingested classic buckets.
  EXPECT_TRUE(prometheus.query_value("histogram_quantile(0.5, latency_seconds_bucket)"));

  const nlohmann::json targets = prometheus.targets();
  ASSERT_EQ(targets.size(), 1u) << targets.dump(2);
  EXPECT_EQ(targets[0]["health"], "up") << targets.dump(2);
  EXPECT_EQ(targets[0]["lastError"], "") << targets.dump(2);
}
