// MultiProcessRedisBackend behind Redis Sentinel: a master, a replica and three sentinels on
// loopback. Four worker processes count while the master is killed; the sentinels promote the
// replica; the workers see no exception, their updates reach the new master within the bound
// docs/redis.md gives, and with wait_replicas the totals are exact. Also: what WAIT costs per
// flush on a master with one replica.
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>

#include "child_process.hpp"
#include "redis_test_helpers.hpp"

using namespace pytheus;
using pytheus_test::ChildProcess;
using pytheus_test::fork_child;
using pytheus_test::RawRedis;
using pytheus_test::RedisServer;
using pytheus_test::RedisTest;
using pytheus_test::sample_value;
using pytheus_test::TempDir;
using pytheus_test::wait_child;
using pytheus_test::wait_until;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

constexpr const char* kMaster = "pytheus-test";

// One redis-sentinel process with its own (writable: sentinel rewrites it) config file.
class Sentinel {
 public:
  Sentinel(const TempDir& dir, int index, int master_port) {
    for (int attempt = 0; attempt < 5; ++attempt) {
      port_ = pytheus_test::free_port();
      const std::string name = "sentinel-" + std::to_string(index);
      const std::filesystem::path conf = dir / (name + ".conf");
      std::ofstream(conf) << "port " << port_ << "\nbind 127.0.0.1\nprotected-mode no\n"
                          << "daemonize no\ndir " << dir.path().string() << "\n"
                          << "sentinel resolve-hostnames no\n"
                          << "sentinel monitor " << kMaster << " 127.0.0.1 " << master_port
                          << " 2\n"
                          << "sentinel down-after-milliseconds " << kMaster << " 1000\n"
                          << "sentinel failover-timeout " << kMaster << " 5000\n";
      chmod(conf.c_str(), 0600);
      process_ = std::make_unique<ChildProcess>(
          std::vector<std::string>{"/usr/bin/redis-sentinel", conf.string()},
          dir / (name + ".log"));
      if (wait_until([&] { return ping(); }, milliseconds(5000))) return;
      process_.reset();
    }
    throw std::runtime_error("redis-sentinel did not start; see its log in " + dir.path().string());
  }

  int port() const { return port_; }

  // The master's port as this sentinel names it, or 0.
  int master_port() {
    try {
      RawRedis r(port_);
      pytheus_test::RedisReply a = r.run({"SENTINEL", "get-master-addr-by-name", kMaster});
      if (a->type != REDIS_REPLY_ARRAY || a->elements != 2) return 0;
      return std::stoi(std::string(a->element[1]->str, a->element[1]->len));
    } catch (const std::exception&) {
      return 0;
    }
  }

  // Whether this sentinel knows the `replicas` replicas and both other sentinels.
  bool knows_everyone(std::size_t replicas = 1) {
    try {
      RawRedis r(port_);
      return r.run({"SENTINEL", "replicas", kMaster})->elements == replicas &&
             r.run({"SENTINEL", "sentinels", kMaster})->elements == 2;
    } catch (const std::exception&) {
      return false;
    }
  }

 private:
  bool ping() {
    try {
      return RawRedis(port_).str({"PING"}) == "PONG";
    } catch (const std::exception&) {
      return false;
    }
  }

