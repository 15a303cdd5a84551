#include "exposed_names.hpp"

namespace pytheus::detail {

std::vector<std::string> exposed_names(std::string_view name, MetricType type) {
  const std::string n(name);
  switch (type) {
    case MetricType::counter: {
      // Text writes the name as given; OpenMetrics names the family without `_total` and
      // its sample with it.
      constexpr std::string_view total = "_total";
      std::string base = n;
      if (name.size() >= total.size() && name.substr(name.size() - total.size()) == total) {
        base.resize(base.size() - total.size());
      }
      return {base, base + "_total", base + "_created"};
    }
    case MetricType::histogram:
      return {n, n + "_bucket", n + "_count", n + "_sum", n + "_created"};
    case MetricType::summary:
      return {n, n + "_count", n + "_sum", n + "_created"};
    case MetricType::info:
      // The text format names the family as its sample.
      return {n, n + "_info"};
    case MetricType::stateset:
    case MetricType::gauge:
    case MetricType::untyped:
      break;
  }
  return {n};
}

std::string prefixed(std::string_view prefix, std::string_view name) {
  std::string out;
  if (!prefix.empty()) {
    out.assign(prefix);
    out += '_';
  }
  out += name;
  return out;
}

}  // namespace pytheus::detail
