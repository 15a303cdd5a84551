// The Pushgateway client against a real prometheus-pushgateway, scraped by a real Prometheus
// (honor_labels, as the gateway's docs require): what a batch job pushes, push-adds and deletes
// is exactly what Prometheus ends up with; failures (no gateway, a 400, a 401, a silent server)
// throw PushError with a message that names the method, the URL and the status, never a secret.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "child_process.hpp"
#include "prometheus_harness.hpp"
#include "pushgateway_server.hpp"
#include "pytheus/push/pushgateway.hpp"
#include "pytheus/pytheus.hpp"

using namespace std::chrono_literals;
using pytheus::push::PushError;
using pytheus::push::Pushgateway;
using pytheus::push::PushgatewayOptions;
using pytheus_test::ChildProcess;
using pytheus_test::PrometheusOptions;
using pytheus_test::PrometheusServer;
using pytheus_test::PushgatewayServer;
using pytheus_test::TempDir;
using pytheus_test::wait_until;

namespace {

// One gateway and one Prometheus scraping it every second, shared by the suite (each test uses
// its own job name, so groups never collide).
class PushgatewayTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pytheus::load_backend();
    gateway_ = std::make_unique<PushgatewayServer>(PYTHEUS_PUSHGATEWAY_BIN);
    PrometheusOptions options;
    options.binary = PYTHEUS_PROMETHEUS_BIN;
    options.targets = {gateway_->address()};
    options.honor_labels = true;
    prometheus_ = std::make_unique<PrometheusServer>(options);
  }
  static void TearDownTestSuite() {
    prometheus_.reset();
    gateway_.reset();
  }

  // Polls `promql` until it yields `expected` (nullopt: no sample); returns the last result.
  static std::optional<double> wait_for(const std::string& promql, std::optional<double> expected,
                                        std::chrono::milliseconds timeout = 20s) {
    std::optional<double> value;
    wait_until(
        [&] {
          value = prometheus_->query_value(promql);
          return value == expected;
        },
        timeout, 100ms);
    return value;
  }

  // The metric names Prometheus currently has for `job`, without the gateway's own
  // push_time_seconds and push_failure_time_seconds.
  static std::set<std::string> names_of_job(const std::string& job) {
    std::set<std::string> names;
    for (const auto& sample : prometheus_->query("{job=\"" + job + "\"}")) {
      const std::string name = sample["metric"]["__name__"];
      if (name != "push_time_seconds" && name != "push_failure_time_seconds") names.insert(name);
    }
    return names;
  }

  static std::unique_ptr<PushgatewayServer> gateway_;
  static std::unique_ptr<PrometheusServer> prometheus_;
};

std::unique_ptr<PushgatewayServer> PushgatewayTest::gateway_;
std::unique_ptr<PrometheusServer> PushgatewayTest::prometheus_;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_F(PushgatewayTest, PushPushAddAndDeleteAreWhatPrometheusSees) {
  PushgatewayOptions options;
  // A value with '/', one with a space and UTF-8, and an empty one: every encoding rule.
  options.grouping = {
      {"instance", "db1"}, {"path", "/srv/data"}, {"site", "Z\xc3\xbcrich 2"}, {"shard", ""}};
  Pushgateway gateway(gateway_->url(), "pg_nightly", options);
  const std::string sel =
      "{job=\"pg_nightly\",instance=\"db1\",path=\"/srv/data\",site=\"Z\xc3\xbcrich "
      "2\",shard=\"\"}";

  pytheus::CollectorRegistry first;
  pytheus::Counter items("pg_items_total", "Items.", {"outcome"}, {}, &first);
  pytheus::Gauge last_run("pg_last_run", "Last run.", {}, {}, &first);
  pytheus::Histogram seconds("pg_item_seconds", "Item time.", {}, {}, &first);
  items.labels({{"outcome", "ok"}}).inc(42);
  items.labels({{"outcome", "failed"}}).inc(3);
  last_run.set(7);
  seconds.observe(0.2);
  seconds.observe(3);
  gateway.push(first);

  EXPECT_EQ(wait_for("pg_items_total" + sel.substr(0, sel.size() - 1) + ",outcome=\"ok\"}", 42), 42)
      << prometheus_->log() << gateway_->log();
  EXPECT_EQ(prometheus_->query_value("pg_items_total" + sel.substr(0, sel.size() - 1) +
                                     ",outcome=\"failed\"}"),
            3);
  EXPECT_EQ(prometheus_->query_value("pg_last_run" + sel), 7);
  EXPECT_EQ(prometheus_->query_value("pg_item_seconds_count" + sel), 2);
  EXPECT_EQ(prometheus_->query_value("pg_item_seconds_sum" + sel), 3.2);
  EXPECT_EQ(prometheus_->query_value("pg_item_seconds_bucket" + sel.substr(0, sel.size() - 1) +
                                     ",le=\"0.25\"}"),
            1);
  EXPECT_EQ(names_of_job("pg_nightly"),
            (std::set<std::string>{"pg_items_total", "pg_last_run", "pg_item_seconds_bucket",
                                   "pg_item_seconds_count", "pg_item_seconds_sum"}));

  // push_add (POST): same-named metrics replaced, the others kept.
  pytheus::CollectorRegistry second;
  pytheus::Gauge last_run2("pg_last_run", "Last run.", {}, {}, &second);
  pytheus::Gauge extra("pg_extra", "Extra.", {}, {}, &second);
  last_run2.set(9);
  extra.set(5);
  gateway.push_add(second);
  EXPECT_EQ(wait_for("pg_last_run" + sel, 9), 9);
  EXPECT_EQ(wait_for("pg_extra" + sel, 5), 5);
  EXPECT_EQ(prometheus_->query_value("pg_items_total" + sel.substr(0, sel.size() - 1) +
                                     ",outcome=\"ok\"}"),
            42);

  // push (PUT): the whole group replaced; what was not pushed again goes stale in Prometheus.
  pytheus::CollectorRegistry third;
  pytheus::Counter items3("pg_items_total", "Items.", {"outcome"}, {}, &third);
  items3.labels({{"outcome", "ok"}}).inc(50);
  gateway.push(third);
  EXPECT_EQ(wait_for("pg_last_run" + sel, std::nullopt), std::nullopt);
  EXPECT_EQ(wait_for("pg_items_total" + sel.substr(0, sel.size() - 1) + ",outcome=\"ok\"}", 50),
            50);
  EXPECT_EQ(names_of_job("pg_nightly"), (std::set<std::string>{"pg_items_total"}));

  // delete_group (DELETE): nothing of the group is left.
  gateway.delete_group();
  EXPECT_TRUE(
      wait_until([&] { return prometheus_->query("{job=\"pg_nightly\"}").empty(); }, 20s, 100ms))
      << prometheus_->query("{job=\"pg_nightly\"}").dump();
  EXPECT_NO_THROW(gateway.delete_group());  // a group that is gone: still a success
}

