// HTTP basic authentication (RFC 7617) of a scrape: the Authorization header decoded and
// compared with the expected credentials in constant time. Private to pytheus::http; the tests
// include it (constant_time_equals is a template so that they can count byte reads).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "pytheus/detail/strings.hpp"
#include "pytheus/exposition.hpp"

namespace pytheus::http::auth {

/// Compares `given` with `expected` in a time that depends only on their lengths, never on
/// where they differ: every byte of the longer one is looked at, and the differences are
/// gathered without branching, so the time taken tells an attacker nothing about how much of a
/// guess was right. `Bytes` is any type with size() and operator[] (the tests count accesses).
template <class Bytes>
bool constant_time_equals(const Bytes& given, const Bytes& expected) {
  const std::size_t a = given.size(), b = expected.size();
  const std::size_t n = a > b ? a : b;
  unsigned char diff = a == b ? 0 : 1;
  for (std::size_t i = 0; i < n; ++i) {
    // Reads an existing byte of each (index i % size) so that no branch depends on the data.
    const unsigned char x = a == 0 ? 0 : static_cast<unsigned char>(given[i % a]);
    const unsigned char y = b == 0 ? 0 : static_cast<unsigned char>(expected[i % b]);
    diff = static_cast<unsigned char>(diff | (x ^ y));
  }
  return diff == 0;
}

inline bool constant_time_equals(std::string_view given, std::string_view expected) {
  return constant_time_equals<std::string_view>(given, expected);
}

/// Decodes standard base64 (padding optional); nullopt on a character outside the alphabet.
inline std::optional<std::string> base64_decode(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (char c : in) {
    const int v = value(c);
    if (v < 0) return std::nullopt;
    buffer = (buffer << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xFF);
    }
  }
  return out;
}

/// Returns whether an Authorization header value carries `username` and `password`. Both are
/// always compared, so that a right username takes no less time than a wrong one.
inline bool authorized(std::string_view header, std::string_view username,
                       std::string_view password) {
  if (header.size() < 6 || !detail::iequals(header.substr(0, 6), "basic ")) return false;
  std::optional<std::string> decoded = base64_decode(detail::trim(header.substr(6)));
  if (!decoded) return false;
  const std::size_t colon = decoded->find(':');
  if (colon == std::string::npos) return false;
  const std::string_view credentials = *decoded;
  const bool user_ok = constant_time_equals(credentials.substr(0, colon), username);
  const bool password_ok = constant_time_equals(credentials.substr(colon + 1), password);
  return user_ok && password_ok;
}

}  // namespace pytheus::http::auth
