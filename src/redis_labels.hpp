// Label sets as pytheus writes them in Redis hash fields: Python's json.dumps of a dict
// (separators ", " and ": ", ensure_ascii). Private to pytheus::redis; the tests and
// fuzz/fuzz_redis_fields include it.
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace pytheus::detail::redis {

// Decodes the UTF-8 sequence at s[i]; returns the code point and advances i. Bytes that are
// not valid UTF-8 decode to U+FFFD, one byte at a time.
inline char32_t next_code_point(std::string_view s, std::size_t& i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  if (c < 0x80) {
    ++i;
    return c;
  }
  std::size_t len = 0;
  unsigned char lo = 0x80, hi = 0xBF;
  char32_t cp = 0;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
    cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    cp = c & 0x0F;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;  // no UTF-16 surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    cp = c & 0x07;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  }
  bool ok = len != 0 && i + len <= s.size() && b(i + 1) >= lo && b(i + 1) <= hi;
  for (std::size_t k = 2; ok && k < len; ++k) ok = b(i + k) >= 0x80 && b(i + k) <= 0xBF;
  if (!ok) {
    ++i;
    return 0xFFFD;
  }
  for (std::size_t k = 1; k < len; ++k) cp = (cp << 6) | (b(i + k) & 0x3F);
  i += len;
  return cp;
}

// Appends `s` as a JSON string the way Python's json.dumps (ensure_ascii=True) writes it.
inline void append_python_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  auto u4 = [&](unsigned v) {
    out += "\\u";
    for (int shift = 12; shift >= 0; shift -= 4) out += kHex[(v >> shift) & 0xF];
  };
  out += '"';
  std::size_t i = 0;
  while (i < s.size()) {
    const char32_t cp = next_code_point(s, i);
    switch (cp) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (cp >= 0x20 && cp <= 0x7E) {
          out += static_cast<char>(cp);
        } else if (cp < 0x10000) {
          u4(static_cast<unsigned>(cp));
        } else {
          const unsigned v = static_cast<unsigned>(cp) - 0x10000;
          u4(0xD800 + (v >> 10));
          u4(0xDC00 + (v & 0x3FF));
        }
    }
  }
  out += '"';
}

// Returns the hash field of a label set: `{"a": "1", "b": "2"}` with the names sorted, as
// json.dumps(dict(sorted(labels.items()))) writes it. `labels` must be sorted by name.
inline std::string labels_field(const std::vector<std::pair<std::string, std::string>>& labels) {
  std::string out = "{";
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (i) out += ", ";
    append_python_json_string(out, labels[i].first);
    out += ": ";
    append_python_json_string(out, labels[i].second);
  }
  out += '}';
  return out;
}

// Returns what Python's str() gives for a float: repr's shortest digits, fixed notation for
// exponents -4..15 ("1.0", "0.0001", "1234.5"), else scientific ("1e-05", "1.5e+16").
inline std::string python_float_str(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  std::string_view sci(buf, static_cast<std::size_t>(res.ptr - buf));
  std::string out;
  if (!sci.empty() && sci[0] == '-') {
    out += '-';
    sci.remove_prefix(1);
  }
  const std::size_t e = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e)) {
    if (c != '.') digits += c;
  }
  int exp = 0;
  std::from_chars(sci.data() + e + (sci[e + 1] == '+' ? 2 : 1), sci.data() + sci.size(), exp);
  if (sci[e + 1] == '-') exp = -std::abs(exp);
  const int n = static_cast<int>(digits.size());
  if (exp >= -4 && exp < 16) {
    if (exp < 0) {
      out += "0.";
      out.append(static_cast<std::size_t>(-exp - 1), '0');
      out += digits;
    } else if (exp >= n - 1) {
      out += digits;
      out.append(static_cast<std::size_t>(exp - (n - 1)), '0');
      out += ".0";
    } else {
      out += digits.substr(0, static_cast<std::size_t>(exp + 1));
      out += '.';
      out += digits.substr(static_cast<std::size_t>(exp + 1));
    }
    return out;
  }
  out += digits[0];
  if (n > 1) {
    out += '.';
    out += digits.substr(1);
  }
  out += 'e';
  out += exp < 0 ? '-' : '+';
  const int a = std::abs(exp);
  if (a < 10) out += '0';
  out += std::to_string(a);
  return out;
}

// Parses a hash field written by any pytheus: a JSON object of label name to value, keys in
// any order. Values that are not strings become what Python's str() makes of them (ints,
// floats, booleans, null). Returns the labels sorted by name, or nullopt for anything else.
inline std::optional<std::vector<std::pair<std::string, std::string>>> parse_labels_field(
    std::string_view field) {
  nlohmann::json j = nlohmann::json::parse(field.begin(), field.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(j.size());
  for (auto it = j.begin(); it != j.end(); ++it) {
    const nlohmann::json& v = it.value();
    std::string s;
    if (v.is_string()) {
      s = v.get<std::string>();
    } else if (v.is_boolean()) {
      s = v.get<bool>() ? "True" : "False";
    } else if (v.is_null()) {
      s = "None";
    } else if (v.is_number_unsigned()) {
      s = std::to_string(v.get<std::uint64_t>());
    } else if (v.is_number_integer()) {
      s = std::to_string(v.get<std::int64_t>());
    } else if (v.is_number_float()) {
      s = python_float_str(v.get<double>());
    } else {
      return std::nullopt;  // arrays and objects are no label value
    }
    out.emplace_back(it.key(), std::move(s));
  }
  // nlohmann's object is a std::map: keys come out sorted, duplicates already merged.
  return out;
}

// What a scrape makes of one hash field of a metric whose label names are `sorted_names`:
// its labels (sorted by name) and canonical field, or invalid (skipped and counted).
struct ParsedField {
  bool valid = false;
  std::string canonical;
  std::vector<std::pair<std::string, std::string>> labels;
};

inline ParsedField parse_field(std::string_view field,
                               const std::vector<std::string>& sorted_names) {
  ParsedField p;
  auto labels = parse_labels_field(field);
  if (!labels || labels->size() != sorted_names.size()) return p;
  for (std::size_t i = 0; i < sorted_names.size(); ++i) {
    if ((*labels)[i].first != sorted_names[i]) return p;
  }
  p.canonical = labels_field(*labels);
  p.labels = std::move(*labels);
  p.valid = true;
  return p;
}

}  // namespace pytheus::detail::redis
