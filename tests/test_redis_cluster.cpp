// MultiProcessRedisBackend on a real 3-master Redis Cluster (docs/redis.md, "Redis Cluster"):
// hash-tagged keys spread over the masters, exact totals from four processes while a slot
// moves between masters step by step (its keys still on the source, moved and served by ASK,
// then owned by the target and served by MOVED) and while another moves freely, and
// histograms consistent in every scrape.
#include <signal.h>

#include <array>
#include <chrono>
#include <set>
#include <thread>

#include "redis_cluster.hpp"
#include "redis_test_helpers.hpp"

using namespace pytheus;
using pytheus_test::fork_child;
using pytheus_test::kHeavyIterations;
using pytheus_test::RawRedis;
using pytheus_test::RedisCluster;
using pytheus_test::RedisTest;
using pytheus_test::sample_value;
using pytheus_test::wait_child;

namespace {

// Metrics whose hash tags land on every master of a fresh 3-master cluster.
const std::vector<std::string> kSpread = {"s0_total", "s1_total", "s2_total",
                                          "s3_total", "s4_total", "s5_total"};

struct Workload {
  CollectorRegistry reg;
  Counter jobs{"jobs_total", "Jobs.", {}, {}, &reg};
  Counter requests{"requests_total", "Requests.", {"method", "code"}, {}, &reg};
  Histogram latency{"latency_seconds", "Latency.", {}, {}, &reg, Buckets{0.25, 0.5, 1}};
  std::vector<std::unique_ptr<Counter>> spread;

  Workload() {
    for (const std::string& n : kSpread) {
      spread.push_back(
          std::make_unique<Counter>(n, "Spread.", LabelNames{}, LabelDefaults{}, &reg));
    }
  }

  // One unit of work; observations are multiples of 0.25, so every sum is exact.
  void step(int i) {
    jobs.inc();
    requests.labels({{"method", i % 2 ? "GET" : "POST"}, {"code", "200"}}).inc();
    latency.observe((i % 6) * 0.25);
    spread[static_cast<std::size_t>(i) % spread.size()]->inc();
  }
};

double count_le(int n, double bound) {
  double c = 0;
  for (int i = 0; i < n; ++i) c += (i % 6) * 0.25 <= bound;
  return c;
}

double sum_of(int n) {
  double s = 0;
  for (int i = 0; i < n; ++i) s += (i % 6) * 0.25;
  return s;
}

// Reads `n` bytes from `fd`.
bool read_bytes(int fd, int n) {
  char b;
  for (int i = 0; i < n; ++i) {
    if (read(fd, &b, 1) != 1) return false;
  }
  return true;
}

bool write_bytes(int fd, int n) {
  const char b = 1;
  for (int i = 0; i < n; ++i) {
    if (write(fd, &b, 1) != 1) return false;
  }
  return true;
}

}  // namespace

class RedisClusterTest : public RedisTest {};

TEST_F(RedisClusterTest, KeysCarryTheMetricHashTagAndSpreadOverTheMasters) {
  RedisCluster cluster;
  load_backend("MultiProcessRedisBackend", cluster.config({{"key_prefix", "svc"}}));
  Workload work;
  for (int i = 0; i < 60; ++i) work.step(i);
  ASSERT_TRUE(MultiProcessRedisBackend::flush());
  auto f = collect(work.reg);
  EXPECT_EQ(sample_value(f, "jobs_total", ""), 60);
  EXPECT_EQ(sample_value(f, "requests_total", "", {{"method", "GET"}, {"code", "200"}}), 30);
  EXPECT_EQ(sample_value(f, "latency_seconds", "_count"), 60);
  EXPECT_EQ(sample_value(f, "latency_seconds", "_sum"), sum_of(60));
  EXPECT_EQ(sample_value(f, "s3_total", ""), 10);
  std::size_t nodes_with_keys = 0;
  for (std::size_t n = 0; n < cluster.size(); ++n) {
    const std::vector<std::string> keys = cluster.keys(n);
    nodes_with_keys += !keys.empty();
    for (const std::string& k : keys) {
      if (k.find("pytheus_flush_seq") != std::string::npos) {
        EXPECT_EQ(k.rfind("{svc-", 0), 0u) << k;  // one per hash tag flushed to
        continue;
      }
      EXPECT_EQ(k.rfind("{svc-", 0), 0u) << k;
    }
  }
  EXPECT_EQ(nodes_with_keys, cluster.size()) << "the metrics should spread over every master";
  // Every key of the histogram is in the slot of its tag.
  const int slot = cluster.slot_of("{svc-latency_seconds}");
  RawRedis owner(cluster.port(cluster.owner(slot)));
  for (const char* suffix : {":0.25", ":0.5", ":1", ":+Inf", ":count", ":sum"}) {
    EXPECT_EQ(owner.str({"GET", std::string("{svc-latency_seconds}") + suffix}).empty(), false)
        << suffix;
  }
}

