// Finding a child by its label values without allocating: short-string compares, an
// inline hash, and a stack buffer for the values of one labels() call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <utility>

namespace pytheus::detail {

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

// A map-like container's labels as a LabelPair array (name, value views), on the stack for
// up to ValueBuffer::kInline labels.
class LabelPairs {
 public:
  using Pair = std::pair<std::string_view, std::string_view>;
  template <class Map>
  explicit LabelPairs(const Map& labels) : n_(labels.size()) {
    if (n_ > ValueBuffer::kInline) heap_.reset(new Pair[n_]);
    Pair* out = data();
    for (const auto& [name, value] : labels) *out++ = Pair(name, value);
  }
  const Pair* begin() const { return heap_ ? heap_.get() : inline_; }
  const Pair* end() const { return begin() + n_; }

 private:
  Pair* data() { return heap_ ? heap_.get() : inline_; }
  std::size_t n_;
  Pair inline_[ValueBuffer::kInline];
  std::unique_ptr<Pair[]> heap_;
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
}  // namespace pytheus::detail