TEST_F(PushgatewayTest, TheBatchJobExampleIsScraped) {
  TempDir dir("pytheus-batch-job");
  ChildProcess job(
      {PYTHEUS_BATCH_JOB_BIN, gateway_->url(), "--items", "250", "--instance", "worker-7"},
      dir / "batch_job.log");
  ASSERT_TRUE(wait_until([&] { return !job.running(); }, 30s)) << job.output();
  ASSERT_EQ(job.stop(), 0) << job.output();
  const std::string sel = "{job=\"batch_job\",instance=\"worker-7\"";
  EXPECT_EQ(wait_for("batch_items_processed_total" + sel + ",outcome=\"ok\"}", 225), 225)
      << prometheus_->log();
  EXPECT_EQ(prometheus_->query_value("batch_items_processed_total" + sel + ",outcome=\"skipped\"}"),
            25);
  EXPECT_GT(
      prometheus_->query_value("batch_last_success_timestamp_seconds" + sel + "}").value_or(0),
      1.6e9);
}

TEST_F(PushgatewayTest, ConflictingMetricGets400NamingMethodUrlAndGatewayReason) {
  pytheus::CollectorRegistry as_counter;
  pytheus::Counter c("pg_conflict", "A counter.", {}, {}, &as_counter);
  c.inc();
  Pushgateway first(gateway_->url(), "pg_conflict_a");
  first.push(as_counter);

  // The same name as a gauge in another group: the gateway refuses it as inconsistent.
  pytheus::CollectorRegistry as_gauge;
  pytheus::Gauge g("pg_conflict", "A gauge.", {}, {}, &as_gauge);
  g.set(1);
  Pushgateway second(gateway_->url(), "pg_conflict_b");
  try {
    second.push(as_gauge);
    FAIL() << "a conflicting push was accepted";
  } catch (const PushError& e) {
    const std::string what = e.what();
    EXPECT_EQ(e.status(), 400) << what;
    EXPECT_TRUE(contains(what, "PUT " + gateway_->url() + "/metrics/job/pg_conflict_b")) << what;
    EXPECT_TRUE(contains(what, "HTTP 400")) << what;
    EXPECT_TRUE(contains(what, "pg_conflict")) << what;  // the gateway's first line names it
  }
  try {
    second.push_add(as_gauge);
    FAIL() << "a conflicting push_add was accepted";
  } catch (const PushError& e) {
    EXPECT_EQ(e.status(), 400) << e.what();
    EXPECT_TRUE(contains(e.what(), "POST ")) << e.what();
  }
  first.delete_group();
  second.delete_group();
}

