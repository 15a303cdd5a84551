// The exposer on the Redis backend: a scrape serves the user's registry and the exposer's own,
// and collect() asks the backend once per registry; only the registry with metrics on Redis
// may cost a round trip. Round trips are counted by Redis itself (INFO commandstats).
#include <httplib.h>

#include <map>
#include <memory>
#include <string>

#include "child_process.hpp"
#include "pytheus/backends/atomic.hpp"
#include "pytheus/http/exposer.hpp"
#include "pytheus/process_collector.hpp"
#include "redis_test_helpers.hpp"

using namespace pytheus;
using pytheus_test::RawRedis;
using pytheus_test::RedisModeTest;
using pytheus_test::RedisServer;

namespace {

// Calls per command name, from INFO commandstats ("cmdstat_get:calls=3,usec=...").
std::map<std::string, long long> command_calls(RawRedis& raw) {
  const std::string info = raw.str({"INFO", "commandstats"});
  std::map<std::string, long long> calls;
  std::size_t at = 0;
  while ((at = info.find("cmdstat_", at)) != std::string::npos) {
    const std::size_t colon = info.find(':', at);
    const std::size_t value = info.find("calls=", colon) + 6;
    calls[info.substr(at + 8, colon - at - 8)] = std::stoll(info.substr(value));
    at = colon;
  }
  return calls;
}

// What was called between two command_calls(), without the INFO calls that measured it.
std::map<std::string, long long> delta(const std::map<std::string, long long>& before,
                                       const std::map<std::string, long long>& after) {
  std::map<std::string, long long> d;
  for (const auto& [name, n] : after) {
    auto it = before.find(name);
    const long long diff = n - (it == before.end() ? 0 : it->second);
    if (diff != 0 && name != "info") d[name] = diff;
  }
  return d;
}

std::string describe(const std::map<std::string, long long>& calls) {
  std::string s;
  for (const auto& [name, n] : calls) s += name + "=" + std::to_string(n) + " ";
  return s.empty() ? "(none)" : s;
}

// GET `path` on the exposer; returns the body, or "" on failure.
std::string scrape(http::Exposer& exposer, const std::string& path) {
  httplib::Client client(exposer.bind_address(), exposer.port());
  client.set_read_timeout(std::chrono::seconds(10));
  auto res = client.Get(path.c_str());
  return res && res->status == 200 ? res->body : "";
}

}  // namespace

// A scrape of the default registry on Redis is one MULTI/EXEC transaction: the exposer's own
// registry (scrape counters, process metrics: nothing on Redis) costs nothing, and nothing
// else is sent.
TEST_P(RedisModeTest, ExposerScrapeIsOneRoundTrip) {
  RedisServer server;
  load(server, pytheus_test::mode_config(GetParam()));
  CollectorRegistry registry;
  Counter jobs("rt_jobs_total", "Jobs.", {}, {}, &registry);
  Counter requests("rt_requests_total", "Requests.", {"code"}, {}, &registry);
  Histogram latency("rt_seconds", "Latency.", {}, {}, &registry, Buckets{0.1, 1});
  jobs.inc(2);
  requests.labels({{"code", "200"}}).inc();
  latency.observe(0.5);
  ASSERT_TRUE(MultiProcessRedisBackend::flush());

  http::Exposer exposer("127.0.0.1", 0);
  exposer.add("/metrics", registry);
  exposer.start();
  RawRedis raw(server.port());
  for (int round = 0; round < 3; ++round) {
    const auto before = command_calls(raw);
    const std::string body = scrape(exposer, "/metrics");
    const auto calls = delta(before, command_calls(raw));
    EXPECT_NE(body.find("\nrt_jobs_total 2\n"), std::string::npos) << body;
    EXPECT_NE(body.find("\nrt_seconds_count 1\n"), std::string::npos) << body;
    EXPECT_NE(body.find("\n# TYPE pytheus_http_scrapes_total counter\n"), std::string::npos)
        << body;
    EXPECT_EQ(calls.count("multi") ? calls.at("multi") : 0, 1) << describe(calls);
    EXPECT_EQ(calls.count("exec") ? calls.at("exec") : 0, 1) << describe(calls);
    for (const auto& [name, n] : calls) {
      EXPECT_TRUE(name == "multi" || name == "exec" || name == "get" || name == "hgetall" ||
                  name == "expire")
          << "unexpected command " << name << ": " << describe(calls);
    }
  }
}

