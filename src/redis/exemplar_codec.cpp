#include "exemplar_codec.hpp"

#include <charconv>
#include <cmath>
#include <cstring>
#include <string>

namespace pytheus::detail::redis {
namespace {

bool parse_double(std::string_view s, double& out) {
  if (s.empty()) return false;
  // from_chars refuses a leading '+', which no writer of ours produces.
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size() && std::isfinite(out);
}

}  // namespace

std::size_t encode_exemplar_value(const ExemplarData& e, char* out) {
  char* p = out;
  p = std::to_chars(p, out + 32, e.timestamp).ptr;
  *p++ = ' ';
  char* v = p;
  p = std::to_chars(p, v + 32, e.value).ptr;
  *p++ = ' ';
  std::memcpy(p, e.encoded, e.size);
  p += e.size;
  return static_cast<std::size_t>(p - out);
}

std::optional<Exemplar> decode_exemplar_value(std::string_view v) {
  const std::size_t a = v.find(' ');
  if (a == std::string_view::npos) return std::nullopt;
  const std::size_t b = v.find(' ', a + 1);
  if (b == std::string_view::npos) return std::nullopt;
  double ts = 0, value = 0;
  if (!parse_double(v.substr(0, a), ts) || !parse_double(v.substr(a + 1, b - a - 1), value)) {
    return std::nullopt;
  }
  const std::string_view enc = v.substr(b + 1);
  if (enc.size() > ExemplarData::kMaxBytes) return std::nullopt;
  Exemplar e;
  std::size_t i = 0;
  while (i < enc.size()) {
    const std::size_t nl = static_cast<unsigned char>(enc[i]);
    if (i + 1 + nl + 2 > enc.size()) return std::nullopt;
    std::string_view name = enc.substr(i + 1, nl);
    i += 1 + nl;
    const std::size_t vl = static_cast<unsigned char>(enc[i]) |
                           (static_cast<std::size_t>(static_cast<unsigned char>(enc[i + 1])) << 8);
    i += 2;
    if (i + vl > enc.size()) return std::nullopt;
    e.labels.emplace_back(std::string(name), std::string(enc.substr(i, vl)));
    i += vl;
  }
  if (!exemplar_labels_problem(e.labels).empty()) return std::nullopt;
  e.value = value;
  e.timestamp = ts;
  return e;
}

}  // namespace pytheus::detail::redis
