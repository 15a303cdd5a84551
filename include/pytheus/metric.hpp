// What every metric type shares: its description, its labelled children (a family), and
// the handle users hold.
//
// A handle (Counter, Gauge, Histogram, Summary) is cheap to copy and safe to use from many
// threads. It points at a shared family and, when all its labels are set, at one child
// series. labels() returns a new handle; the same label set, in whatever order it is given,
// always reaches the same series. Looking up an existing child allocates nothing and takes
// one shared lock.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "pytheus/backend.hpp"
#include "pytheus/backends.hpp"
#include "pytheus/collector.hpp"
#include "pytheus/detail/format.hpp"
#include "pytheus/errors.hpp"
#include "pytheus/labels.hpp"
#include "pytheus/registry.hpp"

#if defined(__GNUC__)
#define PYTHEUS_LIKELY(x) __builtin_expect(!!(x), 1)
#define PYTHEUS_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define PYTHEUS_LIKELY(x) (x)
#define PYTHEUS_UNLIKELY(x) (x)
#endif

namespace pytheus {

namespace detail {
// String equality without a library call for the short strings label names and values
// usually are.
inline bool same(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.size() > 32) return a == b;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i] != b[i]) return false;
  }
  return true;
}

}  // namespace detail

/// Overflow says what a metric limited to `max_series` label sets does with a new one.
enum class Overflow {
  /// labels() throws CardinalityError.
  refuse,
  /// The update goes to one overflow series whose every label value is kOverflowLabelValue.
  fold,
};

/// The label value of the overflow series of a metric with Overflow::fold.
inline constexpr std::string_view kOverflowLabelValue = "__overflow__";

/// MetricDescriptor is the immutable description of a metric family.
struct MetricDescriptor {
  std::string name;
  std::string help;
  std::string unit;
  MetricType type = MetricType::untyped;
  /// The required label names, in the order they were declared (and are written).
  std::vector<std::string> label_names;
  /// The default value of each label, or nullopt.
  std::vector<std::optional<std::string>> defaults;
  /// Histogram bucket upper bounds, ending with +Inf; empty for other types.
  std::vector<double> bounds;
  /// The bounds as written in `le` labels and Redis keys ("0.005", "1", "+Inf").
  std::vector<std::string> bucket_keys;
  /// The most label sets the metric takes (0: no limit), and what happens beyond it.
  std::size_t max_series = 0;
  Overflow overflow = Overflow::refuse;

  static constexpr std::size_t npos = static_cast<std::size_t>(-1);

  /// Returns the position of label `label` in label_names, or npos. `hint` is checked
  /// first: labels are usually given in their declared order.
  std::size_t index_of(std::string_view label, std::size_t hint = 0) const {
    if (hint < label_names.size() && detail::same(label_names[hint], label)) return hint;
    for (std::size_t i = 0; i < label_names.size(); ++i) {
      if (detail::same(label_names[i], label)) return i;
    }
    return npos;
  }
};

/// MetricCollector is the collector of a built-in metric. Backends with a bulk read (the
/// Redis one) use it to learn what to read.
class MetricCollector : public Collector {
 public:
  virtual const MetricDescriptor& descriptor() const = 0;
  /// True when the metric's values live on the backend load_backend() chose.
  virtual bool on_loaded_backend() const = 0;
  /// The label values (in label_names order) of each child this process created.
  virtual std::vector<std::vector<std::string>> label_sets() const = 0;
};

/// Buckets is the bucket argument of a histogram: left out or `{}`, the default buckets;
/// otherwise the given upper bounds, which must be non-empty and strictly increasing.
class Buckets {
 public:
  Buckets() = default;
  Buckets(std::initializer_list<double> bounds) : bounds_(bounds) {}   // NOLINT: implicit
  Buckets(std::vector<double> bounds) : bounds_(std::move(bounds)) {}  // NOLINT: implicit
  /// The bounds given, or nullopt for the default buckets.
  const std::optional<std::vector<double>>& bounds() const { return bounds_; }

 private:
  std::optional<std::vector<double>> bounds_;
};

/// MetricOptions is every setting of a metric; the positional constructors fill the common
/// ones.
struct MetricOptions {
  std::string name;
  std::string description;
  std::vector<std::string> required_labels;
  Labels default_labels;
  RegistryRef registry;
  /// OpenMetrics unit ("seconds"); the name must then end with "_<unit>" (before "_total").
  std::string unit;
  /// Histogram bucket upper bounds (default: default_buckets()). Ignored elsewhere.
  Buckets buckets;
  /// Cardinality protection: the most label sets the metric takes (0: no limit). Beyond
  /// it, new label sets are refused or folded into one overflow series (`overflow`), and
  /// counted in `pytheus_series_overflow_total{metric="<name>"}` in the default registry.
  std::size_t max_series = 0;
  Overflow overflow = Overflow::refuse;
};

