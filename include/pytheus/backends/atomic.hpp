// Lock-free in-memory backends for the hottest paths: AtomicBackend (one atomic double) and
// ShardedBackend (one atomic per thread slot, for counters many threads hit at once).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <vector>

#include "pytheus/backend.hpp"
#include "pytheus/detail/native.hpp"
#include "pytheus/detail/strings.hpp"
#include "pytheus/static_backend.hpp"

namespace pytheus {

namespace detail {

inline constexpr std::size_t kCacheLine = 64;

}  // namespace detail

/// AtomicBackend stores a value as one atomic double: no lock on any operation.
///
/// Its Histogram keeps per-bucket atomic counts and an atomic sum. The count is derived from
/// the buckets, so a snapshot always has `+Inf` == count and non-decreasing buckets; the sum
/// may lag the counts by observations in flight. A histogram with native buckets takes one
/// mutex per observation and snapshot instead (the native buckets of a series are one
/// structure), which also makes its snapshots exactly consistent.
class AtomicBackend final : public Backend {
 public:
  static constexpr bool process_local = true;

  AtomicBackend(const BackendConfig&, const MetricInfo&, std::optional<std::string_view>) {}

  void inc(double value) override { detail::atomic_add(value_, value); }
  void dec(double value) override { detail::atomic_add(value_, -value); }
  void set(double value) override { value_.store(value, std::memory_order_relaxed); }
  double get() override { return value_.load(std::memory_order_relaxed); }
  void inc_with_exemplar(double value, const ExemplarData& e) override {
    inc(value);
    exemplar_.store(0, e);
  }
  std::optional<Exemplar> exemplar() override { return exemplar_.load(0); }
  void erase() override { exemplar_.clear(); }

  class Histogram final : public HistogramBackend {
   public:
    Histogram(const BackendConfig&, const MetricInfo& metric, const std::vector<double>& bounds)
        : size_(bounds.size()),
          counts_(new std::atomic<std::uint64_t>[bounds.size()]),
          exemplars_(bounds.size()) {
      for (std::size_t i = 0; i < size_; ++i) counts_[i].store(0, std::memory_order_relaxed);
      if (metric.native) native_ = std::make_unique<Native>(*metric.native);
    }

    void observe_with_exemplar(double value, std::size_t bucket, const ExemplarData& e) override {
      observe(value, bucket);
      exemplars_.store(bucket, e);
    }

    void erase() override { exemplars_.clear(); }

    void observe(double value, std::size_t bucket) override {
      std::unique_lock<std::mutex> lock;
      if (native_) {
        lock = std::unique_lock<std::mutex>(native_->mu);
        if (native_->state.observe(value) == detail::native::NativeState::Result::reset) {
          // The bucket limit reset the series (min_reset_seconds): every count starts again.
          for (std::size_t i = 0; i < size_; ++i) counts_[i].store(0, std::memory_order_relaxed);
          count_.store(0, std::memory_order_relaxed);
          sum_.store(0, std::memory_order_relaxed);
          native_->state.observe(value);
        }
      }
      if (bucket < size_) {
        counts_[bucket].fetch_add(1, std::memory_order_relaxed);
      } else {
        count_.fetch_add(1, std::memory_order_relaxed);  // summaries have no buckets
      }
      detail::atomic_add(sum_, value);
    }

    HistogramSnapshot snapshot() override {
      HistogramSnapshot s;
      s.buckets.resize(size_);
      std::unique_lock<std::mutex> lock;
      if (native_) {
        lock = std::unique_lock<std::mutex>(native_->mu);
        native_->state.snapshot(s.native.emplace());
      }
      std::uint64_t cumulative = 0;
      for (std::size_t i = 0; i < size_; ++i) {
        cumulative += counts_[i].load(std::memory_order_relaxed);
        s.buckets[i] = static_cast<double>(cumulative);
      }
      s.count = size_ ? static_cast<double>(cumulative)
                      : static_cast<double>(count_.load(std::memory_order_relaxed));
      s.sum = sum_.load(std::memory_order_relaxed);
      s.exemplars = exemplars_.load_all();
      return s;
    }

    void merge(const HistogramSnapshot& other) override {
      std::unique_lock<std::mutex> lock;
      if (native_) {
        lock = std::unique_lock<std::mutex>(native_->mu);
        if (other.native) native_->state.merge(*other.native);
      }
      double previous = 0;
      for (std::size_t i = 0; i < size_ && i < other.buckets.size(); ++i) {
        counts_[i].fetch_add(static_cast<std::uint64_t>(other.buckets[i] - previous),
                             std::memory_order_relaxed);
        previous = other.buckets[i];
      }
      if (size_ == 0) {
        count_.fetch_add(static_cast<std::uint64_t>(other.count), std::memory_order_relaxed);
      }
      detail::atomic_add(sum_, other.sum);
    }

   private:
    struct Native {
      explicit Native(const NativeHistogramOptions& options) : state(options) {}
      std::mutex mu;
      detail::native::NativeState state;
    };

    std::size_t size_;
    std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;
    std::unique_ptr<Native> native_;
    std::atomic<std::uint64_t> count_{0};
    std::atomic<double> sum_{0};
    ExemplarCells exemplars_;
  };

 private:
  std::atomic<double> value_{0};
  ExemplarCells exemplar_;
};

/// ShardedBackend spreads a value over one cache line per thread slot, so threads that
/// increment the same counter do not contend; get() sums the slots. Made for counters:
/// set() is not atomic against concurrent inc(), and each value takes
/// `shard_count() * 64` bytes (4 to 64 slots).
class ShardedBackend final : public Backend {
 public:
  static constexpr bool process_local = true;

  ShardedBackend(const BackendConfig&, const MetricInfo&, std::optional<std::string_view>)
      : shards_(new Shard[shard_count()]) {}

  void inc(double value) override { detail::atomic_add(shards_[slot()].value, value); }
  void dec(double value) override { inc(-value); }
  void set(double value) override {
    for (std::size_t i = 1; i < shard_count(); ++i) {
      shards_[i].value.store(0, std::memory_order_relaxed);
    }
    shards_[0].value.store(value, std::memory_order_relaxed);
  }
  double get() override {
    double total = 0;
    for (std::size_t i = 0; i < shard_count(); ++i) {
      total += shards_[i].value.load(std::memory_order_relaxed);
    }
    return total;
  }
  void inc_with_exemplar(double value, const ExemplarData& e) override {
    inc(value);
    exemplar_.store(0, e);
  }
  std::optional<Exemplar> exemplar() override { return exemplar_.load(0); }
  void erase() override { exemplar_.clear(); }

  /// Number of slots per value: twice the hardware threads rounded up to a power of two,
  /// from 4 to 64, so that threads coming and going rarely share a slot.
  static std::size_t shard_count() {
    static const std::size_t n = [] {
      const std::size_t want = 2 * static_cast<std::size_t>(std::thread::hardware_concurrency());
      std::size_t s = 4;
      while (s < want && s < 64) s <<= 1;
      return s;
    }();
    return n;
  }

  using Histogram = AtomicBackend::Histogram;

 private:
  struct alignas(detail::kCacheLine) Shard {
    std::atomic<double> value{0};
  };

  // Each thread takes the next slot the first time it increments anything.
  static std::size_t slot() {
    static std::atomic<std::size_t> next{0};
    thread_local const std::size_t mine = next.fetch_add(1, std::memory_order_relaxed);
    return mine & (shard_count() - 1);
  }

  std::unique_ptr<Shard[]> shards_;
  ExemplarCells exemplar_;
};

}  // namespace pytheus
