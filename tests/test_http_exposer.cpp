// The HTTP exposer, tested over real loopback connections with cpp-httplib's client.
#include <httplib.h>
#include <zlib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "pytheus/http/exposer.hpp"
#include "pytheus/process_collector.hpp"
#include "pytheus/testutil.hpp"
#include "test_helpers.hpp"

using namespace pytheus;
using pytheus::http::BasicAuth;
using pytheus::http::Exposer;
using pytheus::http::ExposerOptions;
using pytheus_test::CoreTest;

namespace {

// What Prometheus 2.42 sends by default.
constexpr const char* kPrometheusAccept =
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
constexpr const char* kText = "text/plain; version=0.0.4; charset=utf-8";
constexpr const char* kOpenMetrics = "application/openmetrics-text; version=1.0.0; charset=utf-8";

std::string gunzip(const std::string& in) {
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 16) != Z_OK) throw std::runtime_error("inflateInit2");
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  std::string out;
  char buffer[16384];
  int rc = Z_OK;
  while (rc == Z_OK) {
    zs.next_out = reinterpret_cast<Bytef*>(buffer);
    zs.avail_out = sizeof buffer;
    rc = inflate(&zs, Z_NO_FLUSH);
    out.append(buffer, sizeof buffer - zs.avail_out);
  }
  inflateEnd(&zs);
  if (rc != Z_STREAM_END) throw std::runtime_error("not a complete gzip stream");
  return out;
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// A client that sends no Accept-Encoding unless told to, and leaves bodies as they came.
httplib::Client client_for(const Exposer& exposer) {
  httplib::Client c(exposer.bind_address(), exposer.port());
  c.set_decompress(false);
  c.set_connection_timeout(std::chrono::seconds(5));
  c.set_read_timeout(std::chrono::seconds(10));
  return c;
}

httplib::Result get(const Exposer& exposer, const std::string& path,
                    httplib::Headers headers = {}) {
  return client_for(exposer).Get(path.c_str(), headers);
}

double self_value(Exposer& exposer, const std::string& name, const Labels& labels) {
  return testutil::get_sample_value(exposer.self_registry(), name, labels).value_or(0);
}

// A collector that fails every scrape, the way a backend with its store down does.
struct FailingCollector : Collector {
  std::string message;
  explicit FailingCollector(std::string m) : message(std::move(m)) {}
  std::vector<MetricFamily> collect() const override { throw std::runtime_error(message); }
};

// A collector that holds each scrape until released, counting the scrapes inside it.
struct BlockingCollector : Collector {
  mutable std::mutex mu;
  mutable std::condition_variable cv;
  mutable int inside = 0;
  bool released = false;

  std::vector<MetricFamily> collect() const override {
    std::unique_lock<std::mutex> lock(mu);
    ++inside;
    cv.notify_all();
    cv.wait(lock, [&] { return released; });
    return {{"blocked_gauge", "Held.", MetricType::gauge, "", {{"", {}, 1}}}};
  }
  bool wait_inside(int n) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(10), [&] { return inside >= n; });
  }
  void release() {
    std::lock_guard<std::mutex> lock(mu);
    released = true;
    cv.notify_all();
  }
};

ExposerOptions no_process() {
  ExposerOptions o;
  o.process_collector = false;
  return o;
}

}  // namespace

class HttpExposerTest : public CoreTest {
 protected:
  CollectorRegistry registry_;
  Counter jobs_{"jobs_total", "Jobs done.", {"queue"}, {}, &registry_};
  void SetUp() override {
    CoreTest::SetUp();
    jobs_.labels({{"queue", "a"}}).inc(3);
  }
};