  int port_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

std::string info_field(RawRedis& r, const std::string& field) {
  const std::string info = r.str({"INFO", "replication"});
  const auto at = info.find(field + ":");
  if (at == std::string::npos) return "";
  const auto end = info.find('\r', at);
  return info.substr(at + field.size() + 1, end - at - field.size() - 1);
}

// The documented bound (docs/redis.md, "Sentinel"): from the moment the sentinels name the new
// master until a write-behind flush reaches it.
long long failover_bound_ms(const nlohmann::json& c, std::size_t sentinels) {
  const long long flush = c["flush_interval_ms"], connect = c["connect_timeout_ms"],
                  command = c["command_timeout_ms"];
  const long long retry = std::clamp<long long>(flush, 100, 1000);
  return flush + retry + static_cast<long long>(sentinels + 1) * (connect + command) + command;
}

// A fresh connection each time: the sentinels close every client of the promoted server.
double value_of(int port, const std::string& key) {
  try {
    RawRedis r(port);
    const std::string v = r.str({"GET", key});
    return v.empty() ? 0 : std::stod(v);
  } catch (const std::exception&) {
    return -1;
  }
}

std::string replication_field(int port, const std::string& field) {
  try {
    RawRedis r(port);
    return info_field(r, field);
  } catch (const std::exception&) {
    return "";
  }
}

// How many WAIT commands the server at `port` has run.
long long wait_calls(int port) {
  try {
    RawRedis r(port);
    const std::string stats = r.str({"INFO", "commandstats"});
    const auto at = stats.find("cmdstat_wait:calls=");
    return at == std::string::npos ? 0 : std::stoll(stats.substr(at + 19));
  } catch (const std::exception&) {
    return -1;
  }
}

// Tells the workers to stop, however the test ends.
struct StopFile {
  std::string path;
  ~StopFile() { std::ofstream(path) << "stop"; }
};

// Starts three sentinels watching the master on `master_port`, each of which must discover
// the replicas and the other two (a failed assertion leaves `out` short).
void start_sentinels(const TempDir& dir, int master_port,
                     std::vector<std::unique_ptr<Sentinel>>& out) {
  for (int i = 0; i < 3; ++i) out.push_back(std::make_unique<Sentinel>(dir, i, master_port));
  for (auto& s : out) {
    ASSERT_TRUE(wait_until([&] { return s->knows_everyone(); }, milliseconds(15000)))
        << "sentinel " << s->port() << " did not discover the replica and the other sentinels";
  }
}

// The workers' backend config: the sentinels, write-behind every 100 ms, WAIT for a replica.
nlohmann::json workers_config(const std::vector<std::unique_ptr<Sentinel>>& sentinels) {
  nlohmann::json config = {{"sentinels", nlohmann::json::array()},
                           {"master_name", kMaster},
                           {"write_mode", "write_behind"},
                           {"flush_interval_ms", 100},
                           {"connect_timeout_ms", 500},
                           {"command_timeout_ms", 1000},
                           {"wait_replicas", 1},
                           {"wait_timeout_ms", 200}};
  for (auto& s : sentinels)
    config["sentinels"].push_back({{"host", "127.0.0.1"}, {"port", s->port()}});
  return config;
}

}  // namespace

class RedisSentinelTest : public RedisTest {};

