// Number formatting shared by the exposition writers and bucket names.
#pragma once

#include <string>

namespace pytheus::detail {

// Appends `v` in the shortest form that reads back to the same double; "+Inf", "-Inf" and
// "NaN" as Prometheus spells them. Integral values print bare ("1", "10").
void append_double(std::string& out, double v);

std::string format_double(double v);

}  // namespace pytheus::detail