/// The default histogram buckets: 0.005 ... 10 seconds, then +Inf.
inline const std::vector<double>& default_buckets() {
  static const std::vector<double> b = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  return b;
}

/// Returns `count` buckets: start, start + width, ... Throws BucketError unless count > 0
/// and width > 0.
inline std::vector<double> linear_buckets(double start, double width, std::size_t count) {
  if (count == 0 || !(width > 0) || !std::isfinite(start)) {
    throw BucketError("linear_buckets needs count > 0, width > 0 and a finite start");
  }
  std::vector<double> b(count);
  for (std::size_t i = 0; i < count; ++i) b[i] = start + width * static_cast<double>(i);
  return b;
}

/// Returns `count` buckets: start, start * factor, ... Throws BucketError unless count > 0,
/// start > 0 and factor > 1.
inline std::vector<double> exponential_buckets(double start, double factor, std::size_t count) {
  if (count == 0 || !(start > 0) || !(factor > 1) || !std::isfinite(start)) {
    throw BucketError("exponential_buckets needs count > 0, start > 0 and factor > 1");
  }
  std::vector<double> b(count);
  double v = start;
  for (std::size_t i = 0; i < count; ++i, v *= factor) b[i] = v;
  return b;
}

namespace detail {

inline const BackendConfig& empty_config() {
  static const BackendConfig* c = new BackendConfig(BackendConfig::object());
  return *c;
}

inline MetricDescriptor make_descriptor(MetricType type, MetricOptions& o) {
  MetricDescriptor d;
  validate_metric_name(o.name);
  d.name = o.name;
  d.help = o.description;
  d.type = type;
  if (!o.unit.empty()) {
    if (!matches_name(o.unit, false) && !(o.unit[0] >= '0' && o.unit[0] <= '9')) {
      throw InvalidNameError("invalid unit " + quote_name(o.unit) + " for metric " +
                             quote_name(o.name));
    }
    std::string suffix = "_" + o.unit;
    auto ends_with = [&](const std::string& s) {
      return d.name.size() > s.size() && d.name.compare(d.name.size() - s.size(), s.size(), s) == 0;
    };
    if (!ends_with(suffix) && !(type == MetricType::counter && ends_with(suffix + "_total"))) {
      throw InvalidNameError("metric " + quote_name(o.name) + " has unit " + quote_name(o.unit) +
                             " so its name must end with " + quote_name(suffix) +
                             (type == MetricType::counter
                                  ? " (or " + quote_name(suffix + "_total") + ")"
                                  : std::string()));
    }
    d.unit = o.unit;
  }
  std::string_view reserved = type == MetricType::histogram ? "le"
                              : type == MetricType::summary ? "quantile"
                                                            : "";
  for (const std::string& label : o.required_labels) {
    validate_label_name(label, o.name, reserved);
    if (d.index_of(label) != MetricDescriptor::npos) {
      throw LabelError("label " + quote_name(label) +
                       " is listed twice in required_labels of metric " + quote_name(o.name));
    }
    d.label_names.push_back(label);
  }
  d.max_series = o.max_series;
  d.overflow = o.overflow;
  if (d.max_series != 0 && d.label_names.empty()) {
    throw LabelError("metric " + quote_name(o.name) +
                     " has no labels, so max_series cannot apply to it");
  }
  d.defaults.resize(d.label_names.size());
  for (const auto& [label, value] : o.default_labels) {
    std::size_t i = d.index_of(label);
    if (i == MetricDescriptor::npos) {
      throw LabelError("default label " + quote_name(label) + " of metric " + quote_name(o.name) +
                       " is not one of its required_labels");
    }
    d.defaults[i] = value;
  }
  if (type == MetricType::histogram) {
    std::vector<double> b = o.buckets.bounds().value_or(default_buckets());
    if (b.empty()) {
      throw BucketError("histogram " + quote_name(o.name) + " needs at least one bucket");
    }
    for (std::size_t i = 0; i < b.size(); ++i) {
      if (std::isnan(b[i]))
        throw BucketError("histogram " + quote_name(o.name) + " has a NaN bucket");
      if (i > 0 && !(b[i] > b[i - 1])) {
        throw BucketError("buckets of histogram " + quote_name(o.name) +
                          " must be strictly increasing; " + format_double(b[i]) + " follows " +
                          format_double(b[i - 1]));
      }
    }
    if (b.back() != std::numeric_limits<double>::infinity()) {
      b.push_back(std::numeric_limits<double>::infinity());
    }
    d.bounds = std::move(b);
    for (double bound : d.bounds) d.bucket_keys.push_back(format_double(bound));
  }
  return d;
}

inline MetricInfo make_info(const MetricDescriptor& d, const std::vector<std::string>& values) {
  MetricInfo info;
  info.name = d.name;
  info.description = d.help;
  info.type = d.type;
  info.labels.reserve(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    info.labels.emplace_back(d.label_names[i], values[i]);
  }
  std::sort(info.labels.begin(), info.labels.end());
  return info;
}

// One stored value of a static backend type B, made with the series.
template <class B>
class ValueStorage {
 public:
  ValueStorage(const MetricDescriptor& d, const std::vector<std::string>& values)
      : value_(empty_config(), make_info(d, values), std::nullopt) {}
  B& get(const MetricDescriptor&, const std::vector<std::string>&) { return value_; }
  void erase(const MetricDescriptor&, const std::vector<std::string>&) {
    if constexpr (has_erase<B>::value) value_.erase();
  }
  void rebind(const MetricDescriptor&, const std::vector<std::string>&, const BackendClass&,
              const BackendClass&, const BackendConfig&) {}

