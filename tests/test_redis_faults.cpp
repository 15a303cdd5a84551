// Fault injection against a real redis-server while threads keep updating metrics: Redis
// paused longer than the command timeout (CLIENT PAUSE, DEBUG SLEEP), killed and restarted,
// restarted empty, flushed (FLUSHALL) mid-run, out of client slots (maxclients), and a worker
// process killed with SIGKILL in the middle of its flush transaction. For each: no exception
// reaches the application, every operation returns within the command timeout (plus a
// generous margin for a shared machine), the self-metrics count the failures, and the totals
// afterwards are what the design promises (docs/reliability.md lists the figures).
#include <signal.h>
#include <sys/mman.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <thread>

#include "redis_test_helpers.hpp"

using namespace pytheus;
using pytheus_test::flush_within;
using pytheus_test::RawRedis;
using pytheus_test::RedisReply;
using pytheus_test::RedisServer;
using pytheus_test::sample_value;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kTimeoutMs = 200;
// Allowed beyond the command timeout for one operation: the machines are shared and noisy.
constexpr double kMarginMs = 1000;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

void sleep_ms(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

// The metrics the threads update: each step is four operations, one per metric.
struct Load {
  CollectorRegistry reg;
  Counter jobs{"jobs_total", "Jobs.", {}, {}, &reg};
  Counter requests{"requests_total", "Requests.", {"code"}, {}, &reg};
  Gauge level{"level", "Level.", {}, {}, &reg};
  Histogram latency{"latency_seconds", "Latency.", {}, {}, &reg, Buckets{0.25, 0.5, 1}};

  // The four totals (jobs, requests, level, observations) as a scrape reads them.
  static std::array<double, 4> totals(const std::vector<MetricFamily>& f) {
    return {sample_value(f, "jobs_total", ""),
            sample_value(f, "requests_total", "", {{"code", "200"}}) +
                sample_value(f, "requests_total", "", {{"code", "500"}}),
            sample_value(f, "level", ""), sample_value(f, "latency_seconds", "_count")};
  }
};

// The same totals read straight from Redis with `raw` (missing keys and fields read 0).
std::array<double, 4> raw_totals(RawRedis& raw) {
  auto num = [](const std::string& s) { return s.empty() ? 0.0 : std::stod(s); };
  double requests = 0;
  for (const auto& [field, value] : raw.hash("requests_total")) requests += num(value);
  return {num(raw.str({"GET", "jobs_total"})), requests, num(raw.str({"GET", "level"})),
          num(raw.str({"GET", "latency_seconds:count"}))};
}

// Threads doing steps of Load until stopped, timing every operation.
class Driver {
 public:
  Driver(Load& load, int threads) : load_(load), results_(static_cast<std::size_t>(threads)) {
    for (int t = 0; t < threads; ++t) {
      threads_.emplace_back([this, t] { run(results_[static_cast<std::size_t>(t)]); });
    }
  }
  ~Driver() { stop(); }

  // Stops the threads; returns the steps done in all, the worst latency and the exceptions.
  struct Result {
    long steps = 0;
    double max_ms = 0;
    long exceptions = 0;
  };
  Result stop() {
    stop_.store(true);
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
    Result r;
    for (const Result& x : results_) {
      r.steps += x.steps;
      r.max_ms = std::max(r.max_ms, x.max_ms);
      r.exceptions += x.exceptions;
    }
    return r;
  }

 private:
  void run(Result& r) {
    const std::function<void(long)> ops[4] = {
        [&](long) { load_.jobs.inc(); },
        [&](long i) {
          load_.requests.labels({{"code", i % 2 ? "200" : "500"}}).inc();
        },
        [&](long) { load_.level.inc(); },
        [&](long i) { load_.latency.observe(double(i % 6) * 0.25); },
    };
    for (long i = 0; !stop_.load(); ++i) {
      for (const auto& op : ops) {
        const auto t0 = Clock::now();
        try {
          op(i);
        } catch (const std::exception& e) {
          if (r.exceptions++ == 0) std::fprintf(stderr, "exception: %s\n", e.what());
        }
        r.max_ms = std::max(r.max_ms, ms_since(t0));
      }
      ++r.steps;
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }

  Load& load_;
  std::vector<Result> results_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
};

void print(const char* test, const std::string& mode, const Driver::Result& r, double errors,
           double dropped, const std::array<double, 4>& expected,
           const std::array<double, 4>& got) {
  std::printf(
      "[figures] %s/%s: steps %ld (ops %ld), max op latency %.1f ms (timeout %d ms), "
      "exceptions %ld, errors counted %.0f, dropped %.0f, expected totals %.0f %.0f %.0f %.0f, "
      "observed %.0f %.0f %.0f %.0f\n",
      test, mode.c_str(), r.steps, 4 * r.steps, r.max_ms, kTimeoutMs, r.exceptions, errors, dropped,
      expected[0], expected[1], expected[2], expected[3], got[0], got[1], got[2], got[3]);
}

// What a fault test reads once its load has stopped: the totals, what the backend counted
// since `before`, and the expected totals (the operations done minus what was `lost`).
struct Outcome {
  std::vector<MetricFamily> families;
  std::array<double, 4> got;
  std::array<double, 4> expected;
  double errors;
  double dropped;
  double n;
};

// Delivers what is pending (within 10 s), reads the outcome, prints its figures, and checks
// what every fault test asserts: no exception reached the load, every operation returned
// within the timeout (plus a margin), histograms are whole.
Outcome settle(const char* test, const std::string& mode, Load& load,
               const RedisBackendStats& before, const Driver::Result& r,
               const std::array<double, 4>& lost = {}) {
  EXPECT_TRUE(flush_within(10)) << "deltas left undelivered";
  const auto after = MultiProcessRedisBackend::stats();
  Outcome o;
  o.families = collect(load.reg);
  o.got = Load::totals(o.families);
  o.errors = double(after.errors - before.errors);
  o.dropped = double(after.dropped - before.dropped);
  o.n = double(r.steps);
  for (int i = 0; i < 4; ++i) o.expected[i] = o.n - lost[i];
  print(test, mode, r, o.errors, o.dropped, o.expected, o.got);
  EXPECT_EQ(r.exceptions, 0);
  EXPECT_LE(r.max_ms, kTimeoutMs + kMarginMs);
  EXPECT_EQ(pytheus_test::histogram_problem(o.families), "");
  return o;
}

class RedisFaults : public pytheus_test::RedisTest,
                    public ::testing::WithParamInterface<std::string> {
 protected:
  nlohmann::json cfg() const {
    nlohmann::json c = pytheus_test::mode_config(GetParam());
    c["command_timeout_ms"] = kTimeoutMs;
    c["connect_timeout_ms"] = kTimeoutMs;
    return c;
  }
  bool write_behind() const { return GetParam() == "write_behind"; }
};

std::string param_name(const ::testing::TestParamInfo<std::string>& info) {
  return info.param;
}

// A fault that makes Redis stop answering for `pause_ms` (> the timeout), then answer again;
// the commands a timed-out client sent meanwhile are or are not applied afterwards.
void pause_test(const char* test, RedisServer& server, const std::string& mode,
                const std::function<void(RawRedis&)>& pause, bool ambiguous_applied) {
  Load load;
  load.jobs.inc(0);
  const auto before = MultiProcessRedisBackend::stats();
  Driver::Result r;
  double scrape_ms = 0;
  bool scrape_failed = false;
  {
    Driver driver(load, 2);
    sleep_ms(300);
    RawRedis admin(server.port());
    pause(admin);
    sleep_ms(300);  // well into the pause: a scrape now must fail within its timeouts
    const auto t0 = Clock::now();
    try {
      collect(load.reg);
    } catch (const CollectError&) {
      scrape_failed = true;
    }
    scrape_ms = ms_since(t0);
    sleep_ms(1500);  // past the pause
    r = driver.stop();
  }
  const Outcome out = settle(test, mode, load, before, r);
  const auto& got = out.got;
  const double n = out.n, dropped = out.dropped;
  std::printf("[figures]   a scrape during the pause failed after %.1f ms\n", scrape_ms);
  EXPECT_TRUE(scrape_failed) << "a scrape during the pause answered";
  EXPECT_LE(scrape_ms, 4 * kTimeoutMs + kMarginMs);
  EXPECT_GT(out.errors, 0);
  const double sum = got[0] + got[1] + got[2] + got[3];
  if (mode == "write_behind") {
    // Deltas stay local until a flush is known to have been applied: exact.
    EXPECT_EQ(dropped, 0);
    for (double v : got) EXPECT_EQ(v, n);
  } else if (!ambiguous_applied) {
    // An operation whose reply timed out is dropped and counted; Redis never ran it.
    for (double v : got) EXPECT_LE(v, n);
    EXPECT_EQ(sum, 4 * n - dropped);
  } else {
    // Redis ran the timed-out operations when it woke up: each is in the totals or not.
    for (double v : got) EXPECT_LE(v, n);
    EXPECT_GE(sum, 4 * n - dropped);
  }
}

}  // namespace

// CLIENT PAUSE ALL: the server keeps its connections but runs nobody's commands; a client
// that gives up and disconnects has its queued commands discarded.
TEST_P(RedisFaults, PausedLongerThanTimeout) {
  RedisServer server;
  load(server, cfg());
  pause_test(
      "PausedLongerThanTimeout", server, GetParam(),
      [](RawRedis& admin) {
        admin.run({"CLIENT", "PAUSE", "1000", "ALL"});
      },
      false);
}

// DEBUG SLEEP: the whole server sleeps; what clients sent meanwhile is still in its socket
// buffers when it wakes, and it runs it, even from clients that have gone.
TEST_P(RedisFaults, DebugSleepLongerThanTimeout) {
  RedisServer::Options o;
  o.extra_args = {"--enable-debug-command", "yes"};
  RedisServer server(o);
  load(server, cfg());
  std::thread sleeper;
  pause_test(
      "DebugSleepLongerThanTimeout", server, GetParam(),
      [&](RawRedis&) {
        const int port = server.port();
        sleeper = std::thread([port] {
          RawRedis admin(port);
          admin.run({"DEBUG", "SLEEP", "1"});
        });
      },
      true);
  sleeper.join();
}

// SIGKILL, then a restart on the same port 500 ms later. appendfsync always: the server keeps
// every write it acknowledged.
TEST_P(RedisFaults, KilledAndRestarted) {
  RedisServer::Options o;
  o.aof = true;
  RedisServer server(o);
  load(server, cfg());
  Load load;
  load.jobs.inc(0);
  const auto before = MultiProcessRedisBackend::stats();
  Driver::Result r;
  {
    Driver driver(load, 2);
    sleep_ms(300);
    server.kill();
    sleep_ms(500);
    server.restart();
    sleep_ms(500);
    r = driver.stop();
  }
  const Outcome out = settle("KilledAndRestarted", GetParam(), load, before, r);
  const auto& got = out.got;
  const double n = out.n, dropped = out.dropped;
  EXPECT_GT(out.errors, 0);
  if (write_behind()) {
    EXPECT_EQ(dropped, 0);
    for (double v : got) EXPECT_EQ(v, n);
  } else {
    // An operation sent as the server died may or may not be in the append-only file.
    const double sum = got[0] + got[1] + got[2] + got[3];
    for (double v : got) EXPECT_LE(v, n);
    EXPECT_GE(sum, 4 * n - dropped);
  }
}

// Killed and restarted without persistence: Redis comes back empty. Just before the kill,
// writes are paused (CLIENT PAUSE WRITE) and the totals Redis holds are read: those are lost
// by definition; everything else (undelivered deltas, later operations) must arrive exactly.
TEST_P(RedisFaults, RestartedEmpty) {
  RedisServer server;
  load(server, cfg());
  Load load;
  load.jobs.inc(0);
  const auto before = MultiProcessRedisBackend::stats();
  Driver::Result r;
  std::array<double, 4> lost{};
  {
    Driver driver(load, 2);
    sleep_ms(300);
    {
      RawRedis admin(server.port());
      admin.run({"CLIENT", "PAUSE", "10000", "WRITE"});
      sleep_ms(300);  // a write in flight times out rather than landing after the read
      lost = raw_totals(admin);
    }
    server.kill();
    sleep_ms(200);
    server.restart();
    sleep_ms(500);
    r = driver.stop();
  }
  const Outcome out = settle("RestartedEmpty", GetParam(), load, before, r, lost);
  const auto& got = out.got;
  const auto& expected = out.expected;
  const double dropped = out.dropped;
  EXPECT_GT(out.errors, 0);
  EXPECT_GT(lost[0], 0) << "nothing had reached Redis before the restart";
  if (write_behind()) {
    EXPECT_EQ(dropped, 0);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(got[i], expected[i]) << "metric " << i;
  } else {
    // Operations paused in flight timed out, were dropped and counted, and died with the
    // server; all others arrived.
    const double sum = got[0] + got[1] + got[2] + got[3];
    for (int i = 0; i < 4; ++i) EXPECT_LE(got[i], expected[i]) << "metric " << i;
    EXPECT_EQ(sum, expected[0] + expected[1] + expected[2] + expected[3] - dropped);
  }
}

// FLUSHALL mid-run, in one transaction with a read of the totals it deletes. Nothing fails:
// no error, no drop, every scrape answers and is consistent, and the totals afterwards are
// exactly the operations minus what the FLUSHALL deleted.
TEST_P(RedisFaults, FlushAllMidRun) {
  RedisServer server;
  load(server, cfg());
  Load load;
  load.jobs.inc(0);
  const auto before = MultiProcessRedisBackend::stats();
  Driver::Result r;
  std::array<double, 4> lost{};
  std::atomic<bool> stop_scrapes{false};
  int scrapes = 0, failed = 0, inconsistent = 0;
  {
    Driver driver(load, 2);
    std::thread scraper([&] {
      while (!stop_scrapes.load()) {
        try {
          if (!pytheus_test::histogram_problem(collect(load.reg)).empty()) ++inconsistent;
        } catch (const std::exception& e) {
          if (failed++ == 0) std::fprintf(stderr, "scrape failed: %s\n", e.what());
        }
        ++scrapes;
        sleep_ms(5);
      }
    });
    sleep_ms(400);
    {
      RawRedis admin(server.port());
      admin.run({"MULTI"});
      for (const char* key : {"jobs_total", "level", "latency_seconds:count"}) {
        admin.run({"GET", key});
      }
      admin.run({"HGETALL", "requests_total"});
      admin.run({"FLUSHALL"});
      RedisReply exec = admin.run({"EXEC"});
      ASSERT_EQ(exec->type, REDIS_REPLY_ARRAY);
      auto num = [](const redisReply* e) {
        return e->str ? std::stod(std::string(e->str, e->len)) : 0.0;
      };
      lost[0] = num(exec->element[0]);
      lost[2] = num(exec->element[1]);
      lost[3] = num(exec->element[2]);
      const redisReply* h = exec->element[3];
      for (std::size_t i = 1; i < h->elements; i += 2) lost[1] += num(h->element[i]);
    }
    sleep_ms(400);
    r = driver.stop();
    stop_scrapes.store(true);
    scraper.join();
  }
  const Outcome out = settle("FlushAllMidRun", GetParam(), load, before, r, lost);
  std::printf("[figures]   scrapes %d, failed %d, inconsistent %d\n", scrapes, failed,
              inconsistent);
  EXPECT_GT(lost[0], 0);
  EXPECT_EQ(out.errors, 0);
  EXPECT_EQ(out.dropped, 0);
  EXPECT_GT(scrapes, 0);
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(inconsistent, 0);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(out.got[i], out.expected[i]) << "metric " << i;
}

// Every client slot taken (maxclients): the backend's connections are closed, and its new
// ones are refused with "max number of clients reached" until slots are freed.
TEST_P(RedisFaults, MaxClientsReached) {
  RedisServer::Options o;
  o.extra_args = {"--maxclients", "8"};
  RedisServer server(o);
  load(server, cfg());
  Load load;
  load.jobs.inc(0);
  ASSERT_TRUE(MultiProcessRedisBackend::flush());
  collect(load.reg);
  const auto before = MultiProcessRedisBackend::stats();
  RawRedis admin(server.port());
  admin.run({"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"});  // the backend's
  std::vector<redisContext*> fillers;
  std::string refusal;
  for (int i = 0; i < 32 && refusal.empty(); ++i) {
    timeval tv{2, 0};
    redisContext* c = redisConnectWithTimeout("127.0.0.1", server.port(), tv);
    ASSERT_TRUE(c != nullptr && c->err == 0);
    redisSetTimeout(c, tv);
    auto* reply = static_cast<redisReply*>(redisCommand(c, "PING"));
    if (reply == nullptr || reply->type == REDIS_REPLY_ERROR) {
      refusal = reply ? reply->str : "connection closed";
      redisFree(c);
    } else {
      fillers.push_back(c);
    }
    if (reply) freeReplyObject(reply);
  }
  ASSERT_FALSE(refusal.empty());
  std::string scrape_error;
  Driver::Result r;
  {
    Driver driver(load, 2);
    sleep_ms(500);
    try {
      collect(load.reg);
    } catch (const CollectError& e) {
      scrape_error = e.what();
    }
    sleep_ms(300);
    for (redisContext* c : fillers) redisFree(c);
    sleep_ms(700);
    r = driver.stop();
  }
  const Outcome out = settle("MaxClientsReached", GetParam(), load, before, r);
  std::printf("[figures]   filler refused with \"%s\"; scrape error: %s\n", refusal.c_str(),
              scrape_error.c_str());
  EXPECT_NE(refusal.find("max number of clients"), std::string::npos) << refusal;
  EXPECT_NE(scrape_error.find("max number of clients"), std::string::npos) << scrape_error;
  EXPECT_GT(out.errors, 0);
  // Refused connections never carried an operation: nothing is ambiguous, in either mode.
  EXPECT_EQ(out.dropped, 0);
  for (double v : out.got) EXPECT_EQ(v, out.n);
}

INSTANTIATE_TEST_SUITE_P(Modes, RedisFaults, ::testing::Values("write_through", "write_behind"),
                         param_name);

// A write-behind worker is killed (SIGKILL) while its flush transaction is in flight. Each
// round a worker makes one observation on each of kParts histogram series and one increment
// of a per-worker and a shared counter, then flushes them as one MULTI/EXEC; shared memory
// tells the parent which round was being flushed when it killed the worker. Afterwards every
// worker's series show either all or none of that round, never a part, the shared counter
// agrees with them, and every histogram is whole (+Inf == count, buckets non-decreasing).
class RedisFaultsProcess : public pytheus_test::RedisTest {};

TEST_F(RedisFaultsProcess, WorkerKilledMidFlush) {
  RedisServer server;
  const nlohmann::json config = server.config({{"flush_interval_ms", 600000}});
  load_backend("MultiProcessRedisBackend", config);
#ifdef PYTHEUS_TEST_SANITIZED
  constexpr int kParts = 100;
#else
  constexpr int kParts = 300;
#endif
  constexpr int kWorkers = 4;
  constexpr int kParentOps = 1000;
  struct Shared {
    std::atomic<long> delivered;  // rounds whose flush returned
    std::atomic<int> in_flush;
  };
  auto* shared =
      static_cast<Shared*>(mmap(nullptr, sizeof(Shared) * kWorkers, PROT_READ | PROT_WRITE,
                                MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(shared, MAP_FAILED);
  for (int w = 0; w < kWorkers; ++w) new (&shared[w]) Shared{{0}, {0}};
  CollectorRegistry reg;
  Counter all_jobs("all_jobs_total", "Jobs of every process.", {}, {}, &reg);
  Counter jobs("jobs_total", "Jobs.", {"worker"}, {}, &reg);
  Histogram work("work_seconds", "Work.", {"worker", "part"}, {}, &reg);
  for (int i = 0; i < kParentOps; ++i) all_jobs.inc();
  ASSERT_TRUE(MultiProcessRedisBackend::flush());
  int killed_in_flush = 0;
  for (int w = 0; w < kWorkers; ++w) {
    const std::string name = std::to_string(w);
    pid_t child = pytheus_test::fork_child([&] {
      const auto deadline = Clock::now() + std::chrono::seconds(60);
      for (long round = 0; Clock::now() < deadline; ++round) {
        for (int p = 0; p < kParts; ++p) {
          work.labels({{"worker", name}, {"part", std::to_string(p)}}).observe(p % 7 * 0.1);
          jobs.labels({{"worker", name}}).inc();
          all_jobs.inc();
        }
        shared[w].in_flush.store(1);
        if (!MultiProcessRedisBackend::flush()) return 1;
        shared[w].delivered.store(round + 1);
        shared[w].in_flush.store(0);
      }
      return 0;
    });
    // Kill it in its third flush or later, a little later for each worker.
    while (shared[w].delivered.load() < 2 || shared[w].in_flush.load() == 0) {
      std::this_thread::yield();
    }
    if (w > 0) std::this_thread::sleep_for(std::chrono::microseconds(1500 * w));
    killed_in_flush += shared[w].in_flush.load();
    kill(child, SIGKILL);
    EXPECT_EQ(pytheus_test::wait_child(child), 128 + SIGKILL);
  }
  const auto f = collect(reg);
  double expected_all = kParentOps;
  int applied = 0;
  for (int w = 0; w < kWorkers; ++w) {
    const std::string name = std::to_string(w);
    const long d = shared[w].delivered.load();
    const double v = sample_value(f, "jobs_total", "", {{"worker", name}});
    // The round in flight is in Redis entirely or not at all.
    EXPECT_TRUE(v == double(d) * kParts || v == double(d + 1) * kParts)
        << "worker " << w << ": " << v << " with " << d << " rounds delivered";
    const double rounds = v / kParts;
    applied += rounds > double(d);
    for (int p = 0; p < kParts; ++p) {
      const double count = sample_value(f, "work_seconds", "_count",
                                        {{"worker", name}, {"part", std::to_string(p)}});
      if (count != rounds) {
        ADD_FAILURE() << "worker " << w << " part " << p << ": count " << count << ", expected "
                      << rounds;
        break;
      }
    }
    expected_all += v;
  }
  EXPECT_EQ(sample_value(f, "all_jobs_total", ""), expected_all);
  EXPECT_EQ(pytheus_test::histogram_problem(f), "");
  std::printf(
      "[figures] WorkerKilledMidFlush: %d workers x %d series per round, %d killed during "
      "flush(), last round applied in %d, discarded in %d; totals as bound\n",
      kWorkers, kParts, killed_in_flush, applied, kWorkers - applied);
  munmap(shared, sizeof(Shared) * kWorkers);
}

// flush() and a scrape against a hung server (SIGSTOP) each cost one command timeout, not one
// on the open connection and a second on a new one (issue 11, edge 6). The bound is counted
// in timeouts: under 1.8 of them, where the old behaviour took two.
class RedisHungServer : public pytheus_test::RedisTest,
                        public ::testing::WithParamInterface<std::string> {};

TEST_P(RedisHungServer, FlushAndScrapeTakeOneTimeout) {
  constexpr int kTimeout = 1000;
  RedisServer server;
  nlohmann::json c = server.config(pytheus_test::mode_config(GetParam()));
  c["command_timeout_ms"] = kTimeout;
  c["connect_timeout_ms"] = kTimeout;
  c["flush_interval_ms"] = 600000;
  load(server, c);
  CollectorRegistry reg;
  Counter jobs("hung_jobs_total", "Jobs.", {}, {}, &reg);
  jobs.inc();
  ASSERT_TRUE(MultiProcessRedisBackend::flush());
  (void)generate_metrics(reg);  // the control connection is open and in use
  server.pause();
  if (GetParam() == "write_behind") {
    jobs.inc();
    const auto t0 = Clock::now();
    EXPECT_FALSE(MultiProcessRedisBackend::flush());
    const double took = ms_since(t0);
    std::printf("[figures] flush against a hung server: %.0f ms (timeout %d ms)\n", took, kTimeout);
    EXPECT_LT(took, 1.8 * kTimeout);
    server.resume();
    ASSERT_TRUE(flush_within(10));
    (void)generate_metrics(reg);
    server.pause();
  }
  const auto t1 = Clock::now();
  EXPECT_THROW(generate_metrics(reg), CollectError);
  const double took = ms_since(t1);
  std::printf("[figures] scrape against a hung server: %.0f ms (timeout %d ms)\n", took, kTimeout);
  EXPECT_LT(took, 1.8 * kTimeout);
  server.resume();
}

INSTANTIATE_TEST_SUITE_P(Modes, RedisHungServer, ::testing::Values("write_through", "write_behind"),
                         param_name);