TEST_F(HttpExposerTest, PortZeroPicksAFreePortAndReportsIt) {
  Exposer exposer("127.0.0.1", 0, no_process());
  exposer.add("/metrics", registry_);
  EXPECT_EQ(exposer.port(), 0);
  exposer.start();
  EXPECT_TRUE(exposer.running());
  ASSERT_NE(exposer.port(), 0);
  EXPECT_EQ(exposer.url(), "http://127.0.0.1:" + std::to_string(exposer.port()) + "/metrics");
  auto res = get(exposer, "/metrics");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);

  // The port is taken: a second exposer on it fails, and says why.
  Exposer second("127.0.0.1", exposer.port());
  try {
    second.start();
    FAIL() << "a second exposer bound a port in use";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("127.0.0.1:" + std::to_string(exposer.port())),
              std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("in use"), std::string::npos) << e.what();
  }
}

TEST_F(HttpExposerTest, BindAddressIsRequiredAndCheckedWithAClearError) {
  EXPECT_THROW(Exposer("", 0), Error);
  try {
    Exposer("not an address", 0).start();
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("invalid bind address \"not an address\""),
              std::string::npos)
        << e.what();
  }
  try {
    Exposer("192.0.2.1", 0).start();  // TEST-NET-1: not an address of this host
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot listen on 192.0.2.1:0"), std::string::npos)
        << e.what();
  }
  ExposerOptions zero;
  zero.max_concurrent_scrapes = 0;
  EXPECT_THROW(Exposer("127.0.0.1", 0, zero), Error);
}

TEST_F(HttpExposerTest, ServesTheDefaultRegistryOnMetricsByDefault) {
  Counter global("exposer_default_registry_total", "In the default registry.");
  global.inc(7);
  Exposer exposer("127.0.0.1", 0, no_process());
  exposer.start();
  auto res = get(exposer, "/metrics");
  default_registry().unregister_collector(*global.collector());
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_NE(res->body.find("\nexposer_default_registry_total 7\n"), std::string::npos) << res->body;
}

TEST_F(HttpExposerTest, NegotiatesTheFormatWithExactContentTypes) {
  Exposer exposer("127.0.0.1", 0, no_process());
  exposer.add("/metrics", registry_);
  exposer.start();

  auto text = get(exposer, "/metrics");
  ASSERT_TRUE(text);
  EXPECT_EQ(text->get_header_value("Content-Type"), kText);
  EXPECT_TRUE(starts_with(text->body, generate_metrics(registry_))) << text->body;

  auto om = get(exposer, "/metrics", {{"Accept", kPrometheusAccept}});
  ASSERT_TRUE(om);
  EXPECT_EQ(om->get_header_value("Content-Type"), kOpenMetrics);
  std::string expected = generate_metrics(registry_, Format::openmetrics);
  expected.resize(expected.size() - 6);  // without "# EOF\n"
  EXPECT_TRUE(starts_with(om->body, expected)) << om->body;
  EXPECT_NE(om->body.find("jobs_total{queue=\"a\"} 3\n"), std::string::npos);
  EXPECT_EQ(om->body.substr(om->body.size() - 6), "# EOF\n");

  auto plain = get(exposer, "/metrics", {{"Accept", "text/plain;version=0.0.4"}});
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->get_header_value("Content-Type"), kText);
  auto preferred = get(exposer, "/metrics",
                       {{"Accept", "application/openmetrics-text;q=0.3, text/plain;q=0.9"}});
  ASSERT_TRUE(preferred);
  EXPECT_EQ(preferred->get_header_value("Content-Type"), kText);

  EXPECT_EQ(self_value(exposer, "pytheus_http_scrapes_total",
                       {{"path", "/metrics"}, {"format", "openmetrics"}, {"status", "200"}}),
            1);
  EXPECT_EQ(self_value(exposer, "pytheus_http_scrapes_total",
                       {{"path", "/metrics"}, {"format", "prometheus"}, {"status", "200"}}),
            3);
}