TEST_F(RedisSentinelTest, WorkersFollowAFailoverAndWaitReplicasKeepsTotalsExact) {
#if defined(__SANITIZE_THREAD__)
  // Under ThreadSanitizer's slowdown the restarted old master once took longer than the
  // test's 20 s to rejoin as a replica (a server-side step). The normal and ASan builds check it.
  GTEST_SKIP() << "the failover's server-side timing is not checked under ThreadSanitizer";
#endif
  TempDir dir("pytheus-sentinel");
  auto master = std::make_unique<RedisServer>();
  const int old_port = master->port();
  RedisServer replica(RedisServer::Options{
      false, "", false, {"--replicaof", "127.0.0.1", std::to_string(old_port)}});
  {
    RawRedis r(replica.port());
    ASSERT_TRUE(wait_until([&] { return info_field(r, "master_link_status") == "up"; },
                           milliseconds(10000)));
  }
  std::vector<std::unique_ptr<Sentinel>> sentinels;
  start_sentinels(dir, old_port, sentinels);
  if (HasFatalFailure()) return;
  const nlohmann::json config = workers_config(sentinels);
  const std::string stop_file = (dir / "stop").string();
  StopFile stop{stop_file};

  constexpr int kWorkers = 4;
  std::vector<pid_t> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.push_back(fork_child([&, w] {
      load_backend("MultiProcessRedisBackend", config);
      CollectorRegistry reg;
      Counter jobs("sentinel_jobs_total", "Jobs.", {}, {}, &reg);
      Histogram latency("sentinel_latency_seconds", "Latency.", {}, {}, &reg, Buckets{0.25, 1});
      long long calls = 0;
      long long slowest_us = 0;
      while (access(stop_file.c_str(), F_OK) != 0) {
        const auto t0 = Clock::now();
        jobs.inc();
        latency.observe(static_cast<double>(calls % 6) * 0.25);
        ++calls;  // both calls returned
        slowest_us = std::max<long long>(
            slowest_us,
            std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count());
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
      const bool flushed = pytheus_test::flush_within(20);
      std::ofstream(dir / ("worker-" + std::to_string(w))) << calls << " " << slowest_us;
      return flushed ? 0 : 1;
    }));
  }

  ASSERT_TRUE(wait_until([&] { return value_of(old_port, "sentinel_jobs_total") > 0; },
                         milliseconds(10000)));
  master->kill();
  const auto killed = Clock::now();

  const int promoted = replica.port();
  ASSERT_TRUE(wait_until(
      [&] {
        return std::all_of(sentinels.begin(), sentinels.end(),
                           [&](auto& s) { return s->master_port() == replica.port(); });
      },
      milliseconds(30000), milliseconds(20)))
      << "the sentinels did not promote the replica";
  const auto switched = Clock::now();
  // With wait_replicas a flush ends with WAIT, which only this backend sends: its count on
  // the new master shows the workers' flushes reaching it (their deltas stay pending until a
  // replica confirms them, below).
  const long long before = wait_calls(promoted);
  ASSERT_TRUE(wait_until([&] { return wait_calls(promoted) > before; },
                         milliseconds(failover_bound_ms(config, sentinels.size())),
                         milliseconds(5)))
      << "no flush reached the new master within the documented bound";
  const auto reached = Clock::now();
  std::printf(
      "[ failover ] sentinels switched %lld ms after the kill; flushes reached the new "
      "master %lld ms later (bound %lld ms)\n",
      static_cast<long long>(std::chrono::duration_cast<milliseconds>(switched - killed).count()),
      static_cast<long long>(std::chrono::duration_cast<milliseconds>(reached - switched).count()),
      failover_bound_ms(config, sentinels.size()));

  // The old master comes back empty; the sentinels make it a replica of the new one, so that
  // WAIT 1 can be confirmed again.
  // The sentinels reconfigure it within a few of their periods; under load that took longer
  // than the test waits, so the test also tells it what they would (REPLICAOF the promoted).
  master->restart();
  RawRedis(master->port()).run({"REPLICAOF", "127.0.0.1", std::to_string(promoted)});
  ASSERT_TRUE(wait_until([&] { return replication_field(promoted, "connected_slaves") == "1"; },
                         milliseconds(20000)))
      << "the old master did not rejoin as a replica";
  std::this_thread::sleep_for(milliseconds(300));
  std::ofstream(stop_file) << "stop";

  long long total = 0;
  for (int w = 0; w < kWorkers; ++w) {
    EXPECT_EQ(wait_child(workers[w]), 0) << "worker " << w << " threw or could not flush";
    std::ifstream in(dir / ("worker-" + std::to_string(w)));
    long long calls = 0, slowest_us = 0;
    in >> calls >> slowest_us;
    EXPECT_GT(calls, 0);
    // Write-behind: an update only touches local deltas, whatever Redis does.
    EXPECT_LT(slowest_us, 1000 * 1000) << "an update blocked past the command timeout";
    total += calls;
  }
  EXPECT_EQ(value_of(promoted, "sentinel_jobs_total"), static_cast<double>(total));
  EXPECT_EQ(value_of(promoted, "sentinel_latency_seconds:count"), static_cast<double>(total));
  EXPECT_EQ(value_of(promoted, "sentinel_latency_seconds:+Inf"), static_cast<double>(total));

  // A scrape through the sentinels sees the same totals, consistent.
  load_backend("MultiProcessRedisBackend", config);
  CollectorRegistry reg;
  Counter jobs("sentinel_jobs_total", "Jobs.", {}, {}, &reg);
  Histogram latency("sentinel_latency_seconds", "Latency.", {}, {}, &reg, Buckets{0.25, 1});
  auto f = collect(reg);
  EXPECT_EQ(sample_value(f, "sentinel_jobs_total", ""), static_cast<double>(total));
  EXPECT_EQ(sample_value(f, "sentinel_latency_seconds", "_count"), static_cast<double>(total));
  EXPECT_EQ(pytheus_test::histogram_problem(f), "");
}