TEST_F(RedisClusterTest, PerProcessGaugesKeepTheirBookkeepingInOneSlot) {
  RedisCluster cluster;
  const nlohmann::json config = cluster.config({{"gauge_mode", "livesum"}, {"process_ttl_s", 1}});
  int done[2];
  ASSERT_EQ(pipe(done), 0);
  pid_t child = fork_child([&] {
    load_backend("MultiProcessRedisBackend", config);
    CollectorRegistry reg;
    Gauge g("workers", "Workers.", {}, {}, &reg);
    g.set(3);
    if (!pytheus_test::flush_within(30)) return 1;
    return write_bytes(done[1], 1) ? 0 : 1;
  });
  ASSERT_TRUE(read_bytes(done[0], 1));
  EXPECT_EQ(wait_child(child), 0);
  load_backend("MultiProcessRedisBackend", config);
  CollectorRegistry reg;
  Gauge g("workers", "Workers.", {}, {}, &reg);
  g.set(4);
  ASSERT_TRUE(pytheus_test::flush_within(30));
  // Both processes count while the child's heartbeat lives (it left with _exit, so it did not
  // say goodbye); once the heartbeat expires only this process does.
  EXPECT_EQ(sample_value(collect(reg), "workers", ""), 7);
  double v = 7;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (v != 4 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    v = sample_value(collect(reg), "workers", "");
  }
  EXPECT_EQ(v, 4);
  RawRedis owner(cluster.port(cluster.owner(cluster.slot_of("pytheus"))));
  EXPECT_EQ(owner.run({"EXISTS", "{pytheus}_procs"})->integer, 1);
  EXPECT_EQ(owner.run({"EXISTS", "{pytheus}_proc_keys"})->integer, 1);
}

// A flush transaction that would create a key in a migrating slot (here the metric's first
// exemplar, its :exemplars hash) is refused on both nodes until the migration ends: it stays
// pending, the metric's other flushes wait behind it, and once the slot has its new owner it
// is applied, once. Scrapes meanwhile read what is there (the key absent from both nodes is
// left out of the read transaction).
TEST_F(RedisClusterTest, AFlushThatCreatesAKeyWaitsForTheMigrationToEnd) {
  RedisCluster cluster;
  load_backend("MultiProcessRedisBackend", cluster.config({{"flush_interval_ms", 600000}}));
  CollectorRegistry reg;
  Counter jobs("jobs_total", "Jobs.", {}, {}, &reg);
  jobs.inc();
  ASSERT_TRUE(MultiProcessRedisBackend::flush());  // value, creation time, sequence key
  const int slot = cluster.slot_of("{jobs_total}");
  const std::size_t to = (cluster.owner(slot) + 1) % cluster.size();
  cluster.begin_migration(slot, to);
  jobs.inc();  // existing keys only: applied on the source
  EXPECT_TRUE(MultiProcessRedisBackend::flush());
  EXPECT_EQ(sample_value(collect(reg), "jobs_total", ""), 2);
  jobs.inc(1, {{"trace_id", "abc"}});  // creates jobs_total's :exemplars hash
  EXPECT_FALSE(MultiProcessRedisBackend::flush());
  EXPECT_EQ(sample_value(collect(reg), "jobs_total", ""), 2);
  cluster.move_keys(slot);
  EXPECT_FALSE(MultiProcessRedisBackend::flush());
  EXPECT_EQ(sample_value(collect(reg), "jobs_total", ""), 2);
  cluster.finish_migration(slot);
  EXPECT_TRUE(MultiProcessRedisBackend::flush());
  auto f = collect(reg);
  EXPECT_EQ(sample_value(f, "jobs_total", ""), 3);
  bool exemplar = false;
  for (const MetricFamily& fam : f) {
    for (const Sample& smp : fam.samples) {
      exemplar =
          exemplar || (fam.name == "jobs_total" && smp.exemplar &&
                       smp.exemplar->labels.size() == 1 && smp.exemplar->labels[0].second == "abc");
    }
  }
  EXPECT_TRUE(exemplar);
  EXPECT_EQ(cluster.owner(slot), to);
}

