// MultiProcessFileBackend against the in-process backends and prometheus-cpp, ratios from one
// run (docs/performance.md, "Multi-process file backend"):
//  - Counter::inc() against AtomicBackend; Histogram::observe() (classic, and native) against
//    the default in-memory backend (SingleProcessBackend);
//  - one counter incremented by 2 processes at once against prometheus-cpp's counter with 2
//    threads (items_per_second);
//  - a scrape of 1,000 counter + 100 histogram series with 8 live processes against the same
//    registry in memory, and again after 1,000 processes came and went; slot bytes per series
//    per live process.
#include <benchmark/benchmark.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "pytheus/backends/atomic.hpp"
#include "pytheus/pytheus.hpp"
#include "scrape_registry.hpp"

#ifdef PYTHEUS_BENCH_HAVE_PROMETHEUS_CPP
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>
#endif

namespace {

const std::string& directory() {
  static const std::string dir = [] {
    char pattern[] = "/tmp/pytheus-bench-file-XXXXXX";
    return std::string(mkdtemp(pattern));
  }();
  return dir;
}

void load_file() {
  pytheus::load_backend("MultiProcessFileBackend", nlohmann::json{{"directory", directory()}});
}

void BM_CounterInc_AtomicLoaded(benchmark::State& state) {
  pytheus::load_backend("AtomicBackend");
  static pytheus::CollectorRegistry reg;
  static pytheus::Counter c("atomic_loaded", "x", {}, {}, &reg);
  for (auto _ : state) c.inc();
}
BENCHMARK(BM_CounterInc_AtomicLoaded);

void BM_CounterInc_AtomicStatic(benchmark::State& state) {
  static pytheus::CollectorRegistry reg;
  static pytheus::BasicCounter<pytheus::AtomicBackend> c("atomic_static", "x", {}, {}, &reg);
  for (auto _ : state) c.inc();
}
BENCHMARK(BM_CounterInc_AtomicStatic);

void BM_CounterInc_File(benchmark::State& state) {
  load_file();
  static pytheus::CollectorRegistry reg;
  static pytheus::Counter c("file_counter", "x", {}, {}, &reg);
  for (auto _ : state) c.inc();
}
BENCHMARK(BM_CounterInc_File);

void BM_HistogramObserve_SingleProcess(benchmark::State& state) {
  pytheus::load_backend("SingleProcessBackend");
  static pytheus::CollectorRegistry reg;
  static pytheus::Histogram h("sp_hist", "x", {}, {}, &reg);
  double v = 0;
  for (auto _ : state) h.observe(v += 0.001);
}
BENCHMARK(BM_HistogramObserve_SingleProcess);

void BM_HistogramObserve_File(benchmark::State& state) {
  load_file();
  static pytheus::CollectorRegistry reg;
  static pytheus::Histogram h("file_hist", "x", {}, {}, &reg);
  double v = 0;
  for (auto _ : state) h.observe(v += 0.001);
}
BENCHMARK(BM_HistogramObserve_File);

// Native buckets (default options) on the file backend: the same values, against the
// classic observe() above and the default in-memory backend's native observe().
void BM_HistogramObserve_NativeSingleProcess(benchmark::State& state) {
  pytheus::load_backend("SingleProcessBackend");
  static pytheus::CollectorRegistry reg;
  static pytheus::Histogram h("sp_native", "x", {}, {}, &reg, {},
                              pytheus::NativeHistogramOptions{});
  double v = 0;
  for (auto _ : state) h.observe(v += 0.001);
}
BENCHMARK(BM_HistogramObserve_NativeSingleProcess);

void BM_HistogramObserve_NativeFile(benchmark::State& state) {
  load_file();
  static pytheus::CollectorRegistry reg;
  static pytheus::Histogram h("file_native", "x", {}, {}, &reg, {},
                              pytheus::NativeHistogramOptions{});
  double v = 0;
  for (auto _ : state) h.observe(v += 0.001);
}
BENCHMARK(BM_HistogramObserve_NativeFile);

constexpr int kPerWorker = 5000000;

// Two processes, one counter: wall time from fork to both exits.
void BM_TwoProcessesOneCounter_File(benchmark::State& state) {
  load_file();
  static pytheus::CollectorRegistry reg;
  static pytheus::Counter c("two_processes", "x", {}, {}, &reg);
  c.inc(0);
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    std::vector<pid_t> pids;
    for (int p = 0; p < 2; ++p) {
      const pid_t pid = fork();
      if (pid == 0) {
        for (int i = 0; i < kPerWorker; ++i) c.inc();
        _exit(0);
      }
      pids.push_back(pid);
    }
    for (pid_t pid : pids) waitpid(pid, nullptr, 0);
    state.SetIterationTime(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  state.SetItemsProcessed(state.iterations() * 2 * kPerWorker);
}
BENCHMARK(BM_TwoProcessesOneCounter_File)->UseManualTime()->Iterations(5);

#ifdef PYTHEUS_BENCH_HAVE_PROMETHEUS_CPP
void BM_PromCpp_TwoThreadsOneCounter(benchmark::State& state) {
  static auto registry = std::make_shared<prometheus::Registry>();
  static auto& c =
      prometheus::BuildCounter().Name("p_two_total").Help("x").Register(*registry).Add({});
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> threads;
    for (int t = 0; t < 2; ++t) {
      threads.emplace_back([] {
        for (int i = 0; i < kPerWorker; ++i) c.Increment();
      });
    }
    for (auto& t : threads) t.join();
    state.SetIterationTime(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  state.SetItemsProcessed(state.iterations() * 2 * kPerWorker);
}
BENCHMARK(BM_PromCpp_TwoThreadsOneCounter)->UseManualTime()->Iterations(5);
#endif

void BM_Scrape_InMemory(benchmark::State& state) {
  pytheus::load_backend("SingleProcessBackend");
  static pytheus::CollectorRegistry* reg = pytheus_bench::make_scrape_registry();
  for (auto _ : state) benchmark::DoNotOptimize(pytheus::generate_metrics(*reg));
}
BENCHMARK(BM_Scrape_InMemory);

std::uint64_t slot_bytes(int* files) {
  std::uint64_t total = 0;
  *files = 0;
  DIR* d = opendir(directory().c_str());
  while (dirent* e = readdir(d)) {
    if (std::string(e->d_name).rfind("slot-", 0) != 0) continue;
    struct stat st {};
    if (stat((directory() + "/" + e->d_name).c_str(), &st) == 0) {
      total += static_cast<std::uint64_t>(st.st_size);
      ++*files;
    }
  }
  closedir(d);
  return total;
}

// The registry on the files, with 7 children alive besides this process, each having
// updated every series.
pytheus::CollectorRegistry* file_scrape_registry() {
  static pytheus::CollectorRegistry* reg = [] {
    load_file();
    auto* r = pytheus_bench::make_scrape_registry();
    int fds[2];
    if (pipe(fds) != 0) std::abort();
    for (int p = 0; p < 7; ++p) {
      if (fork() == 0) {
        close(fds[1]);
        pytheus::generate_metrics(*pytheus_bench::make_scrape_registry());
        char c;
        while (read(fds[0], &c, 1) > 0) {
        }
        _exit(0);  // the parent exited: its end of the pipe closed
      }
    }
    close(fds[0]);
    usleep(500000);
    return r;
  }();
  return reg;
}

void BM_Scrape_File8Processes(benchmark::State& state) {
  pytheus::CollectorRegistry* reg = file_scrape_registry();
  for (auto _ : state) benchmark::DoNotOptimize(pytheus::generate_metrics(*reg));
  int files = 0;
  const std::uint64_t bytes = slot_bytes(&files);
  state.counters["slot_files"] = files;
  state.counters["slot_bytes_per_series"] = double(bytes) / files / 1100;
}
BENCHMARK(BM_Scrape_File8Processes);

void BM_Scrape_File8ProcessesAfter1000Churned(benchmark::State& state) {
  pytheus::CollectorRegistry* reg = file_scrape_registry();
  static const bool churned = [] {
    pytheus::Counter c("family_0_total", "A counter family.", {"value"}, {}, nullptr);
    for (int p = 0; p < 1000; ++p) {
      const pid_t pid = fork();
      if (pid == 0) {
        c.labels({{"value", "v1"}}).inc();
        _exit(0);
      }
      waitpid(pid, nullptr, 0);
    }
    return true;
  }();
  benchmark::DoNotOptimize(churned);
  for (auto _ : state) benchmark::DoNotOptimize(pytheus::generate_metrics(*reg));
  int files = 0;
  slot_bytes(&files);
  state.counters["slot_files"] = files;
}
BENCHMARK(BM_Scrape_File8ProcessesAfter1000Churned);

}  // namespace

BENCHMARK_MAIN();
