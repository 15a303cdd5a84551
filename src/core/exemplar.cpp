// Exemplar validation and encoding, the seqlock cell, and the trace-id hooks.
#include "pytheus/exemplar.hpp"

#include <cstring>
#include <mutex>
#include <shared_mutex>
#include <thread>

#include "pytheus/detail/format.hpp"
#include "pytheus/detail/strings.hpp"
#include "pytheus/errors.hpp"

namespace pytheus {
namespace detail {

std::atomic<int> exemplar_hooks{0};

namespace {

std::size_t utf8_chars(std::string_view s) {
  std::size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

std::string subject(std::string_view metric) {
  return metric.empty() ? std::string("ExemplarScope") : "exemplar of metric " + quote_name(metric);
}

// Checks one label and appends it to `out`, counting characters in `chars`.
void encode_one(std::string_view metric, std::string_view name, std::string_view value,
                std::size_t& chars, ExemplarData& out) {
  if (!matches_name(name, false)) {
    throw LabelError(subject(metric) + ": invalid label name " + quote_name(name) +
                     " (must match [a-zA-Z_][a-zA-Z0-9_]*)");
  }
  if (!is_valid_utf8(value)) {
    throw LabelError(subject(metric) + ": the value of label " + quote_name(name) +
                     " is not valid UTF-8");
  }
  chars += name.size() + utf8_chars(value);
  if (chars > kExemplarMaxChars) {
    throw LabelError(subject(metric) + ": the label set is longer than " +
                     std::to_string(kExemplarMaxChars) +
                     " UTF-8 characters (names and values together), which OpenMetrics allows");
  }
  // Within 128 characters the encoding fits: a name character is one byte and pays for
  // the three length bytes, a value character is at most four.
  char* p = out.encoded + out.size;
  *p++ = static_cast<char>(name.size());
  std::memcpy(p, name.data(), name.size());
  p += name.size();
  *p++ = static_cast<char>(value.size() & 0xFF);
  *p++ = static_cast<char>(value.size() >> 8);
  if (!value.empty()) std::memcpy(p, value.data(), value.size());
  out.size = static_cast<std::uint16_t>(out.size + 3 + name.size() + value.size());
}

std::shared_mutex provider_mu;
std::function<Labels()>& provider() {
  static std::function<Labels()> f;
  return f;
}

thread_local const ExemplarScope* tls_scope = nullptr;
std::atomic<bool> provider_set{false};

}  // namespace

void encode_exemplar(std::string_view metric, const LabelPair* labels, std::size_t n,
                     ExemplarData& out) {
  out.size = 0;
  std::size_t chars = 0;
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (labels[j].first == labels[i].first) {
        throw LabelError(subject(metric) + ": label " + quote_name(labels[i].first) +
                         " given twice");
      }
    }
    encode_one(metric, labels[i].first, labels[i].second, chars, out);
  }
}

void encode_exemplar(std::string_view metric, const Labels& labels, ExemplarData& out) {
  out.size = 0;
  std::size_t chars = 0;
  for (const auto& [name, value] : labels) encode_one(metric, name, value, chars, out);
}

bool hooked_exemplar(std::string_view metric, ExemplarData& out) {
  if (const ExemplarScope* scope = tls_scope) {
    const ExemplarData& d = scope->data();
    out.size = d.size;
    std::memcpy(out.encoded, d.encoded, d.size);
    return true;
  }
  // A scope on another thread brings every thread here: without a provider, no lock.
  if (!provider_set.load(std::memory_order_acquire)) return false;
  Labels labels;
  {
    std::shared_lock<std::shared_mutex> lock(provider_mu);
    if (!provider()) return false;
    labels = provider()();
  }
  if (labels.empty()) return false;
  encode_exemplar(metric, labels, out);
  return true;
}

std::string exemplar_labels_problem(
    const std::vector<std::pair<std::string, std::string>>& labels) {
  std::size_t chars = 0;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const auto& [name, value] = labels[i];
    if (!matches_name(name, false)) return "invalid label name " + quote_name(name);
    if (!is_valid_utf8(value)) return "the value of label " + quote_name(name) + " is not UTF-8";
    for (std::size_t j = 0; j < i; ++j) {
      if (labels[j].first == name) return "label " + quote_name(name) + " given twice";
    }
    chars += name.size() + utf8_chars(value);
  }
  if (chars > kExemplarMaxChars) {
    return "a label set longer than " + std::to_string(kExemplarMaxChars) + " characters";
  }
  return {};
}

}  // namespace detail

