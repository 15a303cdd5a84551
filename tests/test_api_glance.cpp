// Compiles the "API at a glance" block of DESIGN.md exactly as written and checks what it
// produces.
#include <nlohmann/json.hpp>
#include <pytheus/pytheus.hpp>

#include "test_helpers.hpp"

namespace {

std::string g_text;
std::string g_svc_text;

void glance_block() {
  // name, description, required_labels = {}, default_labels = {}, registry = default
  pytheus::Counter requests("http_requests_total", "Requests served.", {"method", "code"});
  pytheus::Counter hits("cache_hits_total", "Cache hits.");
  pytheus::Gauge in_flight("in_flight_requests", "Requests being served.");
  pytheus::Histogram latency("request_seconds", "Latency.", {"route"}, {{"route", "/"}});
  pytheus::Summary sizes("payload_bytes", "Payload sizes.");

  requests.labels({{"method", "GET"}, {"code", "200"}}).inc();
  auto get = requests.labels({{"method", "GET"}});  // partial, cacheable
  get.labels({{"code", "500"}}).inc(2.5);
  hits.inc();
  in_flight.set(3);
  in_flight.inc();
  in_flight.dec();
  latency.observe(0.3);  // default label route="/"
  { auto timer = latency.time(); /* work */ }
  sizes.observe(512);

  std::string text = pytheus::generate_metrics();  // default registry, text 0.0.4
  pytheus::CollectorRegistry svc("svc");           // prefix "svc_"
  pytheus::Counter jobs("jobs_total", "Jobs.", {}, {}, &svc);
  std::string svc_text = pytheus::generate_metrics(svc);

  g_text = text;
  g_svc_text = svc_text;
  for (const auto& c : pytheus::default_registry().collectors()) {
    pytheus::default_registry().unregister_collector(*c);
  }
}

}  // namespace

class ApiGlanceTest : public pytheus_test::CoreTest {};

TEST_F(ApiGlanceTest, TheDesignBlockCompilesAndWorks) {
  auto previous = pytheus::default_registry().target();
  pytheus::set_registry(std::make_shared<pytheus::CollectorRegistry>());
  glance_block();
  pytheus::set_registry(previous);

  EXPECT_NE(g_text.find("http_requests_total{method=\"GET\",code=\"200\"} 1\n"), std::string::npos)
      << g_text;
  EXPECT_NE(g_text.find("http_requests_total{method=\"GET\",code=\"500\"} 2.5\n"),
            std::string::npos);
  EXPECT_NE(g_text.find("cache_hits_total 1\n"), std::string::npos);
  EXPECT_NE(g_text.find("in_flight_requests 3\n"), std::string::npos);
  EXPECT_NE(g_text.find("request_seconds_bucket{route=\"/\",le=\"0.5\"} 2\n"), std::string::npos);
  EXPECT_NE(g_text.find("request_seconds_count{route=\"/\"} 2\n"), std::string::npos);
  EXPECT_NE(g_text.find("payload_bytes_sum 512\n"), std::string::npos);
  EXPECT_EQ(g_svc_text,
            "# HELP svc_jobs_total Jobs.\n# TYPE svc_jobs_total counter\nsvc_jobs_total 0\n");
}

TEST_F(ApiGlanceTest, LoadBackendLinesCompile) {
  // The two load_backend lines of the block; the Redis one needs the redis component, so
  // here it must fail with an error naming the class, and the default one must work.
  try {
    pytheus::load_backend("MultiProcessRedisBackend",
                          nlohmann::json{{"host", "127.0.0.1"}, {"port", 6379}});
  } catch (const pytheus::BackendError& e) {
    EXPECT_NE(std::string(e.what()).find("MultiProcessRedisBackend"), std::string::npos);
  }
  pytheus::load_backend();  // explicit > env vars > default
  EXPECT_EQ(pytheus::loaded_backend(), "SingleProcessBackend");
}
