// The read path: the bulk read a scrape makes (plain MetricRequests in, plain rows out) and
// the read of one series behind Counter::get() or Histogram snapshots.
#pragma once

#include <vector>

#include "instance.hpp"
#include "key_layout.hpp"
#include "pytheus/backend.hpp"

namespace pytheus::detail::redis {

// Reads every metric of `metrics` in one round trip, after this process's pending deltas.
// Per request: its local series first (in its order, 0 when Redis lacks them), then the series
// only other processes wrote, sorted by label values. Throws CollectError when Redis cannot
// be reached or a key holds the wrong type.
std::vector<MetricRows> read_metrics(Instance& inst, const std::vector<MetricRequest>& metrics);

// Reads one series: one number per key of `keys`, in their order; and its native buckets
// into `native`, when given and the series has them.
std::vector<double> read_series(Instance& inst, const Keys& keys, const MetricInfo& series,
                                NativeBuckets* native = nullptr);

}  // namespace pytheus::detail::redis
