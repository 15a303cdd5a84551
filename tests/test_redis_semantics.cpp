// Multi-process semantics on Redis (issue 11): registries with prefixes never share storage,
// one refused update never takes the others of its flush down, gauge modes and process
// liveness.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <map>
#include <ostream>
#include <thread>

#include "redis_test_helpers.hpp"

using namespace pytheus;
using pytheus_test::RawRedis;
using pytheus_test::RedisModeTest;
using pytheus_test::RedisServer;
using pytheus_test::RedisTest;
using pytheus_test::sample_value;

// Edge 7: the same metric name in registries "svc_a" and "svc_b" is two metrics
// (svc_a_jobs_total, svc_b_jobs_total), stored under two keys.
TEST_P(RedisModeTest, RegistryPrefixesNeverShareAKey) {
  RedisServer server;
  load(server, pytheus_test::mode_config(GetParam()));
  CollectorRegistry a("svc_a"), b("svc_b");
  Counter ja("jobs_total", "Jobs.", {}, {}, &a);
  Counter jb("jobs_total", "Jobs.", {}, {}, &b);
  Gauge ga("level", "Level.", {"room"}, {}, &a);
  Gauge gb("level", "Level.", {"room"}, {}, &b);
  ja.inc(1);
  jb.inc(2);
  ga.labels({{"room", "x"}}).set(5);
  gb.labels({{"room", "x"}}).set(7);
  ASSERT_TRUE(MultiProcessRedisBackend::flush());
  RawRedis raw(server.port());
  EXPECT_EQ(raw.str({"GET", "svc_a_jobs_total"}), "1");
  EXPECT_EQ(raw.str({"GET", "svc_b_jobs_total"}), "2");
  EXPECT_EQ(raw.integer({"EXISTS", "jobs_total"}), 0);
  EXPECT_EQ(raw.hash("svc_a_level").at(R"({"room": "x"})"), "5");
  EXPECT_EQ(raw.hash("svc_b_level").at(R"({"room": "x"})"), "7");
  EXPECT_NE(generate_metrics(a).find("svc_a_jobs_total 1\n"), std::string::npos);
  EXPECT_NE(generate_metrics(b).find("svc_b_jobs_total 2\n"), std::string::npos);
  EXPECT_NE(generate_metrics(b).find("svc_b_level{room=\"x\"} 7\n"), std::string::npos);
}

// Edge 5: two Gauge::inc(1e308) overflow the window's delta to +Inf... Each inc is finite, so
// the API takes it; Redis refuses the one series. Every other series of the same flush is
// applied, and the refusal is counted and logged once.
TEST_F(RedisTest, OneRefusedDeltaNeverTakesTheOthersOfItsFlushDown) {
  RedisServer server;
  load(server, {{"write_mode", "write_behind"}, {"flush_interval_ms", 600000}});
  CollectorRegistry reg;
  Gauge big("big", "Big.", {}, {}, &reg);
  Counter jobs("refused_jobs_total", "Jobs.", {}, {}, &reg);
  Gauge level("refused_level", "Level.", {"k"}, {}, &reg);
  Histogram lat("refused_seconds", "Latency.", {}, {}, &reg, {1});
  ASSERT_TRUE(MultiProcessRedisBackend::flush());
  const auto errors_before = MultiProcessRedisBackend::stats().errors;
  big.inc(1e308);
  big.inc(1e308);
  jobs.inc(3);
  level.labels({{"k", "v"}}).set(4);
  lat.observe(0.5);
  EXPECT_TRUE(MultiProcessRedisBackend::flush());
  const auto f = collect(reg);
  EXPECT_EQ(sample_value(f, "refused_jobs_total", ""), 3);
  EXPECT_EQ(sample_value(f, "refused_level", "", {{"k", "v"}}), 4);
  EXPECT_EQ(sample_value(f, "refused_seconds", "_count"), 1);
  EXPECT_EQ(sample_value(f, "big", ""), 0);
  EXPECT_GE(MultiProcessRedisBackend::stats().errors, errors_before + 1);
  // The next window goes through.
  big.inc(1);
  EXPECT_TRUE(MultiProcessRedisBackend::flush());
  EXPECT_EQ(sample_value(collect(reg), "big", ""), 1);
}

