// The native region of a series in a cell file (see native_region.hpp for the layout and
// why an owner that dies at any point leaves a consistent series).
#include "native_region.hpp"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "pytheus/detail/native.hpp"
#include "store.hpp"

namespace pytheus::detail::file::native_region {
namespace {

namespace nm = pytheus::detail::native;
using U = std::atomic<std::uint64_t>;

U& at(unsigned char* c, std::uint64_t i) {
  return *reinterpret_cast<U*>(c + 8 * i);
}
const U& at(const unsigned char* c, std::uint64_t i) {
  return *reinterpret_cast<const U*>(c + 8 * i);
}

// Region header cells.
enum : std::uint64_t { kLock, kVersion, kMeta, kIntent };
// The lock word's holder when it is one of the owner's threads.
constexpr std::uint64_t kOwner = UINT64_MAX;

// Buffer fields, from the buffer's first cell.
enum : std::uint64_t { kSchema, kZeroThreshold, kPosOffset, kNegOffset, kZeroCount, kPopulated };

std::uint64_t buffer_start(std::uint64_t w, std::uint64_t which) {
  return kHeader + which * buffer_cells(w);
}

void pause_briefly(int attempt) {
  if (attempt % 64 == 63) sched_yield();
}

bool holder_dead(std::uint64_t holder) {
  return holder != kOwner && !process_start_time(static_cast<pid_t>(holder));
}

// Takes the lock word of a region for `holder` (kOwner, or a reader's or eraser's pid).
// Waits while another holds it; a reader or eraser that died holding it is replaced (checked
// now and then: a look at /proc, only when waiting long). With `give_up`, returns false
// after that many attempts instead.
bool take(U& lock, std::uint64_t holder, long give_up = -1) {
  for (long attempt = 0;; ++attempt) {
    std::uint64_t h = lock.load(std::memory_order_relaxed);
    if (h == 0) {
      if (lock.compare_exchange_weak(h, holder, std::memory_order_acquire,
                                     std::memory_order_relaxed)) {
        return true;
      }
      continue;
    }
    if (give_up >= 0 && attempt >= give_up) return false;
    if (attempt % 4096 == 4095 && holder_dead(h)) {
      lock.compare_exchange_strong(h, 0, std::memory_order_relaxed);
      continue;
    }
    pause_briefly(static_cast<int>(attempt));
  }
}

// A writer, holding the lock: the version goes odd before its stores (a seqlock writer)
// and even after them.
std::uint64_t begin_write(U& version) {
  const std::uint64_t v = version.load(std::memory_order_relaxed) | 1;
  version.store(v, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  return v;
}
void end_write(U& version, U& lock, std::uint64_t odd) {
  version.store(odd + 1, std::memory_order_release);
  lock.store(0, std::memory_order_release);
}

// The buckets of buffer `which` of the region at `base`.
NativeBuckets to_buckets(const unsigned char* base, std::uint64_t w, std::uint64_t which) {
  const std::uint64_t b = buffer_start(w, which);
  NativeBuckets out;
  out.schema = static_cast<std::int32_t>(static_cast<std::int64_t>(at(base, b + kSchema).load()));
  out.zero_threshold = as_d(at(base, b + kZeroThreshold).load(std::memory_order_relaxed));
  out.zero_count = at(base, b + kZeroCount).load(std::memory_order_relaxed);
  for (int sign = 0; sign < 2; ++sign) {
    const auto offset = static_cast<std::int64_t>(
        at(base, b + (sign == 0 ? kPosOffset : kNegOffset)).load(std::memory_order_relaxed));
    if (offset == kUnset) continue;
    auto& list = sign == 0 ? out.positive : out.negative;
    for (std::uint64_t i = 0; i < w; ++i) {
      const std::uint64_t n =
          at(base, b + kBufferHeader + sign * w + i).load(std::memory_order_relaxed);
      if (n != 0) list.emplace_back(static_cast<std::int32_t>(offset + std::int64_t(i)), n);
    }
  }
  return out;
}

bool spans_fit(const NativeBuckets& b, std::uint64_t w) {
  for (const auto* l : {&b.positive, &b.negative}) {
    if (!l->empty() && std::uint64_t(std::int64_t(l->back().first) - l->front().first + 1) > w) {
      return false;
    }
  }
  return true;
}

void halve(NativeBuckets& b) {
  nm::reduce(b.positive, b.schema, b.schema - 1);
  nm::reduce(b.negative, b.schema, b.schema - 1);
  b.schema -= 1;
}

// Moves the lowest populated bucket(s) into the zero bucket, as NativeState does.
bool widen(NativeBuckets& b, double max_zero_threshold) {
  if (b.zero_threshold >= max_zero_threshold) return false;
  std::int32_t smallest = INT32_MAX;
  for (const auto* l : {&b.positive, &b.negative}) {
    if (!l->empty()) smallest = std::min(smallest, l->front().first);
  }
  if (smallest == INT32_MAX) return false;
  const double t = nm::upper_bound(smallest, b.schema);
  if (t > max_zero_threshold) return false;
  for (auto* l : {&b.positive, &b.negative}) {
    if (!l->empty() && l->front().first == smallest) {
      b.zero_count += l->front().second;
      l->erase(l->begin());
    }
  }
  b.zero_threshold = t;
  return true;
}

// Only values no finite double has (the index of an infinity) can be left wider than the
// window at schema -4: their counts join the window's last bucket rather than being lost.
void clamp(std::vector<std::pair<std::int32_t, std::uint64_t>>& l, std::uint64_t w) {
  if (l.empty()) return;
  const std::int64_t last = std::int64_t(l.front().first) + std::int64_t(w) - 1;
  std::uint64_t extra = 0;
  while (l.back().first > last) {
    extra += l.back().second;
    l.pop_back();
  }
  if (extra == 0) return;
  if (l.back().first == last) {
    l.back().second += extra;
  } else {
    l.emplace_back(static_cast<std::int32_t>(last), extra);
  }
}

// Brings `b` within the window and `max_buckets`: the zero bucket widened (up to
// max_zero_threshold), else the resolution halved.
void fit(NativeBuckets& b, std::uint64_t w, std::uint32_t max_buckets, double max_zero_threshold) {
  for (;;) {
    if (b.positive.size() + b.negative.size() > max_buckets) {
      if (widen(b, max_zero_threshold)) continue;
      if (b.schema > nm::kMinSchema) {
        halve(b);
        continue;
      }
    }
    if (!spans_fit(b, w) && b.schema > nm::kMinSchema) {
      halve(b);
      continue;
    }
    break;
  }
  clamp(b.positive, w);
  clamp(b.negative, w);
}

// Writes `b` (fitting the window) into buffer `which`, each sign's window centred on its
// buckets. Returns nothing: the caller switches `meta` to publish it.
void store_buffer(unsigned char* base, std::uint64_t w, std::uint64_t which,
                  const NativeBuckets& b) {
  const std::uint64_t s = buffer_start(w, which);
  for (std::uint64_t i = 0; i < buffer_cells(w); ++i) {
    at(base, s + i).store(0, std::memory_order_relaxed);
  }
  at(base, s + kSchema)
      .store(static_cast<std::uint64_t>(std::int64_t(b.schema)), std::memory_order_relaxed);
  at(base, s + kZeroThreshold).store(as_u(b.zero_threshold), std::memory_order_relaxed);
  at(base, s + kZeroCount).store(b.zero_count, std::memory_order_relaxed);
  at(base, s + kPopulated).store(b.positive.size() + b.negative.size(), std::memory_order_relaxed);
  for (int sign = 0; sign < 2; ++sign) {
    const auto& l = sign == 0 ? b.positive : b.negative;
    std::int64_t offset = kUnset;
    if (!l.empty()) {
      const std::int64_t span = std::int64_t(l.back().first) - l.front().first + 1;
      offset = l.front().first - (std::int64_t(w) - span) / 2;
      for (const auto& [index, n] : l) {
        at(base, s + kBufferHeader + sign * w + std::uint64_t(index - offset))
            .store(n, std::memory_order_relaxed);
      }
    }
    at(base, s + (sign == 0 ? kPosOffset : kNegOffset))
        .store(static_cast<std::uint64_t>(offset), std::memory_order_relaxed);
  }
}

// The cell (from the region's start) of buffer `which` that counts `v`.
std::uint64_t cell_of(const unsigned char* base, std::uint64_t w, std::uint64_t which, double v) {
  const std::uint64_t s = buffer_start(w, which);
  const double zt = as_d(at(base, s + kZeroThreshold).load(std::memory_order_relaxed));
  if (std::fabs(v) <= zt) return s + kZeroCount;
  const auto schema =
      static_cast<std::int32_t>(static_cast<std::int64_t>(at(base, s + kSchema).load()));
  const int sign = v > 0 ? 0 : 1;
  const auto offset = static_cast<std::int64_t>(
      at(base, s + (sign == 0 ? kPosOffset : kNegOffset)).load(std::memory_order_relaxed));
  std::int64_t i = nm::bucket_index(std::fabs(v), schema) - offset;
  i = std::min<std::int64_t>(std::max<std::int64_t>(i, 0), std::int64_t(w) - 1);
  return s + kBufferHeader + sign * w + std::uint64_t(i);
}

// Fresh buffer 0 at the configured schema and zero bucket.
std::uint64_t initialise(unsigned char* base, std::uint64_t w, const NativeHistogramOptions& o) {
  NativeBuckets empty;
  empty.schema = o.schema;
  empty.zero_threshold = o.zero_threshold;
  store_buffer(base, w, 0, empty);
  at(base, kMeta).store(2, std::memory_order_release);
  return 2;
}

// The observation of `v` through the other buffer: the current buckets plus `v`, fitted,
// written there, `intent` set to v's cell, then the switch. Returns v's cell.
std::uint64_t rebuild_with(unsigned char* base, std::uint64_t w, const NativeHistogramOptions& o,
                           std::uint64_t meta, double v) {
  NativeBuckets cur = to_buckets(base, w, meta & 1);
  NativeBuckets one;
  one.schema = cur.schema;
  one.zero_threshold = cur.zero_threshold;
  if (std::fabs(v) <= cur.zero_threshold) {
    one.zero_count = 1;
  } else {
    (v > 0 ? one.positive : one.negative)
        .emplace_back(nm::bucket_index(std::fabs(v), cur.schema), 1);
  }
  nm::merge(cur, one);
  fit(cur, w, o.max_buckets, o.max_zero_threshold);
  const std::uint64_t next = (meta & 1) ^ 1;
  store_buffer(base, w, next, cur);
  const std::uint64_t cell = cell_of(base, w, next, v);
  at(base, kIntent).store(cell + 1, std::memory_order_relaxed);
  at(base, kMeta).store(next | 2, std::memory_order_release);
  return cell;
}

void add_sum(unsigned char* cells, std::uint64_t buckets, double v) {
  U& sum = at(cells, buckets);
  sum.store(as_u(as_d(sum.load(std::memory_order_relaxed)) + v), std::memory_order_relaxed);
}

}  // namespace

void (*observe_hook)(bool rebuilt) = nullptr;

void observe(const SeriesCells& s, const NativeHistogramOptions& o, double value,
             std::uint64_t bucket) {
  unsigned char* base = s.cells + 8 * (s.buckets + 1);
  const std::uint64_t w = s.window;
  U& lock = at(base, kLock);
  U& version = at(base, kVersion);
  take(lock, kOwner);
  const std::uint64_t odd = begin_write(version);
  std::uint64_t meta = at(base, kMeta).load(std::memory_order_relaxed);
  if (!(meta & 2)) meta = initialise(base, w, o);
  const std::uint64_t b = buffer_start(w, meta & 1);
  const double zt = as_d(at(base, b + kZeroThreshold).load(std::memory_order_relaxed));
  std::uint64_t cell = 0;
  bool rebuilt = false;
  if (std::fabs(value) <= zt) {
    cell = b + kZeroCount;
  } else {
    const auto schema =
        static_cast<std::int32_t>(static_cast<std::int64_t>(at(base, b + kSchema).load()));
    const int sign = value > 0 ? 0 : 1;
    U& offset_cell = at(base, b + (sign == 0 ? kPosOffset : kNegOffset));
    const std::int64_t index = nm::bucket_index(std::fabs(value), schema);
    auto offset = static_cast<std::int64_t>(offset_cell.load(std::memory_order_relaxed));
    if (offset == kUnset) {
      offset = index - std::int64_t(w / 2);
      offset_cell.store(static_cast<std::uint64_t>(offset), std::memory_order_relaxed);
    }
    const std::int64_t i = index - offset;
    if (i >= 0 && i < std::int64_t(w)) {
      const std::uint64_t c = b + kBufferHeader + sign * w + std::uint64_t(i);
      if (at(base, c).load(std::memory_order_relaxed) != 0 ||
          at(base, b + kPopulated).load(std::memory_order_relaxed) < o.max_buckets) {
        cell = c;
      }
    }
    if (cell == 0) {
      cell = rebuild_with(base, w, o, meta, value);
      rebuilt = true;
    }
  }
  if (!rebuilt) {
    // Native first, classic after (see the header): `intent` names the cell meanwhile.
    at(base, kIntent).store(cell + 1, std::memory_order_relaxed);
    U& n = at(base, cell);
    const std::uint64_t before = n.load(std::memory_order_relaxed);
    if (before == 0 && cell != b + kZeroCount) {
      U& p = at(base, b + kPopulated);
      p.store(p.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }
    n.store(before + 1, std::memory_order_relaxed);
  }
  if (observe_hook) observe_hook(rebuilt);
  U& classic = at(s.cells, std::min<std::uint64_t>(bucket, s.buckets - 1));
  classic.store(classic.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  add_sum(s.cells, s.buckets, value);
  at(base, kIntent).store(0, std::memory_order_relaxed);
  end_write(version, lock, odd);
}

void merge(const SeriesCells& s, const NativeHistogramOptions& o, const HistogramSnapshot& other) {
  unsigned char* base = s.cells + 8 * (s.buckets + 1);
  const std::uint64_t w = s.window;
  U& lock = at(base, kLock);
  U& version = at(base, kVersion);
  take(lock, kOwner);
  const std::uint64_t odd = begin_write(version);
  std::uint64_t meta = at(base, kMeta).load(std::memory_order_relaxed);
  if (!(meta & 2)) meta = initialise(base, w, o);
  if (other.native) {
    NativeBuckets cur = to_buckets(base, w, meta & 1);
    nm::merge(cur, *other.native);
    fit(cur, w, o.max_buckets, o.max_zero_threshold);
    store_buffer(base, w, (meta & 1) ^ 1, cur);
    at(base, kMeta).store(((meta & 1) ^ 1) | 2, std::memory_order_release);
  }
  double previous = 0;
  for (std::uint64_t i = 0; i < s.buckets && i < other.buckets.size(); ++i) {
    U& c = at(s.cells, i);
    c.store(
        c.load(std::memory_order_relaxed) + static_cast<std::uint64_t>(other.buckets[i] - previous),
        std::memory_order_relaxed);
    previous = other.buckets[i];
  }
  add_sum(s.cells, s.buckets, other.sum);
  end_write(version, lock, odd);
}

void erase(const SeriesCells& s, bool owner_dead) {
  unsigned char* base = s.cells + 8 * (s.buckets + 1);
  U& lock = at(base, kLock);
  U& version = at(base, kVersion);
  // A dead owner may have left the lock held (kOwner): nobody writes the region any more.
  const bool held = !owner_dead && take(lock, static_cast<std::uint64_t>(::getpid()));
  const std::uint64_t odd = begin_write(version);
  for (std::uint64_t i = 0; i <= s.buckets; ++i) at(s.cells, i).store(0, std::memory_order_relaxed);
  for (std::uint64_t i = kVersion + 1; i < region_cells(s.window); ++i) {
    at(base, i).store(0, std::memory_order_relaxed);
  }
  version.store(odd + 1, std::memory_order_release);
  if (held || owner_dead) lock.store(0, std::memory_order_release);
}

namespace {

// One read of a file's part of the series; `undo`: its owner died inside an observation.
void read_once(const unsigned char* cells, std::uint64_t buckets, std::uint64_t w, bool undo,
               Read& r) {
  const unsigned char* base = cells + 8 * (buckets + 1);
  std::uint64_t classic = 0;
  for (std::uint64_t i = 0; i < buckets; ++i) {
    r.counts[i] = at(cells, i).load(std::memory_order_relaxed);
    classic += r.counts[i];
  }
  r.sum = as_d(at(cells, buckets).load(std::memory_order_relaxed));
  const std::uint64_t meta = at(base, kMeta).load(std::memory_order_acquire);
  r.has_native = (meta & 2) != 0;
  r.native = r.has_native ? to_buckets(base, w, meta & 1) : NativeBuckets{};
  const std::uint64_t intent = at(base, kIntent).load(std::memory_order_relaxed);
  if (!undo || !r.has_native || nm::total_count(r.native) != classic + 1 || intent == 0) return;
  // Its native count was made, its classic one not: take the native one back.
  const std::uint64_t b = buffer_start(w, meta & 1);
  const std::uint64_t cell = intent - 1;
  if (cell == b + kZeroCount) {
    if (r.native.zero_count > 0) --r.native.zero_count;
  } else if (cell >= b + kBufferHeader && cell < b + buffer_cells(w)) {
    const std::uint64_t k = cell - b - kBufferHeader;
    const int sign = k < w ? 0 : 1;
    auto& l = sign == 0 ? r.native.positive : r.native.negative;
    const auto offset = static_cast<std::int64_t>(
        at(base, b + (sign == 0 ? kPosOffset : kNegOffset)).load(std::memory_order_relaxed));
    const auto index = static_cast<std::int32_t>(offset + std::int64_t(k % w));
    for (auto it = l.begin(); it != l.end(); ++it) {
      if (it->first != index) continue;
      if (--it->second == 0) l.erase(it);
      break;
    }
  }
}

}  // namespace

Read read(const unsigned char* cells, std::uint64_t buckets, std::uint64_t w, bool locked,
          bool alive) {
  Read r;
  r.counts.assign(buckets, 0);
  if (cells == nullptr) return r;
  auto* base = const_cast<unsigned char*>(cells) + 8 * (buckets + 1);
  U& version = at(base, kVersion);
  if (!locked || !alive) {
    // The totals (written under the directory lock only), or a dead owner's: nothing moves;
    // an odd version is an observation its owner died inside.
    read_once(cells, buckets, w, locked && (version.load(std::memory_order_acquire) & 1), r);
    return r;
  }
  // Optimistic (a seqlock read) while the owner lets it through...
  for (int attempt = 0; attempt < 64; ++attempt) {
    const std::uint64_t v1 = version.load(std::memory_order_acquire);
    if (v1 & 1) {
      pause_briefly(attempt);
      continue;
    }
    read_once(cells, buckets, w, false, r);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (version.load(std::memory_order_relaxed) == v1) return r;
  }
  // ...else with the region's lock, which the owner's next observation waits for: a reader
  // never starves behind a busy writer. An owner that keeps the lock this long is stopped
  // (or died after the liveness check): its state does not move, read it as a dead one's.
  U& lock = at(base, kLock);
  const auto me = static_cast<std::uint64_t>(::getpid());
  if (!take(lock, me, 1 << 22)) {
    read_once(cells, buckets, w, (version.load(std::memory_order_acquire) & 1) != 0, r);
    return r;
  }
  read_once(cells, buckets, w, false, r);
  lock.store(0, std::memory_order_release);
  return r;
}

std::uint64_t meta(const unsigned char* cells, std::uint64_t buckets) {
  return at(cells + 8 * (buckets + 1), kMeta).load(std::memory_order_acquire);
}

void fold_into(const SeriesCells& into, const NativeBuckets& add) {
  unsigned char* base = into.cells + 8 * (into.buckets + 1);
  const std::uint64_t w = into.window;
  const std::uint64_t m = at(base, kMeta).load(std::memory_order_acquire);
  NativeBuckets cur = add;
  if (m & 2) {
    cur = to_buckets(base, w, m & 1);
    nm::merge(cur, add);
  }
  // The window alone bounds the totals; a scrape applies max_buckets to the merged series.
  fit(cur, w, UINT32_MAX, 0);
  store_buffer(base, w, (m & 1) ^ 1, cur);
  at(base, kMeta).store(((m & 1) ^ 1) | 2, std::memory_order_release);
}

void limit(NativeBuckets& b, std::uint32_t max_buckets) {
  while (b.positive.size() + b.negative.size() > max_buckets && b.schema > nm::kMinSchema) halve(b);
}

}  // namespace pytheus::detail::file::native_region
