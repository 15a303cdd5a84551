// MultiProcessRedisBackend in one process against a real redis-server: configuration and
// connection errors, the exact key layout pytheus shares, reads of foreign fields, expiry,
// custom collectors, threads and scrapes during an outage.
#include <atomic>
#include <cmath>
#include <thread>

#include "redis_test_helpers.hpp"

using namespace pytheus;
using pytheus_test::RawRedis;
using pytheus_test::RedisModeTest;
using pytheus_test::RedisServer;
using pytheus_test::RedisTest;
using pytheus_test::sample_value;

namespace {

std::string load_error(const nlohmann::json& config) {
  try {
    load_backend("MultiProcessRedisBackend", config);
  } catch (const BackendError& e) {
    return e.what();
  }
  return "(no error)";
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

// --- configuration and connection errors ----------------------------------------------

TEST_F(RedisTest, ConfigTypesAreCheckedAndNamed) {
  std::string e = load_error({{"port", "abc"}});
  EXPECT_TRUE(contains(e, "\"port\"") && contains(e, "\"abc\"")) << e;
  e = load_error({{"port", 70000}});
  EXPECT_TRUE(contains(e, "\"port\"") && contains(e, "70000")) << e;
  e = load_error({{"host", 5}});
  EXPECT_TRUE(contains(e, "\"host\"") && contains(e, "string")) << e;
  e = load_error({{"expire_key_time", -1}});
  EXPECT_TRUE(contains(e, "\"expire_key_time\"")) << e;
  e = load_error({{"flush_interval_ms", 1.5}});
  EXPECT_TRUE(contains(e, "\"flush_interval_ms\"") && contains(e, "1.5")) << e;
  e = load_error({{"write_mode", "sometimes"}});
  EXPECT_TRUE(contains(e, "\"write_mode\"") && contains(e, "sometimes") &&
              contains(e, "write_behind") && contains(e, "write_through"))
      << e;
  e = load_error({{"hots", "x"}, {"timeout", 1}});
  EXPECT_TRUE(contains(e, "unknown key") && contains(e, "\"hots\"") && contains(e, "\"timeout\""))
      << e;
  e = load_error({{"username", "u"}});
  EXPECT_TRUE(contains(e, "\"username\"") && contains(e, "password")) << e;
  e = load_error({{"unix_socket", "/tmp/x.sock"}, {"port", 1}});
  EXPECT_TRUE(contains(e, "unix_socket")) << e;
  // A password of the wrong type is reported without its value.
  e = load_error({{"password", 123456789}});
  EXPECT_TRUE(contains(e, "\"password\"") && !contains(e, "123456789")) << e;
  // Nothing was loaded by any of these.
  EXPECT_EQ(loaded_backend(), "SingleProcessBackend");
}

TEST_F(RedisTest, WrongPortNamesHostAndPort) {
  const int port = pytheus_test::free_port();
  std::string e = load_error({{"host", "127.0.0.1"}, {"port", port}, {"connect_timeout_ms", 500}});
  EXPECT_TRUE(contains(e, "127.0.0.1:" + std::to_string(port))) << e;
  EXPECT_TRUE(contains(e, "cannot connect")) << e;
  EXPECT_EQ(loaded_backend(), "SingleProcessBackend");
}

TEST_F(RedisTest, WrongPasswordSaysAuthenticationFailed) {
  RedisServer::Options o;
  o.password = "s3cret-pw";
  RedisServer server(o);
  nlohmann::json c = server.config();
  c["password"] = "wrong-pw-123";
  std::string e = load_error(c);
  EXPECT_TRUE(contains(e, "authentication failed")) << e;
  EXPECT_TRUE(contains(e, "127.0.0.1:" + std::to_string(server.port()))) << e;
  EXPECT_FALSE(contains(e, "wrong-pw-123")) << e;
  c.erase("password");
  e = load_error(c);
  EXPECT_TRUE(contains(e, "authentication required")) << e;
  // The right one works, and so does an ACL user.
  load(server);
  EXPECT_EQ(loaded_backend(), "MultiProcessRedisBackend");
  RawRedis raw(server.port(), "s3cret-pw");
  raw.run({"ACL", "SETUSER", "metrics", "on", ">user-pw", "~*", "+@all"});
  load_backend("MultiProcessRedisBackend",
               server.config({{"username", "metrics"}, {"password", "user-pw"}}));
  c = server.config({{"username", "metrics"}, {"password", "nope"}});
  e = load_error(c);
  EXPECT_TRUE(contains(e, "authentication failed")) << e;
}

TEST_F(RedisTest, UnixSocketAndDb) {
  RedisServer::Options o;
  o.unix_socket = true;
  RedisServer server(o);
  load_backend("MultiProcessRedisBackend", nlohmann::json{{"unix_socket", server.socket_path()},
                                                          {"db", 3},
                                                          {"write_mode", "write_through"}});
  CollectorRegistry reg;
  Counter c("jobs_total", "Jobs.", {}, {}, &reg);
  c.inc(2);
  RawRedis raw(server.port());
  raw.run({"SELECT", "3"});
  EXPECT_EQ(raw.str({"GET", "jobs_total"}), "2");
  std::string e = load_error({{"unix_socket", "/nonexistent/redis.sock"}});
  EXPECT_TRUE(contains(e, "/nonexistent/redis.sock")) << e;
}

TEST_F(RedisTest, RegisteredUnderBothNames) {
  RedisServer server;
  auto names = registered_backends();
  EXPECT_NE(std::find(names.begin(), names.end(), "MultiProcessRedisBackend"), names.end());
  EXPECT_NE(
      std::find(names.begin(), names.end(), "pytheus.backends.redis.MultiProcessRedisBackend"),
      names.end());
  load_backend("pytheus.backends.redis.MultiProcessRedisBackend", server.config());
  EXPECT_EQ(loaded_backend(), "MultiProcessRedisBackend");
  load_backend<MultiProcessRedisBackend>(server.config());
  EXPECT_EQ(loaded_backend(), "MultiProcessRedisBackend");
}

// --- key layout -------------------------------------------------------------------------

TEST_P(RedisModeTest, KeyLayoutIsExactlyPytheus) {
  RedisServer server;
  load(server, pytheus_test::mode_config(GetParam()));
  CollectorRegistry reg;
  Counter plain("hits_total", "Hits.", {}, {}, &reg);
  Counter labelled("requests_total", "Requests.", {"method", "code"}, {}, &reg);
  Gauge temp("temperature", "Temperature.", {"room"}, {}, &reg);
  Histogram lat("latency_seconds", "Latency.", {}, {}, &reg, {0.5, 1, 2.5});
  Summary size("payload_bytes", "Sizes.", {"route"}, {}, &reg);
  plain.inc(3);
  labelled.labels({{"method", "GET"}, {"code", "200"}}).inc();
  labelled.labels({{"code", "500"}, {"method", "GET"}}).inc(2.5);
  temp.labels({{"room", "caf\xc3\xa9 \xf0\x9f\x98\x80 \"q\" \\ \n\t\x01"}}).set(21.5);
  // Label values must be UTF-8 (two invalid values would otherwise share one hash field).
  EXPECT_THROW(temp.labels({{"room", "bad\xff"}}), LabelError);
  lat.observe(0.7);
  lat.observe(3);
  size.labels({{"route", "/"}}).observe(512);
  ASSERT_TRUE(MultiProcessRedisBackend::flush());

  RawRedis raw(server.port());
  std::vector<std::string> keys;
  for (const auto& k : raw.keys()) {
    if (k.rfind("pytheus_flush_seq:", 0) != 0) keys.push_back(k);
  }
  // pytheus's keys, plus NAME:created (the series' creation times, which pytheus ignores).
  EXPECT_EQ(keys,
            (std::vector<std::string>{
                "hits_total", "hits_total:created", "latency_seconds:+Inf", "latency_seconds:1",
                "latency_seconds:2.5", "latency_seconds:count", "latency_seconds:created",
                "latency_seconds:sum", "payload_bytes:count", "payload_bytes:created",
                "payload_bytes:sum", "requests_total", "requests_total:created", "temperature"}));
  EXPECT_EQ(raw.str({"TYPE", "hits_total:created"}), "string");
  EXPECT_EQ(raw.str({"TYPE", "requests_total:created"}), "hash");
  EXPECT_EQ(raw.hash("requests_total:created").count(R"({"code": "500", "method": "GET"})"), 1u);
  EXPECT_EQ(raw.hash("payload_bytes:created").count(R"({"route": "/"})"), 1u);
  EXPECT_GT(std::stod(raw.str({"GET", "hits_total:created"})), 1.6e9);
  EXPECT_EQ(raw.str({"TYPE", "hits_total"}), "string");
  EXPECT_EQ(raw.str({"GET", "hits_total"}), "3");
  using Hash = std::map<std::string, std::string>;
  EXPECT_EQ(raw.hash("requests_total"), (Hash{{R"({"code": "200", "method": "GET"})", "1"},
                                              {R"({"code": "500", "method": "GET"})", "2.5"}}));
  // json.dumps(..., ensure_ascii=True): \u00e9, a surrogate pair, escapes.
  EXPECT_EQ(raw.hash("temperature"),
            (Hash{{R"({"room": "caf\u00e9 \ud83d\ude00 \"q\" \\ \n\t\u0001"})", "21.5"}}));
  EXPECT_EQ(raw.str({"GET", "latency_seconds:0.5"}), "");  // untouched bucket: no key value
  EXPECT_EQ(raw.str({"GET", "latency_seconds:1"}), "1");
  EXPECT_EQ(raw.str({"GET", "latency_seconds:2.5"}), "1");
  EXPECT_EQ(raw.str({"GET", "latency_seconds:+Inf"}), "2");
  EXPECT_EQ(raw.str({"GET", "latency_seconds:count"}), "2");
  EXPECT_EQ(raw.str({"GET", "latency_seconds:sum"}), "3.7");
  EXPECT_EQ(raw.hash("payload_bytes:count"), (Hash{{R"({"route": "/"})", "1"}}));
  EXPECT_EQ(raw.hash("payload_bytes:sum"), (Hash{{R"({"route": "/"})", "512"}}));

  // And the scrape reads it all back.
  auto f = collect(reg);
  EXPECT_EQ(sample_value(f, "hits_total", ""), 3);
  EXPECT_EQ(sample_value(f, "requests_total", "", {{"method", "GET"}, {"code", "500"}}), 2.5);
  EXPECT_EQ(sample_value(f, "temperature", "",
                         {{"room", "caf\xc3\xa9 \xf0\x9f\x98\x80 \"q\" \\ \n\t\x01"}}),
            21.5);
  EXPECT_EQ(sample_value(f, "latency_seconds", "_bucket", {{"le", "0.5"}}), 0);
  EXPECT_EQ(sample_value(f, "latency_seconds", "_bucket", {{"le", "+Inf"}}), 2);
  EXPECT_EQ(sample_value(f, "latency_seconds", "_sum"), 3.7);
  EXPECT_EQ(sample_value(f, "payload_bytes", "_count", {{"route", "/"}}), 1);
  EXPECT_EQ(labelled.labels({{"method", "GET"}, {"code", "500"}}).get(), 2.5);
  EXPECT_EQ(lat.snapshot().count, 2);
  EXPECT_EQ(lat.snapshot().buckets, (std::vector<double>{0, 1, 1, 2}));
}

INSTANTIATE_TEST_SUITE_P(Modes, RedisModeTest, ::testing::Values("write_through", "write_behind"));

TEST_F(RedisTest, KeyPrefixOnWriteAndRead) {
  RedisServer server;
  load(server, {{"key_prefix", "svc"}, {"write_mode", "write_through"}});
  CollectorRegistry reg;
  Counter c("jobs_total", "Jobs.", {"queue"}, {}, &reg);
  Histogram h("wait_seconds", "Wait.", {}, {}, &reg, {1});
  c.labels({{"queue", "a"}}).inc(4);
  h.observe(0.5);
  RawRedis raw(server.port());
  EXPECT_EQ(raw.hash("svc-jobs_total"),
            (std::map<std::string, std::string>{{R"({"queue": "a"})", "4"}}));
  EXPECT_EQ(raw.str({"GET", "svc-wait_seconds:1"}), "1");
  EXPECT_EQ(raw.integer({"EXISTS", "jobs_total"}), 0);
  // Another process's series, under the prefix, is read; the unprefixed key is not.
  raw.run({"HSET", "svc-jobs_total", R"({"queue": "b"})", "7"});
  raw.run({"HSET", "jobs_total", R"({"queue": "c"})", "9"});
  auto f = collect(reg);
  EXPECT_EQ(sample_value(f, "jobs_total", "", {{"queue", "a"}}), 4);
  EXPECT_EQ(sample_value(f, "jobs_total", "", {{"queue", "b"}}), 7);
  EXPECT_TRUE(std::isnan(sample_value(f, "jobs_total", "", {{"queue", "c"}})));
  EXPECT_EQ(sample_value(f, "wait_seconds", "_count"), 1);
}

TEST_P(RedisModeTest, ExpirySetOnWriteAndRefreshedByScrape) {
  RedisServer server;
  nlohmann::json cfg = pytheus_test::mode_config(GetParam());
  cfg["expire_key_time"] = 100;
  load(server, cfg);
  CollectorRegistry reg;
  Counter c("jobs_total", "Jobs.", {"queue"}, {}, &reg);
  Histogram h("wait_seconds", "Wait.", {}, {}, &reg, {1});
  c.labels({{"queue", "a"}}).inc();
  h.observe(0.5);
  ASSERT_TRUE(MultiProcessRedisBackend::flush());
  RawRedis raw(server.port());
  for (const char* key : {"jobs_total", "wait_seconds:1", "wait_seconds:+Inf", "wait_seconds:count",
                          "wait_seconds:sum"}) {
    long long ttl = raw.integer({"TTL", key});
    EXPECT_GT(ttl, 90) << key;
    EXPECT_LE(ttl, 100) << key;
    raw.run({"EXPIRE", key, "5"});
  }
  collect(reg);
  for (const char* key : {"jobs_total", "wait_seconds:+Inf", "wait_seconds:sum"}) {
    EXPECT_GT(raw.integer({"TTL", key}), 90) << key;
  }
}

// --- reading what other processes (and languages) wrote ------------------------------------

TEST_F(RedisTest, ReadsFieldsWrittenByAnotherLanguage) {
  RedisServer server;
  load(server, {{"write_mode", "write_through"}});
  CollectorRegistry reg;
  Counter c("requests_total", "Requests.", {"method", "code"}, {}, &reg);
  Histogram h("latency_seconds", "Latency.", {"route"}, {}, &reg, {1, 2});
  c.labels({{"method", "GET"}, {"code", "200"}}).inc(1);
  RawRedis raw(server.port());
  // pytheus writes insertion order: the same label set in another key order, and compact JSON.
  raw.run({"HINCRBYFLOAT", "requests_total", R"({"method": "GET", "code": "200"})", "10"});
  raw.run({"HINCRBYFLOAT", "requests_total", R"({"code":"200","method":"GET"})", "100"});
  // Non-string label values, as str() would write them.
  raw.run({"HSET", "requests_total", R"({"method": "POST", "code": 404})", "2"});
  raw.run({"HSET", "requests_total", R"({"method": true, "code": 2.0})", "3"});
  raw.run({"HSET", "requests_total", R"({"method": null, "code": 1e-05})", "4"});
  // Garbage: skipped and counted, never fatal.
  raw.run({"HSET", "requests_total", "GET-200", "5"});
  raw.run({"HSET", "requests_total", R"({"method": "GET"})", "6"});
  raw.run({"HSET", "requests_total", R"({"method": "GET", "code": "200", "x": "1"})", "7"});
  raw.run({"HSET", "requests_total", R"({"method": ["GET"], "code": "1"})", "8"});
  raw.run({"HSET", "requests_total", R"({"method": "PUT", "code": "1"})", "not-a-number"});
  // A histogram series only another process has.
  for (const char* k : {"latency_seconds:2", "latency_seconds:+Inf", "latency_seconds:count"}) {
    raw.run({"HSET", k, R"({"route": "/x"})", "1"});
  }
  raw.run({"HSET", "latency_seconds:sum", R"({"route": "/x"})", "1.5"});

  const auto before = MultiProcessRedisBackend::stats().invalid_fields;
  auto f = collect(reg);
  EXPECT_EQ(sample_value(f, "requests_total", "", {{"method", "GET"}, {"code", "200"}}), 111);
  EXPECT_EQ(sample_value(f, "requests_total", "", {{"method", "POST"}, {"code", "404"}}), 2);
  EXPECT_EQ(sample_value(f, "requests_total", "", {{"method", "True"}, {"code", "2.0"}}), 3);
  EXPECT_EQ(sample_value(f, "requests_total", "", {{"method", "None"}, {"code", "1e-05"}}), 4);
  EXPECT_EQ(pytheus_test::sample_count(f, "requests_total", ""), 4u);
  EXPECT_EQ(MultiProcessRedisBackend::stats().invalid_fields - before, 5u);
  EXPECT_EQ(sample_value(f, "latency_seconds", "_bucket", {{"route", "/x"}, {"le", "1"}}), 0);
  EXPECT_EQ(sample_value(f, "latency_seconds", "_bucket", {{"route", "/x"}, {"le", "+Inf"}}), 1);
  EXPECT_EQ(sample_value(f, "latency_seconds", "_sum", {{"route", "/x"}}), 1.5);
  // The merged series is also what get() returns.
  EXPECT_EQ(c.labels({{"method", "GET"}, {"code", "200"}}).get(), 111);
  // The self-metrics are in the default registry's scrape.
  EXPECT_TRUE(contains(generate_metrics(), "pytheus_redis_invalid_fields_total"));
}

TEST_F(RedisTest, KeyOfTheWrongTypeIsNamed) {
  RedisServer server;
  load(server, {{"write_mode", "write_through"}});
  RawRedis raw(server.port());
  raw.run({"RPUSH", "jobs_total", "x"});
  CollectorRegistry reg;
  Counter c("jobs_total", "Jobs.", {}, {}, &reg);
  const auto errors = MultiProcessRedisBackend::stats().errors;
  EXPECT_NO_THROW(c.inc());  // refused by Redis: counted and logged, never thrown
  EXPECT_GT(MultiProcessRedisBackend::stats().errors, errors);
  try {
    collect(reg);
    FAIL() << "no error";
  } catch (const CollectError& e) {
    EXPECT_TRUE(contains(e.what(), "\"jobs_total\"") && contains(e.what(), "wrong type"))
        << e.what();
  }
}

TEST_F(RedisTest, CustomCollectorsKeepWorking) {
  RedisServer server;
  load(server);
  struct Queue : Collector {
    std::vector<MetricFamily> collect() const override {
      return {{"queue_length", "Jobs waiting.", MetricType::gauge, "", {{"", {}, 42}}}};
    }
  };
  CollectorRegistry reg;
  Counter c("jobs_total", "Jobs.", {}, {}, &reg);
  reg.register_collector(std::make_shared<Queue>());
  c.inc(5);
  const std::string text = generate_metrics(reg);
  EXPECT_TRUE(contains(text, "queue_length 42\n")) << text;
  EXPECT_TRUE(contains(text, "jobs_total 5\n")) << text;
}

TEST_P(RedisModeTest, GaugeSetThenDeltasKeepTheirOrder) {
  RedisServer server;
  load(server, pytheus_test::mode_config(GetParam()));
  CollectorRegistry reg;
  Gauge g("in_flight", "In flight.", {}, {}, &reg);
  g.inc(10);
  g.set(3);
  g.inc(2);
  g.dec(1);
  EXPECT_EQ(g.get(), 4);
  g.set(0);
  EXPECT_EQ(sample_value(collect(reg), "in_flight", ""), 0);
}

TEST_P(RedisModeTest, ManyThreadsCountExactly) {
  RedisServer server;
  load(server, pytheus_test::mode_config(GetParam()));
  CollectorRegistry reg;
  Counter c("jobs_total", "Jobs.", {"worker"}, {}, &reg);
  Histogram h("wait_seconds", "Wait.", {}, {}, &reg, {0.5, 1});
  Gauge g("level", "Level.", {}, {}, &reg);
  constexpr int kThreads = 8;
  const int n = GetParam() == "write_through" ? 500 : 5000;
  std::vector<std::thread> threads;
  std::atomic<int> scrapes_ok{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto mine = c.labels({{"worker", std::to_string(t % 2)}});
      for (int i = 0; i < n; ++i) {
        mine.inc();
        h.observe(i % 3 * 0.5);
        g.inc();
        if (t == 0 && i % 100 == 0 && pytheus_test::histogram_problem(collect(reg)).empty()) {
          ++scrapes_ok;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  auto f = collect(reg);
  EXPECT_EQ(sample_value(f, "jobs_total", "", {{"worker", "0"}}), kThreads / 2 * n);
  EXPECT_EQ(sample_value(f, "jobs_total", "", {{"worker", "1"}}), kThreads / 2 * n);
  EXPECT_EQ(sample_value(f, "wait_seconds", "_count"), kThreads * n);
  EXPECT_EQ(sample_value(f, "level", ""), kThreads * n);
  EXPECT_EQ(pytheus_test::histogram_problem(f), "");
  EXPECT_EQ(scrapes_ok.load(), n / 100);
}

// --- outages ------------------------------------------------------------------------------

TEST_P(RedisModeTest, ScrapeDuringOutageNamesTheServerAndUpdatesDoNotThrow) {
  RedisServer server;
  nlohmann::json cfg = pytheus_test::mode_config(GetParam());
  cfg["command_timeout_ms"] = 200;
  load(server, cfg);
  CollectorRegistry reg;
  Counter c("jobs_total", "Jobs.", {}, {}, &reg);
  c.inc();
  ASSERT_TRUE(MultiProcessRedisBackend::flush());
  server.kill();
  for (int i = 0; i < 1000; ++i) EXPECT_NO_THROW(c.inc());
  try {
    collect(reg);
    FAIL() << "no error";
  } catch (const CollectError& e) {
    EXPECT_TRUE(contains(e.what(), "127.0.0.1:" + std::to_string(server.port()))) << e.what();
    EXPECT_TRUE(contains(e.what(), "unreachable")) << e.what();
  }
  EXPECT_THROW(c.get(), CollectError);
  EXPECT_FALSE(MultiProcessRedisBackend::stats().connected);
  EXPECT_GT(MultiProcessRedisBackend::stats().errors, 0u);
  EXPECT_TRUE(contains(generate_metrics(), "pytheus_redis_up 0"));
}

TEST_F(RedisTest, WriteBehindDeliversAfterReconnect) {
  RedisServer::Options o;
  o.aof = true;  // the restarted server keeps what it had
  RedisServer server(o);
  load(server, {{"flush_interval_ms", 20}, {"command_timeout_ms", 200}});
  CollectorRegistry reg;
  Counter c("jobs_total", "Jobs.", {}, {}, &reg);
  c.inc(1);
  ASSERT_TRUE(MultiProcessRedisBackend::flush());
  server.kill();
  for (int i = 0; i < 100; ++i) c.inc();
  EXPECT_FALSE(MultiProcessRedisBackend::flush());
  EXPECT_GE(MultiProcessRedisBackend::stats().pending_series, 1u);
  server.restart();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!MultiProcessRedisBackend::flush() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(c.get(), 101);
  EXPECT_TRUE(MultiProcessRedisBackend::stats().connected);
}

TEST_P(RedisModeTest, RestartWhileIdleLosesNothingAndScrapesAtOnce) {
  RedisServer::Options o;
  o.aof = true;
  RedisServer server(o);
  load(server, pytheus_test::mode_config(GetParam()));
  CollectorRegistry reg;
  Counter c("jobs_total", "Jobs.", {}, {}, &reg);
  c.inc();
  ASSERT_TRUE(MultiProcessRedisBackend::flush());
  collect(reg);  // the scrape connection is open, too
  server.kill();
  server.restart();
  // Connections closed by the restart are noticed before use: nothing is sent into them.
  c.inc();
  EXPECT_EQ(sample_value(collect(reg), "jobs_total", ""), 2);
  EXPECT_EQ(MultiProcessRedisBackend::stats().dropped, 0u);
}

TEST_P(RedisModeTest, HungServerCostsAtMostOneTimeout) {
  RedisServer server;
  nlohmann::json cfg = pytheus_test::mode_config(GetParam());
  cfg["command_timeout_ms"] = 200;
  cfg["connect_timeout_ms"] = 200;
  load(server, cfg);
  CollectorRegistry reg;
  Counter c("jobs_total", "Jobs.", {}, {}, &reg);
  Histogram h("wait_seconds", "Wait.", {}, {}, &reg, {1});
  c.inc();
  h.observe(0.5);
  ASSERT_TRUE(MultiProcessRedisBackend::flush());
  server.pause();
  double worst_ms = 0, total_ms = 0;
  for (int i = 0; i < 200; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    c.inc();
    h.observe(0.5);
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    worst_ms = std::max(worst_ms, ms);
    total_ms += ms;
  }
  // At most the one call that found the server hung waits for the timeout; the rest return
  // at once.
  EXPECT_LT(worst_ms, 1000);
  EXPECT_LT(total_ms, 1500);
  EXPECT_THROW(collect(reg), CollectError);
  server.resume();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!MultiProcessRedisBackend::flush() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  auto f = collect(reg);
  const double dropped = double(MultiProcessRedisBackend::stats().dropped);
  // The update that timed out was sent; a resumed server applies it, though it was counted
  // as dropped (its fate was unknown).
  EXPECT_GE(sample_value(f, "jobs_total", "") + dropped, 201);
  EXPECT_LE(sample_value(f, "jobs_total", ""), 201);
  EXPECT_EQ(pytheus_test::histogram_problem(f), "");
}
