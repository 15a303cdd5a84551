// The scrape handler alone: requests in, responses out, no sockets. What a service relies on
// when it mounts the handler in its own server.
#include <zlib.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gzip.hpp"
#include "pytheus/http/scrape_handler.hpp"
#include "pytheus/testutil.hpp"
#include "test_helpers.hpp"

using namespace pytheus;
using pytheus::http::BasicAuth;
using pytheus::http::ScrapeHandler;
using pytheus::http::ScrapeHandlerOptions;
using pytheus::http::ScrapeRequest;
using pytheus::http::ScrapeResponse;

namespace {

constexpr const char* kText = "text/plain; version=0.0.4; charset=utf-8";
constexpr const char* kOpenMetrics = "application/openmetrics-text; version=1.0.0; charset=utf-8";

std::string header(const ScrapeResponse& r, std::string_view name) {
  return std::string(http::find_header(r.headers, name).value_or("<absent>"));
}

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

ScrapeHandlerOptions no_process() {
  ScrapeHandlerOptions o;
  o.process_collector = false;
  return o;
}

ScrapeRequest get(std::string path, http::Headers headers = {}) {
  return {"GET", std::move(path), std::move(headers)};
}

struct FailingCollector : Collector {
  std::string message;
  explicit FailingCollector(std::string m) : message(std::move(m)) {}
  std::vector<MetricFamily> collect() const override { throw std::runtime_error(message); }
};

// Holds each scrape until released.
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
    return {};
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

}  // namespace

class ScrapeHandlerTest : public pytheus_test::CoreTest {
 protected:
  CollectorRegistry registry_;
  Counter jobs_{"jobs_total", "Jobs done.", {"queue"}, {}, &registry_};
  void SetUp() override {
    CoreTest::SetUp();
    jobs_.labels({{"queue", "a"}}).inc(3);
  }
  double self_value(ScrapeHandler& h, const std::string& name, const Labels& labels) {
    return testutil::get_sample_value(h.self_registry(), name, labels).value_or(0);
  }
};

TEST_F(ScrapeHandlerTest, HeaderLookupIgnoresCase) {
  const http::Headers headers = {{"accept", "a"}, {"ACCEPT", "b"}, {"X-Other", "c"}};
  EXPECT_EQ(http::find_header(headers, "Accept"), "a");
  EXPECT_EQ(http::find_header(headers, "x-other"), "c");
  EXPECT_FALSE(http::find_header(headers, "Authorization"));
}

TEST_F(ScrapeHandlerTest, NegotiatesTheFormatFromAccept) {
  ScrapeHandler h(no_process());
  h.add("/metrics", registry_);
  ScrapeResponse text = h.handle(get("/metrics"));
  EXPECT_EQ(text.status, 200);
  EXPECT_EQ(header(text, "Content-Type"), kText);
  EXPECT_NE(text.body.find("jobs_total{queue=\"a\"} 3\n"), std::string::npos) << text.body;
  EXPECT_EQ(text.body.find("# EOF"), std::string::npos);

  ScrapeResponse om = h.handle(
      get("/metrics", {{"accept", "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"}}));
  EXPECT_EQ(om.status, 200);
  EXPECT_EQ(header(om, "Content-Type"), kOpenMetrics);
  EXPECT_NE(om.body.find("# EOF\n"), std::string::npos);

  ScrapeResponse preferred = h.handle(
      get("/metrics", {{"Accept", "application/openmetrics-text;q=0.2,text/plain;q=0.9"}}));
  EXPECT_EQ(header(preferred, "Content-Type"), kText);
  EXPECT_EQ(self_value(h, "pytheus_http_scrapes_total",
                       {{"path", "/metrics"}, {"format", "openmetrics"}, {"status", "200"}}),
            1);
  EXPECT_EQ(self_value(h, "pytheus_http_scrapes_total",
                       {{"path", "/metrics"}, {"format", "prometheus"}, {"status", "200"}}),
            2);
}

