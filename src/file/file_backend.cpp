// The value objects of MultiProcessFileBackend and its registration.
//
// A value object binds its series once (Store::bind: catalog lookup, maybe a new record under
// the directory lock) and keeps only its first cell; every update then finds this process's
// slot through one load of Store::own_cells_ (null after a fork, which claims a new slot) and
// is one atomic operation on shared memory.
#include <nlohmann/json.hpp>

#include "native_region.hpp"
#include "pytheus/backends.hpp"
#include "pytheus/backends/file.hpp"
#include "store.hpp"

namespace pytheus::detail::file {
namespace {

class FileValue final : public Backend {
 public:
  FileValue(const BackendConfig& config, const MetricInfo& info, std::optional<std::string_view>)
      : store_(Store::open(config)), series_(store_.bind(info, {})), c_(series_.first_cell) {
    if (info.type == MetricType::gauge) {
      kind_ = series_.mode == GaugeMode::shared ? Kind::shared_gauge
              : (series_.mode == GaugeMode::mostrecent || series_.mode == GaugeMode::livemostrecent)
                  ? Kind::recent_gauge
                  : Kind::process_gauge;
    }
    if (kind_ == Kind::process_gauge || kind_ == Kind::recent_gauge) mark(store_.own_cells());
  }

  void inc(double v) override {
    if (PYTHEUS_LIKELY(kind_ == Kind::own)) {
      add_d(cell_d(store_.own_cells(), c_), v);
      return;
    }
    change(v, false);
  }
  void dec(double v) override { inc(-v); }
  void set(double v) override {
    if (kind_ == Kind::own) {
      cell_d(store_.own_cells(), c_).store(v, std::memory_order_relaxed);
      return;
    }
    change(v, true);
  }
  double get() override { return store_.read_value(series_); }
  void erase() override { store_.erase(series_); }
  void inc_with_exemplar(double v, const ExemplarData& e) override {
    if (ExemplarCell* cell = kind_ == Kind::own ? store_.own_exemplar(c_) : nullptr) {
      cell->store_if_newer(e);
    }
    inc(v);
  }

 private:
  enum class Kind { own, shared_gauge, process_gauge, recent_gauge };

  void change(double v, bool replace) {
    unsigned char* cells = kind_ == Kind::shared_gauge ? store_.totals_cells() : store_.own_cells();
    std::atomic<double>& value = cell_d(cells, c_);
    if (replace) {
      value.store(v, std::memory_order_relaxed);
    } else {
      add_d(value, v);
    }
    if (kind_ == Kind::recent_gauge) {
      cell_u(cells, c_ + 1).store(now_ns(), std::memory_order_relaxed);
    } else if (kind_ == Kind::process_gauge) {
      mark(cells);
    }
  }
  // A gauge this process has: present in its modes even if never set.
  void mark(unsigned char* cells) {
    std::atomic<std::uint64_t>& stamp = cell_u(cells, c_ + 1);
    if (stamp.load(std::memory_order_relaxed) == 0) stamp.store(1, std::memory_order_relaxed);
  }

  Store& store_;
  Series series_;
  std::uint64_t c_;
  Kind kind_ = Kind::own;
};

class FileHistogram final : public HistogramBackend {
 public:
  FileHistogram(const BackendConfig& config, const MetricInfo& info,
                const std::vector<double>& bounds)
      : store_(Store::open(config)),
        series_(store_.bind(info, bounds)),
        c_(series_.first_cell),
        n_(series_.cell_count - series_.native_cells - 1),
        window_(native_region::window_of(series_.native_cells)) {}

  void observe(double value, std::size_t bucket) override {
    unsigned char* cells = store_.own_cells();
    if (series_.native) {
      native_region::observe({cells + 8 * c_, n_, window_}, *series_.native, value, bucket);
      return;
    }
    if (series_.type == MetricType::histogram) {
      cell_u(cells, c_ + std::min<std::uint64_t>(bucket, n_ - 1))
          .fetch_add(1, std::memory_order_relaxed);
    } else {
      cell_u(cells, c_).fetch_add(1, std::memory_order_relaxed);
    }
    add_d(cell_d(cells, c_ + n_), value);
  }
  void observe_with_exemplar(double value, std::size_t bucket, const ExemplarData& e) override {
    if (series_.type == MetricType::histogram) {
      if (ExemplarCell* cell = store_.own_exemplar(c_ + std::min<std::uint64_t>(bucket, n_ - 1))) {
        cell->store_if_newer(e);
      }
    }
    observe(value, bucket);
  }
  HistogramSnapshot snapshot() override { return store_.read_histogram(series_); }
  void merge(const HistogramSnapshot& other) override {
    unsigned char* cells = store_.own_cells();
    if (series_.native) {
      native_region::merge({cells + 8 * c_, n_, window_}, *series_.native, other);
      return;
    }
    if (series_.type == MetricType::histogram) {
      double previous = 0;
      for (std::uint64_t i = 0; i < n_ && i < other.buckets.size(); ++i) {
        cell_u(cells, c_ + i)
            .fetch_add(static_cast<std::uint64_t>(other.buckets[i] - previous),
                       std::memory_order_relaxed);
        previous = other.buckets[i];
      }
    } else {
      cell_u(cells, c_).fetch_add(static_cast<std::uint64_t>(other.count),
                                  std::memory_order_relaxed);
    }
    add_d(cell_d(cells, c_ + n_), other.sum);
  }
  void erase() override { store_.erase(series_); }

 private:
  Store& store_;
  Series series_;
  std::uint64_t c_;
  std::uint64_t n_;       // buckets; the sum is cell n_ (a summary: count at 0, sum at 1)
  std::uint64_t window_;  // with native buckets: their region's window, after the sum
};

BackendClass make_class() {
  BackendClass c;
  c.name = std::string(MultiProcessFileBackend::name);
  c.aliases = {std::string(MultiProcessFileBackend::pytheus_path)};
  c.process_local = false;
  c.initialize = [](const BackendConfig& config) { Store::open(config); };
  c.make_value = [](const BackendConfig& config, const MetricInfo& info,
                    std::optional<std::string_view> bucket) -> std::unique_ptr<Backend> {
    return std::make_unique<FileValue>(config, info, bucket);
  };
  c.make_histogram = [](const BackendConfig& config, const MetricInfo& info,
                        const std::vector<double>& bounds) -> std::unique_ptr<HistogramBackend> {
    return std::make_unique<FileHistogram>(config, info, bounds);
  };
  c.generate_samples = [](const BackendConfig& config, const std::vector<MetricRequest>& requests) {
    return Store::open(config).bulk_read(requests);
  };
  return c;
}

}  // namespace
}  // namespace pytheus::detail::file

namespace pytheus {

detail::BackendClass MultiProcessFileBackend::backend_class() {
  return detail::file::make_class();
}

}  // namespace pytheus

// Registration at static-initialisation time. The CMake target adds
// `-Wl,--undefined=pytheus_file_backend_anchor` to whatever links it, so the linker keeps
// this object file (and so this registration) even when nothing else refers to it.
extern "C" {
extern const int pytheus_file_backend_anchor;
const int pytheus_file_backend_anchor = [] {
  pytheus::detail::register_backend_class(pytheus::detail::file::make_class(),
                                          &typeid(pytheus::MultiProcessFileBackend));
  return 1;
}();
}
