// Python's json.dumps, byte for byte, because Python processes sharing the Redis must find
// the same hash field for the same label set; and a lenient reader, because fields written by
// other pytheus versions may hold non-string values or keys in another order.
#include "labels_json.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <system_error>

#include "pytheus/detail/strings.hpp"

namespace pytheus::detail::redis {

char32_t next_code_point(std::string_view s, std::size_t& i) {
  const std::size_t len = utf8_sequence(s, i);
  if (len == 0) {
    ++i;
    return 0xFFFD;
  }
  static constexpr unsigned char kLeadMask[] = {0, 0x7F, 0x1F, 0x0F, 0x07};
  char32_t cp = static_cast<unsigned char>(s[i]) & kLeadMask[len];
  for (std::size_t k = 1; k < len; ++k)
    cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  i += len;
  return cp;
}

void append_python_json_string(std::string& out, std::string_view s) {
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

std::string labels_field(const std::vector<std::pair<std::string, std::string>>& labels) {
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

std::string python_float_str(double v) {
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

std::optional<std::vector<std::pair<std::string, std::string>>> parse_labels_field(
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

ParsedField parse_field(std::string_view field, const std::vector<std::string>& sorted_names) {
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