 private:
  B value_;
};

// How the loaded backend makes and carries over one kind of stored object: a value
// (Backend) or a histogram or summary series (HistogramBackend).
template <class Impl>
struct LoadedKind;

template <>
struct LoadedKind<Backend> {
  static std::unique_ptr<Backend> make(const BackendClass& cls, const BackendConfig& config,
                                       const MetricDescriptor& d,
                                       const std::vector<std::string>& values) {
    return cls.make_value(config, make_info(d, values), std::nullopt);
  }
  static void carry(Backend& from, Backend& to) {
    const double v = from.get();
    if (v != 0) to.inc(v);
  }
};

template <>
struct LoadedKind<HistogramBackend> {
  static std::unique_ptr<HistogramBackend> make(const BackendClass& cls,
                                                const BackendConfig& config,
                                                const MetricDescriptor& d,
                                                const std::vector<std::string>& values) {
    return cls.make_histogram(config, make_info(d, values), d.bucket_keys);
  }
  static void carry(HistogramBackend& from, HistogramBackend& to) {
    HistogramSnapshot s = from.snapshot();
    if (s.count != 0 || s.sum != 0) to.merge(s);
  }
};

// One stored object on the loaded backend, bound on first use and moved by load_backend.
template <class Impl>
class LoadedStorage {
 public:
  LoadedStorage(const MetricDescriptor&, const std::vector<std::string>&) {}
  LoadedStorage(const LoadedStorage&) = delete;
  LoadedStorage& operator=(const LoadedStorage&) = delete;
  ~LoadedStorage() { delete impl_.load(std::memory_order_acquire); }

  Impl& get(const MetricDescriptor& d, const std::vector<std::string>& values) {
    Impl* p = impl_.load(std::memory_order_acquire);
    if (PYTHEUS_LIKELY(p != nullptr)) return *p;
    return bind(d, values);
  }

  // Binds first when unused: a shared store may hold the series from other processes.
  void erase(const MetricDescriptor& d, const std::vector<std::string>& values) {
    get(d, values).erase();
  }

  // Called by load_backend with its lock held.
  void rebind(const MetricDescriptor& d, const std::vector<std::string>& values,
              const BackendClass& from, const BackendClass& to, const BackendConfig& config) {
    Impl* old = impl_.load(std::memory_order_acquire);
    if (old == nullptr) return;  // never used: binds to the new class on first use
    std::unique_ptr<Impl> next = LoadedKind<Impl>::make(to, config, d, values);
    if (from.process_local) LoadedKind<Impl>::carry(*old, *next);
    impl_.store(next.release(), std::memory_order_release);
    BackendRegistry::instance().retire(std::unique_ptr<Impl>(old));
  }

 private:
  Impl& bind(const MetricDescriptor& d, const std::vector<std::string>& values) {
    return BackendRegistry::instance().with_loaded(
        [&](const BackendClass& cls, const BackendConfig& config) -> Impl& {
          Impl* p = impl_.load(std::memory_order_acquire);
          if (p == nullptr) {
            p = LoadedKind<Impl>::make(cls, config, d, values).release();
            impl_.store(p, std::memory_order_release);
          }
          return *p;
        });
  }

