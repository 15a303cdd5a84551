// MultiProcessRedisBackend across processes: exact totals from forked workers, consistent
// histograms while another process observes, one series whatever the label order, fork
// safety, delivery at exit, and a Redis crash and restart in the middle of a load.
#include <fcntl.h>
#include <signal.h>

#include <chrono>
#include <cmath>
#include <thread>

#include "redis_test_helpers.hpp"

using namespace pytheus;
using pytheus_test::flush_within;
using pytheus_test::fork_child;
using pytheus_test::kHeavyIterations;
using pytheus_test::RawRedis;
using pytheus_test::RedisModeTest;
using pytheus_test::RedisServer;
using pytheus_test::RedisTest;
using pytheus_test::sample_value;
using pytheus_test::wait_child;
using Clock = std::chrono::steady_clock;

namespace {

// The metrics every worker of these tests instruments, in their own registry.
struct Workload {
  CollectorRegistry reg;
  Counter jobs{"jobs_total", "Jobs.", {}, {}, &reg};
  Counter requests{"requests_total", "Requests.", {"method", "code"}, {}, &reg};
  Histogram latency{"latency_seconds", "Latency.", {}, {}, &reg, Buckets{0.25, 0.5, 1}};

  // One unit of work; observations are multiples of 0.25, so every sum is exact.
  void step(int i) {
    jobs.inc();
    requests.labels({{"method", "GET"}, {"code", "200"}}).inc();
    latency.observe((i % 6) * 0.25);
  }
  static double sum_of(int n) {
    double s = 0;
    for (int i = 0; i < n; ++i) s += (i % 6) * 0.25;
    return s;
  }
  static double count_le(int n, double bound) {
    double c = 0;
    for (int i = 0; i < n; ++i) c += (i % 6) * 0.25 <= bound;
    return c;
  }
};

}  // namespace

TEST_P(RedisModeTest, FourProcessesCountExactly) {
  RedisServer server;
  constexpr int kWorkers = 4;
  const nlohmann::json config = server.config(pytheus_test::mode_config(GetParam()));
  std::vector<pid_t> children;
  for (int w = 0; w < kWorkers; ++w) {
    children.push_back(fork_child([&] {
      load_backend("MultiProcessRedisBackend", config);
      Workload work;
      for (int i = 0; i < kHeavyIterations; ++i) work.step(i);
      return MultiProcessRedisBackend::flush() ? 0 : 1;
    }));
  }
  for (pid_t c : children) EXPECT_EQ(wait_child(c), 0);
  load_backend("MultiProcessRedisBackend", config);
  Workload work;
  auto f = collect(work.reg);
  const double n = double(kWorkers) * kHeavyIterations;
  EXPECT_EQ(sample_value(f, "jobs_total", ""), n);
  EXPECT_EQ(sample_value(f, "requests_total", "", {{"method", "GET"}, {"code", "200"}}), n);
  EXPECT_EQ(sample_value(f, "latency_seconds", "_count"), n);
  EXPECT_EQ(sample_value(f, "latency_seconds", "_bucket", {{"le", "+Inf"}}), n);
  EXPECT_EQ(sample_value(f, "latency_seconds", "_bucket", {{"le", "0.25"}}),
            kWorkers * Workload::count_le(kHeavyIterations, 0.25));
  EXPECT_EQ(sample_value(f, "latency_seconds", "_bucket", {{"le", "1"}}),
            kWorkers * Workload::count_le(kHeavyIterations, 1));
  EXPECT_EQ(sample_value(f, "latency_seconds", "_sum"),
            kWorkers * Workload::sum_of(kHeavyIterations));
  EXPECT_EQ(pytheus_test::histogram_problem(f), "");
}

