#include "pytheus/detail/format.hpp"

#include <charconv>
#include <cmath>
#include <system_error>

namespace pytheus::detail {

void append_double(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, end);
  }
}

std::string format_double(double v) {
  std::string s;
  append_double(s, v);
  return s;
}

}  // namespace pytheus::detail