  std::atomic<Impl*> impl_{nullptr};
};

template <>
class ValueStorage<LoadedBackend> : public LoadedStorage<Backend> {
 public:
  using LoadedStorage<Backend>::LoadedStorage;
};

// One histogram or summary series of a static backend type B.
template <class B>
class HistogramStorage {
 public:
  HistogramStorage(const MetricDescriptor& d, const std::vector<std::string>& values)
      : value_(empty_config(), make_info(d, values), d.bucket_keys) {}
  histogram_backend_t<B>& get(const MetricDescriptor&, const std::vector<std::string>&) {
    return value_;
  }
  void erase(const MetricDescriptor&, const std::vector<std::string>&) { value_.erase(); }
  void rebind(const MetricDescriptor&, const std::vector<std::string>&, const BackendClass&,
              const BackendClass&, const BackendConfig&) {}

 private:
  histogram_backend_t<B> value_;
};

template <>
class HistogramStorage<LoadedBackend> : public LoadedStorage<HistogramBackend> {
 public:
  using LoadedStorage<HistogramBackend>::LoadedStorage;
};

// One child of a family: its label values and its stored value(s). It shares the family's
// descriptor, so a handle holding only the child can use it, and refers back to the family
// weakly (the family owns its children).
template <class Storage>
class Series {
 public:
  Series(std::shared_ptr<const MetricDescriptor> d, std::weak_ptr<MetricCollector> family,
         std::vector<std::string> values, std::uint64_t seq)
      : desc_(std::move(d)),
        family_(std::move(family)),
        values_(std::move(values)),
        seq_(seq),
        storage_(*desc_, values_) {}

  decltype(auto) get() { return storage_.get(*desc_, values_); }
  const MetricDescriptor& descriptor() const { return *desc_; }
  std::shared_ptr<MetricCollector> family() const { return family_.lock(); }
  const std::vector<std::string>& values() const { return values_; }
  std::uint64_t seq() const { return seq_; }
  void rebind(const BackendClass& from, const BackendClass& to, const BackendConfig& config) {
    storage_.rebind(*desc_, values_, from, to, config);
  }
  // Deletes what the backend stores for this series (the series was removed).
  void erase() { storage_.erase(*desc_, values_); }

 private:
  const std::shared_ptr<const MetricDescriptor> desc_;
  const std::weak_ptr<MetricCollector> family_;
  const std::vector<std::string> values_;
  const std::uint64_t seq_;
  Storage storage_;
};

template <class B>
using ValueSeries = Series<ValueStorage<B>>;
template <class B>
using HistogramSeries = Series<HistogramStorage<B>>;

template <class S>
struct is_histogram_series : std::false_type {};
template <class B>
struct is_histogram_series<Series<HistogramStorage<B>>> : std::true_type {};

template <class S>
struct is_loaded : std::false_type {};
template <>
struct is_loaded<Series<ValueStorage<LoadedBackend>>> : std::true_type {};
template <>
struct is_loaded<Series<HistogramStorage<LoadedBackend>>> : std::true_type {};

// Label values viewed in label_names order, on the stack for up to kInline labels. Only the
// first n entries are initialised: this runs on every labels() call.
class ValueBuffer {
 public:
  static constexpr std::size_t kInline = 16;

  explicit ValueBuffer(std::size_t n) : n_(n) {
    if (n > kInline) {
      heap_values_.reset(new std::string_view[n]);
      heap_set_.reset(new bool[n]());
    } else {
      for (std::size_t i = 0; i < n; ++i) inline_set_[i] = false;
    }
  }
  std::string_view* values() { return n_ > kInline ? heap_values_.get() : inline_values_; }
  bool* set() { return n_ > kInline ? heap_set_.get() : inline_set_; }
  std::size_t size() const { return n_; }

 private:
  std::size_t n_;
  std::string_view inline_values_[kInline];
  bool inline_set_[kInline];
  std::unique_ptr<std::string_view[]> heap_values_;
  std::unique_ptr<bool[]> heap_set_;
};

// FNV-1a over the values, each followed by its length so that ("ab", "") and ("a", "b")
// differ. Inline: label values are short, and this runs on every labels() call.
inline std::size_t hash_values(const std::string_view* values, std::size_t n) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (std::size_t i = 0; i < n; ++i) {
    for (char c : values[i]) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
    h = (h ^ values[i].size()) * 0x100000001b3ULL;
  }
  return static_cast<std::size_t>(h);
}

// Counts the label sets refused or folded by metrics with max_series, exposed as
// pytheus_series_overflow_total{metric="..."} in the default registry from the first one on.
class OverflowCounts final : public Collector {
 public:
  static OverflowCounts& instance() { return *shared(); }

