// Native histogram buckets on Redis. Each metric with native buckets has one more hash,
// NAME:native, whose fields are `<bucket>|<labels JSON>` ("" for no labels), `<bucket>` being
// `p<schema>_<index>` or `n<schema>_<index>` (a positive or negative bucket at that schema)
// or `z<threshold>` (the zero bucket of that width). A field names its own schema, so a
// process that halved its resolution writes new fields beside the old ones, and a scrape
// merges everything at the lowest schema and widest zero bucket present: exact, because
// every bound of a lower schema is a bound of a higher one.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "pytheus/backend.hpp"
#include "pytheus/detail/native.hpp"

namespace pytheus::detail::redis {

// One native bucket of one series and how many observations it gets.
struct NativeDelta {
  char kind = 'z';  // 'p', 'n' or 'z'
  std::int32_t schema = 0;
  std::int32_t index = 0;
  double zero_threshold = 0;
  std::uint64_t n = 0;

  bool same_bucket(const NativeDelta& o) const {
    return kind == o.kind && schema == o.schema && index == o.index &&
           zero_threshold == o.zero_threshold;
  }
};

// The field of `d` for the series whose labels field is `labels`.
std::string native_field(const NativeDelta& d, std::string_view labels);

// This process's side of one native series: the state of its own observations, which picks
// the schema and zero bucket an observation is written at (the bucket limit as in one
// process, except the reset, which would erase other processes' counts), and the deltas not
// yet written (write-behind, or while Redis is unreachable). Guarded by the slot's mutex.
struct NativeSlot {
  explicit NativeSlot(const NativeHistogramOptions& options);
  // Records `v` in the state; returns the bucket it is written to.
  NativeDelta bucket_of(double v);
  // Adds one observation of bucket `d` to the pending deltas; allocation-free once the
  // series has met its buckets (the vector keeps its capacity across flushes).
  void add_pending(const NativeDelta& d, std::uint64_t n = 1);

  native::NativeState state;
  std::vector<NativeDelta> pending;
};

// Parses the fields of NAME:native into one NativeBuckets per labels field. Skips, and
// returns false for, a field that is no native bucket.
class NativeReader {
 public:
  explicit NativeReader(const NativeHistogramOptions& options) : options_(options) {}
  // Adds `count` observations of field `field`; `labels` receives its labels part.
  bool add(std::string_view field, double count, std::string_view& labels, NativeBuckets& into);
  // A series' buckets with no fields yet: the configured schema and zero bucket.
  NativeBuckets empty() const;
  // Keeps `b` within max_buckets by halving its resolution (exact), as a process would.
  void limit(NativeBuckets& b) const;

 private:
  NativeHistogramOptions options_;
};

}  // namespace pytheus::detail::redis
