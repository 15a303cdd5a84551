// The registry that the scrape benchmarks read (bench_core in memory, bench_redis on Redis):
// 100 counter families x 10 label values + 100 histogram series.
#pragma once

#include <string>

#include "pytheus/pytheus.hpp"

namespace pytheus_bench {

// Defines the metrics in a new registry (on the loaded backend) and gives every series a value.
inline pytheus::CollectorRegistry* make_scrape_registry() {
  auto* r = new pytheus::CollectorRegistry();
  for (int f = 0; f < 100; ++f) {
    pytheus::Counter c("family_" + std::to_string(f) + "_total", "A counter family.", {"value"}, {},
                       r);
    for (int v = 0; v < 10; ++v) c.labels({{"value", "v" + std::to_string(v)}}).inc(v + 0.5);
  }
  pytheus::Histogram h("latency_seconds", "A histogram family.", {"route"}, {}, r);
  for (int s = 0; s < 100; ++s) h.labels({{"route", "/r" + std::to_string(s)}}).observe(0.1 * s);
  return r;
}

}  // namespace pytheus_bench