TEST_F(HttpExposerTest, GzipsWhenTheScraperAcceptsIt) {
  Exposer exposer("127.0.0.1", 0, no_process());
  exposer.add("/metrics", registry_);
  exposer.start();
  for (const char* accept : {"gzip", "deflate, gzip;q=0.5", "*", "x-gzip"}) {
    auto res = get(exposer, "/metrics", {{"Accept-Encoding", accept}});
    ASSERT_TRUE(res);
    EXPECT_EQ(res->get_header_value("Content-Encoding"), "gzip") << accept;
    EXPECT_NE(res->get_header_value("Vary").find("Accept-Encoding"), std::string::npos);
    const std::string body = gunzip(res->body);
    EXPECT_TRUE(starts_with(body, generate_metrics(registry_))) << body;
    EXPECT_NE(body.find("pytheus_http_scrapes_total"), std::string::npos) << body;
  }
  auto om = get(exposer, "/metrics",
                {{"Accept-Encoding", "gzip"}, {"Accept", "application/openmetrics-text"}});
  ASSERT_TRUE(om);
  EXPECT_EQ(om->get_header_value("Content-Type"), kOpenMetrics);
  EXPECT_EQ(om->get_header_value("Content-Encoding"), "gzip");
  EXPECT_EQ(gunzip(om->body).substr(gunzip(om->body).size() - 6), "# EOF\n");

  for (const char* accept : {"identity", "gzip;q=0", "br", "*;q=0"}) {
    auto res = get(exposer, "/metrics", {{"Accept-Encoding", accept}});
    ASSERT_TRUE(res);
    EXPECT_FALSE(res->has_header("Content-Encoding")) << accept;
    EXPECT_TRUE(starts_with(res->body, generate_metrics(registry_))) << accept;
  }

  ExposerOptions off = no_process();
  off.gzip = false;
  Exposer plain("127.0.0.1", 0, off);
  plain.add("/metrics", registry_);
  plain.start();
  auto res = get(plain, "/metrics", {{"Accept-Encoding", "gzip"}});
  ASSERT_TRUE(res);
  EXPECT_FALSE(res->has_header("Content-Encoding"));
  EXPECT_TRUE(starts_with(res->body, generate_metrics(registry_)));
}

TEST_F(HttpExposerTest, HeadHasTheHeadersOfGetAndNoBody) {
  Exposer exposer("127.0.0.1", 0, no_process());
  exposer.add("/metrics", registry_);
  exposer.start();
  for (const httplib::Headers& headers :
       {httplib::Headers{}, httplib::Headers{{"Accept", "application/openmetrics-text"}},
        httplib::Headers{{"Accept-Encoding", "gzip"}}}) {
    ASSERT_TRUE(get(exposer, "/metrics", headers));  // now the self-metrics keep one length
    auto head = client_for(exposer).Head("/metrics", headers);
    auto full = get(exposer, "/metrics", headers);
    ASSERT_TRUE(head);
    ASSERT_TRUE(full);
    EXPECT_EQ(head->status, 200);
    EXPECT_TRUE(head->body.empty());
    for (const char* name : {"Content-Type", "Content-Encoding", "Vary"}) {
      EXPECT_EQ(head->get_header_value(name), full->get_header_value(name)) << name;
    }
    // A gzipped length may change with the scrape count in the body; a plain one may not.
    if (!full->has_header("Content-Encoding")) {
      EXPECT_EQ(head->get_header_value("Content-Length"), std::to_string(full->body.size()));
    } else {
      EXPECT_GT(std::stoul(head->get_header_value("Content-Length")), 20u);
    }
  }
}

TEST_F(HttpExposerTest, UnknownPathsAre404AndOtherMethods405) {
  Exposer exposer("127.0.0.1", 0, no_process());
  exposer.add("/metrics", registry_);
  exposer.start();
  for (const char* path : {"/", "/metric", "/metrics/", "/metrics.txt", "/other"}) {
    auto res = get(exposer, path);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 404) << path;
  }
  auto post = client_for(exposer).Post("/metrics", "x", "text/plain");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 405);
  EXPECT_EQ(post->get_header_value("Allow"), "GET, HEAD");
  auto del = client_for(exposer).Delete("/metrics");
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 405);
  auto query = get(exposer, "/metrics?debug=1");  // the query string is not part of the path
  ASSERT_TRUE(query);
  EXPECT_EQ(query->status, 200);
}

