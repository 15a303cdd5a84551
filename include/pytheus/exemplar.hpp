// Exemplars as the hot path carries them: ExemplarData (validated labels in a fixed inline
// buffer, no allocation), ExemplarCells (where in-memory backends keep the latest one per
// series or bucket, behind a seqlock), and the one-line ways to attach the current trace id
// (ExemplarScope, set_exemplar_provider).
//
// Thread-safety: ExemplarCells may be written and read from any number of threads; a reader
// never sees a torn exemplar. ExemplarScope is per thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pytheus/collector.hpp"
#include "pytheus/labels.hpp"

namespace pytheus {

/// The most UTF-8 characters an exemplar's label set may hold, names and values together
/// (OpenMetrics).
inline constexpr std::size_t kExemplarMaxChars = 128;

/// ExemplarData is one validated exemplar in a fixed buffer: what Counter::inc and
/// Histogram::observe hand a backend. Labels are encoded as, per label, one byte of name
/// length, the name, two bytes (little endian) of value length, the value; 128 characters
/// of at most 4 bytes each always fit in kMaxBytes.
struct ExemplarData {
  static constexpr std::size_t kMaxBytes = 4 * kExemplarMaxChars;
  /// The observed value (a counter's increment, a histogram's observation).
  double value = 0;
  /// When (Unix seconds): the caller's timestamp, else the time of the call.
  double timestamp = 0;
  /// Bytes used in `encoded`.
  std::uint16_t size = 0;
  char encoded[kMaxBytes];

  /// Calls `f(name, value)` for each label, in the order given.
  template <class F>
  void for_each_label(F&& f) const {
    std::size_t i = 0;
    while (i < size) {
      const std::size_t nl = static_cast<unsigned char>(encoded[i]);
      std::string_view name(encoded + i + 1, nl);
      i += 1 + nl;
      const std::size_t vl =
          static_cast<unsigned char>(encoded[i]) |
          (static_cast<std::size_t>(static_cast<unsigned char>(encoded[i + 1])) << 8);
      std::string_view v(encoded + i + 2, vl);
      i += 2 + vl;
      f(name, v);
    }
  }

  /// The owning form, for exposition.
  Exemplar to_exemplar() const;
};

/// ExemplarCell holds the latest exemplar of one series or bucket. store() never allocates
/// and never blocks a reader; load() retries while a store is in progress, so it never
/// returns a torn record. Concurrent stores are serialised by the sequence number (a spin:
/// a store is a copy of a few hundred bytes). All zero bytes are an empty cell and every
/// member is a lock-free atomic, so a cell may live in zeroed shared memory (the file
/// backend's); load() and clear() give up on a store that never finishes (a writer that
/// died mid-store) instead of waiting for ever.
class ExemplarCell {
 public:
  void store(const ExemplarData& e) noexcept;
  /// Stores `e` unless the cell holds an exemplar with a later timestamp; returns whether
  /// it stored (for a cell several processes' exemplars meet in).
  bool store_if_newer(const ExemplarData& e) noexcept;
  /// The stored exemplar, or nullopt when there is none.
  std::optional<ExemplarData> load() const noexcept;
  /// Drops the stored exemplar.
  void clear() noexcept;

 private:
  bool store(const ExemplarData& e, bool only_newer) noexcept;

  static constexpr std::size_t kWords = (sizeof(ExemplarData) + 7) / 8;
  // Odd while a store is in progress; 0: never stored.
  std::atomic<std::uint64_t> seq_{0};
  std::atomic<bool> has_{false};
  // The ExemplarData's bytes, as atomics so that a reader racing a writer is well defined.
  std::atomic<std::uint64_t> words_[kWords];
};

/// ExemplarCells holds one ExemplarCell per bucket (one for a counter), allocated on the
/// first exemplar stored: a series that never gets one costs a pointer. After that first
/// store, storing allocates nothing.
class ExemplarCells {
 public:
  explicit ExemplarCells(std::size_t n = 1) : n_(n) {}
  ExemplarCells(const ExemplarCells&) = delete;
  ExemplarCells& operator=(const ExemplarCells&) = delete;
  ~ExemplarCells() { delete[] cells_.load(std::memory_order_acquire); }

  void store(std::size_t i, const ExemplarData& e);
  /// The exemplar of cell `i`, or nullopt.
  std::optional<Exemplar> load(std::size_t i) const;
  /// The same in its fixed-size form (a backend re-encoding it for its store).
  std::optional<ExemplarData> load_data(std::size_t i) const noexcept;
  /// Every cell's exemplar (size n), or an empty vector when none was ever stored.
  std::vector<std::optional<Exemplar>> load_all() const;
  /// Drops every stored exemplar (the series was removed).
  void clear();

 private:
  const std::size_t n_;
  std::atomic<ExemplarCell*> cells_{nullptr};
};

/// ExemplarScope attaches its labels, as an exemplar, to every plain `inc()` of a counter
/// and `observe()` of a histogram (timers included) made on this thread while it lives.
/// Scopes nest; the innermost wins. Its labels are validated and encoded once, here: an
/// update in the scope copies them without allocating.
///
/// **Example**:
///     pytheus::ExemplarScope scope({{"trace_id", request.trace_id()}});
///     requests.inc();             // exposed with # {trace_id="..."} 1 <time>
///     latency.observe(seconds);   // on the bucket `seconds` falls in
class ExemplarScope {
 public:
  /// Throws LabelError for an invalid label name, a value that is not UTF-8 or a set longer
  /// than 128 characters.
  explicit ExemplarScope(std::initializer_list<LabelPair> labels);
  explicit ExemplarScope(const Labels& labels);
  ExemplarScope(const ExemplarScope&) = delete;
  ExemplarScope& operator=(const ExemplarScope&) = delete;
  ~ExemplarScope();

  /// The encoded labels.
  const ExemplarData& data() const { return data_; }

 private:
  void enter();
  ExemplarData data_;
  const ExemplarScope* previous_ = nullptr;
};

/// Sets a process-wide callback that plain `inc()` and `observe()` call for an exemplar's
/// labels when no ExemplarScope is active: typically the current span's trace id. An empty
/// Labels means no exemplar for that update. An empty function removes the provider. While
/// no provider and no scope exists, the cost to an update is one relaxed atomic load; with
/// one, a call of the function and the Labels it returns (allocations).
///
/// **Example**:
///     pytheus::set_exemplar_provider([] {
///       return pytheus::Labels{{"trace_id", current_trace_id()}};
///     });
void set_exemplar_provider(std::function<Labels()> provider);

namespace detail {

// Providers and scopes alive, process-wide: zero means plain updates attach nothing.
extern std::atomic<int> exemplar_hooks;

// Validates and encodes an exemplar's labels into `out` (value and timestamp untouched).
// Throws LabelError naming `metric` (or "ExemplarScope" when empty).
void encode_exemplar(std::string_view metric, const LabelPair* labels, std::size_t n,
                     ExemplarData& out);
void encode_exemplar(std::string_view metric, const Labels& labels, ExemplarData& out);

// Fills `out`'s labels from the innermost scope of this thread, else the provider; false
// when neither gives any. Throws LabelError naming `metric` for a provider's bad labels.
bool hooked_exemplar(std::string_view metric, ExemplarData& out);

// Why `labels` cannot be an exemplar's label set, or "" when they can.
std::string exemplar_labels_problem(const std::vector<std::pair<std::string, std::string>>& labels);

}  // namespace detail
}  // namespace pytheus
