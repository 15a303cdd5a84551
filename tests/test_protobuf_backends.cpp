// The protobuf scrape on the multi-process backends: the same registry read through
// MultiProcessFileBackend's and MultiProcessRedisBackend's bulk reads, written as protobuf,
// parsed back and compared with the text scrape (every metric type), as in memory
// (test_protobuf.cpp).
#include <gtest/gtest.h>

#include <string>

#include "protobuf_test_helpers.hpp"
#include "pytheus/enum.hpp"
#include "pytheus/info.hpp"
#include "pytheus/protobuf.hpp"
#include "pytheus/pytheus.hpp"

#ifdef PYTHEUS_TEST_FILE
#include "file_test_helpers.hpp"
#endif
#ifdef PYTHEUS_TEST_REDIS
#include "redis_server.hpp"
#endif

namespace {

// Every metric type with values, scraped both ways.
void check_every_type_on_loaded_backend() {
  pytheus::protobuf::enable();
  pytheus::CollectorRegistry r;
  pytheus::Counter requests("requests_total", "Requests.", {"code"}, {}, &r);
  requests.labels({{"code", "200"}}).inc(41);
  requests.labels({{"code", "5\"00\n"}}).inc(2);
  pytheus::Gauge temperature("temperature_celsius", "Temperature.", {}, {}, &r);
  temperature.set(-12.25);
  pytheus::Histogram latency("latency_seconds", "Latency.", {"op"}, {}, &r, {0.1, 0.5, 2.5});
  for (double v : {0.05, 0.2, 0.3, 1.0, 9.0}) latency.labels({{"op", "read"}}).observe(v);
  latency.labels({{"op", "write"}}).observe(0.4);
  pytheus::Summary size("size_bytes", "Sizes.", {}, {}, &r);
  size.observe(100);
  size.observe(28);
  pytheus::Info build("build", "Build.", {"version"}, {}, &r);
  build.info({{"version", "1.2.3"}});
  pytheus::Enum state("task_state", "State.", {"idle", "busy"}, {}, {}, &r);
  state.state("busy");

  const std::vector<pytheus_test::pb::MetricFamily> families =
      pytheus_test::parse(pytheus::protobuf::generate_metrics(r));
  EXPECT_EQ(pytheus_test::to_text(families), pytheus::generate_metrics(r));
  ASSERT_EQ(families.size(), 6u);
  EXPECT_EQ(families[2].metric_size(), 2);  // the histogram's two series
  EXPECT_EQ(families[2].metric(0).histogram().sample_count(), 5u);
}

#ifdef PYTHEUS_TEST_FILE
class ProtobufFileBackend : public pytheus_test::FileBackendTest {};

TEST_F(ProtobufFileBackend, EveryTypeMatchesTheTextScrape) {
  check_every_type_on_loaded_backend();
}
#endif

#ifdef PYTHEUS_TEST_REDIS
TEST(ProtobufRedisBackend, EveryTypeMatchesTheTextScrape) {
  pytheus_test::RedisServer server;
  unsetenv(pytheus::kBackendClassEnv);
  unsetenv(pytheus::kBackendConfigEnv);
  pytheus::load_backend("MultiProcessRedisBackend",
                        server.config({{"write_mode", "write_through"}}));
  check_every_type_on_loaded_backend();
  pytheus::load_backend("SingleProcessBackend", pytheus::BackendConfig::object());
}
#endif

}  // namespace