TEST_F(HttpExposerTest, AFailedScrapeIs503WithAShortReasonAndIsCounted) {
  auto failing = std::make_shared<FailingCollector>("redis down: connection refused");
  registry_.register_collector(failing);
  Exposer exposer("127.0.0.1", 0, no_process());
  exposer.add("/metrics", registry_);
  exposer.start();

  for (const char* accept : {"text/plain", "application/openmetrics-text"}) {
    auto res = get(exposer, "/metrics", {{"Accept", accept}, {"Accept-Encoding", "gzip"}});
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 503);
    EXPECT_EQ(res->get_header_value("Content-Type"), "text/plain; charset=utf-8");
    EXPECT_FALSE(res->has_header("Content-Encoding"));
    EXPECT_NE(res->body.find("redis down: connection refused"), std::string::npos) << res->body;
    EXPECT_EQ(res->body.find("jobs_total"), std::string::npos) << "part of a body was served";
  }
  EXPECT_EQ(self_value(exposer, "pytheus_http_scrape_errors_total",
                       {{"path", "/metrics"}, {"reason", "collect"}}),
            2);
  EXPECT_EQ(self_value(exposer, "pytheus_http_scrapes_total",
                       {{"path", "/metrics"}, {"format", "openmetrics"}, {"status", "503"}}),
            1);

  // The reason stays short, and serving goes on once the collector recovers.
  registry_.unregister_collector(*failing);
  registry_.register_collector(
      std::make_shared<FailingCollector>(std::string(10000, 'x') + "\nsecond line"));
  auto res = get(exposer, "/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  EXPECT_LT(res->body.size(), 300u);
  EXPECT_EQ(res->body.find("second line"), std::string::npos);
  registry_.unregister_collector(*registry_.collectors().back());
  res = get(exposer, "/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_NE(
      res->body.find("pytheus_http_scrape_errors_total{path=\"/metrics\",reason=\"collect\"} 3"),
      std::string::npos)
      << res->body;
}

TEST_F(HttpExposerTest, BasicAuthAcceptsTheCredentialsAndRefusesOthers) {
  ExposerOptions options = no_process();
  options.basic_auth = BasicAuth{"prometheus", "s3cret:with:colons"};
  Exposer exposer("127.0.0.1", 0, options);
  exposer.add("/metrics", registry_);
  exposer.start();

  auto refused = [&](httplib::Client c, const char* path = "/metrics") {
    auto res = c.Get(path);
    if (!res) return ::testing::AssertionFailure() << httplib::to_string(res.error());
    if (res->status != 401) return ::testing::AssertionFailure() << "status " << res->status;
    if (res->get_header_value("WWW-Authenticate") != "Basic realm=\"metrics\", charset=\"UTF-8\"") {
      return ::testing::AssertionFailure() << res->get_header_value("WWW-Authenticate");
    }
    if (res->body.find("jobs_total") != std::string::npos) {
      return ::testing::AssertionFailure() << "metrics leaked";
    }
    return ::testing::AssertionSuccess();
  };
  EXPECT_TRUE(refused(client_for(exposer)));
  auto wrong_password = client_for(exposer);
  wrong_password.set_basic_auth("prometheus", "s3cret:with:colon");
  EXPECT_TRUE(refused(std::move(wrong_password)));
  auto wrong_user = client_for(exposer);
  wrong_user.set_basic_auth("Prometheus", "s3cret:with:colons");
  EXPECT_TRUE(refused(std::move(wrong_user)));
  auto bearer = client_for(exposer);
  bearer.set_bearer_token_auth("s3cret:with:colons");
  EXPECT_TRUE(refused(std::move(bearer)));
  EXPECT_TRUE(refused(client_for(exposer), "/elsewhere"));  // no path is revealed either

  auto right = client_for(exposer);
  right.set_basic_auth("prometheus", "s3cret:with:colons");
  auto res = right.Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_NE(res->body.find("jobs_total{queue=\"a\"} 3"), std::string::npos);
  EXPECT_EQ(self_value(exposer, "pytheus_http_scrapes_total",
                       {{"path", "/metrics"}, {"format", "prometheus"}, {"status", "401"}}),
            4);
}