INSTANTIATE_TEST_SUITE_P(Modes, RedisModeTest, ::testing::Values("write_through", "write_behind"));

// --- gauge modes and process liveness -------------------------------------------------------

namespace {

constexpr int kTtl = 1;  // process_ttl_s of these tests

// A worker that sets its own value, increments and decrements it, counts, flushes, says so on
// `ready`, then lives (heartbeats running) until it is killed.
pid_t start_worker(Gauge& g, Counter& c, double value, int& ready_fd) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  const pid_t pid = pytheus_test::fork_child([&] {
    close(fds[0]);
    Gauge q = g.labels({{"queue", "q"}});
    q.set(value);
    q.inc(2);
    q.dec(1);
    c.inc(5);
    if (!MultiProcessRedisBackend::flush()) return 4;
    const char byte = 1;
    if (write(fds[1], &byte, 1) != 1) return 5;
    for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
  });
  close(fds[1]);
  ready_fd = fds[0];
  return pid;
}

bool wait_ready(int fd) {
  char byte = 0;
  const bool ok = read(fd, &byte, 1) == 1;
  close(fd);
  return ok;
}

// The scrape's samples of `level` as text lines, sorted.
std::vector<std::string> level_lines(CollectorRegistry& reg) {
  std::vector<std::string> lines;
  const std::string text = generate_metrics(reg);
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t end = text.find('\n', at);
    const std::string line = text.substr(at, end - at);
    if (line.rfind("level{", 0) == 0) lines.push_back(line);
    at = end + 1;
  }
  std::sort(lines.begin(), lines.end());
  return lines;
}

struct ModeCase {
  std::string write_mode;
  std::string gauge_mode;
};

void PrintTo(const ModeCase& c, std::ostream* os) {
  *os << c.write_mode << "/" << c.gauge_mode;
}

std::string case_name(const ::testing::TestParamInfo<ModeCase>& info) {
  return info.param.write_mode + "_" + info.param.gauge_mode;
}

}  // namespace

class RedisGaugeModes : public RedisTest, public ::testing::WithParamInterface<ModeCase> {};

