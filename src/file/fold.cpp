// Folding a dead process: its counter, histogram and summary contributions (and, for the
// gauge modes sum, max, min and mostrecent, its last gauge value) are combined into
// totals.db, its cells zeroed and its slot freed for the next process.
//
// Exactly once, even if the folder dies: folds run under the directory lock, and the slot's
// entry is a journal. `fold_step` is 2*c before the unit at cell c is touched and 2*c+1 once
// `pending` holds that unit's totals as they were before; the new totals are computed from
// `pending` and the (unchanged) dead slot, so redoing a half-done unit gives the same result.
// Cells are zeroed only after every unit is in (state kFolded), and the slot is freed last.
// `fold_seq` in the header is odd meanwhile, so readers retry rather than count a unit twice
// (in totals and in the slot) or not at all; a reader that finds it odd with no folder alive
// takes the lock and finishes the fold itself.
#include <cstring>

#include "native_region.hpp"
#include "store.hpp"

namespace pytheus::detail::file {
namespace {

enum Kind : std::uint64_t {
  kAddDouble,
  kAddCount,
  kGaugeSum,
  kGaugeMax,
  kGaugeMin,
  kGaugeRecent,
  kNative
};

// Calls f(first cell, width, kind) for each unit of a record that a fold combines.
template <class F>
void for_each_unit(const RecordView& r, F&& f) {
  const std::uint64_t c = r.first_cell;
  switch (r.type) {
    case MetricType::histogram: {
      const std::uint64_t n = r.cell_count - r.native_cells - 1;
      for (std::uint64_t i = 0; i < n; ++i) f(c + i, 1, kAddCount);
      f(c + n, 1, kAddDouble);
      if (r.native_cells != 0) f(c + n + 1, r.native_cells, kNative);
      break;
    }
    case MetricType::summary:
      f(c, 1, kAddCount);
      f(c + 1, 1, kAddDouble);
      break;
    case MetricType::gauge:
      switch (r.gauge_mode) {
        case GaugeMode::sum:
          f(c, 2, kGaugeSum);
          break;
        case GaugeMode::max:
          f(c, 2, kGaugeMax);
          break;
        case GaugeMode::min:
          f(c, 2, kGaugeMin);
          break;
        case GaugeMode::mostrecent:
          f(c, 2, kGaugeRecent);
          break;
        default:
          break;  // shared: not in slots; all and live*: leave with the process
      }
      break;
    default:
      f(c, 1, kAddDouble);
  }
}

// The totals of a unit after folding `slot` into `old` (raw cell bits).
void combine(Kind kind, const std::uint64_t* old, const std::uint64_t* slot, std::uint64_t* out) {
  out[0] = old[0];
  out[1] = old[1];
  switch (kind) {
    case kAddDouble:
      out[0] = as_u(as_d(old[0]) + as_d(slot[0]));
      break;
    case kAddCount:
      out[0] = old[0] + slot[0];
      break;
    case kGaugeSum:
      out[0] = as_u(as_d(old[0]) + as_d(slot[0]));
      out[1] = std::max(old[1], slot[1]);
      break;
    case kGaugeMax:
    case kGaugeMin:
      if (slot[1] != 0) {
        const bool better = old[1] == 0 || (kind == kGaugeMax ? as_d(slot[0]) > as_d(old[0])
                                                              : as_d(slot[0]) < as_d(old[0]));
        if (better) out[0] = slot[0];
        out[1] = std::max(old[1], slot[1]);
      }
      break;
    case kGaugeRecent:
      if (slot[1] > old[1]) {
        out[0] = slot[0];
        out[1] = slot[1];
      }
      break;
    case kNative:
      break;  // a native region folds as a whole (fold_native), never cell by cell
  }
}

}  // namespace

void (*fold_unit_hook)(std::uint64_t cell, int phase) = nullptr;

void Store::fold(std::uint32_t slot) {
  SlotEntry& e = entry(slot);
  if (e.state.load(std::memory_order_acquire) == kLive) {
    e.fold_step.store(0, std::memory_order_relaxed);
    e.state.store(kFolding, std::memory_order_release);
  }
  const std::uint64_t covered = slot_cells(slot);
  unsigned char* cells = covered ? slots_[slot]->data() + kCellsHeader : nullptr;
  if (e.state.load(std::memory_order_acquire) == kFolding) {
    cover_totals(header().cells_used.load(std::memory_order_acquire));
    unsigned char* totals = totals_cells();
    for (const RecordView& r : records_) {
      for_each_unit(r, [&](std::uint64_t c, std::uint64_t width, Kind kind) {
        if (c + width > covered) return;
        const std::uint64_t step = e.fold_step.load(std::memory_order_acquire);
        if (step > 2 * c + 1) return;  // done before
        if (kind == kNative) {
          fold_native(e, r, c, width, step, cells, totals);
          return;
        }
        if (step < 2 * c + 1) {
          for (std::uint64_t i = 0; i < width; ++i) {
            e.pending[i].store(cell_u(totals, c + i).load(std::memory_order_relaxed),
                               std::memory_order_relaxed);
          }
          e.fold_kind.store(kind, std::memory_order_relaxed);
          e.fold_step.store(2 * c + 1, std::memory_order_release);
          if (fold_unit_hook) fold_unit_hook(c, 0);
        }
        std::uint64_t old[2] = {e.pending[0].load(std::memory_order_relaxed),
                                e.pending[1].load(std::memory_order_relaxed)};
        std::uint64_t mine[2] = {
            cell_u(cells, c).load(std::memory_order_relaxed),
            width > 1 ? cell_u(cells, c + 1).load(std::memory_order_relaxed) : 0};
        std::uint64_t out[2];
        combine(kind, old, mine, out);
        for (std::uint64_t i = 0; i < width; ++i) {
          cell_u(totals, c + i).store(out[i], std::memory_order_relaxed);
        }
        if (fold_unit_hook) fold_unit_hook(c, 1);
        e.fold_step.store(2 * (c + width), std::memory_order_release);
      });
    }
    e.state.store(kFolded, std::memory_order_release);
  }
  if (e.state.load(std::memory_order_acquire) == kFolded) {
    for (std::uint64_t i = 0; i < covered; ++i)
      cell_u(cells, i).store(0, std::memory_order_relaxed);
    e.pid.store(0, std::memory_order_relaxed);
    e.start_time.store(0, std::memory_order_relaxed);
    e.state.store(kFree, std::memory_order_release);
  }
}

// A native region is one unit: the totals' region is rebuilt in its other buffer from its
// current one and the dead slot's buckets, then switched (native_region.hpp). `pending[0]`
// keeps the totals' meta word from before: a redo that finds it changed knows the switch
// was made, and one that finds it unchanged rebuilds the other buffer again from the same
// inputs.
void Store::fold_native(SlotEntry& e, const RecordView& r, std::uint64_t c, std::uint64_t width,
                        std::uint64_t step, unsigned char* cells, unsigned char* totals) {
  const std::uint64_t buckets = r.cell_count - r.native_cells - 1;
  const std::uint64_t first = r.first_cell;
  const std::uint64_t w = native_region::window_of(r.native_cells);
  if (step < 2 * c + 1) {
    e.pending[0].store(native_region::meta(totals + 8 * first, buckets), std::memory_order_relaxed);
    e.fold_kind.store(kNative, std::memory_order_relaxed);
    e.fold_step.store(2 * c + 1, std::memory_order_release);
    if (fold_unit_hook) fold_unit_hook(c, 0);
  } else if (native_region::meta(totals + 8 * first, buckets) !=
             e.pending[0].load(std::memory_order_relaxed)) {
    e.fold_step.store(2 * (c + width), std::memory_order_release);  // switched before
    return;
  }
  // The dead owner's series, its observation in progress (if any) undone.
  const native_region::Read dead = native_region::read(cells + 8 * first, buckets, w, true, false);
  if (dead.has_native) native_region::fold_into({totals + 8 * first, buckets, w}, dead.native);
  if (fold_unit_hook) fold_unit_hook(c, 1);
  e.fold_step.store(2 * (c + width), std::memory_order_release);
}

void Store::finish_folds() {
  IndexHeader& h = header();
  const auto used = static_cast<std::uint32_t>(h.slots_used.load(std::memory_order_acquire));
  bool any = (h.fold_seq.load(std::memory_order_acquire) & 1) != 0;
  for (std::uint32_t k = 0; k < used && !any; ++k) {
    const auto st = entry(k).state.load(std::memory_order_acquire);
    any = st == kFolding || st == kFolded;
  }
  if (!any) return;
  if ((h.fold_seq.load(std::memory_order_acquire) & 1) == 0) {
    h.fold_seq.fetch_add(1, std::memory_order_acq_rel);
  }
  std::atomic_thread_fence(std::memory_order_release);
  for (std::uint32_t k = 0; k < used; ++k) {
    const auto st = entry(k).state.load(std::memory_order_acquire);
    if (st == kFolding || st == kFolded) fold(k);
  }
  h.fold_seq.fetch_add(1, std::memory_order_release);
}

void Store::fold_dead() {
  IndexHeader& h = header();
  const auto used = static_cast<std::uint32_t>(h.slots_used.load(std::memory_order_acquire));
  std::vector<std::uint32_t> dead;
  for (std::uint32_t k = 0; k < used; ++k) {
    SlotEntry& e = entry(k);
    if (e.state.load(std::memory_order_acquire) != kLive) continue;
    if (static_cast<std::int64_t>(k) == own_slot_) continue;
    const auto start = process_start_time(e.pid.load(std::memory_order_relaxed));
    if (!start || *start != e.start_time.load(std::memory_order_relaxed)) dead.push_back(k);
  }
  if (dead.empty()) return;
  h.fold_seq.fetch_add(1, std::memory_order_acq_rel);
  std::atomic_thread_fence(std::memory_order_release);
  for (std::uint32_t k : dead) fold(k);
  h.fold_seq.fetch_add(1, std::memory_order_release);
}

}  // namespace pytheus::detail::file