TEST_P(RedisModeTest, ScrapesStayConsistentWhileAnotherProcessObserves) {
  RedisServer server;
  nlohmann::json extra = pytheus_test::mode_config(GetParam());
  if (GetParam() == "write_behind") extra["flush_interval_ms"] = 1;
  const nlohmann::json config = server.config(extra);
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  pid_t child = fork_child([&] {
    load_backend("MultiProcessRedisBackend", config);
    Workload work;
    Histogram labelled("size_bytes", "Sizes.", {"route"}, {}, &work.reg, Buckets{1, 10, 100, 1000});
    char byte = 1;
    if (write(ready[1], &byte, 1) != 1) return 1;
    for (int i = 0;; ++i) {
      work.latency.observe((i % 7) * 0.2);
      labelled.labels({{"route", i % 2 ? "/a" : "/b"}}).observe(i % 2000);
    }
  });
  char byte;
  ASSERT_EQ(read(ready[0], &byte, 1), 1);
  load_backend("MultiProcessRedisBackend", config);
  Workload work;
  Histogram labelled("size_bytes", "Sizes.", {"route"}, {}, &work.reg, Buckets{1, 10, 100, 1000});
  double first = -1, last = 0;
  int problems = 0;
  for (int i = 0; i < 1000; ++i) {
    auto f = collect(work.reg);
    std::string p = pytheus_test::histogram_problem(f);
    if (!p.empty() && problems++ < 5) ADD_FAILURE() << "scrape " << i << ": " << p;
    last = sample_value(f, "latency_seconds", "_count");
    if (first < 0) first = last;
  }
  kill(child, SIGKILL);
  wait_child(child);
  EXPECT_EQ(problems, 0);
  EXPECT_GT(last, first) << "the observing process made no progress during the scrapes";
}

TEST_F(RedisTest, SameLabelsInAnotherOrderAreOneSeries) {
  RedisServer server;
  const nlohmann::json config = server.config({{"write_mode", "write_through"}});
  pid_t a = fork_child([&] {
    load_backend("MultiProcessRedisBackend", config);
    CollectorRegistry reg;
    Counter c("req_total", "Requests.", {"method", "code"}, {}, &reg);
    c.labels({{"method", "GET"}, {"code", "200"}}).inc();
    return 0;
  });
  EXPECT_EQ(wait_child(a), 0);
  pid_t b = fork_child([&] {
    load_backend("MultiProcessRedisBackend", config);
    CollectorRegistry reg;
    Counter c("req_total", "Requests.", {"code", "method"}, {}, &reg);  // declared the other way
    c.labels({{"code", "200"}, {"method", "GET"}}).inc(2);
    return 0;
  });
  EXPECT_EQ(wait_child(b), 0);
  RawRedis raw(server.port());
  EXPECT_EQ(raw.hash("req_total"),
            (std::map<std::string, std::string>{{R"({"code": "200", "method": "GET"})", "3"}}));
  load_backend("MultiProcessRedisBackend", config);
  CollectorRegistry reg;
  Counter c("req_total", "Requests.", {"method", "code"}, {}, &reg);
  auto f = collect(reg);
  EXPECT_EQ(pytheus_test::sample_count(f, "req_total", ""), 1u);
  EXPECT_EQ(sample_value(f, "req_total", "", {{"method", "GET"}, {"code", "200"}}), 3);
}

TEST_P(RedisModeTest, ForkAfterLoadCountsNothingTwice) {
  RedisServer server;
  nlohmann::json extra = pytheus_test::mode_config(GetParam());
  extra["flush_interval_ms"] = 60000;  // the parent's deltas are still pending at the fork
  load(server, extra);
  Workload work;
  for (int i = 0; i < 5; ++i) work.step(1);
  if (GetParam() == "write_behind") {
    EXPECT_GE(MultiProcessRedisBackend::stats().pending_series, 3u);
  }
  pid_t child = fork_child([&] {
    for (int i = 0; i < 10; ++i) work.step(1);
    if (!MultiProcessRedisBackend::flush()) return 1;
    return 0;
  });
  EXPECT_EQ(wait_child(child), 0);
  for (int i = 0; i < 2; ++i) work.step(1);  // the parent's connection still works
  ASSERT_TRUE(MultiProcessRedisBackend::flush());
  auto f = collect(work.reg);
  EXPECT_EQ(sample_value(f, "jobs_total", ""), 17);
  EXPECT_EQ(sample_value(f, "requests_total", "", {{"method", "GET"}, {"code", "200"}}), 17);
  EXPECT_EQ(sample_value(f, "latency_seconds", "_count"), 17);
  EXPECT_EQ(sample_value(f, "latency_seconds", "_sum"), 17 * 0.25);
}

