// The text writers of both formats, the scrape (bulk read or collector by collector) and
// Accept negotiation.
#include "pytheus/exposition.hpp"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <exception>
#include <string>
#include <unordered_set>
#include <utility>

#include "pytheus/backends.hpp"
#include "pytheus/descriptor.hpp"
#include "pytheus/detail/format.hpp"
#include "pytheus/detail/loaded.hpp"
#include "pytheus/detail/sample_layout.hpp"
#include "pytheus/detail/strings.hpp"
#include "pytheus/errors.hpp"
#include "pytheus/labels.hpp"

namespace pytheus {
namespace detail {
namespace {

// Appends `s` escaped: backslash and newline always, double quote when `quote`; invalid
// UTF-8 bytes become U+FFFD.
void append_escaped(std::string& out, std::string_view s, bool quote) {
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
void validate_families(const std::vector<MetricFamily>& families) {
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

}  // namespace
}  // namespace detail

void collect(const Registry& registry, MetricWriter& writer) {
  const std::vector<std::shared_ptr<Collector>> collectors = registry.collectors();
  // The metrics on the loaded backend are read in one bulk read when its class has one:
  // the core hands it plain requests and gets plain rows back.
  std::vector<const MetricCollector*> bulk_metrics(collectors.size(), nullptr);
  std::vector<MetricRows> rows;
  detail::LoadedClass loaded = detail::loaded_class();
  if (loaded.cls->generate_samples) {
    std::vector<MetricRequest> requests;
    for (std::size_t i = 0; i < collectors.size(); ++i) {
      const auto* mc = dynamic_cast<const MetricCollector*>(collectors[i].get());
      if (mc == nullptr || !mc->on_loaded_backend()) continue;
      const MetricDescriptor& d = mc->descriptor();
      bulk_metrics[i] = mc;
      requests.push_back(
          {d.name, d.type, d.label_names, d.bounds, d.gauge_mode, mc->label_sets(),
           d.registry_prefix});
    }
    if (!requests.empty()) {
      try {
        rows = loaded.cls->generate_samples(*loaded.config, requests);
      } catch (const Error&) {
        throw;
      } catch (const std::exception& e) {
        throw CollectError(std::string("the backend's bulk read failed: ") + e.what());
      }
      if (rows.size() != requests.size()) {
        throw CollectError("backend class " + loaded.cls->name + " answered " +
                           std::to_string(rows.size()) + " of " + std::to_string(requests.size()) +
                           " metrics in its bulk read");
      }
    }
  }
  std::size_t next_row = 0;
  for (std::size_t i = 0; i < collectors.size(); ++i) {
    const Collector& c = *collectors[i];
    try {
      if (bulk_metrics[i] != nullptr) {
        detail::write_rows(writer, bulk_metrics[i]->descriptor(), rows[next_row++]);
      } else if (dynamic_cast<const MetricCollector*>(&c) != nullptr) {
        c.write_to(writer);
      } else {
        std::vector<MetricFamily> families = c.collect();
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

std::vector<MetricFamily> collect(const Registry& registry) {
  FamilyBuilder builder;
  collect(registry, builder);
  return builder.take();
}

std::string generate_metrics(const Registry& registry, Format format) {
  static std::atomic<std::size_t> size_hint{4096};
  std::string out;
  out.reserve(size_hint.load(std::memory_order_relaxed));
  detail::TextWriter writer(out, format, registry.prefix());
  collect(registry, writer);
  writer.finish();
  size_hint.store(out.size() + out.size() / 8, std::memory_order_relaxed);
  return out;
}

std::string generate_metrics(Format format) {
  return generate_metrics(default_registry(), format);
}

/// Returns one exposition of several registries, each family under its own registry's
/// prefix: what an HTTP exposer serves when it adds its own metrics to a user's registry.
/// Throws CollectError when a registry cannot be read or two of them yield the same family.
///
/// **Example**:
///     std::string text = pytheus::generate_metrics({&app, &sidecar},
///     pytheus::Format::openmetrics);
std::string generate_metrics(const std::vector<const Registry*>& registries, Format format) {
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
Format negotiate_format(std::string_view accept) {
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
