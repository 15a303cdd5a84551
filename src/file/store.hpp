// Store: one directory of MultiProcessFileBackend as this process sees it. It owns the
// mapped files, the catalog of series, this process's slot and the directory lock, and is
// shared by every value object configured with that directory. Stores live until the process
// ends (value objects and retired mappings may be used until then).
//
// Locks: `mu_` (this process) guards everything but the hot path; the directory lock
// (flock on `pytheus.lock`, released by the kernel when its holder dies) is taken under
// `mu_` to create a series, claim a slot, fold a dead process or erase a series. Updates
// take neither: they are atomic operations on this process's own slot (or, for a shared
// gauge, on the totals file).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "format.hpp"
#include "mapping.hpp"
#include "pytheus/backend.hpp"
#include "pytheus/detail/likely.hpp"

namespace pytheus::detail::file {

// The configuration keys of the backend, checked (config.cpp).
struct Config {
  std::string directory;
  std::string service;
  mode_t file_mode = 0600;
  GaugeMode gauge_mode = GaugeMode::shared;
  std::uint32_t max_processes = 1024;
};
// Throws BackendError naming the key that is wrong.
Config parse_config(const BackendConfig& config);

// The native region cells a series of `info` has (0 without native buckets).
std::uint32_t native_cells_for(MetricType type,
                               const std::optional<NativeHistogramOptions>& native);

// Returns the start time (clock ticks since boot, /proc/<pid>/stat field 22) of process
// `pid`, or nullopt when there is no such process or it is a zombie (liveness.cpp).
std::optional<std::uint64_t> process_start_time(pid_t pid);

// A series as a value object holds it.
struct Series {
  std::uint64_t first_cell = 0;
  std::uint32_t cell_count = 0;
  std::uint64_t record = 0;  // offset in index.db
  MetricType type = MetricType::untyped;
  GaugeMode mode = GaugeMode::shared;
  // A histogram with native buckets: their options and its region's cells (after the
  // bucket counts and the sum).
  std::optional<NativeHistogramOptions> native;
  std::uint32_t native_cells = 0;
};

// Where cells of one file are, for a read.
struct CellSource {
  const unsigned char* cells = nullptr;
  std::uint64_t count = 0;  // cells the file covers
  std::int32_t pid = 0;     // 0 for totals
  bool alive = true;
  bool own = false;
  double d(std::uint64_t i) const;
  std::uint64_t u(std::uint64_t i) const;
};

class Store {
 public:
  // The store of `config`'s directory, opened (and checked) on first use. Throws BackendError.
  static Store& open(const BackendConfig& config);

  // Hot path: the cells of this process's slot; claims a slot on first use after start or fork.
  unsigned char* own_cells() {
    unsigned char* c = own_cells_.load(std::memory_order_acquire);
    return PYTHEUS_LIKELY(c != nullptr) ? c : claim_own();
  }
  unsigned char* totals_cells() const { return totals_cells_.load(std::memory_order_acquire); }

  // Hot path: this process's exemplar record of `cell`, or null when its exemplar file could
  // not be set up (exemplars are then dropped, never the update).
  // The file is made on this process's first exemplar: a process that records none pays
  // nothing for them.
  ExemplarCell* own_exemplar(std::uint64_t cell) {
    own_cells();  // claims the slot on first use
    const std::uint64_t covered = own_ex_count_.load(std::memory_order_acquire);
    unsigned char* base = own_ex_.load(std::memory_order_acquire);
    if (PYTHEUS_UNLIKELY(base == nullptr || cell >= covered)) return claim_own_exemplars(cell);
    return reinterpret_cast<ExemplarCell*>(base + kExemplarRecord * cell);
  }

  GaugeMode resolve(GaugeMode mode) const {
    return mode == GaugeMode::backend_default ? config_.gauge_mode : mode;
  }

  // Finds or creates the series (index.cpp); makes this process's slot and the totals file
  // cover it. Throws BackendError.
  Series bind(const MetricInfo& info, const std::vector<double>& bounds);
  // remove()/clear(): zeroes the series in every file and hides it until it is written again.
  void erase(const Series& series);

  // Reads (bulk_read.cpp). Throw CollectError naming a corrupt file.
  std::vector<MetricRows> bulk_read(const std::vector<MetricRequest>& requests);
  double read_value(const Series& series);
  HistogramSnapshot read_histogram(const Series& series);

  // Called by the fork handlers.
  void before_fork();
  void after_fork_parent();
  void after_fork_child();

  const Config& config() const { return config_; }

 private:
  explicit Store(Config config);
  void open_files();
  unsigned char* claim_own();

  // Directory lock; `mu_` must be held.
  void lock_dir();
  void unlock_dir();
  struct DirLock {
    explicit DirLock(Store& s) : s_(s) { s_.lock_dir(); }
    ~DirLock() { s_.unlock_dir(); }
    Store& s_;
  };

