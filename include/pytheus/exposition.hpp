// Exposition: the Prometheus text format 0.0.4 and OpenMetrics 1.0.
//
// generate_metrics() reads a registry (through the loaded backend's bulk read when it has
// one, else collector by collector) and writes one block per family, HELP and TYPE once
// each. Floats print shortest-round-trip; label values and help texts are escaped for the
// format, and bytes that are not UTF-8 become U+FFFD, since both formats require UTF-8.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "pytheus/backends.hpp"
#include "pytheus/collector.hpp"
#include "pytheus/detail/format.hpp"
#include "pytheus/errors.hpp"
#include "pytheus/labels.hpp"
#include "pytheus/metric.hpp"
#include "pytheus/registry.hpp"

namespace pytheus {

/// Format is an exposition format.
enum class Format {
  /// Prometheus text format 0.0.4.
  prometheus,
  /// OpenMetrics 1.0.0 text.
  openmetrics,
};

/// Content type of the Prometheus text format 0.0.4.
inline constexpr std::string_view kPrometheusContentType =
    "text/plain; version=0.0.4; charset=utf-8";
/// Content type of OpenMetrics 1.0.0.
inline constexpr std::string_view kOpenMetricsContentType =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Returns the content type of `format`.
constexpr std::string_view content_type(Format format) {
  return format == Format::openmetrics ? kOpenMetricsContentType : kPrometheusContentType;
}

namespace detail {

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// Length of the valid UTF-8 sequence at s[i], or 0 if the bytes there are not one.
inline std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  std::size_t len;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;  // no UTF-16 surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  if (b(i + 1) < lo || b(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < len; ++k) {
    if (b(i + k) < 0x80 || b(i + k) > 0xBF) return 0;
  }
  return len;
}

// Appends `s` escaped: backslash and newline always, double quote when `quote`; invalid
// UTF-8 bytes become U+FFFD.
inline void append_escaped(std::string& out, std::string_view s, bool quote) {
  std::size_t i = 0;
  while (i < s.size()) {
    // Copy the longest run that needs nothing.
    std::size_t j = i;
    while (j < s.size()) {
      const unsigned char c = static_cast<unsigned char>(s[j]);
      if (c == '\\' || c == '\n' || (quote && c == '"') || c >= 0x80) break;
      ++j;
    }
    out.append(s.data() + i, j - i);
    if (j == s.size()) return;
    const unsigned char c = static_cast<unsigned char>(s[j]);
    if (c == '\\') {
      out += "\\\\";
      i = j + 1;
    } else if (c == '\n') {
      out += "\\n";
      i = j + 1;
    } else if (c == '"') {
      out += "\\\"";
      i = j + 1;
    } else if (std::size_t len = utf8_sequence(s, j)) {
      out.append(s.data() + j, len);
      i = j + len;
    } else {
      out += "\xEF\xBF\xBD";
      i = j + 1;
    }
  }
}

// Writes families as text in either format into a string.
class TextWriter final : public MetricWriter {
 public:
  TextWriter(std::string& out, Format format, std::string prefix)
      : out_(out), format_(format), prefix_(std::move(prefix)) {}

  void family(std::string_view name, std::string_view help, MetricType type,
              std::string_view unit) override {
    type_ = type;
    family_.clear();
    if (!prefix_.empty()) {
      family_ += prefix_;
      family_ += '_';
    }
    family_ += name;
    const bool om = format_ == Format::openmetrics;
    if (om && type == MetricType::counter && ends_with(family_, "_total")) {
      family_.resize(family_.size() - 6);
    }
    if (!seen_.insert(family_).second) {
      throw CollectError("metric family \"" + family_ +
                         "\" is yielded twice (by two collectors, or twice by one)");
    }
    if (om) {
      type_line(type == MetricType::untyped ? "unknown" : to_string(type));
      if (!unit.empty()) {
        out_ += "# UNIT ";
        out_ += family_;
        out_ += ' ';
        out_ += unit;
        out_ += '\n';
      }
      help_line(help);
    } else {
      help_line(help);
      type_line(to_string(type));
    }
  }

