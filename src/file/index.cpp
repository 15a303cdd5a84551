// The series index: finding a series in the catalog of index.db, creating it when no process
// has yet, and erasing it.
//
// A record is written in full at `records_end`, the length word of the next record position
// is zeroed, and only then is the record's own length stored (release) and `records_end`
// advanced. A process killed before the length store leaves nothing readers see (the next
// creator overwrites the bytes); one killed between the two stores leaves a complete record
// that the next creator publishes. The catalog in each process is built incrementally from
// what it has not yet read.
#include <algorithm>
#include <cstring>

#include "native_region.hpp"
#include "pytheus/descriptor.hpp"
#include "pytheus/errors.hpp"
#include "store.hpp"

namespace pytheus::detail::file {
namespace {

// Lowers a record's creation time to `when` (an atomic min). Positive doubles order as their
// bits do, so the comparison is on the integers; 0 is "unknown", which any time replaces.
void note_created(std::atomic<std::uint64_t>& created, double when) {
  std::uint64_t bits = 0;
  std::memcpy(&bits, &when, sizeof bits);
  std::uint64_t cur = created.load(std::memory_order_relaxed);
  while ((cur == 0 || bits < cur) &&
         !created.compare_exchange_weak(cur, bits, std::memory_order_relaxed)) {
  }
}

}  // namespace

std::uint32_t native_cells_for(MetricType type,
                               const std::optional<NativeHistogramOptions>& native) {
  if (type != MetricType::histogram || !native) return 0;
  return static_cast<std::uint32_t>(
      native_region::region_cells(native_region::window_for(native->max_buckets)));
}

IndexHeader& Store::header() const {
  return *reinterpret_cast<IndexHeader*>(index_->data());
}

SlotEntry& Store::entry(std::uint32_t slot) const {
  return reinterpret_cast<SlotEntry*>(index_->data() + process_table_offset())[slot];
}

RecordHeader& Store::record_header(std::uint64_t offset) const {
  return *reinterpret_cast<RecordHeader*>(index_->data() + offset);
}

void Store::sync_catalog() {
  const std::uint64_t end = header().records_end.load(std::memory_order_acquire);
  if (end > index_->size()) index_->refresh();
  if (end == scanned_) return;
  const std::size_t first = records_.size();
  scanned_ = read_records(index_->data(), index_->size(), index_->path(), scanned_, records_);
  for (std::size_t i = first; i < records_.size(); ++i) {
    const RecordView& r = records_[i];
    by_key_.emplace(
        series_key(r.name, r.type, r.gauge_mode, r.bounds, r.labels, r.native_cells != 0), i);
    by_name_[std::string(r.name)].push_back(i);
  }
}

std::optional<std::size_t> Store::find(const std::string& key) const {
  auto it = by_key_.find(key);
  if (it == by_key_.end()) return std::nullopt;
  return it->second;
}

std::size_t Store::create_record(const MetricInfo& info, GaugeMode mode,
                                 const std::vector<double>& bounds, const std::string& key) {
  // A creator killed between publishing a record and advancing records_end: advance it.
  for (;;) {
    const std::uint64_t end = header().records_end.load(std::memory_order_acquire);
    if (end + sizeof(RecordHeader) > index_->size()) break;
    const std::uint32_t len = record_header(end).length.load(std::memory_order_acquire);
    if (len == 0) break;
    if (len % 8 != 0 || len < sizeof(RecordHeader) || len > index_->size() - end) {
      throw BackendError("MultiProcessFileBackend: metrics file " + index_->path() +
                         " is corrupt (unfinished record); delete the directory's files");
    }
    header().records_end.store(end + len, std::memory_order_release);
    sync_catalog();
    if (auto i = find(key)) return *i;
  }
  const std::uint64_t first = header().cells_used.load(std::memory_order_acquire);
  const std::uint32_t count =
      cells_for(info.type, info.type == MetricType::histogram ? bounds.size() : 0) +
      native_cells_for(info.type, info.native);
  const std::string rec = encode_record(
      info.type, mode, stored_name(info.name, info.registry_prefix), info.labels,
      info.type == MetricType::histogram ? bounds : std::vector<double>{}, first, count);
  if (rec.size() > (1u << 24)) {
    throw BackendError("MultiProcessFileBackend: series of metric " + info.name +
                       " is too large to store (labels of " + std::to_string(rec.size()) +
                       " bytes)");
  }
  const std::uint64_t pos = header().records_end.load(std::memory_order_acquire);
  index_->grow(pos + rec.size() + sizeof(RecordHeader));
  cover_totals(first + count);
  unsigned char* d = index_->data();
  std::memcpy(d + pos + 4, rec.data() + 4, rec.size() - 4);
  reinterpret_cast<RecordHeader*>(d + pos + rec.size())->length.store(0, std::memory_order_relaxed);
  header().cells_used.store(first + count, std::memory_order_release);
  reinterpret_cast<RecordHeader*>(d + pos)->length.store(static_cast<std::uint32_t>(rec.size()),
                                                         std::memory_order_release);
  header().records_end.store(pos + rec.size(), std::memory_order_release);
  sync_catalog();
  auto i = find(key);
  if (!i)
    throw BackendError("MultiProcessFileBackend: series just written to " + index_->path() +
                       " cannot be read back");
  return *i;
}

void Store::cover_totals(std::uint64_t cells) {
  const std::size_t bytes = kCellsHeader + 8 * cells;
  if (totals_->size() < bytes) {
    // Creators grow the totals file (under the directory lock) before publishing a series;
    // others only map what is there.
    totals_->refresh();
    if (totals_->size() < bytes) totals_->grow(bytes);
  }
  totals_cells_.store(totals_->data() + kCellsHeader, std::memory_order_release);
}

void Store::cover_own(std::uint64_t cells) {
  max_cell_ = std::max(max_cell_, cells);
  if (own_slot_ < 0) return;
  MappedFile& f = *slots_[static_cast<std::size_t>(own_slot_)];
  const std::size_t bytes = kCellsHeader + 8 * cells;
  if (f.size() < bytes) own_cells_.store(f.grow(bytes) + kCellsHeader, std::memory_order_release);
}

Series Store::bind(const MetricInfo& info, const std::vector<double>& bounds) {
  std::lock_guard<std::mutex> lock(mu_);
  const GaugeMode mode =
      info.type == MetricType::gauge ? resolve(info.gauge_mode) : GaugeMode::shared;
  std::vector<std::pair<std::string_view, std::string_view>> labels;
  labels.reserve(info.labels.size());
  for (const auto& [n, v] : info.labels) labels.emplace_back(n, v);
  const std::vector<double> no_bounds;
  const std::vector<double>& b = info.type == MetricType::histogram ? bounds : no_bounds;
  const std::string key = series_key(stored_name(info.name, info.registry_prefix), info.type, mode,
                                     b, labels, native_cells_for(info.type, info.native) != 0);
  try {
    sync_catalog();
    std::optional<std::size_t> i = find(key);
    if (!i || record_header(records_[*i].offset).erased.load(std::memory_order_acquire)) {
      DirLock dl(*this);
      sync_catalog();
      i = find(key);
      if (!i) i = create_record(info, mode, b, key);
      record_header(records_[*i].offset).erased.store(0, std::memory_order_release);
    }
    const RecordView& r = records_[*i];
    if (info.type == MetricType::counter || info.type == MetricType::histogram ||
        info.type == MetricType::summary) {
      note_created(record_header(r.offset).created,
                   info.created > 0 ? info.created : unix_time_now());
    }
    Series s{r.first_cell, r.cell_count, r.offset, r.type, mode, std::nullopt, r.native_cells};
    // The region is the record's (its creator's max_buckets); the options are this
    // process's (max_buckets, the zero bucket) within it.
    if (r.native_cells != 0) s.native = info.native;
    cover_totals(s.first_cell + s.cell_count);
    cover_own(s.first_cell + s.cell_count);
    return s;
  } catch (const FileFormatError& e) {
    throw BackendError(std::string("MultiProcessFileBackend: ") + e.what());
  }
}

void Store::erase(const Series& s) {
  std::lock_guard<std::mutex> lock(mu_);
  DirLock dl(*this);
  sync_catalog();
  IndexHeader& h = header();
  // Inside a fold window: a reader retries rather than see the series half zeroed.
  h.fold_seq.fetch_add(1, std::memory_order_acq_rel);
  std::atomic_thread_fence(std::memory_order_release);
  record_header(s.record).erased.store(1, std::memory_order_release);
  record_header(s.record).created.store(0, std::memory_order_relaxed);
  auto zero = [&](unsigned char* cells, std::uint64_t covered) {
    for (std::uint64_t i = s.first_cell; i < s.first_cell + s.cell_count && i < covered; ++i) {
      cell_u(cells, i).store(0, std::memory_order_relaxed);
    }
  };
  zero(totals_cells(), (totals_->size() - kCellsHeader) / 8);
  const auto used = static_cast<std::uint32_t>(h.slots_used.load(std::memory_order_acquire));
  for (std::uint32_t k = 0; k < used; ++k) {
    SlotEntry& e = entry(k);
    const auto state = e.state.load(std::memory_order_acquire);
    if (state == kFree) continue;
    const std::uint64_t covered = slot_cells(k);
    if (!covered) continue;
    unsigned char* cells = slots_[k]->data() + kCellsHeader;
    if (s.native_cells != 0 && s.first_cell + s.cell_count <= covered) {
      // Under the region's lock, so that its owner is never half way through an observation
      // of the cells being zeroed (the lock covers the series' classic cells too).
      bool dead = state != kLive;
      if (!dead && static_cast<std::int64_t>(k) != own_slot_) {
        const auto start = process_start_time(e.pid.load(std::memory_order_relaxed));
        dead = !start || *start != e.start_time.load(std::memory_order_relaxed);
      }
      native_region::erase({cells + 8 * s.first_cell, s.cell_count - s.native_cells - 1,
                            native_region::window_of(s.native_cells)},
                           dead);
      continue;
    }
    zero(cells, covered);
  }
  h.fold_seq.fetch_add(1, std::memory_order_release);
  clear_exemplars(s);
}

}  // namespace pytheus::detail::file