TEST_F(RedisClusterTest, FourProcessesCountExactlyWhileSlotsMove) {
  RedisCluster cluster;
  constexpr int kWorkers = 4;
  const int quarter = kHeavyIterations / 4;
  const nlohmann::json config = cluster.config({{"flush_interval_ms", 20}});
  // One pipe up, shared; one pipe down per worker, so that a fast worker can never take the
  // go-ahead meant for a slow one.
  int up[2];
  ASSERT_EQ(pipe(up), 0);
  std::vector<std::array<int, 2>> down(kWorkers);
  for (auto& d : down) ASSERT_EQ(pipe(d.data()), 0);
  std::vector<pid_t> children;
  for (int w = 0; w < kWorkers; ++w) {
    const int my_down = down[static_cast<std::size_t>(w)][0];
    children.push_back(fork_child([&] {
      load_backend("MultiProcessRedisBackend", config);
      Workload work;
      for (int q = 0; q < 4; ++q) {
        for (int i = q * quarter; i < (q + 1) * quarter; ++i) work.step(i);
        if (q == 3) break;
        // Each step of the migration below starts once every worker delivered a quarter.
        if (!pytheus_test::flush_within(30) || !write_bytes(up[1], 1) || !read_bytes(my_down, 1)) {
          return 1;
        }
      }
      if (!pytheus_test::flush_within(60)) return 1;
      // Its third quarter met ASK, its fourth MOVED: never sent to the wrong node unnoticed.
      return MultiProcessRedisBackend::stats().cluster_redirections >= 2 ? 0 : 5;
    }));
  }
  load_backend("MultiProcessRedisBackend", config);
  Workload work;
  int problems = 0;
  auto go = [&] {
    for (auto& d : down) {
      if (!write_bytes(d[1], 1)) return false;
    }
    return true;
  };
  auto scrape = [&](const char* when) {
    auto f = collect(work.reg);
    const std::string p = pytheus_test::histogram_problem(f);
    if (!p.empty() && problems++ < 5) ADD_FAILURE() << when << ": " << p;
  };
  const int slot = cluster.slot_of("{latency_seconds}");
  const std::size_t to = (cluster.owner(slot) + 1) % cluster.size();
  ASSERT_TRUE(read_bytes(up[0], kWorkers));
  cluster.begin_migration(slot, to);  // MIGRATING / IMPORTING, keys still on the source
  scrape("migration begun");
  ASSERT_TRUE(go());
  ASSERT_TRUE(read_bytes(up[0], kWorkers));
  cluster.move_keys(slot);  // the source answers ASK
  scrape("keys moved");
  ASSERT_TRUE(go());
  ASSERT_TRUE(read_bytes(up[0], kWorkers));
  cluster.finish_migration(slot);  // the source answers MOVED
  scrape("slot moved");
  ASSERT_TRUE(go());
  // The last quarter runs free while another metric's slot moves in one go, scraped all along.
  const int jobs_slot = cluster.slot_of("{jobs_total}");
  cluster.migrate(jobs_slot, (cluster.owner(jobs_slot) + 1) % cluster.size());
  std::set<pid_t> running(children.begin(), children.end());
  while (!running.empty()) {
    scrape("free-running load");
    for (auto it = running.begin(); it != running.end();) {
      int status = 0;
      if (waitpid(*it, &status, WNOHANG) == *it) {
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "worker " << *it;
        it = running.erase(it);
      } else {
        ++it;
      }
    }
  }
  EXPECT_EQ(problems, 0);
  auto f = collect(work.reg);
  const double n = double(kWorkers) * 4 * quarter;
  EXPECT_EQ(sample_value(f, "jobs_total", ""), n);
  EXPECT_EQ(sample_value(f, "requests_total", "", {{"method", "GET"}, {"code", "200"}}), n / 2);
  EXPECT_EQ(sample_value(f, "requests_total", "", {{"method", "POST"}, {"code", "200"}}), n / 2);
  EXPECT_EQ(sample_value(f, "latency_seconds", "_count"), n);
  EXPECT_EQ(sample_value(f, "latency_seconds", "_bucket", {{"le", "0.25"}}),
            kWorkers * count_le(4 * quarter, 0.25));
  EXPECT_EQ(sample_value(f, "latency_seconds", "_bucket", {{"le", "1"}}),
            kWorkers * count_le(4 * quarter, 1));
  EXPECT_EQ(sample_value(f, "latency_seconds", "_sum"), kWorkers * sum_of(4 * quarter));
  double spread = 0;
  for (const std::string& s : kSpread) spread += sample_value(f, s, "");
  EXPECT_EQ(spread, n);
  EXPECT_EQ(pytheus_test::histogram_problem(f), "");
  // This process's own scrapes met the moved slots.
  EXPECT_GT(MultiProcessRedisBackend::stats().cluster_redirections, 0u);
  // The moved slots' keys are on their new owners only.
  EXPECT_EQ(cluster.owner(slot), to);
}
