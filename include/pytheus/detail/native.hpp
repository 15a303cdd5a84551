// Native histogram math, the one place every backend takes it from: the bucket index of a
// value at a schema, bucket bounds, schema reduction and the merge of bucket sets, and
// NativeState, the in-process storage of one series' native buckets.
//
// Bucket `i` of schema `s` holds values in (base^(i-1), base^i], base = 2^(2^-s): upper
// bounds are inclusive, as Prometheus and client_golang define them.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "pytheus/backend.hpp"
#include "pytheus/collector.hpp"

namespace pytheus::detail::native {

inline constexpr std::int32_t kMinSchema = -4;
inline constexpr std::int32_t kMaxSchema = 8;

using BucketList = std::vector<std::pair<std::int32_t, std::uint64_t>>;

// The upper bounds of the 2^schema buckets of one power of two, as fractions in [0.5, 1)
// (client_golang's table, computed the same way); schema 1..8.
const double* fraction_bounds(std::int32_t schema);

// The index of the bucket that holds `abs_value` (finite, > 0) at `schema`.
inline std::int32_t bucket_index(double abs_value, std::int32_t schema) {
  // abs_value = frac * 2^exp, frac in [0.5, 1): frexp, read off the bits for normal numbers
  // (the library call costs as much as the rest of an observation).
  int exp = 0;
  double frac = 0;
  std::uint64_t bits = 0;
  std::memcpy(&bits, &abs_value, sizeof bits);
  const auto biased = static_cast<int>((bits >> 52) & 0x7ff);
  if (biased != 0 && biased != 0x7ff) {
    exp = biased - 1022;
    bits = (bits & ~(std::uint64_t{0x7ff} << 52)) | (std::uint64_t{1022} << 52);
    std::memcpy(&frac, &bits, sizeof frac);
  } else {
    frac = std::frexp(abs_value, &exp);
  }
  if (schema > 0) {
    // The first bound >= frac: a value on a boundary belongs to the bucket below it.
    const double* bounds = fraction_bounds(schema);
    std::int32_t lo = 0;
    std::int32_t hi = std::int32_t{1} << schema;
    const std::int32_t n = hi;
    while (lo < hi) {
      const std::int32_t mid = (lo + hi) >> 1;
      if (bounds[mid] < frac) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return lo + (exp - 1) * n;
  }
  // Schema <= 0: bucket boundaries are powers of two; 2^(exp-1) itself (frac 0.5) is the
  // upper bound of the bucket below.
  std::int32_t key = exp;
  if (frac == 0.5) --key;
  const std::int32_t offset = (std::int32_t{1} << -schema) - 1;
  return (key + offset) >> -schema;
}

// The upper bound of bucket `index` at `schema` (std::numeric_limits<double>::max() for the
// last finite bucket, as client_golang).
double upper_bound(std::int32_t index, std::int32_t schema);
// The lower bound of bucket `index` (the upper bound of the one below).
inline double lower_bound(std::int32_t index, std::int32_t schema) {
  return upper_bound(index - 1, schema);
}

// The largest schema in -4..8 whose growth factor 2^(2^-schema) is at most `factor` (> 1).
std::int32_t schema_for_factor(double factor);

// The index at schema `to` of bucket `index` of schema `from` (to <= from): ceil(index /
// 2^(from - to)). Exact: every bound of the lower schema is a bound of the higher one.
inline std::int32_t reduce_index(std::int32_t index, std::int32_t from, std::int32_t to) {
  const std::int32_t shift = from - to;
  return (index + (std::int32_t{1} << shift) - 1) >> shift;  // arithmetic shift: floor
}

// Reduces a sorted bucket list of schema `from` to schema `to` (to <= from), in place,
// adding the counts of buckets that become one.
void reduce(BucketList& buckets, std::int32_t from, std::int32_t to);

// Adds `from` into `into` (both sorted, same schema).
void add(BucketList& into, const BucketList& from);

// Moves every bucket whose lower bound is below `b.zero_threshold` into the zero bucket,
// raising the threshold to that bucket's upper bound where the bucket straddles it: the
// result is exact (a coarser zero bucket, never a count in the wrong place).
void fold_into_zero(NativeBuckets& b);

// Adds `from` into `into`: both go to the lower of their schemas and the wider of their zero
// buckets. Exact; how processes that reduced their resolution differently are merged.
void merge(NativeBuckets& into, const NativeBuckets& from);

// Sum of every count (zero bucket and both signs).
std::uint64_t total_count(const NativeBuckets& b);

// NativeState stores one series' native buckets in process memory. Not thread-safe: its
// owner (a backend's Histogram) guards it with its own lock.
//
// Each sign keeps a dense window of counts indexed by bucket index - offset, grown when an
// observation falls outside it. A window, not a map: an observation is an index and an
// increment, and it allocates only when it reaches a bucket outside every earlier one, which
// stops once the range of observed values is covered (steady state). max_buckets bounds the
// populated buckets as client_golang does; the window is also kept within 8 * max_buckets
// per sign, so a few far-apart values cannot make a huge window.
class NativeState {
 public:
  explicit NativeState(const NativeHistogramOptions& options);

  // What observe() asks of its owner.
  enum class Result { ok, reset };

  // Records `value` (finite). Returns reset when the max-bucket strategy reset the series:
  // the owner then zeroes its classic buckets, count and sum, and records `value` again.
  Result observe(double value) {
    bool added = true;
    if (value > zero_threshold_) {
      added = positive_.add(bucket_index(value, schema_), populated_);
    } else if (value < -zero_threshold_) {
      added = negative_.add(bucket_index(-value, schema_), populated_);
    } else {
      ++zero_count_;
      return Result::ok;
    }
    if (added && populated_ <= max_buckets_) return Result::ok;
    return limit(value, added);
  }

  // Writes the buckets into `out` (its vectors are reused).
  void snapshot(NativeBuckets& out) const;
  // Adds another series' buckets (a backend change carrying values over), exactly.
  void merge(const NativeBuckets& other);
  // Back to the configured schema and zero threshold, every count zero.
  void reset();

  std::int32_t schema() const { return schema_; }
  double zero_threshold() const { return zero_threshold_; }
  std::uint32_t populated() const { return populated_; }
  // Counts held in the windows of both signs (memory: 8 bytes each).
  std::size_t window_size() const { return positive_.counts.size() + negative_.counts.size(); }

 private:
  struct Window {
    std::int32_t offset = 0;
    std::vector<std::uint64_t> counts;  // counts[i] is bucket offset + i
    std::size_t limit = 0;              // the most counts the window may span
    // Adds one to bucket `index`; false (nothing added) when the window would have to grow
    // past its limit.
    bool add(std::int32_t index, std::uint32_t& populated) {
      const std::size_t at = static_cast<std::size_t>(index - offset);
      if (index >= offset && at < counts.size()) {
        if (counts[at]++ == 0) ++populated;
        return true;
      }
      return grow_and_add(index, 1, populated, false);
    }
    bool grow_and_add(std::int32_t index, std::uint64_t n, std::uint32_t& populated, bool force);
  };

  // The slow path of observe: applies the max-bucket strategies until the series is within
  // its limits (`added`: whether `value` is already counted).
  Result limit(double value, bool added);
  // Counts `value` at the current schema and zero threshold; false when it did not fit.
  bool add_value(double value, bool force);
  bool widen_zero_bucket();
  void halve_resolution();
  void load(const NativeBuckets& b);

  NativeHistogramOptions options_;
  std::int32_t schema_;
  double zero_threshold_;
  std::uint32_t max_buckets_;
  std::uint64_t zero_count_ = 0;
  std::uint32_t populated_ = 0;
  Window positive_;
  Window negative_;
  double last_reset_ = 0;  // steady-clock seconds
};

}  // namespace pytheus::detail::native
