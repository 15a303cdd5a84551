// SingleProcessBackend: the default backend; values in this process's memory.
#pragma once

#include <algorithm>
#include <mutex>
#include <optional>
#include <string_view>
#include <vector>

#include "pytheus/backend.hpp"
#include "pytheus/detail/native.hpp"
#include "pytheus/static_backend.hpp"

namespace pytheus {

/// SingleProcessBackend stores a value as a double guarded by a mutex, as pytheus does. It
/// is the backend load_backend() picks when nothing else is asked for.
///
/// Its Histogram keeps per-bucket counts, sum and count (and native buckets, when the
/// histogram has them) under one mutex, so an observation is one lock and a snapshot is
/// exactly consistent.
class SingleProcessBackend final : public Backend {
 public:
  static constexpr bool process_local = true;

  SingleProcessBackend(const BackendConfig&, const MetricInfo&, std::optional<std::string_view>) {}

  void inc(double value) override {
    std::lock_guard<std::mutex> lock(mu_);
    value_ += value;
  }
  void dec(double value) override {
    std::lock_guard<std::mutex> lock(mu_);
    value_ -= value;
  }
  void set(double value) override {
    std::lock_guard<std::mutex> lock(mu_);
    value_ = value;
  }
  double get() override {
    std::lock_guard<std::mutex> lock(mu_);
    return value_;
  }
  void inc_with_exemplar(double value, const ExemplarData& e) override {
    inc(value);
    exemplar_.store(0, e);
  }
  std::optional<Exemplar> exemplar() override { return exemplar_.load(0); }
  void erase() override { exemplar_.clear(); }

  class Histogram final : public HistogramBackend {
   public:
    Histogram(const BackendConfig&, const MetricInfo& metric, const std::vector<double>& bounds)
        : counts_(bounds.size(), 0.0), exemplars_(bounds.size()) {
      if (metric.native) native_.emplace(*metric.native);
    }

    void observe_with_exemplar(double value, std::size_t bucket, const ExemplarData& e) override {
      observe(value, bucket);
      exemplars_.store(bucket, e);
    }

    void erase() override { exemplars_.clear(); }

    void observe(double value, std::size_t bucket) override {
      std::lock_guard<std::mutex> lock(mu_);
      if (native_ && native_->observe(value) == detail::native::NativeState::Result::reset) {
        // The bucket limit reset the series (min_reset_seconds): every count starts again.
        std::fill(counts_.begin(), counts_.end(), 0.0);
        sum_ = 0;
        count_ = 0;
        native_->observe(value);
      }
      if (bucket < counts_.size()) counts_[bucket] += 1;
      sum_ += value;
      count_ += 1;
    }

    HistogramSnapshot snapshot() override {
      HistogramSnapshot s;
      s.buckets.resize(counts_.size());
      std::unique_lock<std::mutex> lock(mu_);
      double cumulative = 0;
      for (std::size_t i = 0; i < counts_.size(); ++i) {
        cumulative += counts_[i];
        s.buckets[i] = cumulative;
      }
      s.sum = sum_;
      s.count = count_;
      if (native_) native_->snapshot(s.native.emplace());
      lock.unlock();
      s.exemplars = exemplars_.load_all();
      return s;
    }

    void merge(const HistogramSnapshot& other) override {
      std::lock_guard<std::mutex> lock(mu_);
      double previous = 0;
      for (std::size_t i = 0; i < counts_.size() && i < other.buckets.size(); ++i) {
        counts_[i] += other.buckets[i] - previous;
        previous = other.buckets[i];
      }
      sum_ += other.sum;
      count_ += other.count;
      if (native_ && other.native) native_->merge(*other.native);
    }

   private:
    std::mutex mu_;
    std::optional<detail::native::NativeState> native_;
    std::vector<double> counts_;  // per bucket, not cumulative: one add per observation
    double sum_ = 0;
    double count_ = 0;
    ExemplarCells exemplars_;  // its own seqlock: the counts' lock is not held longer
  };

 private:
  std::mutex mu_;
  double value_ = 0;
  ExemplarCells exemplar_;
};

}  // namespace pytheus