// A registry with nothing on the loaded backend costs no round trip at all.
TEST_P(RedisModeTest, RegistryWithoutRedisMetricsCostsNoRoundTrip) {
  RedisServer server;
  load(server, pytheus_test::mode_config(GetParam()));
  auto local = std::make_shared<CollectorRegistry>();
  BasicCounter<AtomicBackend> in_memory("rt_local_total", "Local.", {}, {}, local.get());
  in_memory.inc();
  local->register_collector(std::make_shared<ProcessCollector>());

  http::ExposerOptions options;
  options.process_collector = false;  // the registry has its own
  http::Exposer exposer("127.0.0.1", 0, options);
  exposer.add("/local", local);
  exposer.start();
  RawRedis raw(server.port());
  const auto before = command_calls(raw);
  const std::string body = scrape(exposer, "/local");
  const auto calls = delta(before, command_calls(raw));
  EXPECT_NE(body.find("\nrt_local_total 1\n"), std::string::npos) << body;
  EXPECT_TRUE(calls.empty()) << describe(calls);
}

// Redis down: a scrape is a 503 with a short reason naming the server, never stale numbers;
// the application keeps counting meanwhile, and once Redis is back the scrape is a 200 again
// (write-behind: with everything counted during the outage).
TEST_P(RedisModeTest, ScrapeWhileRedisIsDownIs503ThenRecovers) {
  RedisServer::Options o;
  o.aof = true;  // what was written before the kill survives the restart
  RedisServer server(o);
  auto config = pytheus_test::mode_config(GetParam());
  config["command_timeout_ms"] = 200;
  config["connect_timeout_ms"] = 200;
  load(server, config);
  CollectorRegistry registry;
  Counter jobs("down_jobs_total", "Jobs.", {}, {}, &registry);
  jobs.inc();
  ASSERT_TRUE(MultiProcessRedisBackend::flush());
  http::Exposer exposer("127.0.0.1", 0);
  exposer.add("/metrics", registry);
  exposer.start();
  httplib::Client client(exposer.bind_address(), exposer.port());
  client.set_read_timeout(std::chrono::seconds(10));
  auto res = client.Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);

  const auto before = MultiProcessRedisBackend::stats();
  server.kill();
  jobs.inc(2);  // never throws, whatever the mode
  res = client.Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503) << res->body;
  EXPECT_NE(res->body.find("127.0.0.1:" + std::to_string(server.port())), std::string::npos)
      << res->body;
  EXPECT_EQ(res->body.find("down_jobs_total"), std::string::npos) << "stale numbers served";
  EXPECT_LT(res->body.size(), 300u);

  server.restart();
  // The increment made while Redis was down is delivered after the restart, unless it was in
  // flight as the server died (write-through only): then it was dropped, and counted.
  const auto dropped = MultiProcessRedisBackend::stats().dropped - before.dropped;
  if (GetParam() == "write_behind") {
    EXPECT_EQ(dropped, 0u);
  }
  const std::string expected = dropped == 0 ? "3" : "1";
  std::string body;
  EXPECT_TRUE(pytheus_test::wait_until(
      [&] {
        auto r = client.Get("/metrics");
        body = r ? r->body : "";
        return r && r->status == 200 &&
               body.find("\ndown_jobs_total " + expected + "\n") != std::string::npos;
      },
      std::chrono::seconds(10)))
      << body;
  EXPECT_NE(body.find("pytheus_http_scrape_errors_total{path=\"/metrics\",reason=\"collect\"} "),
            std::string::npos)
      << body;
}

INSTANTIATE_TEST_SUITE_P(Modes, RedisModeTest, ::testing::Values("write_through", "write_behind"));