TEST_F(HttpExposerTest, ScrapesBeyondTheLimitGet503WithRetryAfter) {
  auto blocking = std::make_shared<BlockingCollector>();
  registry_.register_collector(blocking);
  ExposerOptions options = no_process();
  options.max_concurrent_scrapes = 2;
  Exposer exposer("127.0.0.1", 0, options);
  exposer.add("/metrics", registry_);
  exposer.start();

  std::vector<int> statuses(2, 0);
  std::vector<std::thread> held;
  for (int i = 0; i < 2; ++i) {
    held.emplace_back([&, i] {
      auto res = get(exposer, "/metrics");
      statuses[i] = res ? res->status : -1;
    });
  }
  ASSERT_TRUE(blocking->wait_inside(2));
  auto over = get(exposer, "/metrics");
  blocking->release();
  for (auto& t : held) t.join();
  ASSERT_TRUE(over);
  EXPECT_EQ(over->status, 503);
  EXPECT_EQ(over->get_header_value("Retry-After"), "1");
  EXPECT_NE(over->body.find("too many concurrent scrapes (limit 2)"), std::string::npos);
  EXPECT_EQ(statuses, (std::vector<int>{200, 200}));
  EXPECT_EQ(self_value(exposer, "pytheus_http_scrape_errors_total",
                       {{"path", "/metrics"}, {"reason", "limit"}}),
            1);
  auto after = get(exposer, "/metrics");  // the slots are free again
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 200);
}

TEST_F(HttpExposerTest, ManyThreadsScrapeWhileValuesChange) {
  ExposerOptions options;  // with the process collector
  options.max_concurrent_scrapes = 8;
  Exposer exposer("127.0.0.1", 0, options);
  exposer.add("/metrics", registry_);
  exposer.start();
  constexpr int kThreads = 8, kScrapes = 15;
  std::atomic<bool> done{false};
  std::thread writer([&] {
    while (!done) jobs_.labels({{"queue", "b"}}).inc();
  });
  std::atomic<int> ok{0};
  std::vector<std::thread> scrapers;
  for (int t = 0; t < kThreads; ++t) {
    scrapers.emplace_back([&, t] {
      auto c = client_for(exposer);
      c.set_keep_alive(t % 2 == 0);  // half reuse one connection
      for (int i = 0; i < kScrapes; ++i) {
        httplib::Headers h;
        if (i % 2) h.emplace("Accept-Encoding", "gzip");
        if (i % 3 == 0) h.emplace("Accept", kPrometheusAccept);
        auto res = c.Get("/metrics", h);
        if (!res || res->status != 200) continue;
        const std::string body = i % 2 ? gunzip(res->body) : res->body;
        if (body.find("jobs_total{queue=\"a\"} 3") != std::string::npos &&
            body.find("process_open_fds") != std::string::npos && body.back() == '\n') {
          ++ok;
        }
      }
    });
  }
  for (auto& t : scrapers) t.join();
  done = true;
  writer.join();
  EXPECT_EQ(ok, kThreads * kScrapes);
  double total = 0;
  for (const char* format : {"prometheus", "openmetrics"}) {
    total += self_value(exposer, "pytheus_http_scrapes_total",
                        {{"path", "/metrics"}, {"format", format}, {"status", "200"}});
  }
  EXPECT_EQ(total, kThreads * kScrapes);
}

