// The protobuf scrape (pytheus::protobuf) against the text scrapes of the same registry:
// 1,000 counter series + 100 histogram series (scrape_registry.hpp), in memory. Each run
// measures all three, so the figure to quote is the ratio of medians (docs/performance.md).
#include <benchmark/benchmark.h>

#include <memory>
#include <string>

#include "pytheus/protobuf.hpp"
#include "pytheus/pytheus.hpp"
#include "scrape_registry.hpp"

namespace {

pytheus::CollectorRegistry& registry() {
  static std::unique_ptr<pytheus::CollectorRegistry> r = [] {
    pytheus::load_backend("SingleProcessBackend");
    pytheus::protobuf::enable();
    return std::unique_ptr<pytheus::CollectorRegistry>(pytheus_bench::make_scrape_registry());
  }();
  return *r;
}

void scrape(benchmark::State& state, pytheus::Format format) {
  pytheus::CollectorRegistry& r = registry();
  std::size_t bytes = 0;
  for (auto _ : state) {
    std::string out = pytheus::generate_metrics(r, format);
    bytes = out.size();
    benchmark::DoNotOptimize(out);
  }
  state.counters["bytes"] = static_cast<double>(bytes);
}

void BM_Scrape_Text(benchmark::State& state) {
  scrape(state, pytheus::Format::prometheus);
}
BENCHMARK(BM_Scrape_Text);

void BM_Scrape_OpenMetrics(benchmark::State& state) {
  scrape(state, pytheus::Format::openmetrics);
}
BENCHMARK(BM_Scrape_OpenMetrics);

void BM_Scrape_Protobuf(benchmark::State& state) {
  scrape(state, pytheus::Format::protobuf);
}
BENCHMARK(BM_Scrape_Protobuf);

}  // namespace

BENCHMARK_MAIN();