  void sample(std::string_view suffix, const LabelView* labels, std::size_t count,
              double value) override {
    out_ += family_;
    if (suffix.empty() && type_ == MetricType::counter && format_ == Format::openmetrics) {
      out_ += "_total";
    } else {
      out_ += suffix;
    }
    if (count > 0) {
      out_ += '{';
      for (std::size_t i = 0; i < count; ++i) {
        if (i) out_ += ',';
        out_ += labels[i].name;
        out_ += "=\"";
        append_escaped(out_, labels[i].value, true);
        if (format_ == Format::openmetrics && is_integral_bound(labels[i])) out_ += ".0";
        out_ += '"';
      }
      out_ += '}';
    }
    out_ += ' ';
    append_double(out_, value);
    out_ += '\n';
  }

  void finish() {
    if (format_ == Format::openmetrics) out_ += "# EOF\n";
  }

 private:
  static bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
  }

  // OpenMetrics writes `le` and `quantile` values as canonical floats: "1.0", not "1".
  static bool is_integral_bound(const LabelView& l) {
    if (l.name != "le" && l.name != "quantile") return false;
    std::string_view v = l.value;
    if (!v.empty() && v[0] == '-') v.remove_prefix(1);
    if (v.empty()) return false;
    for (char c : v) {
      if (c < '0' || c > '9') return false;
    }
    return true;
  }

  void help_line(std::string_view help) {
    out_ += "# HELP ";
    out_ += family_;
    out_ += ' ';
    append_escaped(out_, help, format_ == Format::openmetrics);
    out_ += '\n';
  }

  void type_line(std::string_view type) {
    out_ += "# TYPE ";
    out_ += family_;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }

  std::string& out_;
  const Format format_;
  const std::string prefix_;
  std::string family_;
  MetricType type_ = MetricType::untyped;
  std::unordered_set<std::string> seen_;
};

// Checks what a custom collector yields, so that a bad name fails the scrape with its name
// instead of producing an exposition Prometheus rejects.
inline void validate_families(const std::vector<MetricFamily>& families) {
  for (const MetricFamily& f : families) {
    if (!is_valid_metric_name(f.name)) {
      throw CollectError("a collector yielded an invalid metric name " + quote_name(f.name));
    }
    for (const Sample& s : f.samples) {
      for (const auto& [label, value] : s.labels) {
        if (!matches_name(label, false) || label.substr(0, 2) == "__") {
          throw CollectError("a collector yielded invalid label name " + quote_name(label) +
                             " in metric " + quote_name(f.name));
        }
      }
    }
  }
}

}  // namespace detail

/// Streams every family of `registry` into `writer`: through the loaded backend's bulk read
/// where it has one, else collector by collector. Throws CollectError when a value cannot
/// be read or a collector fails; nothing is then worth serving.
inline void collect(const Registry& registry, MetricWriter& writer) {
  auto loaded = detail::BackendRegistry::instance().loaded();
  Samples bulk;
  if (loaded.first->generate_samples) bulk = loaded.first->generate_samples(registry);
  for (const auto& c : registry.collectors()) {
    try {
      auto it = bulk.find(c.get());
      if (it != bulk.end()) {
        replay(it->second, writer);
      } else if (dynamic_cast<const MetricCollector*>(c.get()) != nullptr) {
        c->write_to(writer);
      } else {
        std::vector<MetricFamily> families = c->collect();
        detail::validate_families(families);
        replay(families, writer);
      }
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      throw CollectError(std::string("a collector failed during the scrape: ") + e.what());
    }
  }
}

/// Returns the families of `registry` with their current samples.
inline std::vector<MetricFamily> collect(const Registry& registry) {
  FamilyBuilder builder;
  collect(registry, builder);
  return builder.take();
}

