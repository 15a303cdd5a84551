// Reading: the bulk read behind a scrape, and get()/snapshot() of one series.
//
// A read sums the totals file and every live slot. It takes no lock in steady state: it
// reads `fold_seq` before and after, and reads again if a fold or an erase ran meanwhile
// (after a few tries, or when the folder died, it takes the directory lock). Histograms are
// consistent by construction: each slot keeps per-bucket counts, the count is their sum and
// the buckets are cumulated at read time, so `+Inf` == `_count` and buckets never decrease,
// whatever observations run at the same time.
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "native_region.hpp"
#include "pytheus/detail/native.hpp"
#include "pytheus/errors.hpp"
#include "store.hpp"

namespace pytheus::detail::file {

namespace {

// Fills a snapshot's cumulative buckets and count from per-bucket counts.
void set_cumulative(const std::vector<std::uint64_t>& counts, HistogramSnapshot& h) {
  std::uint64_t cumulative = 0;
  h.buckets.resize(counts.size());
  for (std::size_t i = 0; i < counts.size(); ++i) {
    cumulative += counts[i];
    h.buckets[i] = static_cast<double>(cumulative);
  }
  h.count = static_cast<double>(cumulative);
}

}  // namespace

std::vector<CellSource> Store::sources(bool with_liveness) {
  std::vector<CellSource> out;
  totals_->refresh();
  totals_cells_.store(totals_->data() + kCellsHeader, std::memory_order_release);
  out.push_back(
      {totals_->data() + kCellsHeader, (totals_->size() - kCellsHeader) / 8, 0, true, false});
  IndexHeader& h = header();
  const auto used = static_cast<std::uint32_t>(h.slots_used.load(std::memory_order_acquire));
  const pid_t me = ::getpid();
  for (std::uint32_t k = 0; k < used; ++k) {
    SlotEntry& e = entry(k);
    if (e.state.load(std::memory_order_acquire) != kLive) continue;
    const std::uint64_t covered = slot_cells(k);
    CellSource s{covered ? slots_[k]->data() + kCellsHeader : nullptr, covered,
                 e.pid.load(std::memory_order_relaxed), true,
                 static_cast<std::int64_t>(k) == own_slot_};
    if (with_liveness && !s.own) {
      const auto start = process_start_time(s.pid);
      s.alive = start && *start == e.start_time.load(std::memory_order_relaxed);
    }
    // This process first: its series lead a scrape.
    if (s.own || s.pid == me) {
      out.insert(out.begin() + 1, s);
    } else {
      out.push_back(s);
    }
  }
  return out;
}

template <class F>
auto Store::consistent(F&& read) -> decltype(read(std::vector<CellSource>{})) {
  IndexHeader& h = header();
  for (int attempt = 0; attempt < 8; ++attempt) {
    const std::uint64_t before = h.fold_seq.load(std::memory_order_acquire);
    if (before & 1) {
      DirLock dl(*this);
      sync_catalog();
      finish_folds();
      continue;
    }
    auto result = read(sources(true));
    std::atomic_thread_fence(std::memory_order_acquire);
    if (h.fold_seq.load(std::memory_order_relaxed) == before) return result;
  }
  DirLock dl(*this);
  sync_catalog();
  finish_folds();
  return read(sources(true));
}

std::optional<double> Store::created_of(const RecordView& r) const {
  if (r.type != MetricType::counter && r.type != MetricType::histogram &&
      r.type != MetricType::summary) {
    return std::nullopt;
  }
  const std::uint64_t bits = record_header(r.offset).created.load(std::memory_order_relaxed);
  double when = 0;
  std::memcpy(&when, &bits, sizeof when);
  if (bits == 0 || !(when > 0)) return std::nullopt;
  return when;
}

bool Store::visible(const RecordView& r, const std::vector<CellSource>& src) const {
  if (record_header(r.offset).erased.load(std::memory_order_acquire) == 0) return true;
  for (const CellSource& s : src) {
    // The classic cells only: a native region's lock word changes with every update.
    for (std::uint64_t i = r.first_cell; i < r.first_cell + r.cell_count - r.native_cells; ++i) {
      if (s.u(i) != 0) return true;  // written again after the erase
    }
  }
  return false;
}

SeriesRow Store::row(const RecordView& r, GaugeMode mode, const std::vector<CellSource>& src,
                     std::vector<SeriesRow>* per_process,
                     const std::optional<NativeHistogramOptions>& native) const {
  SeriesRow out;
  const std::uint64_t c = r.first_cell;
  switch (r.type) {
    case MetricType::histogram: {
      if (r.native_cells != 0) {
        // Each file's classic counts and native buckets are read together (the region's
        // seqlock), then merged at the lowest schema and widest zero bucket: exact.
        const std::uint64_t n = r.cell_count - r.native_cells - 1;
        const std::uint64_t w = native_region::window_of(r.native_cells);
        std::vector<std::uint64_t> counts(n, 0);
        std::optional<NativeBuckets> merged;
        for (std::size_t k = 0; k < src.size(); ++k) {
          const CellSource& s = src[k];
          const bool covered = s.cells != nullptr && c + r.cell_count <= s.count;
          const native_region::Read one =
              native_region::read(covered ? s.cells + 8 * c : nullptr, n, w, k != 0, s.alive);
          for (std::uint64_t i = 0; i < n; ++i) counts[i] += one.counts[i];
          out.histogram.sum += one.sum;
          if (!one.has_native) continue;
          if (merged) {
            native::merge(*merged, one.native);
          } else {
            merged = one.native;
          }
        }
        set_cumulative(counts, out.histogram);
        if (!merged) {
          merged.emplace();
          const NativeHistogramOptions o = native.value_or(NativeHistogramOptions{});
          merged->schema = o.schema;
          merged->zero_threshold = o.zero_threshold;
        }
        if (native) native_region::limit(*merged, native->max_buckets);
        out.histogram.native = std::move(merged);
        return out;
      }
      const std::uint64_t n = r.cell_count - 1;
      std::vector<std::uint64_t> counts(n, 0);
      for (const CellSource& s : src) {
        for (std::uint64_t i = 0; i < n; ++i) counts[i] += s.u(c + i);
        out.histogram.sum += s.d(c + n);
      }
      set_cumulative(counts, out.histogram);
      return out;
    }
    case MetricType::summary: {
      std::uint64_t count = 0;
      for (const CellSource& s : src) {
        count += s.u(c);
        out.histogram.sum += s.d(c + 1);
      }
      out.histogram.count = static_cast<double>(count);
      return out;
    }
    case MetricType::gauge: {
      if (mode == GaugeMode::shared) {
        out.value = src[0].d(c);
        return out;
      }
      const bool live = is_live(mode);
      bool found = false;
      std::uint64_t latest = 0;
      for (std::size_t i = 0; i < src.size(); ++i) {
        const CellSource& s = src[i];
        if (i == 0 ? (live || is_per_process_series(mode)) : (live && !s.alive)) continue;
        const double v = s.d(c);
        const std::uint64_t stamp = s.u(c + 1);
        switch (mode) {
          case GaugeMode::sum:
          case GaugeMode::livesum:
            out.value += v;
            break;
          case GaugeMode::max:
          case GaugeMode::livemax:
            if (stamp != 0 && (!found || v > out.value)) out.value = v;
            found = found || stamp != 0;
            break;
          case GaugeMode::min:
          case GaugeMode::livemin:
            if (stamp != 0 && (!found || v < out.value)) out.value = v;
            found = found || stamp != 0;
            break;
          case GaugeMode::mostrecent:
          case GaugeMode::livemostrecent:
            if (stamp > latest) {
              latest = stamp;
              out.value = v;
            }
            break;
          default:  // all, liveall
            if (stamp != 0 && per_process != nullptr) {
              SeriesRow p;
              p.value = v;
              p.process = std::to_string(s.pid);
              per_process->push_back(std::move(p));
            }
        }
      }
      return out;
    }
    default:
      for (const CellSource& s : src) out.value += s.d(c);
      return out;
  }
}

std::vector<MetricRows> Store::bulk_read(const std::vector<MetricRequest>& requests) {
  std::lock_guard<std::mutex> lock(mu_);
  try {
    sync_catalog();
    // Records already answered as local series, by catalog index.
    std::vector<bool> used;
    const std::vector<ExemplarSource> ex = exemplar_sources();
    return consistent([&](const std::vector<CellSource>& src) {
      used.assign(records_.size(), false);  // the catalog may have grown in a retry
      std::vector<MetricRows> out;
      out.reserve(requests.size());
      for (const MetricRequest& req : requests) {
        MetricRows rows;
        const GaugeMode mode =
            req.type == MetricType::gauge ? resolve(req.gauge_mode) : GaugeMode::shared;
        const std::vector<double> no_bounds;
        const std::vector<double>& bounds =
            req.type == MetricType::histogram ? req.bounds : no_bounds;
        const bool per_series = req.type == MetricType::gauge && is_per_process_series(mode);
        const bool with_native = native_cells_for(req.type, req.native) != 0;
        auto emit = [&](const RecordView* r, const std::vector<std::string>& values, bool local) {
          if (per_series) {
            std::vector<SeriesRow> per;
            if (r != nullptr) row(*r, mode, src, &per);
            if (per.empty() && local) per.emplace_back();  // this process's, at 0
            for (SeriesRow& p : per) {
              p.label_values = values;
              rows.push_back(std::move(p));
            }
            return;
          }
          SeriesRow s;
          if (r != nullptr) {
            s = row(*r, mode, src, nullptr, req.native);
            s.created = created_of(*r);
            add_exemplars(*r, s, ex);
          } else if (req.type == MetricType::histogram) {
            s.histogram.buckets.assign(bounds.size(), 0);
            if (with_native) {
              NativeBuckets& b = s.histogram.native.emplace();
              b.schema = req.native->schema;
              b.zero_threshold = req.native->zero_threshold;
            }
          }
          s.label_values = values;
          rows.push_back(std::move(s));
        };
        const std::string name = stored_name(req.name, req.registry_prefix);
        auto name_it = by_name_.find(name);
        const std::vector<std::size_t>* same_name =
            name_it == by_name_.end() ? nullptr : &name_it->second;
        for (const std::vector<std::string>& values : req.local_series) {
          std::vector<std::pair<std::string_view, std::string_view>> labels;
          for (std::size_t i = 0; i < values.size() && i < req.label_names.size(); ++i) {
            labels.emplace_back(req.label_names[i], values[i]);
          }
          std::sort(labels.begin(), labels.end());
          const auto i = find(series_key(name, req.type, mode, bounds, labels, with_native));
          if (i) used[*i] = true;
          emit(i ? &records_[*i] : nullptr, values, true);
        }
        for (std::size_t j = 0; same_name && j < same_name->size(); ++j) {
          if (used[(*same_name)[j]]) continue;
          const RecordView& r = records_[(*same_name)[j]];
          if (r.type != req.type || (r.type == MetricType::gauge && r.gauge_mode != mode) ||
              r.bounds != bounds || (r.native_cells != 0) != with_native ||
              r.labels.size() != req.label_names.size()) {
            continue;
          }
          std::vector<std::string> values(req.label_names.size());
          bool match = true;
          for (std::size_t k = 0; k < req.label_names.size() && match; ++k) {
            auto l = std::find_if(r.labels.begin(), r.labels.end(),
                                  [&](const auto& p) { return p.first == req.label_names[k]; });
            match = l != r.labels.end();
            if (match) values[k] = std::string(l->second);
          }
          if (!match || !visible(r, src)) continue;
          emit(&r, values, false);
        }
        out.push_back(std::move(rows));
      }
      return out;
    });
  } catch (const FileFormatError& e) {
    throw CollectError(std::string("MultiProcessFileBackend: ") + e.what());
  }
}

double Store::read_value(const Series& s) {
  std::lock_guard<std::mutex> lock(mu_);
  try {
    sync_catalog();
    auto it = std::lower_bound(records_.begin(), records_.end(), s.record,
                               [](const RecordView& r, std::uint64_t o) { return r.offset < o; });
    if (it == records_.end() || it->offset != s.record) return 0;
    const RecordView& r = *it;
    return consistent([&](const std::vector<CellSource>& src) {
      if (r.type == MetricType::gauge && is_per_process_series(s.mode)) {
        // One process's view of its own series: its own value.
        for (const CellSource& c : src) {
          if (c.own) return c.d(r.first_cell);
        }
        return 0.0;
      }
      return row(r, s.mode, src, nullptr).value;
    });
  } catch (const FileFormatError& e) {
    throw CollectError(std::string("MultiProcessFileBackend: ") + e.what());
  }
}

HistogramSnapshot Store::read_histogram(const Series& s) {
  std::lock_guard<std::mutex> lock(mu_);
  try {
    sync_catalog();
    auto it = std::lower_bound(records_.begin(), records_.end(), s.record,
                               [](const RecordView& r, std::uint64_t o) { return r.offset < o; });
    if (it == records_.end() || it->offset != s.record) return {};
    const RecordView& r = *it;
    return consistent([&](const std::vector<CellSource>& src) {
      return row(r, s.mode, src, nullptr, s.native).histogram;
    });
  } catch (const FileFormatError& e) {
    throw CollectError(std::string("MultiProcessFileBackend: ") + e.what());
  }
}

}  // namespace pytheus::detail::file
