// MultiProcessFileBackend across real processes: exact totals from 4 writers, kill -9 in the
// middle of a run, churn of short-lived processes, histograms consistent under concurrent
// scrapes, gauge modes and liveness, and fork from a threaded parent.
#include <dirent.h>
#include <sys/stat.h>

#include <atomic>
#include <cmath>
#include <thread>

#include "file_test_helpers.hpp"
#include "store.hpp"

namespace pytheus_test {
namespace {

using pytheus::CollectorRegistry;

constexpr int kUpdates = kSanitized ? 100000 : 1000000;

std::uint64_t directory_bytes(const std::string& dir) {
  std::uint64_t total = 0;
  DIR* d = opendir(dir.c_str());
  while (dirent* e = readdir(d)) {
    struct stat st {};
    if (stat((dir + "/" + e->d_name).c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      total += static_cast<std::uint64_t>(st.st_blocks) * 512;
    }
  }
  closedir(d);
  return total;
}

struct Workload {
  CollectorRegistry reg;
  pytheus::Counter jobs{"jobs", "Jobs.", {}, {}, &reg};
  pytheus::Counter outcomes{"outcomes", "Outcomes.", {"outcome"}, {}, &reg};
  pytheus::Histogram latency{"latency", "Latency.", {}, {}, &reg, pytheus::Buckets{0.1, 0.5, 1}};

  // One update of each; `progress` (if any) is stored only after all three returned.
  void run(int n, std::atomic<std::int64_t>* progress = nullptr) {
    auto ok = outcomes.labels({{"outcome", "ok"}});
    auto err = outcomes.labels({{"outcome", "error"}});
    for (int i = 0; i < n; ++i) {
      jobs.inc();
      (i % 4 == 0 ? err : ok).inc();
      latency.observe((i % 5) * 0.3);
      if (progress) progress->store(i + 1, std::memory_order_release);
    }
  }
};

TEST_F(FileBackendTest, FourProcessesGiveExactTotals) {
  Workload w;
  std::vector<pid_t> pids;
  for (int p = 0; p < 4; ++p) pids.push_back(spawn([&] { w.run(kUpdates); }));
  for (pid_t pid : pids) ASSERT_EQ(wait_child(pid), 0);
  const auto f = pytheus::collect(w.reg);
  const double total = 4.0 * kUpdates;
  EXPECT_EQ(sample(f, "jobs"), total);
  EXPECT_EQ(
      sample(f, "outcomes", {{"outcome", "ok"}}) + sample(f, "outcomes", {{"outcome", "error"}}),
      total);
  EXPECT_EQ(sample(f, "outcomes", {{"outcome", "error"}}), 4.0 * ((kUpdates + 3) / 4));
  EXPECT_EQ(sample(f, "latency_count"), total);
  EXPECT_EQ(sample(f, "latency_bucket", {{"le", "+Inf"}}), total);
  EXPECT_EQ(sample(f, "latency_bucket", {{"le", "0.1"}}), 4.0 * ((kUpdates + 4) / 5));
}

TEST_F(FileBackendTest, KillNineLosesNothingThatReturned) {
  Workload w;
  auto* progress = shared_block<std::atomic<std::int64_t>>();
  std::vector<pid_t> pids;
  for (int p = 0; p < 3; ++p) pids.push_back(spawn([&] { w.run(kUpdates); }));
  const pid_t victim = spawn([&] { w.run(kUpdates * 100, progress); });
  ASSERT_TRUE(
      wait_until([&] { return progress->load() > kUpdates / 10; }, std::chrono::seconds(60)));
  kill(victim, SIGKILL);
  EXPECT_EQ(wait_child(victim), 128 + SIGKILL);
  const auto returned = static_cast<double>(progress->load());
  for (pid_t pid : pids) ASSERT_EQ(wait_child(pid), 0);
  const auto f = pytheus::collect(w.reg);
  const double others = 3.0 * kUpdates;
  // Everything that returned is there; at most the one update in flight besides.
  EXPECT_GE(sample(f, "jobs"), others + returned);
  EXPECT_LE(sample(f, "jobs"), others + returned + 1);
  EXPECT_GE(sample(f, "latency_count"), others + returned);
  EXPECT_LE(sample(f, "latency_count"), others + returned + 1);
  // A new process folds the dead ones; the totals do not move.
  const pid_t next = spawn([&] { w.jobs.inc(0); });
  ASSERT_EQ(wait_child(next), 0);
  EXPECT_EQ(sample(pytheus::collect(w.reg), "jobs"), sample(f, "jobs"));
}

TEST_F(FileBackendTest, ChurnKeepsFilesAndScrapesFlat) {
  Workload w;
  const int processes = kSanitized ? 200 : 2000;
  std::uint64_t bytes_after_first = 0;
  std::size_t samples_after_first = 0;
  for (int p = 0; p < processes; p += 2) {
    const pid_t a = spawn([&] { w.run(5); });
    const pid_t b = spawn([&] { w.run(5); });
    ASSERT_EQ(wait_child(a), 0);
    ASSERT_EQ(wait_child(b), 0);
    if (p == 0) {
      bytes_after_first = directory_bytes(dir_.path().string());
      samples_after_first = pytheus::collect(w.reg).size();
    }
  }
  const auto f = pytheus::collect(w.reg);
  EXPECT_EQ(sample(f, "jobs"), 5.0 * processes);
  EXPECT_EQ(sample(f, "latency_count"), 5.0 * processes);
  EXPECT_EQ(f.size(), samples_after_first);
  // Slots are reused: the files are what two live processes need, not 2,000.
  EXPECT_LE(directory_bytes(dir_.path().string()), bytes_after_first + 2 * 65536);
  struct stat st {};
  EXPECT_NE(stat(path("slot-1.db").c_str(), &st), -1);
  EXPECT_EQ(stat(path("slot-4.db").c_str(), &st), -1) << "a fifth slot file was made";
}

TEST_F(FileBackendTest, HistogramsStayConsistentUnderConcurrentScrapes) {
  Workload w;
  auto* stop = shared_block<std::atomic<int>>();
  std::vector<pid_t> pids;
  for (int p = 0; p < 2; ++p) {
    pids.push_back(spawn([&] {
      int i = 0;
      while (stop->load(std::memory_order_relaxed) == 0) w.latency.observe((i++ % 7) * 0.2);
    }));
  }
  int inconsistent = 0;
  double last_count = 0;
  for (int scrape = 0; scrape < 1000; ++scrape) {
    const auto f = pytheus::collect(w.reg);
    const auto buckets = samples(f, "latency_bucket", {{"le", "0.1"}});
    const double b1 = sample(f, "latency_bucket", {{"le", "0.1"}});
    const double b2 = sample(f, "latency_bucket", {{"le", "0.5"}});
    const double b3 = sample(f, "latency_bucket", {{"le", "1"}});
    const double inf = sample(f, "latency_bucket", {{"le", "+Inf"}});
    const double count = sample(f, "latency_count");
    if (!(b1 <= b2 && b2 <= b3 && b3 <= inf && inf == count && count >= last_count)) ++inconsistent;
    last_count = count;
  }
  stop->store(1);
  for (pid_t pid : pids) ASSERT_EQ(wait_child(pid), 0);
  EXPECT_EQ(inconsistent, 0);
  EXPECT_GT(last_count, 0);
}

TEST_F(FileBackendTest, GaugeModesAcrossProcessesAndLiveness) {
  CollectorRegistry reg;
  using M = pytheus::GaugeMode;
  const std::vector<M> modes{M::shared,  M::all,        M::sum,           M::max,
                             M::min,     M::mostrecent, M::liveall,       M::livesum,
                             M::livemax, M::livemin,    M::livemostrecent};
  std::vector<std::unique_ptr<pytheus::Gauge>> gauges;
  for (M m : modes) {
    gauges.push_back(std::make_unique<pytheus::Gauge>("g_" + std::string(pytheus::to_string(m)),
                                                      "G.", pytheus::LabelNames{},
                                                      pytheus::LabelDefaults{}, &reg, m));
  }
  auto* ready = shared_block<std::atomic<int>>();
  std::vector<pid_t> pids;
  for (int p = 1; p <= 3; ++p) {
    pids.push_back(spawn([&, p] {
      for (auto& g : gauges) g->set(10.0 * p);  // 10, 20, 30; the last set is process 3's
      ready->fetch_add(1);
      if (p != 3) pause();  // 1 and 2 stay alive; 3 exits
    }));
    ASSERT_TRUE(wait_until([&] { return ready->load() == p; }, std::chrono::seconds(20)));
    usleep(2000);
  }
  ASSERT_EQ(wait_child(pids[2]), 0);
  auto value = [&](M m) {
    return sample(pytheus::collect(reg), "g_" + std::string(pytheus::to_string(m)));
  };
  auto series = [&](M m) {
    return count_series(pytheus::collect(reg), "g_" + std::string(pytheus::to_string(m)));
  };
  // Process 3 exited: in the non-live modes, kept (its slot not yet reused); live: gone.
  EXPECT_EQ(value(M::shared), 30);
  EXPECT_EQ(value(M::sum), 60);
  EXPECT_EQ(value(M::max), 30);
  EXPECT_EQ(value(M::min), 10);
  EXPECT_EQ(value(M::mostrecent), 30);
  EXPECT_EQ(series(M::all), 3u);
  EXPECT_EQ(value(M::livesum), 30);
  EXPECT_EQ(value(M::livemax), 20);
  EXPECT_EQ(value(M::livemin), 10);
  EXPECT_EQ(value(M::livemostrecent), 20);
  EXPECT_EQ(series(M::liveall), 2u);
  // kill -9 of process 1: gone from the live modes at once.
  kill(pids[0], SIGKILL);
  wait_child(pids[0]);
  EXPECT_EQ(value(M::livesum), 20);
  EXPECT_EQ(value(M::livemin), 20);
  EXPECT_EQ(series(M::liveall), 1u);
  EXPECT_EQ(value(M::sum), 60);
  EXPECT_EQ(value(M::min), 10);
  // A new process folds the dead ones: sum, max, min and mostrecent keep their values.
  const pid_t next = spawn([&] { gauges[0]->inc(0); });
  ASSERT_EQ(wait_child(next), 0);
  EXPECT_EQ(value(M::sum), 60);
  EXPECT_EQ(value(M::max), 30);
  EXPECT_EQ(value(M::min), 10);
  EXPECT_EQ(value(M::mostrecent), 30);
  EXPECT_EQ(value(M::livesum), 20);
  kill(pids[1], SIGKILL);
  wait_child(pids[1]);
}

TEST_F(FileBackendTest, ThreadedParentForksWithoutDeadlock) {
  CollectorRegistry reg;
  pytheus::Counter c("c", "C.", {"k"}, {}, &reg);
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      // New series keep the directory lock and the store's mutex busy.
      for (int i = 0; !stop.load(); ++i) {
        c.labels({{"k", std::to_string(t * 1000000 + i % 300)}}).inc();
        if (i % 50 == 0) pytheus::collect(reg);
      }
    });
  }
  const int forks = kSanitized ? 10 : 50;
  int failed = 0;
  for (int i = 0; i < forks; ++i) {
    const pid_t pid = spawn([&] {
      c.labels({{"k", "child"}}).inc();
      c.labels({{"k", "child-" + std::to_string(getpid())}}).inc();  // a new series
    });
    failed += wait_child(pid, std::chrono::seconds(20)) != 0;
  }
  stop = true;
  for (auto& t : threads) t.join();
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(sample(pytheus::collect(reg), "c", {{"k", "child"}}), forks);
}

}  // namespace
}  // namespace pytheus_test