  void count(const std::string& metric) {
    bool first = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++counts_[metric];
      first = !registered_;
      registered_ = true;
    }
    if (first) {
      try {
        default_registry().register_collector(shared());
      } catch (const RegistrationError&) {
        // A user's metric took the name in the default registry: the counts stay readable
        // through overflow_count().
      }
    }
  }

  std::uint64_t overflow_count(const std::string& metric) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = counts_.find(metric);
    return it == counts_.end() ? 0 : it->second;
  }

  std::vector<std::string> describe() const override { return {"pytheus_series_overflow_total"}; }

  std::vector<MetricFamily> collect() const override {
    MetricFamily f{"pytheus_series_overflow_total",
                   "Label sets refused or folded because a metric reached max_series.",
                   MetricType::counter,
                   "",
                   {}};
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [metric, n] : counts_) {
      f.samples.push_back({"", {{"metric", metric}}, static_cast<double>(n)});
    }
    return {f};
  }

 private:
  OverflowCounts() = default;
  // Never destroyed, like the default registry that holds it.
  static const std::shared_ptr<OverflowCounts>& shared() {
    static auto* p = new std::shared_ptr<OverflowCounts>(new OverflowCounts());
    return *p;
  }

  mutable std::mutex mu_;
  std::map<std::string, std::uint64_t> counts_;
  bool registered_ = false;
};

