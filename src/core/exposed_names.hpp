// The sample names a family exposes, in either format: what two families must not share.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "pytheus/collector.hpp"

namespace pytheus::detail {

// Every name a family `name` (registry prefix applied) of `type` puts on the wire in either
// format: its OpenMetrics family name and each sample name (`_total`, `_bucket`, `_count`,
// `_sum`, `_created`, ...). Two families of one exposition must share none of them.
std::vector<std::string> exposed_names(std::string_view name, MetricType type);

// `name` with the registry `prefix` applied ("svc" and "jobs" give "svc_jobs").
std::string prefixed(std::string_view prefix, std::string_view name);

}  // namespace pytheus::detail