// Four workers each set() their own value (10, 20, 30, 40, then +2 -1), one after the other;
// the scrape shows what the mode means. Then the last worker is killed with SIGKILL: live
// modes leave it out within the TTL, the others keep its value, the counter stays exact.
TEST_P(RedisGaugeModes, FourProcessesThenOneKilled) {
  const ModeCase& mc = GetParam();
  RedisServer server;
  nlohmann::json cfg = pytheus_test::mode_config(mc.write_mode);
  cfg["process_ttl_s"] = kTtl;
  load(server, cfg);
  CollectorRegistry reg;
  Gauge g("level", "Level.", {"queue"}, {}, &reg, parse_gauge_mode(mc.gauge_mode));
  Counter c("jobs_total", "Jobs.", {}, {}, &reg);
  std::vector<pid_t> workers;
  for (int i = 0; i < 4; ++i) {
    int ready = -1;
    workers.push_back(start_worker(g, c, 10.0 * (i + 1), ready));
    ASSERT_TRUE(wait_ready(ready)) << "worker " << i;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // distinct set() times
  }
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  auto pid_line = [&](int i, const char* value) {
    return "level{queue=\"q\",pid=\"" + std::to_string(workers[i]) + "@" + host + "\"} " + value;
  };
  auto one = [](const char* value) {
    return std::vector<std::string>{std::string("level{queue=\"q\"} ") + value};
  };
  std::map<std::string, std::vector<std::string>> before = {
      {"shared", one("41")},  {"sum", one("104")},       {"livesum", one("104")},
      {"max", one("41")},     {"livemax", one("41")},    {"min", one("11")},
      {"livemin", one("11")}, {"mostrecent", one("41")}, {"livemostrecent", one("41")}};
  std::vector<std::string> all4 = {pid_line(0, "11"), pid_line(1, "21"), pid_line(2, "31"),
                                   pid_line(3, "41")};
  std::sort(all4.begin(), all4.end());
  before["all"] = before["liveall"] = all4;
  EXPECT_EQ(level_lines(reg), before.at(mc.gauge_mode));

  kill(workers[3], SIGKILL);
  pytheus_test::wait_child(workers[3]);
  std::map<std::string, std::vector<std::string>> after = before;
  after["livesum"] = one("63");
  after["livemax"] = one("31");
  after["livemostrecent"] = one("31");
  std::vector<std::string> all3 = {pid_line(0, "11"), pid_line(1, "21"), pid_line(2, "31")};
  std::sort(all3.begin(), all3.end());
  after["liveall"] = all3;
  const auto killed = std::chrono::steady_clock::now();
  const auto deadline = killed + std::chrono::milliseconds(kTtl * 1000 + 1500);
  std::vector<std::string> now = level_lines(reg);
  while (now != after.at(mc.gauge_mode) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    now = level_lines(reg);
  }
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count();
  EXPECT_EQ(now, after.at(mc.gauge_mode)) << "after " << took << " s";
  if (is_live(parse_gauge_mode(mc.gauge_mode))) {
    std::printf("[figures] %s/%s: killed worker left the scrape after %.2f s (TTL %d s)\n",
                mc.write_mode.c_str(), mc.gauge_mode.c_str(), took, kTtl);
  }
  // Non-live modes keep the dead worker's value a while later too.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(level_lines(reg), after.at(mc.gauge_mode));
  EXPECT_NE(generate_metrics(reg).find("jobs_total 20\n"), std::string::npos);
  for (int i = 0; i < 3; ++i) {
    kill(workers[i], SIGKILL);
    pytheus_test::wait_child(workers[i]);
  }
}

std::vector<ModeCase> all_cases() {
  std::vector<ModeCase> v;
  for (const char* w : {"write_through", "write_behind"}) {
    for (const char* m : {"shared", "all", "sum", "max", "min", "mostrecent", "liveall", "livesum",
                          "livemax", "livemin", "livemostrecent"}) {
      v.push_back({w, m});
    }
  }
  return v;
}

INSTANTIATE_TEST_SUITE_P(Modes, RedisGaugeModes, ::testing::ValuesIn(all_cases()), case_name);