// A metric family: the descriptor and the children, keyed by the hash of their label
// values. Reads take a shared lock; creating or removing a child takes it exclusively.
template <class S>
class Family final : public MetricCollector,
                     public Rebindable,
                     public std::enable_shared_from_this<Family<S>> {
 public:
  explicit Family(MetricDescriptor d)
      : desc_(std::make_shared<const MetricDescriptor>(std::move(d))) {
    if constexpr (is_loaded<S>::value) BackendRegistry::instance().track(this);
  }
  ~Family() override {
    if constexpr (is_loaded<S>::value) BackendRegistry::instance().untrack(this);
  }

  const MetricDescriptor& descriptor() const override { return *desc_; }
  bool on_loaded_backend() const override { return is_loaded<S>::value; }

  std::vector<std::string> describe() const override { return {desc_->name}; }

  // Returns the child with these label values (label_names order), creating it if needed.
  // Beyond max_series, a new label set is refused or folded into the overflow child.
  std::shared_ptr<S> child(const std::string_view* values) {
    const std::size_t n = desc_->label_names.size();
    const std::size_t h = hash_values(values, n);
    {
      std::shared_lock<std::shared_mutex> lock(mu_);
      if (auto found = find_locked(h, values)) return *found;
      if (at_limit_locked() && (desc_->overflow == Overflow::refuse || overflow_child_)) {
        return overflow_locked(values);
      }
    }
    std::unique_lock<std::shared_mutex> lock(mu_);
    if (auto found = find_locked(h, values)) return *found;
    if (at_limit_locked()) {
      if (desc_->overflow == Overflow::fold && !overflow_child_) {
        std::vector<std::string_view> folded(n, kOverflowLabelValue);
        overflow_child_ = make_locked(hash_values(folded.data(), n), folded.data());
      }
      return overflow_locked(values);
    }
    return make_locked(h, values);
  }

  // Removes the child with these label values and deletes what its backend stores; returns
  // whether there was one.
  bool remove(const std::string_view* values) {
    const std::size_t h = hash_values(values, desc_->label_names.size());
    std::shared_ptr<S> removed;
    {
      std::unique_lock<std::shared_mutex> lock(mu_);
      auto range = children_.equal_range(h);
      for (auto it = range.first; it != range.second; ++it) {
        if (equal(*it->second, values)) {
          removed = std::move(it->second);
          children_.erase(it);
          if (removed == overflow_child_) overflow_child_.reset();
          break;
        }
      }
    }
    if (!removed) return false;
    removed->erase();  // outside the lock: a shared store does I/O here
    return true;
  }

  // Removes every child and deletes what their backends store.
  void clear() {
    std::unordered_multimap<std::size_t, std::shared_ptr<S>> removed;
    {
      std::unique_lock<std::shared_mutex> lock(mu_);
      removed.swap(children_);
      overflow_child_.reset();
    }
    for (auto& entry : removed) entry.second->erase();
  }

  std::size_t size() const {
    std::shared_lock<std::shared_mutex> lock(mu_);
    return children_.size();
  }

  std::vector<std::vector<std::string>> label_sets() const override {
    std::vector<std::vector<std::string>> out;
    for (const auto& s : sorted_children()) out.push_back(s->values());
    return out;
  }

  std::vector<MetricFamily> collect() const override {
    FamilyBuilder builder;
    write_to(builder);
    return builder.take();
  }

  void write_to(MetricWriter& w) const override {
    const MetricDescriptor& d = *desc_;
    w.family(d.name, d.help, d.type, d.unit);
    const std::size_t n = d.label_names.size();
    std::vector<LabelView> labels(n + 1);
    for (std::size_t i = 0; i < n; ++i) labels[i].name = d.label_names[i];
    labels[n].name = "le";
    for (const auto& s : sorted_children()) {
      for (std::size_t i = 0; i < n; ++i) labels[i].value = s->values()[i];
      write_series(w, *s, labels.data(), n);
    }
  }

  void rebind(const BackendClass& from, const BackendClass& to,
              const BackendConfig& config) override {
    std::shared_lock<std::shared_mutex> lock(mu_);
    for (auto& entry : children_) entry.second->rebind(from, to, config);
  }

 private:
  static bool equal(const S& s, const std::string_view* values) {
    const auto& v = s.values();
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (!same(v[i], values[i])) return false;
    }
    return true;
  }

  bool at_limit_locked() const {
    return desc_->max_series != 0 &&
           children_.size() - (overflow_child_ ? 1 : 0) >= desc_->max_series;
  }

  std::shared_ptr<S> make_locked(std::size_t h, const std::string_view* values) {
    std::vector<std::string> owned(values, values + desc_->label_names.size());
    auto s = std::make_shared<S>(desc_, this->weak_from_this(), std::move(owned), next_seq_++);
    children_.emplace(h, s);
    return s;
  }

  std::shared_ptr<S> overflow_locked(const std::string_view* values) const {
    OverflowCounts::instance().count(desc_->name);
    if (desc_->overflow == Overflow::fold) return overflow_child_;
    std::string set;
    for (std::size_t i = 0; i < desc_->label_names.size(); ++i) {
      set += (i ? ", " : "") + desc_->label_names[i] + "=" + quote_name(values[i]);
    }
    throw CardinalityError("metric " + quote_name(desc_->name) + " already has its limit of " +
                           std::to_string(desc_->max_series) + " label sets (max_series); {" + set +
                           "} refused");
  }

  const std::shared_ptr<S>* find_locked(std::size_t h, const std::string_view* values) const {
    auto range = children_.equal_range(h);
    for (auto it = range.first; it != range.second; ++it) {
      if (equal(*it->second, values)) return &it->second;
    }
    return nullptr;
  }

  std::vector<std::shared_ptr<S>> sorted_children() const {
    std::vector<std::shared_ptr<S>> out;
    {
      std::shared_lock<std::shared_mutex> lock(mu_);
      out.reserve(children_.size());
      for (const auto& entry : children_) out.push_back(entry.second);
    }
    std::sort(out.begin(), out.end(),
              [](const auto& a, const auto& b) { return a->seq() < b->seq(); });
    return out;
  }

  void write_series(MetricWriter& w, S& s, LabelView* labels, std::size_t n) const {
    if constexpr (is_histogram_series<S>::value) {
      HistogramSnapshot snap = s.get().snapshot();
      const auto& keys = desc_->bucket_keys;
      for (std::size_t i = 0; i < keys.size() && i < snap.buckets.size(); ++i) {
        labels[n].value = keys[i];
        w.sample("_bucket", labels, n + 1, snap.buckets[i]);
      }
      w.sample("_count", labels, n, snap.count);
      w.sample("_sum", labels, n, snap.sum);
    } else {
      w.sample("", labels, n, s.get().get());
    }
  }

  const std::shared_ptr<const MetricDescriptor> desc_;
  mutable std::shared_mutex mu_;
  std::unordered_multimap<std::size_t, std::shared_ptr<S>> children_;
  std::shared_ptr<S> overflow_child_;
  std::uint64_t next_seq_ = 0;
};

[[noreturn]] inline void throw_unobservable(const MetricDescriptor& d) {
  std::string missing;
  for (std::size_t i = 0; i < d.label_names.size(); ++i) {
    if (!missing.empty()) missing += ", ";
    missing += d.label_names[i];
  }
  throw UnobservableMetricError("metric " + quote_name(d.name) +
                                " needs all its labels set before it can be used (labels: " +
                                missing + "); call labels() first");
}

// The state every handle holds. Handles are values: copying one copies these pointers. A
// handle to a complete child holds only the child (one reference count per copy); root and
// partial handles hold the family.
template <class Derived, class S>
class MetricHandle {
 public:
  using FamilyType = Family<S>;