// A manual failover (SENTINEL FAILOVER) while four workers count: the old master stays up and
// a master for good (its REPLICAOF and SLAVEOF are renamed away, so the sentinels cannot demote
// it), so no write ever fails there and nothing but the sentinels' +switch-master
// announcement can move the workers. With wait_replicas 1 their flushes to the old master are
// never confirmed (its replicas left it) and stay pending; once they follow the switch, they
// go to the new master, whose remaining replica confirms them: the totals there are exact.
TEST_F(RedisSentinelTest, WorkersFollowSwitchMasterWhileTheOldMasterStaysUp) {
  TempDir dir("pytheus-switch");
  RedisServer master(
      RedisServer::Options{false,
                           "",
                           false,
                           {"--rename-command", "REPLICAOF", "pytheus-test-replicaof",
                            "--rename-command", "SLAVEOF", "pytheus-test-slaveof"}});
  const int old_port = master.port();
  // The replica the sentinels promote, and a replica of it (chained), which keeps confirming
  // WAIT after the switch. Not a second replica of the master: that one would acknowledge the
  // old master's writes until the sentinels repoint it, then resynchronise from the new master
  // and drop them (a window WAIT cannot close; docs/redis.md).
  RedisServer replica(RedisServer::Options{
      false, "", false, {"--replicaof", "127.0.0.1", std::to_string(old_port)}});
  RedisServer chained(RedisServer::Options{
      false, "", false, {"--replicaof", "127.0.0.1", std::to_string(replica.port())}});
  for (const RedisServer* r : {&replica, &chained}) {
    RawRedis c(r->port());
    ASSERT_TRUE(wait_until([&] { return info_field(c, "master_link_status") == "up"; },
                           milliseconds(10000)));
  }
  std::vector<std::unique_ptr<Sentinel>> sentinels;
  start_sentinels(dir, old_port, sentinels);
  if (HasFatalFailure()) return;
  const nlohmann::json config = workers_config(sentinels);
  const std::string stop_file = (dir / "stop").string();
  StopFile stop{stop_file};

  constexpr int kWorkers = 4;
  std::vector<pid_t> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.push_back(fork_child([&, w] {
      load_backend("MultiProcessRedisBackend", config);
      CollectorRegistry reg;
      Counter jobs("switch_jobs_total", "Jobs.", {}, {}, &reg);
      Histogram latency("switch_latency_seconds", "Latency.", {}, {}, &reg, Buckets{0.25, 1});
      long long calls = 0;
      while (access(stop_file.c_str(), F_OK) != 0) {
        jobs.inc();
        latency.observe(static_cast<double>(calls % 6) * 0.25);
        ++calls;
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
      const bool flushed = pytheus_test::flush_within(20);
      std::ofstream(dir / ("worker-" + std::to_string(w))) << calls;
      return flushed ? 0 : 1;
    }));
  }
  ASSERT_TRUE(
      wait_until([&] { return value_of(old_port, "switch_jobs_total") > 0; }, milliseconds(10000)));

  {
    RawRedis s(sentinels[0]->port());
    const std::string ok = s.str({"SENTINEL", "FAILOVER", kMaster});
    ASSERT_EQ(ok, "OK") << "SENTINEL FAILOVER refused";
  }
  int promoted = 0;
  ASSERT_TRUE(wait_until(
      [&] {
        promoted = sentinels[0]->master_port();
        return promoted != 0 && promoted != old_port &&
               std::all_of(sentinels.begin(), sentinels.end(),
                           [&](auto& s) { return s->master_port() == promoted; });
      },
      milliseconds(30000), milliseconds(20)))
      << "the sentinels did not switch to a replica";
  const auto switched = Clock::now();
  const long long before = wait_calls(promoted);
  ASSERT_TRUE(wait_until([&] { return wait_calls(promoted) > before; }, milliseconds(20000),
                         milliseconds(5)))
      << "no flush reached the new master";
  std::printf("[ switch ] flushes reached the new master %lld ms after the sentinels named it\n",
              static_cast<long long>(
                  std::chrono::duration_cast<milliseconds>(Clock::now() - switched).count()));
  // The old master is still a master that accepts writes: the workers moved on the
  // announcement, not on an error.
  EXPECT_EQ(replication_field(old_port, "role"), "master");
  ASSERT_EQ(promoted, replica.port());
  EXPECT_EQ(replication_field(chained.port(), "master_port"), std::to_string(promoted));
  std::this_thread::sleep_for(milliseconds(300));
  std::ofstream(stop_file) << "stop";

  long long total = 0;
  for (int w = 0; w < kWorkers; ++w) {
    EXPECT_EQ(wait_child(workers[w]), 0) << "worker " << w << " threw or could not flush";
    std::ifstream in(dir / ("worker-" + std::to_string(w)));
    long long calls = 0;
    in >> calls;
    EXPECT_GT(calls, 0);
    total += calls;
  }
  EXPECT_EQ(value_of(promoted, "switch_jobs_total"), static_cast<double>(total));
  EXPECT_EQ(value_of(promoted, "switch_latency_seconds:count"), static_cast<double>(total));
  EXPECT_EQ(value_of(promoted, "switch_latency_seconds:+Inf"), static_cast<double>(total));
  EXPECT_EQ(replication_field(old_port, "role"), "master");
}