// Churn: thousands of short-lived workers, each updating a counter, a histogram and a livesum
// gauge, then exiting. Keys and per-process fields stay bounded (dead processes' fields are
// collected); scrape times are printed (docs/redis.md has the figures).
TEST_F(RedisTest, ChurnOfShortLivedProcessesKeepsKeysBounded) {
#ifdef PYTHEUS_TEST_SANITIZED
  constexpr int kProcesses = 200;
#else
  constexpr int kProcesses = 2000;
#endif
  constexpr int kParallel = 16;
  RedisServer server;
  load(server,
       {{"write_mode", "write_behind"}, {"flush_interval_ms", 100}, {"process_ttl_s", kTtl}});
  CollectorRegistry reg;
  Counter jobs("churn_jobs_total", "Jobs.", {}, {}, &reg);
  Histogram lat("churn_seconds", "Latency.", {}, {}, &reg, {0.1, 1});
  Gauge busy("churn_busy", "Busy workers.", {}, {}, &reg, GaugeMode::livesum);
  Gauge peak("churn_peak", "Peak.", {}, {}, &reg, GaugeMode::max);
  busy.set(1);  // the parent is a live process too (it heartbeats and collects)
  ASSERT_TRUE(MultiProcessRedisBackend::flush());
  RawRedis raw(server.port());
  auto scrape_ms = [&] {
    const auto t0 = std::chrono::steady_clock::now();
    (void)generate_metrics(reg);
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  };
  std::vector<std::string> figures;
  long long max_keys = 0, max_fields = 0;
  int next_figure = kProcesses / 4;
  const auto churn_start = std::chrono::steady_clock::now();
  for (int started = 0; started < kProcesses;) {
    std::vector<pid_t> batch;
    for (int i = 0; i < kParallel && started < kProcesses; ++i, ++started) {
      const int n = started;
      std::fflush(nullptr);
      const pid_t pid = fork();
      if (pid == 0) {
        busy.set(1);
        peak.set(n);
        jobs.inc();
        lat.observe(0.5);
        busy.dec();
#if defined(__SANITIZE_THREAD__)
        // TSan reports the child's flusher thread as a "dup thread" of the parent's and then
        // fails exit() with its exit code; _exit skips the exit handler, so flush here (the
        // heartbeat then expires instead of being deleted, the sequence key stays).
        MultiProcessRedisBackend::flush();
        _exit(0);
#else
        // A clean exit: the exit handler flushes and deletes the heartbeat.
        std::exit(0);
#endif
      }
      batch.push_back(pid);
    }
    for (pid_t pid : batch) EXPECT_EQ(pytheus_test::wait_child(pid), 0);
    max_keys = std::max(max_keys, raw.integer({"DBSIZE"}));
    max_fields = std::max(max_fields, raw.integer({"HLEN", "churn_busy:proc"}));
    if (started >= next_figure) {
      next_figure += kProcesses / 4;
      char line[160];
      std::snprintf(line, sizeof line,
                    "after %d processes: scrape %.2f ms, DBSIZE %lld, HLEN churn_busy:proc %lld, "
                    "HLEN churn_peak:proc %lld",
                    started, scrape_ms(), raw.integer({"DBSIZE"}),
                    raw.integer({"HLEN", "churn_busy:proc"}),
                    raw.integer({"HLEN", "churn_peak:proc"}));
      figures.push_back(line);
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - churn_start).count();
  const double per_second = kProcesses / seconds;
  // Two collection periods later, only the parent's fields are left in the live-mode key.
  std::this_thread::sleep_for(std::chrono::milliseconds(2500 * kTtl));
  ASSERT_TRUE(MultiProcessRedisBackend::flush());
  for (const auto& f : figures) std::printf("[figures] churn: %s\n", f.c_str());
  std::printf(
      "[figures] churn: %d processes in %.1f s (%.0f/s), peak DBSIZE %lld, peak HLEN "
      "churn_busy:proc %lld\n",
      kProcesses, seconds, per_second, max_keys, max_fields);
  EXPECT_EQ(raw.integer({"HLEN", "churn_busy:proc"}), 1);
  // Bounded by the processes of the last collection periods (one every TTL, a field lives at
  // most about two), not by all of them: the bound is in processes per TTL, not a speed.
  EXPECT_LE(max_fields, static_cast<long long>(per_second * 3 * kTtl) + 2 * kParallel);
  // Metric keys, the parent's heartbeat, sequence key and bookkeeping; exited workers leave
  // nothing but (non-live mode `max`) their field until expire_key_time.
#if !defined(__SANITIZE_THREAD__)
  EXPECT_LE(raw.integer({"DBSIZE"}), 16);
#endif
  const auto f = collect(reg);
  EXPECT_EQ(sample_value(f, "churn_jobs_total", ""), kProcesses);
  EXPECT_EQ(sample_value(f, "churn_seconds", "_count"), kProcesses);
  EXPECT_EQ(sample_value(f, "churn_busy", ""), 1);
  EXPECT_EQ(sample_value(f, "churn_peak", ""), kProcesses - 1);
  std::printf(
      "[figures] churn: final scrape %.2f ms, HLEN churn_peak:proc %lld (non-live mode "
      "keeps dead processes' values for expire_key_time)\n",
      scrape_ms(), raw.integer({"HLEN", "churn_peak:proc"}));
}

// A non-live mode keeps a dead process's last value for expire_key_time after it was last
// seen, then the collection deletes it: bounded, unlike a value nobody ever removes.
TEST_F(RedisTest, NonLiveModesKeepDeadValuesForExpireKeyTime) {
  RedisServer server;
  load(server, {{"write_mode", "write_behind"},
                {"flush_interval_ms", 50},
                {"process_ttl_s", kTtl},
                {"expire_key_time", 3}});
  CollectorRegistry reg;
  Gauge g("kept", "Kept.", {}, {}, &reg, GaugeMode::sum);
  Counter c("kept_jobs_total", "Jobs.", {}, {}, &reg);
  g.set(1);  // the parent is alive, and collects
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t worker = pytheus_test::fork_child([&] {
    g.set(5);
    c.inc();
    if (!MultiProcessRedisBackend::flush()) return 4;
    const char byte = 1;
    if (write(fds[1], &byte, 1) != 1) return 5;
    for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
  });
  close(fds[1]);
  ASSERT_TRUE(wait_ready(fds[0]));
  kill(worker, SIGKILL);
  pytheus_test::wait_child(worker);
  // A collection that finds a per-process hash empty (between a process noting the key and
  // writing its first value) drops the key from the set the collection walks; the live
  // processes name their keys again, so the collection still finds it.
  // (A collection may already have dropped it, finding the parent's hash empty: the same case.)
  RawRedis raw(server.port());
  raw.integer({"DEL", "pytheus_proc_keys"});
  auto value = [&] { return sample_value(collect(reg), "kept", ""); };
  EXPECT_EQ(value(), 6);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500 * kTtl));
  EXPECT_EQ(value(), 6);  // dead, and kept
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (value() != 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(value(), 1);
  EXPECT_EQ(raw.integer({"HLEN", "kept:proc"}), 1);
  EXPECT_EQ(sample_value(collect(reg), "kept_jobs_total", ""), 1);  // counters never lose it
}