Exemplar ExemplarData::to_exemplar() const {
  Exemplar e;
  for_each_label([&](std::string_view n, std::string_view v) {
    e.labels.emplace_back(std::string(n), std::string(v));
  });
  e.value = value;
  e.timestamp = timestamp;
  return e;
}

// The seqlock: a writer makes the sequence odd (which also excludes other writers), copies
// the words, and makes it even again; a reader copies between two equal even reads.
void ExemplarCell::store(const ExemplarData& e) noexcept {
  store(e, false);
}

bool ExemplarCell::store_if_newer(const ExemplarData& e) noexcept {
  return store(e, true);
}

bool ExemplarCell::store(const ExemplarData& e, bool only_newer) noexcept {
  std::uint64_t s = seq_.load(std::memory_order_relaxed);
  for (;;) {
    if ((s & 1) == 0 && seq_.compare_exchange_weak(s, s + 1, std::memory_order_acquire,
                                                   std::memory_order_relaxed)) {
      break;
    }
    s = seq_.load(std::memory_order_relaxed);
  }
  if (only_newer && has_.load(std::memory_order_relaxed)) {
    // The timestamp is the second word of the record (ExemplarData::timestamp).
    double stored = 0;
    const std::uint64_t w =
        words_[offsetof(ExemplarData, timestamp) / 8].load(std::memory_order_relaxed);
    std::memcpy(&stored, &w, 8);
    if (stored > e.timestamp) {
      seq_.store(s + 2, std::memory_order_release);
      return false;
    }
  }
  // Only the header and the used part of the label buffer. Release stores keep them after
  // the odd sequence number (no fence: ThreadSanitizer does not model fences).
  const std::size_t bytes = offsetof(ExemplarData, encoded) + e.size;
  const std::size_t words = (bytes + 7) / 8;
  const char* src = reinterpret_cast<const char*>(&e);
  for (std::size_t i = 0; i < words; ++i) {
    std::uint64_t w = 0;
    const std::size_t left = bytes - i * 8;
    std::memcpy(&w, src + i * 8, left < 8 ? left : 8);
    words_[i].store(w, std::memory_order_release);
  }
  has_.store(true, std::memory_order_release);
  seq_.store(s + 2, std::memory_order_release);
  return true;
}

std::optional<ExemplarData> ExemplarCell::load() const noexcept {
  ExemplarData out;
  // Bounded: in shared memory a writer may die mid-store and leave the sequence odd for
  // good; the exemplar is then shown as none rather than the scrape waiting for ever.
  for (int attempt = 0; attempt < (1 << 16); ++attempt) {
    const std::uint64_t s1 = seq_.load(std::memory_order_acquire);
    if (s1 == 0) return std::nullopt;
    if (s1 & 1) {
      if ((attempt & 63) == 63) std::this_thread::yield();
      continue;
    }
    const bool has = has_.load(std::memory_order_acquire);
    char* dst = reinterpret_cast<char*>(&out);
    const std::size_t head = (offsetof(ExemplarData, encoded) + 7) / 8;
    for (std::size_t i = 0; i < head; ++i) {
      const std::uint64_t w = words_[i].load(std::memory_order_acquire);
      std::memcpy(dst + i * 8, &w, 8);
    }
    std::size_t size = out.size;
    if (size > ExemplarData::kMaxBytes) size = 0;  // torn: retried below
    const std::size_t words = (offsetof(ExemplarData, encoded) + size + 7) / 8;
    for (std::size_t i = head; i < words && i < kWords; ++i) {
      const std::uint64_t w = words_[i].load(std::memory_order_acquire);
      const std::size_t left = sizeof(ExemplarData) - i * 8;
      std::memcpy(dst + i * 8, &w, left < 8 ? left : 8);
    }
    if (seq_.load(std::memory_order_relaxed) != s1) continue;
    if (!has) return std::nullopt;
    return out;
  }
  return std::nullopt;
}

