// In-process operations of pytheus-cpp, side by side with prometheus-cpp when it is built
// in (PYTHEUS_BENCH_HAVE_PROMETHEUS_CPP). Each pair measures the same operation in the same
// run, so the figures to quote are ratios of medians (bench/run.sh).
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "pytheus/backends/atomic.hpp"
#include "pytheus/pytheus.hpp"
#include "scrape_registry.hpp"

#ifdef PYTHEUS_BENCH_HAVE_PROMETHEUS_CPP
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#endif

namespace {

// The floor for the default backend: what a mutex-guarded double costs by itself.
void BM_RawMutexDouble(benchmark::State& state) {
  static std::mutex mu;
  static double value = 0;
  for (auto _ : state) {
    std::lock_guard<std::mutex> lock(mu);
    value += 1;
    benchmark::DoNotOptimize(value);
  }
}
BENCHMARK(BM_RawMutexDouble);

void BM_CounterInc_Default(benchmark::State& state) {
  pytheus::load_backend("SingleProcessBackend");
  static pytheus::Counter c("bench_default_total", "x", {}, {}, nullptr);
  for (auto _ : state) c.inc();
}
BENCHMARK(BM_CounterInc_Default);

void BM_CounterInc_Atomic(benchmark::State& state) {
  static pytheus::BasicCounter<pytheus::AtomicBackend> c("bench_atomic_total", "x", {}, {},
                                                         nullptr);
  for (auto _ : state) c.inc();
}
BENCHMARK(BM_CounterInc_Atomic);

// Contended: every thread increments the same counter; compare items_per_second.
void BM_CounterIncContended_Sharded(benchmark::State& state) {
  static pytheus::BasicCounter<pytheus::ShardedBackend> c("bench_sharded_total", "x", {}, {},
                                                          nullptr);
  for (auto _ : state) c.inc();
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CounterIncContended_Sharded)->ThreadRange(1, 4)->UseRealTime();

void BM_CounterIncContended_Atomic(benchmark::State& state) {
  static pytheus::BasicCounter<pytheus::AtomicBackend> c("bench_contended_total", "x", {}, {},
                                                         nullptr);
  for (auto _ : state) c.inc();
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CounterIncContended_Atomic)->ThreadRange(1, 4)->UseRealTime();

void BM_CounterIncContended_Default(benchmark::State& state) {
  static pytheus::Counter c("bench_contended_default_total", "x", {}, {}, nullptr);
  for (auto _ : state) c.inc();
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CounterIncContended_Default)->ThreadRange(1, 4)->UseRealTime();

void BM_HistogramObserve_Default(benchmark::State& state) {
  pytheus::load_backend("SingleProcessBackend");
  static pytheus::Histogram h("bench_latency_seconds", "x", {}, {}, nullptr);
  double v = 0;
  for (auto _ : state) {
    h.observe(v);
    v = v > 12 ? 0 : v + 0.37;
  }
}
BENCHMARK(BM_HistogramObserve_Default);

void BM_HistogramObserve_Atomic(benchmark::State& state) {
  static pytheus::BasicHistogram<pytheus::AtomicBackend> h("bench_latency_atomic_seconds", "x", {},
                                                           {}, nullptr);
  double v = 0;
  for (auto _ : state) {
    h.observe(v);
    v = v > 12 ? 0 : v + 0.37;
  }
}
BENCHMARK(BM_HistogramObserve_Atomic);

// Exemplars: the same inc with a 32-hex-digit trace id (validated, encoded and stored per
// call), inside an ExemplarScope (encoded once), and a plain inc while a provider-less,
// scope-less process pays its one relaxed load (BM_CounterInc_Default).
const std::string kTraceId = "4bf92f3577b34da6a3ce929d0e0e4736";

void BM_CounterIncExemplar_Default(benchmark::State& state) {
  pytheus::load_backend("SingleProcessBackend");
  static pytheus::Counter c("bench_exemplar_total", "x", {}, {}, nullptr);
  for (auto _ : state) c.inc(1, {{"trace_id", kTraceId}});
}
BENCHMARK(BM_CounterIncExemplar_Default);

void BM_CounterIncExemplarScope_Default(benchmark::State& state) {
  pytheus::load_backend("SingleProcessBackend");
  static pytheus::Counter c("bench_exemplar_scope_total", "x", {}, {}, nullptr);
  pytheus::ExemplarScope scope({{"trace_id", kTraceId}});
  for (auto _ : state) c.inc();
}
BENCHMARK(BM_CounterIncExemplarScope_Default);

void BM_HistogramObserveExemplar_Default(benchmark::State& state) {
  pytheus::load_backend("SingleProcessBackend");
  static pytheus::Histogram h("bench_exemplar_seconds", "x", {}, {}, nullptr);
  double v = 0;
  for (auto _ : state) {
    h.observe(v, {{"trace_id", kTraceId}});
    v = v > 12 ? 0 : v + 0.37;
  }
}
BENCHMARK(BM_HistogramObserveExemplar_Default);

// Native buckets (schema 3, default options), same values as the classic ones above.
void BM_HistogramObserve_Native(benchmark::State& state) {
  pytheus::load_backend("SingleProcessBackend");
  static pytheus::Histogram h("bench_native_seconds", "x", {}, {}, nullptr, {},
                              pytheus::NativeHistogramOptions{});
  double v = 0;
  for (auto _ : state) {
    h.observe(v);
    v = v > 12 ? 0 : v + 0.37;
  }
}
BENCHMARK(BM_HistogramObserve_Native);

void BM_HistogramObserve_NativeAtomic(benchmark::State& state) {
  static pytheus::BasicHistogram<pytheus::AtomicBackend> h(
      "bench_native_atomic_seconds", "x", {}, {}, nullptr, {}, pytheus::NativeHistogramOptions{});
  double v = 0;
  for (auto _ : state) {
    h.observe(v);
    v = v > 12 ? 0 : v + 0.37;
  }
}
BENCHMARK(BM_HistogramObserve_NativeAtomic);

void BM_LabelsInc_Existing(benchmark::State& state) {
  static pytheus::Counter c("bench_requests_total", "x", {"method", "code"}, {}, nullptr);
  c.labels({{"method", "GET"}, {"code", "200"}}).inc();
  for (auto _ : state) c.labels({{"method", "GET"}, {"code", "200"}}).inc();
}
BENCHMARK(BM_LabelsInc_Existing);

// The same on AtomicBackend, whose counter is one compare-and-swap like prometheus-cpp's.
void BM_LabelsInc_Existing_Atomic(benchmark::State& state) {
  static pytheus::BasicCounter<pytheus::AtomicBackend> c("bench_atomic_requests_total", "x",
                                                         {"method", "code"}, {}, nullptr);
  c.labels({{"method", "GET"}, {"code", "200"}}).inc();
  for (auto _ : state) c.labels({{"method", "GET"}, {"code", "200"}}).inc();
}
BENCHMARK(BM_LabelsInc_Existing_Atomic);

// 100 counter families x 10 label values + 100 histogram series.
void BM_GenerateMetrics(benchmark::State& state) {
  static auto* registry = pytheus_bench::make_scrape_registry();
  std::size_t bytes = 0;
  for (auto _ : state) {
    std::string text = pytheus::generate_metrics(*registry);
    bytes = text.size();
    benchmark::DoNotOptimize(text);
  }
  state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_GenerateMetrics);

// Heap bytes per series: mallinfo2() before and after creating `n` series.
template <class F>
double heap_bytes_per(int n, F&& make) {
  const auto before = mallinfo2().uordblks;
  make(n);
  const auto after = mallinfo2().uordblks;
  return static_cast<double>(after - before) / n;
}

void BM_MemoryPerSeries(benchmark::State& state) {
  constexpr int kSeries = 20000;
  double counter_bytes = 0, histogram_bytes = 0;
  for (auto _ : state) {
    pytheus::Counter c("mem_total", "x", {"id", "kind"}, {}, nullptr);
    counter_bytes = heap_bytes_per(kSeries, [&](int n) {
      for (int i = 0; i < n; ++i) c.labels({{"id", std::to_string(i)}, {"kind", "k"}}).inc();
    });
    pytheus::Histogram h("mem_seconds", "x", {"id", "kind"}, {}, nullptr);
    histogram_bytes = heap_bytes_per(kSeries, [&](int n) {
      for (int i = 0; i < n; ++i) h.labels({{"id", std::to_string(i)}, {"kind", "k"}}).observe(1);
    });
  }
  state.counters["counter_series_bytes"] = counter_bytes;
  state.counters["histogram_series_bytes"] = histogram_bytes;
}
BENCHMARK(BM_MemoryPerSeries)->Iterations(1);

#ifdef PYTHEUS_BENCH_HAVE_PROMETHEUS_CPP

prometheus::Registry& prom_registry() {
  static auto* r = new prometheus::Registry();
  return *r;
}

void BM_PromCpp_CounterIncrement(benchmark::State& state) {
  static auto& c =
      prometheus::BuildCounter().Name("p_total").Help("x").Register(prom_registry()).Add({});
  for (auto _ : state) c.Increment();
}
BENCHMARK(BM_PromCpp_CounterIncrement);

void BM_PromCpp_CounterIncrementContended(benchmark::State& state) {
  static auto& c = prometheus::BuildCounter()
                       .Name("p_contended_total")
                       .Help("x")
                       .Register(prom_registry())
                       .Add({});
  for (auto _ : state) c.Increment();
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PromCpp_CounterIncrementContended)->ThreadRange(1, 4)->UseRealTime();

prometheus::Histogram::BucketBoundaries default_bounds() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

void BM_PromCpp_HistogramObserve(benchmark::State& state) {
  static auto& h = prometheus::BuildHistogram()
                       .Name("p_latency_seconds")
                       .Help("x")
                       .Register(prom_registry())
                       .Add({}, default_bounds());
  double v = 0;
  for (auto _ : state) {
    h.Observe(v);
    v = v > 12 ? 0 : v + 0.37;
  }
}
BENCHMARK(BM_PromCpp_HistogramObserve);

void BM_PromCpp_FamilyAddIncrement(benchmark::State& state) {
  static auto& family =
      prometheus::BuildCounter().Name("p_requests_total").Help("x").Register(prom_registry());
  family.Add({{"method", "GET"}, {"code", "200"}}).Increment();
  for (auto _ : state) family.Add({{"method", "GET"}, {"code", "200"}}).Increment();
}
BENCHMARK(BM_PromCpp_FamilyAddIncrement);

void BM_PromCpp_CollectSerialize(benchmark::State& state) {
  static auto* registry = [] {
    auto* r = new prometheus::Registry();
    for (int f = 0; f < 100; ++f) {
      auto& family = prometheus::BuildCounter()
                         .Name("family_" + std::to_string(f) + "_total")
                         .Help("A counter family.")
                         .Register(*r);
      for (int v = 0; v < 10; ++v)
        family.Add({{"value", "v" + std::to_string(v)}}).Increment(v + 0.5);
    }
    auto& h = prometheus::BuildHistogram()
                  .Name("latency_seconds")
                  .Help("A histogram family.")
                  .Register(*r);
    for (int s = 0; s < 100; ++s) {
      h.Add({{"route", "/r" + std::to_string(s)}}, default_bounds()).Observe(0.1 * s);
    }
    return r;
  }();
  prometheus::TextSerializer serializer;
  std::size_t bytes = 0;
  for (auto _ : state) {
    std::string text = serializer.Serialize(registry->Collect());
    bytes = text.size();
    benchmark::DoNotOptimize(text);
  }
  state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_PromCpp_CollectSerialize);

void BM_PromCpp_MemoryPerSeries(benchmark::State& state) {
  constexpr int kSeries = 20000;
  double counter_bytes = 0, histogram_bytes = 0;
  for (auto _ : state) {
    prometheus::Registry r;
    auto& c = prometheus::BuildCounter().Name("mem_total").Help("x").Register(r);
    counter_bytes = heap_bytes_per(kSeries, [&](int n) {
      for (int i = 0; i < n; ++i) c.Add({{"id", std::to_string(i)}, {"kind", "k"}}).Increment();
    });
    auto& h = prometheus::BuildHistogram().Name("mem_seconds").Help("x").Register(r);
    histogram_bytes = heap_bytes_per(kSeries, [&](int n) {
      for (int i = 0; i < n; ++i) {
        h.Add({{"id", std::to_string(i)}, {"kind", "k"}}, default_bounds()).Observe(1);
      }
    });
  }
  state.counters["counter_series_bytes"] = counter_bytes;
  state.counters["histogram_series_bytes"] = histogram_bytes;
}
BENCHMARK(BM_PromCpp_MemoryPerSeries)->Iterations(1);

#endif  // PYTHEUS_BENCH_HAVE_PROMETHEUS_CPP

}  // namespace

BENCHMARK_MAIN();
