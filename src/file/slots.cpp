// Per-process slots: each live process owns one entry of the process table and one cell file
// (slot-N.db), so that processes updating the same series never write the same cache line,
// and a scrape sums the slots. A process takes a slot on its first update: a free one, else
// one whose owner is dead (after folding it), else a new one. The number of slots is thus the
// largest number of processes alive at once, however many have come and gone.
#include <unistd.h>

#include <cstring>

#include "pytheus/errors.hpp"
#include "store.hpp"

namespace pytheus::detail::file {

MappedFile* Store::slot_file(std::uint32_t slot, bool create) {
  if (slots_.size() <= slot) slots_.resize(slot + 1);
  if (!slots_[slot]) {
    const std::string path = dir_ + "/slot-" + std::to_string(slot) + ".db";
    if (!create && ::access(path.c_str(), F_OK) != 0) return nullptr;
    slots_[slot] = std::make_unique<MappedFile>(path, create, config_.file_mode);
  }
  return slots_[slot].get();
}

std::uint64_t Store::slot_cells(std::uint32_t slot) {
  MappedFile* f = slot_file(slot, false);
  if (f == nullptr) return 0;
  const std::size_t size = f->refresh();
  if (size < kCellsHeader) return 0;
  const auto& h = *reinterpret_cast<const CellsHeader*>(f->data());
  if (std::memcmp(h.magic, kCellsMagic, 8) != 0 || h.version != kFormatVersion || h.slot != slot ||
      h.instance != instance_) {
    throw FileFormatError("metrics file " + f->path() +
                          " is corrupt or belongs to other files (process slot " +
                          std::to_string(slot) + ")");
  }
  return (size - kCellsHeader) / 8;
}

std::uint32_t Store::take_slot() {
  finish_folds();
  fold_dead();
  IndexHeader& h = header();
  const auto used = static_cast<std::uint32_t>(h.slots_used.load(std::memory_order_acquire));
  std::uint32_t slot = used;
  for (std::uint32_t k = 0; k < used; ++k) {
    if (entry(k).state.load(std::memory_order_acquire) == kFree) {
      slot = k;
      break;
    }
  }
  if (slot == used) {
    if (used >= h.max_processes) {
      throw BackendError("MultiProcessFileBackend: directory " + dir_ + " already has " +
                         std::to_string(used) +
                         " live processes, its limit (config key \"max_processes\" when the "
                         "directory's files are created)");
    }
    // A new slot file: whatever a file of that name held belongs to no live process.
    MappedFile& f = *slot_file(slot, true);
    if (f.size() > 0 || f.refresh() > 0) f.truncate_to_zero();
    init_cells_file(f, slot);
  } else {
    MappedFile& f = *slot_file(slot, true);
    slot_cells(slot);  // checks the header; the fold left the cells zero
    f.grow(kCellsHeader + 8 * std::max<std::uint64_t>(max_cell_, 1));
  }
  const auto start = process_start_time(::getpid());
  own_start_ = start.value_or(0);
  SlotEntry& e = entry(slot);
  e.pid.store(::getpid(), std::memory_order_relaxed);
  e.start_time.store(own_start_, std::memory_order_relaxed);
  e.fold_step.store(0, std::memory_order_relaxed);
  e.state.store(kLive, std::memory_order_release);
  if (slot == used) h.slots_used.store(used + 1, std::memory_order_release);
  return slot;
}

}  // namespace pytheus::detail::file
