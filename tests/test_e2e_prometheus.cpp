// End to end with a real Prometheus server (Debian package prometheus): an example serves
// /metrics, Prometheus scrapes it every second, and Prometheus's HTTP API must show exactly
// what the example's workload did, ingested over the format Prometheus negotiated.
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>

#include "child_process.hpp"
#include "prometheus_harness.hpp"

using namespace std::chrono_literals;
using pytheus_test::ChildProcess;
using pytheus_test::PrometheusOptions;
using pytheus_test::PrometheusServer;
using pytheus_test::TempDir;
using pytheus_test::wait_until;

namespace {

// Returns "HOST:PORT" from a line holding "http://HOST:PORT/metrics".
std::string target_of(const std::string& line) {
  const std::size_t start = line.find("http://") + 7;
  return line.substr(start, line.find("/metrics", start) - start);
}

// Polls `promql` until it yields `expected`; returns the last value seen.
std::optional<double> wait_for_value(const PrometheusServer& prometheus, const std::string& promql,
                                     double expected, std::chrono::milliseconds timeout) {
  std::optional<double> value;
  wait_until(
      [&] {
        value = prometheus.query_value(promql);
        return value == expected;
      },
      timeout, 100ms);
  return value;
}

}  // namespace

TEST(PrometheusE2E, QuickstartIsScrapedOverOpenMetricsWithExactTotals) {
  constexpr int kRequests = 500;
  TempDir dir("pytheus-e2e");
  ChildProcess quickstart({PYTHEUS_QUICKSTART_BIN, "0", "--requests", std::to_string(kRequests)},
                          dir / "quickstart.log");
  const std::optional<std::string> serving = quickstart.wait_for_line("/metrics", 10s);
  ASSERT_TRUE(serving) << "quickstart did not start serving:\n" << quickstart.output();
  const std::string target = target_of(*serving);

  PrometheusOptions options;
  options.binary = PYTHEUS_PROMETHEUS_BIN;
  options.targets = {target};
  PrometheusServer prometheus(options);

  // Every simulated request is one http_requests_total increment and one latency
  // observation; Prometheus must end up with exactly the workload's totals.
  EXPECT_EQ(wait_for_value(prometheus, "sum(http_requests_total)", kRequests, 20s), kRequests)
      << prometheus.log();
  EXPECT_EQ(wait_for_value(prometheus, "sum(request_seconds_count)", kRequests, 5s), kRequests);
  EXPECT_EQ(prometheus.query_value("sum(handler_errors_total)"), 6);  // i % 97 == 0, i < 500

  // Prometheus 2.42 asks for OpenMetrics first; the exposer counts each scrape by the
  // format it served, so a broken negotiation shows as format="prometheus".
  const std::string om = "sum(pytheus_http_scrapes_total{format=\"openmetrics\",status=\"200\"})";
  EXPECT_TRUE(wait_until([&] { return prometheus.query_value(om).value_or(0) >= 1; }, 5s, 100ms));
  EXPECT_EQ(prometheus.query_value("sum(pytheus_http_scrapes_total{format!=\"openmetrics\"})"),
            std::nullopt);
  EXPECT_EQ(prometheus.query_value("sum(pytheus_http_scrape_errors_total)"), std::nullopt);
  EXPECT_TRUE(prometheus.query_value("process_resident_memory_bytes").value_or(0) > 0);

  // The target is healthy: up, and its last scrape had no error.
  const nlohmann::json targets = prometheus.targets();
  ASSERT_EQ(targets.size(), 1u) << targets.dump(2);
  EXPECT_EQ(targets[0]["scrapeUrl"], "http://" + target + "/metrics");
  EXPECT_EQ(targets[0]["health"], "up") << targets.dump(2);
  EXPECT_EQ(targets[0]["lastError"], "") << targets.dump(2);
  EXPECT_EQ(prometheus.query_value("up{job=\"pytheus\"}"), 1);

  // SIGTERM stops the quickstart cleanly.
  EXPECT_EQ(quickstart.stop(), 0) << quickstart.output();
}