  // Catalog (index.cpp); `mu_` held.
  IndexHeader& header() const;
  SlotEntry& entry(std::uint32_t slot) const;
  RecordHeader& record_header(std::uint64_t offset) const;
  void sync_catalog();
  std::optional<std::size_t> find(const std::string& key) const;
  std::size_t create_record(const MetricInfo& info, GaugeMode mode,
                            const std::vector<double>& bounds, const std::string& key);
  void cover_own(std::uint64_t cells);
  void cover_totals(std::uint64_t cells);

  // Slots (slots.cpp); `mu_` and the directory lock held.
  MappedFile* slot_file(std::uint32_t slot, bool create);
  std::uint64_t slot_cells(std::uint32_t slot);  // cells the slot file covers (0: none)
  void init_cells_file(MappedFile& f, std::uint32_t slot);
  std::uint32_t take_slot();

  // Folding (fold.cpp); `mu_` and the directory lock held.
  void fold_dead();
  void finish_folds();
  void fold(std::uint32_t slot);
  void fold_native(SlotEntry& e, const RecordView& r, std::uint64_t c, std::uint64_t width,
                   std::uint64_t step, unsigned char* cells, unsigned char* totals);

  // Exemplar files (exemplars.cpp); `mu_` held unless said.
  struct ExemplarSource {
    const unsigned char* records = nullptr;
    std::uint64_t count = 0;
  };
  MappedFile* exemplar_file(std::uint32_t slot, bool create);
  ExemplarCell* claim_own_exemplars(std::uint64_t cell);  // takes `mu_`
  std::vector<ExemplarSource> exemplar_sources();
  void add_exemplars(const RecordView& r, SeriesRow& row,
                     const std::vector<ExemplarSource>& ex) const;
  void clear_exemplars(const Series& s);  // the directory lock held too

  // Reading (bulk_read.cpp); `mu_` held.
  std::vector<CellSource> sources(bool with_liveness);
  template <class F>
  auto consistent(F&& read) -> decltype(read(std::vector<CellSource>{}));
  SeriesRow row(const RecordView& r, GaugeMode mode, const std::vector<CellSource>& src,
                std::vector<SeriesRow>* per_process,
                const std::optional<NativeHistogramOptions>& native = std::nullopt) const;
  bool visible(const RecordView& r, const std::vector<CellSource>& src) const;
  // The series' earliest creation across processes, when the record has one.
  std::optional<double> created_of(const RecordView& r) const;

  Config config_;
  std::string dir_;
  std::mutex mu_;
  int lock_fd_ = -1;
  pid_t lock_pid_ = 0;
  std::unique_ptr<MappedFile> index_;
  std::unique_ptr<MappedFile> totals_;
  std::atomic<unsigned char*> totals_cells_{nullptr};
  std::vector<std::unique_ptr<MappedFile>> slots_;
  std::uint64_t instance_ = 0;

  std::vector<RecordView> records_;
  std::unordered_map<std::string, std::size_t> by_key_;
  std::unordered_map<std::string, std::vector<std::size_t>> by_name_;
  std::uint64_t scanned_ = 0;

  std::atomic<unsigned char*> own_cells_{nullptr};
  std::vector<std::unique_ptr<MappedFile>> exemplar_files_;
  std::atomic<unsigned char*> own_ex_{nullptr};  // records of this process's slot
  std::atomic<std::uint64_t> own_ex_count_{0};   // records own_ex_ covers
  std::int64_t own_slot_ = -1;
  std::uint64_t own_start_ = 0;
  std::uint64_t max_cell_ = 0;  // cells bound in this process: a new slot covers them

  friend class StoreTestAccess;
};

// Atomic views of cells in shared memory.
inline std::atomic<double>& cell_d(unsigned char* cells, std::uint64_t i) {
  return *reinterpret_cast<std::atomic<double>*>(cells + 8 * i);
}
inline std::atomic<std::uint64_t>& cell_u(unsigned char* cells, std::uint64_t i) {
  return *reinterpret_cast<std::atomic<std::uint64_t>*>(cells + 8 * i);
}
inline void add_d(std::atomic<double>& a, double v) {
  double cur = a.load(std::memory_order_relaxed);
  while (!a.compare_exchange_weak(cur, cur + v, std::memory_order_relaxed,
                                  std::memory_order_relaxed)) {
  }
}
// Fault injection for tests: called during a fold with the unit's first cell, after its old
// totals are saved (phase 0) and after its new totals are written (phase 1). Null normally.
extern void (*fold_unit_hook)(std::uint64_t cell, int phase);

// Wall-clock time in ns (vDSO: no system call), never 0 or 1 (1 marks "created, never set").
std::uint64_t now_ns();

}  // namespace pytheus::detail::file