  /// Returns the handle with these labels set (merged over this handle's); partial when some
  /// remain unset. The values may be given in any order.
  Derived labels(std::initializer_list<LabelPair> labels) const {
    return with_labels(labels.begin(), labels.end());
  }
  /// The same, from any map-like container of string pairs.
  template <class Map,
            class = decltype(std::string_view(std::declval<const Map&>().begin()->first))>
  Derived labels(const Map& labels) const {
    return with_labels(labels.begin(), labels.end());
  }

  /// The metric name (without registry prefix).
  const std::string& name() const { return descriptor().name; }
  const std::string& description() const { return descriptor().help; }
  /// The descriptor shared by every handle of the metric.
  const MetricDescriptor& descriptor() const {
    return series_ ? series_->descriptor() : family_->descriptor();
  }
  /// The collector to register elsewhere or unregister.
  std::shared_ptr<MetricCollector> collector() const { return family(); }
  /// Whether every label is set, so that values can be read and changed.
  bool is_observable() const { return series_ != nullptr; }

  /// The labels set on this handle (defaults included).
  Labels labels_set() const {
    Labels out;
    const MetricDescriptor& d = descriptor();
    for (std::size_t i = 0; i < d.label_names.size(); ++i) {
      if (series_) {
        out[d.label_names[i]] = series_->values()[i];
      } else if (partial_ && (*partial_)[i]) {
        out[d.label_names[i]] = *(*partial_)[i];
      }
    }
    return out;
  }

  /// Removes the child with label set `labels` (merged over this handle's labels and the
  /// defaults) from the metric, so it is no longer exported. Handles to it keep working
  /// but are no longer exported. Returns whether there was one.
  bool remove(std::initializer_list<LabelPair> labels) const {
    return remove_range(labels.begin(), labels.end());
  }
  template <class Map,
            class = decltype(std::string_view(std::declval<const Map&>().begin()->first))>
  bool remove(const Map& labels) const {
    return remove_range(labels.begin(), labels.end());
  }

  /// Removes every child of the metric.
  void clear() const {
    require_labels("clear");
    family()->clear();
  }

 protected:
  struct Parts {
    std::shared_ptr<FamilyType> family;
    std::shared_ptr<S> series;
    std::shared_ptr<const std::vector<std::optional<std::string>>> partial;
  };

  MetricHandle(MetricType type, MetricOptions&& options) {
    RegistryRef registry = options.registry;
    family_ = std::make_shared<FamilyType>(make_descriptor(type, options));
    const MetricDescriptor& d = family_->descriptor();
    const std::size_t n = d.label_names.size();
    if (n == 0) {
      series_ = family_->child(nullptr);
    } else {
      bool complete = true, any = false;
      for (const auto& v : d.defaults) {
        complete = complete && v.has_value();
        any = any || v.has_value();
      }
      if (complete) {
        std::vector<std::string_view> sv;
        for (const auto& v : d.defaults) sv.emplace_back(*v);
        series_ = family_->child(sv.data());
      } else if (any) {
        partial_ = std::make_shared<const std::vector<std::optional<std::string>>>(d.defaults);
      }
    }
    if (Registry* r = registry.get()) r->register_collector(family_);
  }

  explicit MetricHandle(Parts parts)
      : family_(std::move(parts.family)),
        series_(std::move(parts.series)),
        partial_(std::move(parts.partial)) {}

  // The child a value operation goes to; throws when labels are missing.
  S& series() const {
    if (PYTHEUS_UNLIKELY(!series_)) throw_unobservable(family_->descriptor());
    return *series_;
  }

  // The family, also for handles that hold only a child. Throws when the family is gone
  // (every handle to it dropped and no registry holding it).
  std::shared_ptr<FamilyType> family() const {
    if (family_) return family_;
    auto f = std::static_pointer_cast<FamilyType>(series_->family());
    if (!f) {
      throw Error("metric " + quote_name(series_->descriptor().name) +
                  " no longer exists (no handle or registry holds it)");
    }
    return f;
  }

  void require_labels(const char* what) const {
    if (descriptor().label_names.empty()) {
      throw LabelError("metric " + quote_name(name()) +
                       " has no labels (required_labels is empty); " + what + "() cannot be used");
    }
  }

