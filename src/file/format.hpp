// The on-disk format of MultiProcessFileBackend's directory, and its reader.
//
// Three kinds of file, all little-endian and native-aligned, mapped MAP_SHARED by every
// process of the service:
//   index.db    header (service, instance id, counts), the process table, then the series
//               records: append-only, each published by a release store of its length.
//   totals.db   one cell array: shared gauges and what dead processes folded in.
//   slot-N.db   one cell array per process slot, written by its live owner only.
// A cell is 8 bytes; a series owns cells [first_cell, first_cell + cell_count) in every
// cell file. The reader below validates everything it reads against the file size, so a
// corrupt or truncated file gives FileFormatError naming the file, never an out-of-bounds read.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pytheus/backend.hpp"
#include "pytheus/errors.hpp"
#include "pytheus/exemplar.hpp"

namespace pytheus::detail::file {

inline constexpr char kIndexMagic[8] = {'P', 'Y', 'T', 'H', 'I', 'D', 'X', '1'};
inline constexpr char kCellsMagic[8] = {'P', 'Y', 'T', 'H', 'C', 'E', 'L', '1'};
// 2: records carry the series' creation time. 3: a histogram with native buckets has a
// native region after its classic cells (native_region.hpp).
inline constexpr std::uint32_t kFormatVersion = 3;
inline constexpr std::size_t kPage = 4096;
inline constexpr std::size_t kServiceMax = 128;
inline constexpr std::size_t kCellsHeader = kPage;  // cell i is at kCellsHeader + 8 * i

// A cell's 8 bytes as a double and back (cells hold doubles and counts alike).
inline double as_d(std::uint64_t bits) {
  double d;
  std::memcpy(&d, &bits, 8);
  return d;
}
inline std::uint64_t as_u(double d) {
  std::uint64_t u;
  std::memcpy(&u, &d, 8);
  return u;
}

// FileFormatError: a file of the directory is not what this version writes.
class FileFormatError : public Error {
 public:
  using Error::Error;
};

static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic<double>::is_always_lock_free);
static_assert(sizeof(std::atomic<std::uint64_t>) == 8 && sizeof(std::atomic<double>) == 8);
static_assert(std::atomic<bool>::is_always_lock_free);
static_assert(sizeof(ExemplarCell) <= 576);

// The header of index.db (first page).
struct IndexHeader {
  char magic[8];
  std::uint32_t version;
  std::uint32_t max_processes;  // entries in the process table
  std::uint64_t instance;       // random id of this directory's files, copied in every cell file
  std::uint64_t records_begin;  // offset of the first record
  std::atomic<std::uint64_t> records_end;  // end of the published records
  std::atomic<std::uint64_t> cells_used;   // cells allocated to series
  std::atomic<std::uint64_t> slots_used;   // process table entries ever used (a prefix)
  std::atomic<std::uint64_t> fold_seq;     // odd while a fold or an erase changes cells
  char service[kServiceMax];               // NUL-padded
};
static_assert(sizeof(IndexHeader) <= kPage);

// Slot states.
enum SlotState : std::uint32_t { kFree = 0, kLive = 1, kFolding = 2, kFolded = 3 };

// One entry of the process table, 64 bytes.
struct SlotEntry {
  std::atomic<std::uint32_t> state;
  std::atomic<std::int32_t> pid;
  std::atomic<std::uint64_t> start_time;  // /proc/<pid>/stat field 22 of the owner
  std::atomic<std::uint64_t> fold_step;   // 2 * cell (+1: `pending` holds that unit's totals)
  std::atomic<std::uint64_t> fold_kind;
  std::atomic<std::uint64_t> pending[2];
  std::atomic<std::uint64_t> reserved[2];
};
static_assert(sizeof(SlotEntry) == 64);

inline std::size_t process_table_offset() {
  return kPage;
}
inline std::size_t records_begin_for(std::uint32_t max_processes) {
  const std::size_t end = kPage + std::size_t(max_processes) * sizeof(SlotEntry);
  return (end + kPage - 1) / kPage * kPage;
}