TEST_F(ScrapeHandlerTest, GzipsOnlyWhenAcceptEncodingAllowsIt) {
  ScrapeHandler h(no_process());
  h.add("/metrics", registry_);
  for (const char* accept : {"gzip", "deflate, GZIP;q=0.5", "*", "x-gzip"}) {
    ScrapeResponse r = h.handle(get("/metrics", {{"Accept-Encoding", accept}}));
    EXPECT_EQ(header(r, "Content-Encoding"), "gzip") << accept;
    EXPECT_EQ(header(r, "Vary"), "Accept, Accept-Encoding");
    EXPECT_NE(gunzip(r.body).find("jobs_total{queue=\"a\"} 3\n"), std::string::npos);
  }
  for (const char* accept : {"identity", "gzip;q=0", "*;q=0", "br", "gzip;q=0, *"}) {
    ScrapeResponse r = h.handle(get("/metrics", {{"Accept-Encoding", accept}}));
    EXPECT_EQ(header(r, "Content-Encoding"), "<absent>") << accept;
    EXPECT_NE(r.body.find("jobs_total"), std::string::npos) << accept;
  }
  ScrapeHandlerOptions off = no_process();
  off.gzip = false;
  ScrapeHandler plain(off);
  plain.add("/metrics", registry_);
  ScrapeResponse r = plain.handle(get("/metrics", {{"Accept-Encoding", "gzip"}}));
  EXPECT_EQ(header(r, "Content-Encoding"), "<absent>");
  EXPECT_EQ(header(r, "Vary"), "Accept");
}

TEST_F(ScrapeHandlerTest, GzipHelpersRoundTrip) {
  const std::string text(100000, 'a');
  auto gz = http::gzip::compress(text);
  ASSERT_TRUE(gz);
  EXPECT_LT(gz->size(), 1000u);
  EXPECT_EQ(gunzip(*gz), text);
  EXPECT_EQ(gunzip(*http::gzip::compress("")), "");
}

TEST_F(ScrapeHandlerTest, BasicAuthGuardsEveryPath) {
  ScrapeHandlerOptions o = no_process();
  o.basic_auth = BasicAuth{"prometheus", "s3cret", "svc"};
  ScrapeHandler h(o);
  h.add("/metrics", registry_);
  // "prometheus:s3cret", "prometheus:wrong", "prometheus" (no colon)
  const std::string right = "Basic cHJvbWV0aGV1czpzM2NyZXQ=";
  for (const std::string& auth :
       {std::string(), std::string("Basic cHJvbWV0aGV1czp3cm9uZw=="),
        std::string("Basic cHJvbWV0aGV1cw=="), std::string("Bearer cHJvbWV0aGV1czpzM2NyZXQ="),
        std::string("Basic !!!")}) {
    http::Headers headers;
    if (!auth.empty()) headers.emplace_back("Authorization", auth);
    for (const char* path : {"/metrics", "/elsewhere"}) {
      ScrapeResponse r = h.handle(get(path, headers));
      EXPECT_EQ(r.status, 401) << auth << " " << path;
      EXPECT_EQ(header(r, "WWW-Authenticate"), "Basic realm=\"svc\", charset=\"UTF-8\"");
      EXPECT_EQ(r.body.find("jobs_total"), std::string::npos);
    }
  }
  EXPECT_EQ(h.handle(get("/metrics", {{"authorization", right}})).status, 200);
  EXPECT_EQ(h.handle(get("/metrics", {{"Authorization", "basic  cHJvbWV0aGV1czpzM2NyZXQ"}})).status,
            200);
  EXPECT_EQ(h.handle(get("/elsewhere", {{"Authorization", right}})).status, 404);
  // 401s on a served path count; unserved paths are not counted at all.
  EXPECT_EQ(self_value(h, "pytheus_http_scrapes_total",
                       {{"path", "/metrics"}, {"format", "prometheus"}, {"status", "401"}}),
            5);
  EXPECT_FALSE(testutil::get_sample_value(
      h.self_registry(), "pytheus_http_scrapes_total",
      {{"path", "/elsewhere"}, {"format", "prometheus"}, {"status", "401"}}));
  BasicAuth colon{"a:b", "p"};
  ScrapeHandlerOptions bad = no_process();
  bad.basic_auth = colon;
  EXPECT_THROW(ScrapeHandler{bad}, Error);
}

TEST_F(ScrapeHandlerTest, UnknownPathIs404OtherMethodIs405HeadIsLikeGet) {
  ScrapeHandler h(no_process());
  h.add("/metrics", registry_);
  for (const char* path : {"/", "/metric", "/metrics/", "/other"}) {
    EXPECT_EQ(h.handle(get(path)).status, 404) << path;
  }
  for (const char* method : {"POST", "PUT", "DELETE", "get", "OPTIONS"}) {
    ScrapeResponse r = h.handle({method, "/metrics", {}});
    EXPECT_EQ(r.status, 405) << method;
    EXPECT_EQ(header(r, "Allow"), "GET, HEAD");
  }
  ScrapeResponse head = h.handle({"HEAD", "/metrics", {}});
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(header(head, "Content-Type"), kText);
  EXPECT_NE(head.body.find("jobs_total"), std::string::npos);  // its length is GET's

  EXPECT_TRUE(h.remove("/metrics"));
  EXPECT_FALSE(h.remove("/metrics"));
  EXPECT_EQ(h.handle(get("/metrics")).status, 404);
  EXPECT_THROW(h.add("metrics", registry_), Error);
  h.add("/metrics", registry_);
  EXPECT_THROW(h.add("/metrics", registry_), Error);
}