  // Merges this handle's labels with `[first, last)` into `buf`; returns whether complete.
  template <class It>
  bool merge(It first, It last, ValueBuffer& buf, const char* what) const {
    require_labels(what);
    const MetricDescriptor& d = descriptor();
    const std::size_t n = d.label_names.size();
    std::string_view* vals = buf.values();
    bool* set = buf.set();
    if (series_) {
      for (std::size_t i = 0; i < n; ++i) {
        vals[i] = series_->values()[i];
        set[i] = true;
      }
    } else if (partial_) {
      for (std::size_t i = 0; i < n; ++i) {
        if ((*partial_)[i]) {
          vals[i] = *(*partial_)[i];
          set[i] = true;
        }
      }
    }
    std::uint64_t given = 0;  // bits for the first 64 labels: enough to catch duplicates
    for (std::size_t k = 0; first != last; ++first, ++k) {
      std::string_view label = first->first;
      std::size_t i = d.index_of(label, k);
      if (i == MetricDescriptor::npos) throw_unknown(label);
      if (i < 64) {
        if (given & (std::uint64_t{1} << i)) {
          throw LabelError("label " + quote_name(label) + " is given twice for metric " +
                           quote_name(d.name));
        }
        given |= std::uint64_t{1} << i;
      }
      vals[i] = first->second;
      set[i] = true;
    }
    for (std::size_t i = 0; i < n; ++i) {
      if (!set[i]) return false;
    }
    return true;
  }

  template <class It>
  Derived with_labels(It first, It last) const {
    ValueBuffer buf(descriptor().label_names.size());
    if (merge(first, last, buf, "labels")) {
      if (family_) return Derived(Parts{nullptr, family_->child(buf.values()), nullptr});
      return Derived(Parts{nullptr, family()->child(buf.values()), nullptr});
    }
    auto partial = std::make_shared<std::vector<std::optional<std::string>>>(buf.size());
    for (std::size_t i = 0; i < buf.size(); ++i) {
      if (buf.set()[i]) (*partial)[i] = std::string(buf.values()[i]);
    }
    return Derived(Parts{family(), nullptr, std::move(partial)});
  }

  template <class It>
  bool remove_range(It first, It last) const {
    ValueBuffer buf(descriptor().label_names.size());
    if (!merge(first, last, buf, "remove")) {
      throw LabelError("remove() on metric " + quote_name(name()) + " needs every label set");
    }
    return family()->remove(buf.values());
  }

  [[noreturn]] void throw_unknown(std::string_view label) const {
    const MetricDescriptor& d = descriptor();
    std::string known;
    for (const auto& n : d.label_names) known += (known.empty() ? "" : ", ") + n;
    throw LabelError("unknown label " + quote_name(label) + " for metric " + quote_name(d.name) +
                     " (its labels: " + known + ")");
  }

  std::shared_ptr<FamilyType> family_;
  std::shared_ptr<S> series_;
  std::shared_ptr<const std::vector<std::optional<std::string>>> partial_;
};

// Keeps a callable to run with the elapsed seconds when the scope ends.
template <class F>
class ScopeTimer {
 public:
  explicit ScopeTimer(F record)
      : record_(std::move(record)), start_(std::chrono::steady_clock::now()) {}
  ScopeTimer(ScopeTimer&& other) noexcept
      : record_(std::move(other.record_)), start_(other.start_), active_(other.active_) {
    other.active_ = false;
  }
  ScopeTimer(const ScopeTimer&) = delete;
  ScopeTimer& operator=(const ScopeTimer&) = delete;
  ScopeTimer& operator=(ScopeTimer&&) = delete;
  ~ScopeTimer() {
    if (active_) record_(elapsed());
  }
  /// Seconds since the timer started.
  double elapsed() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }
  /// Records now instead of at scope exit; returns the seconds recorded.
  double stop() {
    double s = elapsed();
    if (active_) record_(s);
    active_ = false;
    return s;
  }

 private:
  F record_;
  std::chrono::steady_clock::time_point start_;
  bool active_ = true;
};

template <class F>
ScopeTimer(F) -> ScopeTimer<F>;

// Adds time(), time(f) and wrap_time(f) to a handle whose record_duration(seconds) records
// a duration (a gauge sets it, a histogram or summary observes it).
template <class Derived>
class Timed {
 public:
  /// Returns a timer that records the seconds elapsed when the scope ends.
  auto time() const {
    const Derived& self = static_cast<const Derived&>(*this);
    self.series();  // fail now, not in a destructor, when labels are missing
    return ScopeTimer([h = self](double seconds) { h.record_duration(seconds); });
  }
  /// Calls `f()` and records the seconds it took; returns what `f` returns.
  template <class F>
  decltype(auto) time(F&& f) const {
    auto timer = time();
    return std::invoke(std::forward<F>(f));
  }
  /// Returns `f` wrapped so that each call's duration is recorded: the decorator form.
  template <class F>
  auto wrap_time(F f) const {
    return [h = static_cast<const Derived&>(*this),
            f = std::move(f)](auto&&... args) mutable -> decltype(auto) {
      auto timer = h.time();
      return std::invoke(f, std::forward<decltype(args)>(args)...);
    };
  }
};

}  // namespace detail

}  // namespace pytheus