/// Returns the exposition of `registry` (default: the default registry) in `format`
/// (default: Prometheus text 0.0.4). Throws CollectError when the scrape cannot be answered
/// with current values.
///
/// **Example**:
///     std::string text = pytheus::generate_metrics();
inline std::string generate_metrics(const Registry& registry = default_registry(),
                                    Format format = Format::prometheus) {
  static std::atomic<std::size_t> size_hint{4096};
  std::string out;
  out.reserve(size_hint.load(std::memory_order_relaxed));
  detail::TextWriter writer(out, format, registry.prefix());
  collect(registry, writer);
  writer.finish();
  size_hint.store(out.size() + out.size() / 8, std::memory_order_relaxed);
  return out;
}

/// Returns the exposition of the default registry in `format`.
inline std::string generate_metrics(Format format) {
  return generate_metrics(default_registry(), format);
}

namespace detail {

// Puts a registry's prefix before the family names it yields, so that registries with
// different prefixes can share one TextWriter (and its one-block-per-family check).
class PrefixedWriter final : public MetricWriter {
 public:
  PrefixedWriter(MetricWriter& out, std::string prefix) : out_(out), prefix_(std::move(prefix)) {}

  void family(std::string_view name, std::string_view help, MetricType type,
              std::string_view unit) override {
    if (prefix_.empty()) return out_.family(name, help, type, unit);
    name_.assign(prefix_).append("_").append(name);
    out_.family(name_, help, type, unit);
  }
  void sample(std::string_view suffix, const LabelView* labels, std::size_t count,
              double value) override {
    out_.sample(suffix, labels, count, value);
  }

 private:
  MetricWriter& out_;
  const std::string prefix_;
  std::string name_;
};

}  // namespace detail

/// Returns one exposition of several registries, each family under its own registry's
/// prefix: what an HTTP exposer serves when it adds its own metrics to a user's registry.
/// Throws CollectError when a registry cannot be read or two of them yield the same family.
///
/// **Example**:
///     std::string text = pytheus::generate_metrics({&app, &sidecar},
///     pytheus::Format::openmetrics);
inline std::string generate_metrics(const std::vector<const Registry*>& registries,
                                    Format format = Format::prometheus) {
  std::string out;
  detail::TextWriter writer(out, format, "");
  for (const Registry* registry : registries) {
    detail::PrefixedWriter prefixed(writer, registry->prefix());
    collect(*registry, prefixed);
  }
  writer.finish();
  return out;
}

/// Picks the format a scraper asks for in its HTTP `Accept` header: OpenMetrics 1.0 when
/// `application/openmetrics-text` (version 1.0.0, 0.0.1 or none) is acceptable with a
/// quality at least that of everything else, else the Prometheus text format.
inline Format negotiate_format(std::string_view accept) {
  double om_q = -1, other_q = -1;
  while (!accept.empty()) {
    std::size_t comma = accept.find(',');
    std::string_view range = detail::trim(accept.substr(0, comma));
    accept = comma == std::string_view::npos ? std::string_view() : accept.substr(comma + 1);
    std::size_t semi = range.find(';');
    std::string_view type = detail::trim(range.substr(0, semi));
    double q = 1;
    std::string_view version;
    while (semi != std::string_view::npos) {
      range = range.substr(semi + 1);
      semi = range.find(';');
      std::string_view param = detail::trim(range.substr(0, semi));
      std::size_t eq = param.find('=');
      if (eq == std::string_view::npos) continue;
      std::string_view key = detail::trim(param.substr(0, eq));
      std::string_view value = detail::trim(param.substr(eq + 1));
      if (detail::iequals(key, "q")) {
        try {
          q = std::stod(std::string(value));
        } catch (...) {
          q = 0;
        }
      } else if (detail::iequals(key, "version")) {
        version = value;
      }
    }
    if (type.empty() || q <= 0) continue;
    if (detail::iequals(type, "application/openmetrics-text")) {
      if (version.empty() || version == "1.0.0" || version == "0.0.1") {
        om_q = std::max(om_q, q);
      }
    } else {
      other_q = std::max(other_q, q);
    }
  }
  return om_q > 0 && om_q >= other_q ? Format::openmetrics : Format::prometheus;
}

}  // namespace pytheus