// What WAIT 1 adds to a write-behind flush on loopback (docs/redis.md quotes the figures).
TEST_F(RedisSentinelTest, WaitReplicasCostPerFlush) {
  RedisServer master;
  RedisServer replica(RedisServer::Options{
      false, "", false, {"--replicaof", "127.0.0.1", std::to_string(master.port())}});
  {
    RawRedis r(replica.port());
    ASSERT_TRUE(wait_until([&] { return info_field(r, "master_link_status") == "up"; },
                           milliseconds(10000)));
  }
  for (int wait : {0, 1}) {
    nlohmann::json extra = {{"write_mode", "write_behind"},
                            {"flush_interval_ms", 60000},
                            {"key_prefix", "cost" + std::to_string(wait)}};
    if (wait != 0) extra["wait_replicas"] = wait;
    load_backend("MultiProcessRedisBackend", master.config(extra));
    CollectorRegistry reg;
    Counter jobs("jobs_total", "Jobs.", {"worker"}, {}, &reg);
    Histogram latency("latency_seconds", "Latency.", {}, {}, &reg, Buckets{0.25, 1});
    std::vector<double> us;
    constexpr int kFlushes = 300;
    for (int i = 0; i < kFlushes; ++i) {
      for (int s = 0; s < 10; ++s) jobs.labels({{"worker", std::to_string(s)}}).inc();
      latency.observe(0.5);
      const auto t0 = Clock::now();
      ASSERT_TRUE(MultiProcessRedisBackend::flush());
      us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    }
    std::sort(us.begin(), us.end());
    std::printf(
        "[ wait cost ] wait_replicas=%d: flush of 11 series, median %.0f us, p90 %.0f us "
        "(%d flushes)\n",
        wait, us[us.size() / 2], us[us.size() * 9 / 10], kFlushes);
    if (wait != 0) {
      // Confirmed by WAIT: the replica has every flush as soon as flush() returns.
      EXPECT_EQ(RawRedis(replica.port()).str({"HGET", "cost1-jobs_total", "{\"worker\": \"0\"}"}),
                std::to_string(kFlushes));
    }
  }
}
