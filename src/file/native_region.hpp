// Native buckets on the file backend: a fixed region of cells per (cell file, series), after
// the series' classic cells (bucket counts, then the sum).
//
// Region layout (cells of 8 bytes, W counts per sign, W = window_for(max_buckets)):
//   [0] lock    0 when free; else who holds it: kOwner (one of the slot owner's threads), or
//               the pid of a reader or an eraser. Writers (the owner's threads) take it for
//               each update, with one compare-and-swap. It covers the series' classic cells
//               of the same file too, so a reader never sees a count without its bucket.
//   [1] version odd while a writer updates the series: readers first read optimistically
//               (a seqlock: retried while odd or changed) and, if a busy writer keeps them
//               from it, take the lock themselves for the length of one read, so they never
//               starve. A holder found dead (a look at /proc, only after waiting long) is
//               replaced; an owner that died holding it writes nothing more anyway.
//   [2] meta    bit 1: the region holds buckets; bit 0: which of the two buffers is current.
//   [3] intent  1 + the cell (from the region's start) an observation in progress adds one
//               to, else 0: what undoes a half-made observation of an owner that died.
//   then two buffers of 6 + 2W cells: schema, zero threshold (double bits), offset of the
//   positive and of the negative window (kUnset: none yet), zero count, populated buckets,
//   W positive counts (bucket offset + i), W negative counts.
//
// An observation whose bucket is in the current window is one increment under the lock. One
// outside it (or one more populated bucket than max_buckets allows) rebuilds the buckets in
// the other buffer (recentred, zero bucket widened, resolution halved: what max_buckets asks)
// with the observation in it, then switches `meta` with one store: an owner that dies at any
// point leaves a current buffer that is whole. Within the lock an observation adds to its
// native cell first and to its classic bucket after; the owner dying between the two leaves
// one more native count than classic, which a reader (and the fold) takes back from the cell
// `intent` names. So what a dead process left is always a consistent series, and nothing it
// returned from is lost.
//
// totals.db has a region per series too, written only by folds (under the directory lock,
// inside a fold_seq window, by the same buffer switch, see fold.cpp); its lock stays free.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "pytheus/backend.hpp"
#include "pytheus/collector.hpp"

namespace pytheus::detail::file::native_region {

inline constexpr std::uint64_t kHeader = 4;
inline constexpr std::uint64_t kBufferHeader = 6;
inline constexpr std::int64_t kUnset = INT64_MIN;
// At schema -4 every finite double is within 136 bucket indices per sign, so a window at
// least this wide always fits by halving; it is also the least a region takes.
inline constexpr std::uint64_t kMinWindow = 136;
inline constexpr std::uint64_t kMaxWindow = 1u << 16;

inline std::uint64_t window_for(std::uint32_t max_buckets) {
  return max_buckets < kMinWindow   ? kMinWindow
         : max_buckets > kMaxWindow ? kMaxWindow
                                    : max_buckets;
}
inline std::uint64_t buffer_cells(std::uint64_t w) {
  return kBufferHeader + 2 * w;
}
inline std::uint64_t region_cells(std::uint64_t w) {
  return kHeader + 2 * buffer_cells(w);
}
// The window of a region of `cells` cells, or 0 when no region has that size.
inline std::uint64_t window_of(std::uint64_t cells) {
  if (cells < region_cells(kMinWindow) || (cells - kHeader - 2 * kBufferHeader) % 4 != 0) return 0;
  const std::uint64_t w = (cells - kHeader - 2 * kBufferHeader) / 4;
  return w <= kMaxWindow ? w : 0;
}

// A series' cells in one cell file: its classic bucket counts (`buckets` of them), the sum,
// then the region.
struct SeriesCells {
  unsigned char* cells = nullptr;  // the series' first cell
  std::uint64_t buckets = 0;
  std::uint64_t window = 0;
};

// The owner's side. Each call takes the region's lock, so the owner's threads may call them
// concurrently; nothing else writes a slot's region but erase (which takes the lock too).
// Records `value` (bucket `bucket` of the classic ones): classic count, native bucket and sum
// as one unit for readers. Allocation-free unless the window has to change.
void observe(const SeriesCells& s, const NativeHistogramOptions& o, double value,
             std::uint64_t bucket);
// Adds a snapshot (a backend change carrying values over).
void merge(const SeriesCells& s, const NativeHistogramOptions& o, const HistogramSnapshot& other);

// Erase: under the region's lock (waiting for an owner in the middle of an update unless
// `owner_dead`), zeroes the classic cells and the region.
void erase(const SeriesCells& s, bool owner_dead);

// What one cell file holds of a series, read consistently.
struct Read {
  std::vector<std::uint64_t> counts;  // classic bucket counts
  double sum = 0;
  bool has_native = false;
  NativeBuckets native;
};
// Reads a slot (`locked`: owned by a process that may be writing; `alive`: it is alive, so
// a reader waits for it rather than undoing its observation in progress) or the totals (not
// locked). `cells` may be null (the file does not cover the series).
Read read(const unsigned char* cells, std::uint64_t buckets, std::uint64_t window, bool locked,
          bool alive);

// Fold support: the meta word of a region, and a rebuild of `into`'s other buffer as
// `into`'s buckets plus `add`, followed by the switch.
std::uint64_t meta(const unsigned char* cells, std::uint64_t buckets);
void fold_into(const SeriesCells& into, const NativeBuckets& add);

// Keeps `b` within `max_buckets` populated buckets by halving its resolution (exact).
void limit(NativeBuckets& b, std::uint32_t max_buckets);

// Fault injection for tests: called by observe() once the native count is made, before the
// classic one (`rebuilt`: through the other buffer). Null normally.
extern void (*observe_hook)(bool rebuilt);

}  // namespace pytheus::detail::file::native_region
