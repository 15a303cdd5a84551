// Keys are composed once per series (when it is bound) and once per metric per scrape, never
// per operation: the hot path only reads the strings kept in Keys.
#include "key_layout.hpp"

#include <algorithm>
#include <utility>

#include "labels_json.hpp"
#include "pytheus/detail/format.hpp"

namespace pytheus::detail::redis {
namespace {

Keys keys_of(std::vector<std::string> keys, const MetricInfo& series) {
  Keys k;
  k.hash = !series.labels.empty();
  if (k.hash) k.field = labels_field(series.labels);
  k.keys = std::move(keys);
  return k;
}

}  // namespace

std::string metric_key(const std::optional<std::string>& prefix, std::string_view name) {
  return prefix ? *prefix + "-" + std::string(name) : std::string(name);
}

std::vector<std::string> metric_keys(const std::optional<std::string>& prefix,
                                     std::string_view name, MetricType type,
                                     const std::vector<double>& bounds) {
  const std::string base = metric_key(prefix, name);
  std::vector<std::string> keys;
  if (type == MetricType::histogram) {
    keys.reserve(bounds.size() + 2);
    for (double bound : bounds) keys.push_back(base + ":" + format_double(bound));
  }
  if (type == MetricType::histogram || type == MetricType::summary) {
    keys.push_back(base + ":count");
    keys.push_back(base + ":sum");
  } else {
    keys.push_back(base);
  }
  return keys;
}

Keys value_keys(const std::optional<std::string>& prefix, const MetricInfo& series,
                std::optional<std::string_view> bucket) {
  std::string key = metric_key(prefix, series.name);
  if (bucket) key.append(":").append(*bucket);
  return keys_of({std::move(key)}, series);
}

Keys histogram_keys(const std::optional<std::string>& prefix, const MetricInfo& series,
                    const std::vector<double>& bounds) {
  const MetricType type = bounds.empty() ? MetricType::summary : MetricType::histogram;
  Keys k = keys_of(metric_keys(prefix, series.name, type, bounds), series);
  k.histogram = true;
  k.buckets = bounds.size();
  return k;
}

std::string field_of(const std::vector<std::string>& names,
                     const std::vector<std::string>& values) {
  std::vector<std::pair<std::string, std::string>> sorted;
  sorted.reserve(names.size());
  for (std::size_t i = 0; i < names.size() && i < values.size(); ++i) {
    sorted.emplace_back(names[i], values[i]);
  }
  std::sort(sorted.begin(), sorted.end());
  return labels_field(sorted);
}

std::string sequence_key(const std::optional<std::string>& prefix, std::string_view host, long pid,
                         std::uint64_t nonce) {
  return metric_key(prefix, std::string("pytheus_flush_seq:") + std::string(host) + ":" +
                                std::to_string(pid) + ":" + std::to_string(nonce));
}

}  // namespace pytheus::detail::redis
