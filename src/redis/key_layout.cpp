// Keys are composed once per series (when it is bound) and once per metric per scrape, never
// per operation: the hot path only reads the strings kept in Keys.
#include "key_layout.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <utility>

#include "labels_json.hpp"

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

// Python's float repr: the shortest round-trip digits d1.d2...dn x 10^e, written in fixed
// form when -4 <= e < 16 and in exponent form ("e-05", "e+16": sign, at least two digits)
// otherwise. std::to_chars in scientific form gives exactly those digits and that exponent.
std::string bucket_text(double bound) {
  if (std::isinf(bound)) return bound > 0 ? "+Inf" : "-Inf";
  if (std::isnan(bound)) return "nan";
  if (bound == std::trunc(bound) && std::fabs(bound) < 1e16) {
    char buf[32];
    auto res = std::to_chars(buf, buf + sizeof buf, static_cast<long long>(bound));
    return std::string(buf, res.ptr);
  }
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, bound, std::chars_format::scientific);
  const std::string sci(buf, res.ptr);
  const std::size_t e_at = sci.find('e');
  const int exp = std::atoi(sci.c_str() + e_at + 1);
  const bool negative = sci[0] == '-';
  std::string digits;
  for (std::size_t i = negative ? 1 : 0; i < e_at; ++i) {
    if (sci[i] != '.') digits += sci[i];
  }
  std::string out = negative ? "-" : "";
  if (exp < -4 || exp >= 16) {
    out += digits[0];
    if (digits.size() > 1) out += "." + digits.substr(1);
    const int a = exp < 0 ? -exp : exp;
    out += exp < 0 ? "e-" : "e+";
    if (a < 10) out += "0";
    out += std::to_string(a);
    return out;
  }
  if (exp < 0) {
    out += "0." + std::string(static_cast<std::size_t>(-exp - 1), '0') + digits;
    return out;
  }
  const std::size_t point = static_cast<std::size_t>(exp) + 1;
  if (digits.size() <= point) {
    out += digits + std::string(point - digits.size(), '0') + ".0";
  } else {
    out += digits.substr(0, point) + "." + digits.substr(point);
  }
  return out;
}

std::string stored_name(std::string_view registry_prefix, std::string_view name) {
  if (registry_prefix.empty()) return std::string(name);
  return std::string(registry_prefix) + "_" + std::string(name);
}

namespace {

std::string plain_key(const std::optional<std::string>& prefix, std::string_view name) {
  return prefix ? *prefix + "-" + std::string(name) : std::string(name);
}

// A bookkeeping key "pytheus" + `rest`: on a cluster they all share the tag {pytheus}, so
// that a heartbeat MGET and the collection's reads stay on one node.
std::string bookkeeping_key(const KeySpace& ks, std::string_view rest) {
  if (ks.cluster) return "{" + plain_key(ks.prefix, "pytheus") + "}" + std::string(rest);
  return plain_key(ks.prefix, "pytheus" + std::string(rest));
}

}  // namespace

std::string metric_key(const KeySpace& prefix, std::string_view name) {
  if (prefix.cluster) return "{" + plain_key(prefix.prefix, name) + "}";
  return plain_key(prefix.prefix, name);
}

std::vector<std::string> metric_keys(const KeySpace& prefix, std::string_view name, MetricType type,
                                     const std::vector<double>& bounds) {
  const std::string base = metric_key(prefix, name);
  std::vector<std::string> keys;
  if (type == MetricType::histogram) {
    keys.reserve(bounds.size() + 2);
    for (double bound : bounds) keys.push_back(base + ":" + bucket_text(bound));
  }
  if (type == MetricType::histogram || type == MetricType::summary) {
    keys.push_back(base + ":count");
    keys.push_back(base + ":sum");
  } else {
    keys.push_back(base);
  }
  return keys;
}

std::string created_key(const KeySpace& prefix, std::string_view name) {
  return metric_key(prefix, name) + ":created";
}

Keys value_keys(const KeySpace& prefix, const MetricInfo& series,
                std::optional<std::string_view> bucket) {
  const std::string name = stored_name(series.registry_prefix, series.name);
  std::string key = metric_key(prefix, name);
  if (bucket) key.append(":").append(*bucket);
  Keys k = keys_of({key}, series);
  if (!bucket && keeps_created(series.type)) k.created_key = created_key(prefix, name);
  if (series.type == MetricType::counter && !bucket) {
    k.exemplar_key = key + kExemplarSuffix;
    k.exemplar_fields.push_back(k.field);
  }
  return k;
}

