// Number formatting shared by the exposition writers and bucket keys.
#pragma once

#include <charconv>
#include <cmath>
#include <string>
#include <system_error>

namespace pytheus::detail {

// Appends `v` in the shortest form that reads back to the same double; "+Inf", "-Inf" and
// "NaN" as Prometheus spells them. Integral values print bare ("1", "10").
inline void append_double(std::string& out, double v) {
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

inline std::string format_double(double v) {
  std::string s;
  append_double(s, v);
  return s;
}

}  // namespace pytheus::detail