void ExemplarCell::clear() noexcept {
  std::uint64_t s = seq_.load(std::memory_order_relaxed);
  if (s == 0) return;  // never stored
  for (int attempt = 0;; ++attempt) {
    if ((s & 1) == 0 && seq_.compare_exchange_weak(s, s + 1, std::memory_order_acquire,
                                                   std::memory_order_relaxed)) {
      break;
    }
    if (attempt >= (1 << 16)) return;  // a writer died mid-store (shared memory): leave it
    if ((attempt & 63) == 63) std::this_thread::yield();
    s = seq_.load(std::memory_order_relaxed);
  }
  has_.store(false, std::memory_order_release);
  seq_.store(s + 2, std::memory_order_release);
}

void ExemplarCells::store(std::size_t i, const ExemplarData& e) {
  if (i >= n_) return;
  ExemplarCell* cells = cells_.load(std::memory_order_acquire);
  if (cells == nullptr) {
    auto* fresh = new ExemplarCell[n_];
    if (cells_.compare_exchange_strong(cells, fresh, std::memory_order_acq_rel)) {
      cells = fresh;
    } else {
      delete[] fresh;  // another thread was first; `cells` now holds its array
    }
  }
  cells[i].store(e);
}

std::optional<Exemplar> ExemplarCells::load(std::size_t i) const {
  const ExemplarCell* cells = cells_.load(std::memory_order_acquire);
  if (cells == nullptr || i >= n_) return std::nullopt;
  std::optional<ExemplarData> d = cells[i].load();
  if (!d) return std::nullopt;
  return d->to_exemplar();
}

std::optional<ExemplarData> ExemplarCells::load_data(std::size_t i) const noexcept {
  const ExemplarCell* cells = cells_.load(std::memory_order_acquire);
  if (cells == nullptr || i >= n_) return std::nullopt;
  return cells[i].load();
}

std::vector<std::optional<Exemplar>> ExemplarCells::load_all() const {
  std::vector<std::optional<Exemplar>> out;
  if (cells_.load(std::memory_order_acquire) == nullptr) return out;
  out.reserve(n_);
  for (std::size_t i = 0; i < n_; ++i) out.push_back(load(i));
  return out;
}

void ExemplarCells::clear() {
  ExemplarCell* cells = cells_.load(std::memory_order_acquire);
  if (cells == nullptr) return;
  for (std::size_t i = 0; i < n_; ++i) cells[i].clear();
}

ExemplarScope::ExemplarScope(std::initializer_list<LabelPair> labels) {
  detail::encode_exemplar({}, labels.begin(), labels.size(), data_);
  enter();
}

ExemplarScope::ExemplarScope(const Labels& labels) {
  detail::encode_exemplar({}, labels, data_);
  enter();
}

void ExemplarScope::enter() {
  previous_ = detail::tls_scope;
  detail::tls_scope = this;
  detail::exemplar_hooks.fetch_add(1, std::memory_order_relaxed);
}

ExemplarScope::~ExemplarScope() {
  detail::tls_scope = previous_;
  detail::exemplar_hooks.fetch_sub(1, std::memory_order_relaxed);
}

void set_exemplar_provider(std::function<Labels()> f) {
  std::unique_lock<std::shared_mutex> lock(detail::provider_mu);
  const bool had = static_cast<bool>(detail::provider());
  detail::provider() = std::move(f);
  const bool has = static_cast<bool>(detail::provider());
  detail::provider_set.store(has, std::memory_order_release);
  if (has && !had) detail::exemplar_hooks.fetch_add(1, std::memory_order_relaxed);
  if (!has && had) detail::exemplar_hooks.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace pytheus