std::string exemplar_key(const KeySpace& prefix, std::string_view name) {
  return metric_key(prefix, name) + kExemplarSuffix;
}

Keys histogram_keys(const KeySpace& prefix, const MetricInfo& series,
                    const std::vector<double>& bounds) {
  const MetricType type = bounds.empty() ? MetricType::summary : MetricType::histogram;
  Keys k = keys_of(
      metric_keys(prefix, stored_name(series.registry_prefix, series.name), type, bounds), series);
  k.histogram = true;
  k.buckets = bounds.size();
  k.created_key = created_key(prefix, stored_name(series.registry_prefix, series.name));
  if (!bounds.empty()) {
    k.exemplar_key = exemplar_key(prefix, stored_name(series.registry_prefix, series.name));
    for (std::size_t i = 0; i < bounds.size(); ++i) {
      k.exemplar_fields.push_back(std::to_string(i) + "|" + k.field);
    }
  }
  if (series.native) {
    k.native_key = native_key(prefix, stored_name(series.registry_prefix, series.name));
  }
  return k;
}

std::string native_key(const KeySpace& prefix, std::string_view name) {
  return metric_key(prefix, name) + ":native";
}

std::string process_id(long pid, std::string_view host) {
  return std::to_string(pid) + "@" + std::string(host);
}

Keys per_process_keys(const KeySpace& prefix, const MetricInfo& series, GaugeMode mode,
                      std::string_view proc) {
  const std::string base = metric_key(prefix, stored_name(series.registry_prefix, series.name));
  Keys k;
  k.hash = true;
  k.per_process = true;
  k.field = std::string(proc) + "|" + (series.labels.empty() ? "" : labels_field(series.labels));
  k.keys.push_back(base + kProcSuffix);
  if (mode == GaugeMode::mostrecent || mode == GaugeMode::livemostrecent) {
    k.stamped = true;
    k.keys.push_back(base + kStampSuffix);
  }
  return k;
}

std::vector<std::string> per_process_metric_keys(const KeySpace& prefix, std::string_view name,
                                                 GaugeMode mode) {
  const std::string base = metric_key(prefix, name);
  std::vector<std::string> keys = {base + kProcSuffix};
  if (mode == GaugeMode::mostrecent || mode == GaugeMode::livemostrecent) {
    keys.push_back(base + kStampSuffix);
  }
  return keys;
}

double set_stamp_now() {
  return static_cast<double>(std::chrono::duration_cast<std::chrono::microseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count());
}

std::string stamp_key_of(const std::string& proc_key) {
  const std::size_t n = std::char_traits<char>::length(kProcSuffix);
  return proc_key.substr(0, proc_key.size() - n) + kStampSuffix;
}

bool split_process_field(std::string_view field, std::string_view& proc, std::string_view& labels) {
  const std::size_t bar = field.find('|');
  if (bar == std::string_view::npos || bar == 0) return false;
  proc = field.substr(0, bar);
  labels = field.substr(bar + 1);
  return true;
}

std::string heartbeat_key(const KeySpace& prefix, std::string_view proc) {
  return bookkeeping_key(prefix, "_proc:" + std::string(proc));
}

std::string processes_key(const KeySpace& prefix) {
  return bookkeeping_key(prefix, "_procs");
}

std::string process_keys_key(const KeySpace& prefix) {
  return bookkeeping_key(prefix, "_proc_keys");
}

std::string gc_lock_key(const KeySpace& prefix) {
  return bookkeeping_key(prefix, "_proc_gc");
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

std::string sequence_key(const KeySpace& prefix, std::string_view host, long pid,
                         std::uint64_t nonce) {
  return plain_key(prefix.prefix, std::string("pytheus_flush_seq:") + std::string(host) + ":" +
                                      std::to_string(pid) + ":" + std::to_string(nonce));
}

std::string cluster_sequence_key(std::string_view tag, std::string_view sequence) {
  return "{" + std::string(tag) + "}:" + std::string(sequence);
}

}  // namespace pytheus::detail::redis