// Per-process values in one write-behind window: a set after incs ends as the set value plus
// the later incs; get() is this process's own value.
TEST_P(RedisModeTest, PerProcessSetAfterIncsInOneWindow) {
  RedisServer server;
  nlohmann::json cfg = pytheus_test::mode_config(GetParam());
  cfg["flush_interval_ms"] = 600000;
  cfg["gauge_mode"] = "livesum";  // through backend_default
  load(server, cfg);
  CollectorRegistry reg;
  Gauge g("window", "Window.", {"k"}, {}, &reg);
  Gauge w = g.labels({{"k", "v"}});
  w.inc(5);
  w.set(2);
  w.inc(1);
  ASSERT_TRUE(MultiProcessRedisBackend::flush());
  EXPECT_EQ(w.get(), 3);
  EXPECT_EQ(sample_value(collect(reg), "window", "", {{"k", "v"}}), 3);
  RawRedis raw(server.port());
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  const std::string field = std::to_string(getpid()) + "@" + host + R"(|{"k": "v"})";
  EXPECT_EQ(raw.hash("window:proc").at(field), "3");
  EXPECT_EQ(raw.integer({"EXISTS", "window"}), 0);  // nothing in the shared layout
}

// mostrecent orders set() calls by when they were made, even a fork apart (well under a
// millisecond): the child's later set() wins although the parent's reaches Redis after it.
TEST_P(RedisModeTest, MostRecentTellsApartSetsLessThanAMillisecondApart) {
  RedisServer server;
  nlohmann::json cfg = pytheus_test::mode_config(GetParam());
  cfg["flush_interval_ms"] = 600000;
  load(server, cfg);
  CollectorRegistry reg;
  Gauge g("latest", "Latest.", {}, {}, &reg, GaugeMode::mostrecent);
  for (int round = 0; round < 10; ++round) {
    g.set(2.0 * round + 1);
    const pid_t pid = pytheus_test::fork_child([&] {
      g.set(2.0 * round + 2);
      return MultiProcessRedisBackend::flush() ? 0 : 1;
    });
    ASSERT_EQ(pytheus_test::wait_child(pid), 0);
    ASSERT_TRUE(MultiProcessRedisBackend::flush());
    EXPECT_EQ(sample_value(collect(reg), "latest", ""), 2.0 * round + 2) << "round " << round;
  }
}