TEST_F(HttpExposerTest, StopRefusesConnectionsAndStartServesAgain) {
  Exposer exposer("127.0.0.1", 0, no_process());
  exposer.add("/metrics", registry_);
  exposer.start();
  const auto port = exposer.port();
  exposer.stop();
  EXPECT_FALSE(exposer.running());
  EXPECT_EQ(exposer.port(), port);
  exposer.stop();  // twice is fine
  httplib::Client c("127.0.0.1", port);
  auto res = c.Get("/metrics");
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error(), httplib::Error::Connection);

  exposer.start();
  auto again = get(exposer, "/metrics");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200);
}

TEST_F(HttpExposerTest, StopClosesIdleKeepAliveConnectionsAtOnce) {
  ExposerOptions options = no_process();
  options.keep_alive_timeout = std::chrono::seconds(30);
  Exposer exposer("127.0.0.1", 0, options);
  exposer.add("/metrics", registry_);
  exposer.start();
  auto c = client_for(exposer);
  c.set_keep_alive(true);
  auto res = c.Get("/metrics");
  ASSERT_TRUE(res);
  const auto before = std::chrono::steady_clock::now();
  exposer.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::seconds(3));
}

TEST_F(HttpExposerTest, DestructorStops) {
  std::uint16_t port = 0;
  {
    Exposer exposer("127.0.0.1", 0, no_process());
    exposer.start();
    port = exposer.port();
  }
  httplib::Client c("127.0.0.1", port);
  EXPECT_FALSE(c.Get("/metrics"));
}

TEST_F(HttpExposerTest, ServesSeveralRegistriesOnTheirPaths) {
  auto other = std::make_shared<CollectorRegistry>("svc");
  Gauge depth("queue_depth", "Depth.", {}, {}, other.get());
  depth.set(5);
  Exposer exposer("127.0.0.1", 0, no_process());
  exposer.add("/metrics", registry_);
  exposer.start();
  exposer.add("/svc/metrics", other);  // while serving

  auto a = get(exposer, "/metrics");
  auto b = get(exposer, "/svc/metrics");
  ASSERT_TRUE(a);
  ASSERT_TRUE(b);
  EXPECT_NE(a->body.find("jobs_total"), std::string::npos);
  EXPECT_EQ(a->body.find("queue_depth"), std::string::npos);
  EXPECT_NE(b->body.find("\nsvc_queue_depth 5\n"), std::string::npos) << b->body;
  // The exposer's own metrics follow, without the registry's prefix.
  EXPECT_NE(b->body.find("\npytheus_http_scrapes_total{path=\"/metrics\""), std::string::npos)
      << b->body;

  EXPECT_THROW(exposer.add("/svc/metrics", registry_), Error);
  EXPECT_THROW(exposer.add("metrics", registry_), Error);
  EXPECT_TRUE(exposer.remove("/svc/metrics"));
  EXPECT_FALSE(exposer.remove("/svc/metrics"));
  auto gone = get(exposer, "/svc/metrics");
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->status, 404);
}

TEST_F(HttpExposerTest, ProcessMetricsAreOnByDefaultAndCanBeTurnedOff) {
  Exposer with("127.0.0.1", 0);
  with.add("/metrics", registry_);
  with.start();
  auto res = get(with, "/metrics");
  ASSERT_TRUE(res);
  for (const char* name : {"\nprocess_cpu_seconds_total ", "\nprocess_resident_memory_bytes ",
                           "\nprocess_virtual_memory_bytes ", "\nprocess_open_fds ",
                           "\nprocess_max_fds ", "\nprocess_start_time_seconds "}) {
    EXPECT_NE(res->body.find(name), std::string::npos) << name;
  }

  Exposer without("127.0.0.1", 0, no_process());
  without.add("/metrics", registry_);
  without.start();
  res = get(without, "/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->body.find("process_"), std::string::npos);

  // Serving a registry that has its own process collector as well is a conflict the scrape
  // reports, by name.
  registry_.register_collector(std::make_shared<ProcessCollector>());
  res = get(with, "/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  EXPECT_NE(res->body.find("process_cpu_seconds_total"), std::string::npos) << res->body;
}