TEST_F(RedisTest, ForkedChildGetsItsOwnFlusher) {
  RedisServer server;
  load(server, {{"flush_interval_ms", 20}});
  Workload work;
  work.step(0);
  ASSERT_TRUE(MultiProcessRedisBackend::flush());
  const int port = server.port();
  pid_t child = fork_child([&] {
    work.jobs.inc(41);  // never flushed by hand
    RawRedis raw(port);
    for (int i = 0; i < 250; ++i) {
      if (raw.str({"GET", "jobs_total"}) == "42") return 0;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return 1;
  });
  EXPECT_EQ(wait_child(child), 0);
}

TEST_F(RedisTest, WriteBehindDeltasArriveWhenAProcessExits) {
  RedisServer server;
  const nlohmann::json config = server.config({{"flush_interval_ms", 60000}});
  pid_t child = fork_child([&] {
    load_backend("MultiProcessRedisBackend", config);
    static Workload work;  // lives on: exit() runs the flush, then static destructors
    for (int i = 0; i < 7; ++i) work.step(i);
    std::exit(MultiProcessRedisBackend::stats().pending_series >= 3 ? 0 : 1);
    return 1;
  });
  EXPECT_EQ(wait_child(child), 0);
  RawRedis raw(server.port());
  EXPECT_EQ(raw.str({"GET", "jobs_total"}), "7");
  EXPECT_EQ(raw.str({"GET", "latency_seconds:count"}), "7");
}

// Redis is killed (SIGKILL) during the load and restarted on the same port. Its data must
// survive its own restart, so this server runs with appendonly + appendfsync always.
TEST_P(RedisModeTest, OutageDuringLoad) {
  RedisServer::Options o;
  o.aof = true;
  RedisServer server(o);
  nlohmann::json extra = pytheus_test::mode_config(GetParam());
  extra["command_timeout_ms"] = 200;
  extra["connect_timeout_ms"] = 200;
  const nlohmann::json config = server.config(extra);
  constexpr int kWorkers = 2;
  constexpr int kOps = 4000;
  struct Report {
    double max_latency_ms;
    unsigned long long dropped;
    int exceptions;
  };
  int pipes[kWorkers][2];
  std::vector<pid_t> children;
  for (int w = 0; w < kWorkers; ++w) {
    ASSERT_EQ(pipe(pipes[w]), 0);
    children.push_back(fork_child([&, w] {
      load_backend("MultiProcessRedisBackend", config);
      Workload work;
      Report r{0, 0, 0};
      const auto start = Clock::now();
      for (int i = 0; i < kOps; ++i) {
        const auto t0 = Clock::now();
        try {
          work.step(i);
        } catch (const std::exception&) {
          ++r.exceptions;
        }
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        r.max_latency_ms = std::max(r.max_latency_ms, ms);
        // Spread the load over about 1.5 s, across the outage.
        const auto due = start + std::chrono::microseconds(1500000LL * (i + 1) / kOps);
        if (due > Clock::now()) std::this_thread::sleep_until(due);
      }
      if (!flush_within(20)) return 1;
      r.dropped = MultiProcessRedisBackend::stats().dropped;
      return write(pipes[w][1], &r, sizeof r) == sizeof r ? 0 : 1;
    }));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  server.kill();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  server.restart();
  unsigned long long dropped = 0;
  for (int w = 0; w < kWorkers; ++w) {
    EXPECT_EQ(wait_child(children[w]), 0);
    Report r{};
    ASSERT_EQ(read(pipes[w][0], &r, sizeof r), ssize_t(sizeof r));
    EXPECT_EQ(r.exceptions, 0);
    EXPECT_LT(r.max_latency_ms, 1000) << "one call blocked too long";
    dropped += r.dropped;
  }
  load_backend("MultiProcessRedisBackend", config);
  Workload work;
  auto f = collect(work.reg);
  const double n = kWorkers * kOps;
  const double jobs = sample_value(f, "jobs_total", "");
  const double count = sample_value(f, "latency_seconds", "_count");
  EXPECT_EQ(pytheus_test::histogram_problem(f), "");
  if (GetParam() == "write_behind") {
    EXPECT_EQ(dropped, 0u);
    EXPECT_EQ(jobs, n);
    EXPECT_EQ(count, n);
    EXPECT_EQ(sample_value(f, "latency_seconds", "_sum"), kWorkers * Workload::sum_of(kOps));
  } else {
    // Write-through loses only the operations in flight when the connection broke (at most
    // one per process and metric), and counts them.
    EXPECT_LE(jobs + count, 2 * n);
    EXPECT_GE(jobs + count + double(dropped), 2 * n);
    EXPECT_LE(dropped, 3u * kWorkers);
  }
}
