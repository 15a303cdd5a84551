// Counting label sets that metrics with max_series refused or folded, exposed as
// pytheus_series_overflow_total{metric="..."} in the default registry from the first one on.
#pragma once

#include <cstdint>
#include <string_view>

namespace pytheus::detail {

void count_overflow(std::string_view metric);
std::uint64_t overflow_count(std::string_view metric);

}  // namespace pytheus::detail