// The fixed part of a series record; then bounds (doubles), the name, then each label as
// u32 name length, u32 value length, name, value; padded to 8 bytes.
struct RecordHeader {
  std::atomic<std::uint32_t> length;  // whole record, multiple of 8; 0 until published
  std::uint8_t type;                  // MetricType
  std::uint8_t gauge_mode;            // GaugeMode (resolved) for gauges, else 0
  std::uint16_t label_count;
  std::atomic<std::uint32_t> erased;  // 1: removed (remove()/clear()) until used again
  std::uint32_t bound_count;
  std::uint64_t first_cell;
  std::uint32_t cell_count;
  std::uint32_t name_length;
  // Counters, histograms and summaries: the earliest creation time of the series across the
  // processes that bound it (the bits of a double, Unix seconds), lowered by an atomic min;
  // 0 when unknown. Zeroed when the series is erased, so that one created again is dated anew.
  std::atomic<std::uint64_t> created;
};
static_assert(sizeof(RecordHeader) == 40);

// The header of a cell file (totals.db, slot-N.db): one page.
struct CellsHeader {
  char magic[8];
  std::uint32_t version;
  std::uint32_t slot;  // kTotalsSlot for totals.db
  std::uint64_t instance;
};
inline constexpr std::uint32_t kTotalsSlot = 0xffffffffu;

// slot-N.ex, a process slot's exemplars: a header page (CellsHeader, magic kExemplarsMagic),
// then one record of kExemplarRecord bytes per cell index: the record of a counter's cell or
// of a histogram's bucket cell holds the latest exemplar this slot's owner recorded there
// (a pytheus::ExemplarCell: a seqlock over atomic words, all zero when empty). The file is
// sparse: only records written take memory. A reader takes, per series or bucket, the
// latest exemplar by timestamp over every slot's file.
inline constexpr char kExemplarsMagic[8] = {'P', 'Y', 'T', 'H', 'E', 'X', 'M', '1'};
inline constexpr std::size_t kExemplarRecord = 576;

// Cells a series of `type` with `bounds` bucket bounds owns: counter 1; gauge 2 (value,
// time of the last write in ns, 0 = never); histogram one count per bucket then the sum
// (then, with native buckets, its native region: cell_count says so); summary count then sum.
std::uint32_t cells_for(MetricType type, std::size_t bounds);

// A record as read: views into the mapped file.
struct RecordView {
  std::uint64_t offset = 0;  // in index.db
  MetricType type = MetricType::untyped;
  GaugeMode gauge_mode = GaugeMode::shared;
  std::string_view name;
  std::vector<std::pair<std::string_view, std::string_view>> labels;  // sorted by name
  std::vector<double> bounds;
  std::uint64_t first_cell = 0;
  std::uint32_t cell_count = 0;
  // A histogram with native buckets: the cells of its native region (after the classic
  // ones), else 0.
  std::uint32_t native_cells = 0;
};

// Checks an index header against the file size; throws FileFormatError naming `file`.
const IndexHeader& read_index_header(const unsigned char* data, std::size_t size,
                                     const std::string& file);

// Reads the published records in [from, header.records_end) of an index image of `size`
// bytes, appending them to `out`; returns the offset after the last one. Every length and
// cell range is checked; throws FileFormatError naming `file`.
std::uint64_t read_records(const unsigned char* data, std::size_t size, const std::string& file,
                           std::uint64_t from, std::vector<RecordView>& out);

// Encodes a record (length word 0: the writer publishes it after copying).
std::string encode_record(MetricType type, GaugeMode mode, std::string_view name,
                          const std::vector<std::pair<std::string, std::string>>& labels,
                          const std::vector<double>& bounds, std::uint64_t first_cell,
                          std::uint32_t cell_count);

// The catalog key of a series: name, type, mode, bounds and sorted labels, as one string.
// The name a metric is stored under: its exposed name, registry prefix included, so that
// metrics whose exposed names differ never share a series.
std::string stored_name(std::string_view name, std::string_view registry_prefix);

// A histogram with native buckets and one without are different series. The size of the
// native region is not part of the key: the process that creates the series sets it (from
// its max_buckets) and every process uses the region the record has.
std::string series_key(std::string_view name, MetricType type, GaugeMode mode,
                       const std::vector<double>& bounds,
                       const std::vector<std::pair<std::string_view, std::string_view>>& labels,
                       bool native = false);

}  // namespace pytheus::detail::file