TEST_F(PushgatewayTest, OneGatewayObjectPushesFromSeveralThreads) {
  constexpr int kThreads = 4;
  Pushgateway gateway(gateway_->url(), "pg_threads");
  gateway.delete_group();
  std::vector<std::thread> threads;
  std::vector<std::string> errors(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      try {
        pytheus::CollectorRegistry registry;
        pytheus::Gauge g("pg_thread_" + std::to_string(t), "One per thread.", {}, {}, &registry);
        g.set(t + 1);
        for (int i = 0; i < 5; ++i) gateway.push_add(registry);  // each keeps the others'
      } catch (const std::exception& e) {
        errors[t] = e.what();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (const auto& error : errors) EXPECT_EQ(error, "");
  EXPECT_EQ(wait_for("count({job=\"pg_threads\",__name__=~\"pg_thread_.*\"})", kThreads), kThreads);
  EXPECT_EQ(prometheus_->query_value("sum({job=\"pg_threads\",__name__=~\"pg_thread_.*\"})"),
            1 + 2 + 3 + 4);
  gateway.delete_group();
}

TEST(PushgatewayFailures, UnreachableGatewayNamesUrlAndCause) {
  const std::uint16_t port = pytheus_test::free_loopback_port();  // nothing listens there
  PushgatewayOptions options;
  options.connect_timeout = 2s;
  options.request_timeout = 5s;
  Pushgateway gateway("http://127.0.0.1:" + std::to_string(port), "pg_unreachable", options);
  pytheus::CollectorRegistry registry;
  try {
    gateway.push(registry);
    FAIL() << "a push to nothing succeeded";
  } catch (const PushError& e) {
    const std::string what = e.what();
    EXPECT_EQ(e.status(), 0);
    EXPECT_TRUE(contains(
        what, "PUT http://127.0.0.1:" + std::to_string(port) + "/metrics/job/pg_unreachable"))
        << what;
    EXPECT_TRUE(contains(what, "unreachable")) << what;
  }
  EXPECT_THROW(gateway.delete_group(), PushError);
}

TEST(PushgatewayFailures, ServerThatNeverAnswersTimesOut) {
  // A listening socket nobody accepts from: the kernel completes the connection, then nothing
  // answers, so only request_timeout ends the call.
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(fd, 8), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  PushgatewayOptions options;
  options.request_timeout = 300ms;
  Pushgateway gateway("127.0.0.1:" + std::to_string(ntohs(addr.sin_port)), "pg_silent", options);
  pytheus::CollectorRegistry registry;
  try {
    gateway.push(registry);
    FAIL() << "a push nobody answered succeeded";
  } catch (const PushError& e) {
    EXPECT_EQ(e.status(), 0);
    EXPECT_TRUE(contains(e.what(), "timed out")) << e.what();
    EXPECT_TRUE(contains(e.what(), gateway.group_url())) << e.what();
  }
  close(fd);
}

TEST(PushgatewayFailures, BasicAuthIsSentAndSecretsNeverPrinted) {
  // bcrypt (cost 4) of "push-s3cret", for the gateway's web config.
  PushgatewayServer gateway(
      PYTHEUS_PUSHGATEWAY_BIN,
      {{"batch", "$2b$04$GO5.HLghQ4XcQfteIiz8KOLwK.Dp3J5BUQ4/1jh0IBBnTvR3BlVVe"}});
  pytheus::CollectorRegistry registry;
  pytheus::Gauge g("pg_auth", "Auth.", {}, {}, &registry);
  g.set(1);

  PushgatewayOptions good;
  good.basic_auth = pytheus::push::PushBasicAuth{"batch", "push-s3cret"};
  EXPECT_NO_THROW(Pushgateway(gateway.url(), "pg_auth", good).push(registry)) << gateway.log();
  // The same credentials in the URL.
  EXPECT_NO_THROW(
      Pushgateway("http://batch:push-s3cret@" + gateway.address(), "pg_auth").push_add(registry));

  PushgatewayOptions bad;
  bad.basic_auth = pytheus::push::PushBasicAuth{"batch", "wrong-Pa55"};
  for (const Pushgateway& client :
       {Pushgateway(gateway.url(), "pg_auth", bad), Pushgateway(gateway.url(), "pg_auth"),
        Pushgateway("http://batch:wrong-Pa55@" + gateway.address(), "pg_auth")}) {
    try {
      client.push(registry);
      FAIL() << "an unauthenticated push was accepted";
    } catch (const PushError& e) {
      const std::string what = e.what();
      EXPECT_EQ(e.status(), 401) << what;
      EXPECT_TRUE(contains(what, "PUT " + gateway.url() + "/metrics/job/pg_auth")) << what;
      EXPECT_FALSE(contains(what, "wrong-Pa55")) << what;
      EXPECT_FALSE(contains(what, "push-s3cret")) << what;
    }
  }
  EXPECT_NO_THROW(Pushgateway(gateway.url(), "pg_auth", good).delete_group());
}