TEST_F(ScrapeHandlerTest, AFailedCollectIs503WithAShortReasonNeverAPartialBody) {
  ScrapeHandler h(no_process());
  h.add("/metrics", registry_);
  auto failing = std::make_shared<FailingCollector>("store down: connection refused\nmore");
  registry_.register_collector(failing);
  ScrapeResponse r = h.handle(get("/metrics", {{"Accept-Encoding", "gzip"}}));
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(header(r, "Content-Type"), "text/plain; charset=utf-8");
  EXPECT_EQ(header(r, "Content-Encoding"), "<absent>");
  EXPECT_EQ(r.body,
            "503 scrape failed: a collector failed during the scrape: store down: "
            "connection refused\n");
  registry_.unregister_collector(*failing);
  registry_.register_collector(std::make_shared<FailingCollector>(std::string(5000, 'x')));
  r = h.handle(get("/metrics"));
  EXPECT_EQ(r.status, 503);
  EXPECT_LT(r.body.size(), 300u);
  EXPECT_EQ(self_value(h, "pytheus_http_scrape_errors_total",
                       {{"path", "/metrics"}, {"reason", "collect"}}),
            2);
  EXPECT_EQ(self_value(h, "pytheus_http_scrapes_total",
                       {{"path", "/metrics"}, {"format", "prometheus"}, {"status", "503"}}),
            2);
}

TEST_F(ScrapeHandlerTest, ScrapesBeyondTheLimitGet503WithRetryAfter) {
  ScrapeHandlerOptions o = no_process();
  o.max_concurrent_scrapes = 1;
  ScrapeHandler h(o);
  auto blocking = std::make_shared<BlockingCollector>();
  registry_.register_collector(blocking);
  h.add("/metrics", registry_);
  int first = 0;
  std::thread held([&] { first = h.handle(get("/metrics")).status; });
  ASSERT_TRUE(blocking->wait_inside(1));
  ScrapeResponse over = h.handle(get("/metrics"));
  blocking->release();
  held.join();
  EXPECT_EQ(first, 200);
  EXPECT_EQ(over.status, 503);
  EXPECT_EQ(header(over, "Retry-After"), "1");
  EXPECT_NE(over.body.find("too many concurrent scrapes (limit 1)"), std::string::npos);
  EXPECT_EQ(self_value(h, "pytheus_http_scrape_errors_total",
                       {{"path", "/metrics"}, {"reason", "limit"}}),
            1);
  EXPECT_EQ(h.handle(get("/metrics")).status, 200);  // the slot is free again
}

TEST_F(ScrapeHandlerTest, SelfMetricsAndProcessMetricsFollowEveryPath) {
  ScrapeHandler h;  // with the process collector
  h.add("/metrics", registry_);
  h.handle(get("/metrics"));
  ScrapeResponse r = h.handle(get("/metrics"));
  EXPECT_NE(r.body.find("pytheus_http_scrapes_total{path=\"/metrics\",format=\"prometheus\","
                        "status=\"200\"} 1\n"),
            std::string::npos)
      << r.body;
  EXPECT_NE(r.body.find("\nprocess_cpu_seconds_total "), std::string::npos);
  EXPECT_THROW(ScrapeHandler(ScrapeHandlerOptions{std::nullopt, 0, true, true}), Error);
}

TEST_F(ScrapeHandlerTest, DefaultPathServesTheDefaultRegistry) {
  Counter global("handler_default_registry_total", "In the default registry.");
  global.inc(2);
  ScrapeHandler h(no_process());
  EXPECT_EQ(h.handle(get("/metrics")).status, 404);
  h.add_default_if_empty();
  ScrapeResponse r = h.handle(get("/metrics"));
  EXPECT_NE(r.body.find("handler_default_registry_total 2\n"), std::string::npos) << r.body;
  default_registry().unregister_collector(*default_registry().collectors().back());
}
