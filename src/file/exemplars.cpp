// Exemplar files: slot-N.ex beside each slot-N.db (format.hpp). A process writes only its
// own slot's file, so no two processes write one record (an erase clears records under the
// directory lock, with the cell's own sequence number). A slot's file outlives its owner:
// a dead process's exemplars are still real observations and stay shown until newer ones
// replace them or the slot's next owner overwrites them.
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "store.hpp"

namespace pytheus::detail::file {
namespace {

bool header_ok(const MappedFile& f, std::uint32_t slot, std::uint64_t instance) {
  if (f.size() < kPage) return false;
  const auto& h = *reinterpret_cast<const CellsHeader*>(f.data());
  return std::memcmp(h.magic, kExemplarsMagic, 8) == 0 && h.version == kFormatVersion &&
         h.slot == slot && h.instance == instance;
}

}  // namespace

MappedFile* Store::exemplar_file(std::uint32_t slot, bool create) {
  if (exemplar_files_.size() <= slot) exemplar_files_.resize(slot + 1);
  if (!exemplar_files_[slot]) {
    const std::string path = dir_ + "/slot-" + std::to_string(slot) + ".ex";
    if (!create && ::access(path.c_str(), F_OK) != 0) return nullptr;
    exemplar_files_[slot] = std::make_unique<MappedFile>(path, create, config_.file_mode);
  }
  return exemplar_files_[slot].get();
}

ExemplarCell* Store::claim_own_exemplars(std::uint64_t cell) {
  std::lock_guard<std::mutex> lock(mu_);
  if (own_slot_ < 0) return nullptr;
  const auto slot = static_cast<std::uint32_t>(own_slot_);
  // Exemplars are an extra: a file that cannot be made costs them, never the update.
  try {
    MappedFile& f = *exemplar_file(slot, true);
    if (own_ex_.load(std::memory_order_relaxed) == nullptr) {
      f.refresh();
      if (!header_ok(f, slot, instance_)) {
        // Another directory's file, or a new one: start empty. Only this slot's owner
        // writes it; a reader skips it while its header is not ours.
        f.truncate_to_zero();
        unsigned char* d = f.grow(kPage);
        auto& h = *reinterpret_cast<CellsHeader*>(d);
        h.version = kFormatVersion;
        h.slot = slot;
        h.instance = instance_;
        std::memcpy(h.magic, kExemplarsMagic, 8);
      }
    }
    const std::uint64_t cells = std::max<std::uint64_t>(max_cell_, cell + 1);
    const std::size_t bytes = kPage + kExemplarRecord * cells;
    unsigned char* base = f.size() < bytes ? f.grow(bytes) : f.data();
    own_ex_.store(base + kPage, std::memory_order_release);
    own_ex_count_.store((f.size() - kPage) / kExemplarRecord, std::memory_order_release);
    return reinterpret_cast<ExemplarCell*>(base + kPage + kExemplarRecord * cell);
  } catch (const Error&) {
    return nullptr;
  }
}

std::vector<Store::ExemplarSource> Store::exemplar_sources() {
  std::vector<ExemplarSource> out;
  const auto used = static_cast<std::uint32_t>(header().slots_used.load(std::memory_order_acquire));
  for (std::uint32_t k = 0; k < used; ++k) {
    MappedFile* f = nullptr;
    try {
      f = exemplar_file(k, false);
      if (f == nullptr) continue;
      f->refresh();
    } catch (const Error&) {
      continue;
    }
    if (!header_ok(*f, k, instance_)) continue;
    out.push_back({f->data() + kPage, (f->size() - kPage) / kExemplarRecord});
  }
  return out;
}

void Store::add_exemplars(const RecordView& r, SeriesRow& row,
                          const std::vector<ExemplarSource>& ex) const {
  if (ex.empty() || (r.type != MetricType::counter && r.type != MetricType::histogram)) return;
  const std::uint64_t n = r.type == MetricType::counter ? 1 : r.cell_count - r.native_cells - 1;
  std::vector<std::optional<Exemplar>> found(n);
  bool any = false;
  for (std::uint64_t i = 0; i < n; ++i) {
    std::optional<ExemplarData> latest;
    for (const ExemplarSource& s : ex) {
      const std::uint64_t cell = r.first_cell + i;
      if (cell >= s.count) continue;
      const auto* c = reinterpret_cast<const ExemplarCell*>(s.records + kExemplarRecord * cell);
      std::optional<ExemplarData> d = c->load();
      if (d && (!latest || d->timestamp > latest->timestamp)) latest = d;
    }
    if (latest) {
      found[i] = latest->to_exemplar();
      any = true;
    }
  }
  if (!any) return;
  if (r.type == MetricType::counter) {
    row.exemplar = std::move(found[0]);
  } else {
    row.histogram.exemplars = std::move(found);
  }
}

void Store::clear_exemplars(const Series& s) {
  for (const ExemplarSource& src : exemplar_sources()) {
    for (std::uint64_t cell = s.first_cell; cell < s.first_cell + s.cell_count && cell < src.count;
         ++cell) {
      // The file is mapped read-write; the source pointer is const only for readers.
      auto* c = reinterpret_cast<ExemplarCell*>(
          const_cast<unsigned char*>(src.records + kExemplarRecord * cell));
      c->clear();
    }
  }
}

}  // namespace pytheus::detail::file