namespace pytheus_test {
namespace {

int g_die_at_unit = -1;
int g_die_at_phase = 0;
int g_units_seen = 0;
void die_mid_fold(std::uint64_t, int phase) {
  if (phase == g_die_at_phase && g_units_seen++ == g_die_at_unit) _exit(42);
}

// A process killed in the middle of folding a dead one: the next reader or process finishes
// the fold, and every value is counted exactly once, wherever the folder died.
TEST_F(FileBackendTest, AFolderDyingMidFoldCountsEverythingOnce) {
  CollectorRegistry reg;
  pytheus::Counter c("c", "C.", {}, {}, &reg);
  pytheus::Histogram h("h", "H.", {}, {}, &reg, pytheus::Buckets{1, 2});
  pytheus::Gauge g("g", "G.", {}, {}, &reg, pytheus::GaugeMode::sum);
  double expected_c = 0, expected_n = 0, expected_g = 0;
  for (int unit = 0; unit < 6; ++unit) {
    for (int phase = 0; phase < 2; ++phase) {
      // A process counts and dies...
      const pid_t worker = spawn([&] {
        c.inc(3);
        h.observe(0.5);
        h.observe(1.5);
        g.set(2);
      });
      ASSERT_EQ(wait_child(worker), 0);
      expected_c += 3;
      expected_n += 2;
      expected_g += 2;
      // ...and the next one dies while folding it.
      const pid_t folder = spawn([&] {
        pytheus::detail::file::fold_unit_hook = &die_mid_fold;
        g_die_at_unit = unit;
        g_die_at_phase = phase;
        c.inc(0);  // takes a slot: folds the dead worker
      });
      EXPECT_EQ(wait_child(folder), 42) << "unit " << unit << " phase " << phase;
      const auto f = pytheus::collect(reg);  // finishes the fold
      EXPECT_EQ(sample(f, "c"), expected_c) << "unit " << unit << " phase " << phase;
      EXPECT_EQ(sample(f, "h_count"), expected_n) << "unit " << unit << " phase " << phase;
      EXPECT_EQ(sample(f, "h_bucket", {{"le", "1"}}), expected_n / 2);
      EXPECT_EQ(sample(f, "h_sum"), expected_n);
      EXPECT_EQ(sample(f, "g"), expected_g) << "unit " << unit << " phase " << phase;
    }
  }
}

}  // namespace
}  // namespace pytheus_test
