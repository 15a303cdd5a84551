// Small text and number helpers every component shares (one copy each): ASCII
// case-insensitive comparison, UTF-8 validation, and an atomic add for doubles.
#pragma once

#include <atomic>
#include <cstddef>
#include <string_view>

namespace pytheus::detail {

// ASCII case-insensitive equality (header names, media types, parameters).
bool iequals(std::string_view a, std::string_view b);

// `s` without leading and trailing spaces and tabs.
std::string_view trim(std::string_view s);

// Length of the valid UTF-8 sequence at s[i] (i < s.size()), or 0 if the bytes there are not
// one: overlong forms and UTF-16 surrogates are not valid.
std::size_t utf8_sequence(std::string_view s, std::size_t i);

// Whether all of `s` is valid UTF-8.
bool is_valid_utf8(std::string_view s);

// Adds to an atomic double; C++17 has no fetch_add for floating types.
inline void atomic_add(std::atomic<double>& a, double v) {
  double current = a.load(std::memory_order_relaxed);
  while (!a.compare_exchange_weak(current, current + v, std::memory_order_relaxed,
                                  std::memory_order_relaxed)) {
  }
}

}  // namespace pytheus::detail
