// The text writers of both formats, the scrape (bulk read or collector by collector) and
// Accept negotiation.
#include "pytheus/exposition.hpp"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <exception>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "exposed_names.hpp"
#include "pytheus/backends.hpp"
#include "pytheus/descriptor.hpp"
#include "pytheus/detail/format.hpp"
#include "pytheus/detail/format_hook.hpp"
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

// Every name the families of one exposition put on the wire must be their own: a collector
// that was not checked at registration (a custom one) fails the scrape here instead.
class NameClaims {
 public:
  void claim(const std::string& family, MetricType type) {
    if (!seen_.insert(family).second) {
      throw CollectError("metric family \"" + family +
                         "\" is yielded twice (by two collectors, or twice by one)");
    }
    for (std::string& sample : exposed_names(family, type)) {
      auto [it, fresh] = exposed_.emplace(std::move(sample), family);
      if (!fresh && it->second != family) {
        throw CollectError("metric families " + quote_name(it->second) + " and " +
                           quote_name(family) + " both expose " + quote_name(it->first));
      }
    }
  }

 private:
  std::unordered_set<std::string> seen_;
  std::unordered_map<std::string, std::string> exposed_;
};

// Writes families as text in either format into a string.
class TextWriter final : public MetricWriter {
 public:
  TextWriter(std::string& out, Format format, std::string prefix)
      : out_(out), format_(format), prefix_(std::move(prefix)) {}

  void family(std::string_view name, std::string_view help, MetricType type,
              std::string_view unit) override {
    flush_count();
    type_ = type;
    negative_buckets_ = false;
    family_ = prefixed(prefix_, name);
    raw_name_.assign(name);
    claims_.claim(family_, type);
    const bool om = format_ == Format::openmetrics;
    if (!om && type == MetricType::info) family_ += "_info";
    if (om && type == MetricType::counter && ends_with(family_, "_total")) {
      family_.resize(family_.size() - 6);
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
      // The text format has no info or stateset: they are the conventional gauges.
      type_line(to_string(stored_type(type)));
    }
  }

  void sample(std::string_view suffix, const LabelView* labels, std::size_t count,
              double value) override {
    const bool om = format_ == Format::openmetrics;
    // Only a counter's value and a histogram's buckets carry exemplars (OpenMetrics).
    exemplar_ok_ = om && ((type_ == MetricType::counter && suffix.empty()) ||
                          (type_ == MetricType::histogram && suffix == "_bucket"));
    const bool distribution = type_ == MetricType::histogram || type_ == MetricType::summary;
    if (suffix == "_created" && !om && (type_ == MetricType::counter || distribution)) {
      return;  // the text format has no created timestamps
    }
    if (om && distribution) {
      // OpenMetrics: a sum is a counter, never negative, and absent where buckets are
      // negative; a histogram's count goes with its sum (the +Inf bucket still says it).
      if (suffix == "_bucket" && type_ == MetricType::histogram) {
        for (std::size_t i = 0; i < count; ++i) {
          if (labels[i].name == "le" && !labels[i].value.empty() && labels[i].value[0] == '-') {
            negative_buckets_ = true;
          }
        }
      } else if (suffix == "_count") {
        flush_count();
        line(pending_count_, suffix, labels, count, value);
        return;
      } else if (suffix == "_sum") {
        const bool omit = value < 0 || (type_ == MetricType::histogram && negative_buckets_);
        if (omit && type_ == MetricType::histogram) pending_count_.clear();
        flush_count();
        if (!omit) line(out_, suffix, labels, count, value);
        return;
      }
      flush_count();
    }
    line(out_, suffix, labels, count, value);
  }

  // OpenMetrics: ` # {labels} value timestamp` at the end of the line just written.
  void exemplar(const Exemplar& e) override {
    if (!exemplar_ok_ || out_.empty() || out_.back() != '\n') return;
    exemplar_ok_ = false;
    out_.pop_back();
    out_ += " # {";
    for (std::size_t i = 0; i < e.labels.size(); ++i) {
      if (i) out_ += ',';
      out_ += e.labels[i].first;
      out_ += "=\"";
      append_escaped(out_, e.labels[i].second, true);
      out_ += '"';
    }
    out_ += "} ";
    append_double(out_, e.value);
    if (e.timestamp) {
      out_ += ' ';
      append_double(out_, *e.timestamp);
    }
    out_ += '\n';
  }

  void finish() {
    flush_count();
    if (format_ == Format::openmetrics) out_ += "# EOF\n";
  }

 private:
  static bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
  }

  void flush_count() {
    out_ += pending_count_;
    pending_count_.clear();
  }

  void line(std::string& out, std::string_view suffix, const LabelView* labels, std::size_t count,
            double value) const {
    out += family_;
    if (suffix.empty() && type_ == MetricType::counter && format_ == Format::openmetrics) {
      out += "_total";
    } else if (type_ == MetricType::info && format_ == Format::prometheus) {
      // the family name already ends with _info
    } else {
      out += suffix;
    }
    if (count > 0) {
      out += '{';
      for (std::size_t i = 0; i < count; ++i) {
        if (i) out += ',';
        // A state set's state label is named after the family, registry prefix included.
        out += type_ == MetricType::stateset && labels[i].name == raw_name_
                   ? std::string_view(family_)
                   : labels[i].name;
        out += "=\"";
        append_escaped(out, labels[i].value, true);
        if (format_ == Format::openmetrics && is_integral_bound(labels[i])) out += ".0";
        out += '"';
      }
      out += '}';
    }
    out += ' ';
    append_double(out, value);
    out += '\n';
  }

  // OpenMetrics writes a histogram's `le` and a summary's `quantile` as canonical floats
  // ("1.0", not "1"); the same label names on other types are plain labels, left alone.
  bool is_integral_bound(const LabelView& l) const {
    if (!(type_ == MetricType::histogram && l.name == "le") &&
        !(type_ == MetricType::summary && l.name == "quantile")) {
      return false;
    }
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
  std::string raw_name_;
  MetricType type_ = MetricType::untyped;
  bool negative_buckets_ = false;
  bool exemplar_ok_ = false;
  std::string pending_count_;
  NameClaims claims_;
};

// Passes everything a collector streams on to `out_`; a subclass changes what it needs.
class ForwardingWriter : public MetricWriter {
 public:
  explicit ForwardingWriter(MetricWriter& out) : out_(out) {}

  void family(std::string_view name, std::string_view help, MetricType type,
              std::string_view unit) override {
    out_.family(name, help, type, unit);
  }
  void sample(std::string_view suffix, const LabelView* labels, std::size_t count,
              double value) override {
    out_.sample(suffix, labels, count, value);
  }
  void exemplar(const Exemplar& e) override { out_.exemplar(e); }
  void native_histogram(const LabelView* labels, std::size_t count,
                        const NativeBuckets& buckets) override {
    out_.native_histogram(labels, count, buckets);
  }

 protected:
  MetricWriter& out_;
};

// Checks the family names streamed into a component's writer (the same checks TextWriter
// makes) and forwards everything.
class ClaimingWriter final : public ForwardingWriter {
 public:
  using ForwardingWriter::ForwardingWriter;

  void family(std::string_view name, std::string_view help, MetricType type,
              std::string_view unit) override {
    name_.assign(name);
    claims_.claim(name_, type);
    out_.family(name, help, type, unit);
  }

 private:
  std::string name_;
  NameClaims claims_;
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
        if (!is_valid_utf8(value)) {
          throw CollectError("a collector yielded a value of label " + quote_name(label) +
                             " in metric " + quote_name(f.name) + " that is not valid UTF-8");
        }
      }
      if (s.exemplar) {
        std::string problem = exemplar_labels_problem(s.exemplar->labels);
        if (problem.empty() && (!is_finite(s.exemplar->value) ||
                                (s.exemplar->timestamp && !is_finite(*s.exemplar->timestamp)))) {
          problem = "a value or timestamp that is not finite";
        }
        if (!problem.empty()) {
          throw CollectError("a collector yielded an exemplar in metric " + quote_name(f.name) +
                             " with " + problem);
        }
      }
    }
  }
}

// Puts a registry's prefix before the family names it yields, so that registries with
// different prefixes can share one TextWriter (and its one-block-per-family check).
class PrefixedWriter final : public ForwardingWriter {
 public:
  PrefixedWriter(MetricWriter& out, std::string prefix)
      : ForwardingWriter(out), prefix_(std::move(prefix)) {}

  void family(std::string_view name, std::string_view help, MetricType type,
              std::string_view unit) override {
    type_ = type;
    raw_.assign(name);
    if (prefix_.empty()) return out_.family(name, help, type, unit);
    name_.assign(prefix_).append("_").append(name);
    out_.family(name_, help, type, unit);
  }
  void sample(std::string_view suffix, const LabelView* labels, std::size_t count,
              double value) override {
    if (type_ == MetricType::stateset && !prefix_.empty()) {
      // The state label is named after the family: prefixed with it.
      renamed_.assign(labels, labels + count);
      for (LabelView& l : renamed_) {
        if (l.name == raw_) l.name = name_;
      }
      return out_.sample(suffix, renamed_.data(), count, value);
    }
    out_.sample(suffix, labels, count, value);
  }

 private:
  const std::string prefix_;
  std::string name_;
  std::string raw_;
  MetricType type_ = MetricType::untyped;
  std::vector<LabelView> renamed_;
};

std::atomic<FormatWriterFactory> protobuf_factory{nullptr};

// Makes the writer of a component's format, or says what is missing.
std::unique_ptr<FormatWriter> make_component_writer(std::string& out) {
  FormatWriterFactory factory = protobuf_factory.load(std::memory_order_acquire);
  if (factory == nullptr) {
    throw Error(
        "the protobuf exposition format needs the pytheus::protobuf component: link it and "
        "call pytheus::protobuf::enable() once at start-up");
  }
  return factory(out);
}

// Writes `registries` in a component's format (protobuf): names checked, prefixes applied.
std::string generate_component(const std::vector<const Registry*>& registries) {
  static std::atomic<std::size_t> size_hint{4096};
  std::string out;
  out.reserve(size_hint.load(std::memory_order_relaxed));
  std::unique_ptr<FormatWriter> writer = make_component_writer(out);
  ClaimingWriter claiming(*writer);
  for (const Registry* registry : registries) {
    PrefixedWriter prefixed(claiming, registry->prefix());
    collect(*registry, prefixed);
  }
  writer->finish();
  size_hint.store(out.size() + out.size() / 8, std::memory_order_relaxed);
  return out;
}

}  // namespace

void install_protobuf_writer(FormatWriterFactory factory) {
  protobuf_factory.store(factory, std::memory_order_release);
}

FormatWriterFactory protobuf_writer() {
  return protobuf_factory.load(std::memory_order_acquire);
}

}  // namespace detail

bool format_available(Format format) {
  return format != Format::protobuf || detail::protobuf_writer() != nullptr;
}

void collect(const Registry& registry, MetricWriter& writer) {
  const std::vector<std::shared_ptr<Collector>> collectors = registry.collectors();
  // The metrics on the loaded backend are read in one bulk read when its class has one:
  // the core hands it plain requests and gets plain rows back.
  std::vector<const MetricCollector*> bulk_metrics(collectors.size(), nullptr);
  std::vector<MetricRows> rows;
  std::vector<MetricRequest> requests;
  detail::LoadedClass loaded = detail::loaded_class();
  if (loaded.cls->generate_samples) {
    for (std::size_t i = 0; i < collectors.size(); ++i) {
      const auto* mc = dynamic_cast<const MetricCollector*>(collectors[i].get());
      if (mc == nullptr || !mc->on_loaded_backend()) continue;
      const MetricDescriptor& d = mc->descriptor();
      bulk_metrics[i] = mc;
      std::vector<double> created;
      std::vector<std::vector<std::string>> local = mc->label_sets(created);
      requests.push_back({d.name, detail::stored_type(d.type), d.label_names, d.bounds,
                          d.gauge_mode, std::move(local), std::move(created), d.registry_prefix,
                          d.native});
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
        detail::write_rows(writer, bulk_metrics[i]->descriptor(), rows[next_row],
                           &requests[next_row]);
        ++next_row;
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
  if (format == Format::protobuf) return detail::generate_component({&registry});
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
  if (format == Format::protobuf) return detail::generate_component(registries);
  std::string out;
  detail::TextWriter writer(out, format, "");
  for (const Registry* registry : registries) {
    detail::PrefixedWriter prefixed(writer, registry->prefix());
    collect(*registry, prefixed);
  }
  writer.finish();
  return out;
}

namespace detail {
namespace {

// Splits `s` at `sep` outside double-quoted strings (which may hold `\"`): Accept parameters
// may be quoted, and a quoted value may hold a comma or a semicolon.
std::string_view next_token(std::string_view& s, char sep) {
  bool quoted = false;
  std::size_t i = 0;
  for (; i < s.size(); ++i) {
    const char c = s[i];
    if (quoted && c == '\\') {
      ++i;
    } else if (c == '"') {
      quoted = !quoted;
    } else if (!quoted && c == sep) {
      break;
    }
  }
  std::string_view token = s.substr(0, i);
  s = i < s.size() ? s.substr(i + 1) : std::string_view();
  return trim(token);
}

// A parameter value without its quotes (escapes kept: no served value holds one).
std::string_view unquote(std::string_view v) {
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') return v.substr(1, v.size() - 2);
  return v;
}

// Parses an RFC 9110 qvalue ("0", "0.5", "1.000") into thousandths, independently of the C
// locale; -1 for anything else.
int parse_qvalue(std::string_view v) {
  if (v.empty() || (v[0] != '0' && v[0] != '1')) return -1;
  int q = (v[0] - '0') * 1000;
  if (v.size() == 1) return q;
  if (v[1] != '.' || v.size() > 5) return -1;
  int scale = 100;
  for (std::size_t i = 2; i < v.size(); ++i, scale /= 10) {
    if (v[i] < '0' || v[i] > '9') return -1;
    q += (v[i] - '0') * scale;
  }
  return q <= 1000 ? q : -1;
}

}  // namespace
}  // namespace detail

/// Picks the format a scraper asks for in its HTTP `Accept` header: of the media ranges we
/// serve, the one with the highest quality, ties going to the one listed first. Served are
/// `application/openmetrics-text` (version 1.0.0, 0.0.1 or none) as OpenMetrics, and
/// `text/plain` (version 0.0.4 or none), `text/*` and `*/*` as the Prometheus text format,
/// and `application/vnd.google.protobuf` with proto=io.prometheus.client.MetricFamily and
/// encoding=delimited as protobuf when its component is enabled; other types (and protobuf
/// without its component) are skipped and q=0 means not acceptable. With nothing served
/// acceptable, the Prometheus text format. Independent of the C locale.
Format negotiate_format(std::string_view accept) {
  const bool protobuf = detail::protobuf_writer() != nullptr;
  int best_q = 0;
  Format best = Format::prometheus;
  while (!accept.empty()) {
    std::string_view range = detail::next_token(accept, ',');
    std::string_view type = detail::next_token(range, ';');
    int q = 1000;
    std::string_view version;
    bool has_version = false;
    std::string_view proto, encoding;
    while (!range.empty()) {
      std::string_view param = detail::next_token(range, ';');
      std::size_t eq = param.find('=');
      if (eq == std::string_view::npos) continue;
      std::string_view key = detail::trim(param.substr(0, eq));
      std::string_view value = detail::unquote(detail::trim(param.substr(eq + 1)));
      if (detail::iequals(key, "q")) {
        q = detail::parse_qvalue(value);
      } else if (detail::iequals(key, "version")) {
        version = value;
        has_version = true;
      } else if (detail::iequals(key, "proto")) {
        proto = value;
      } else if (detail::iequals(key, "encoding")) {
        encoding = value;
      }
    }
    if (q <= 0) continue;
    std::optional<Format> served;
    if (detail::iequals(type, "application/openmetrics-text")) {
      if (!has_version || version == "1.0.0" || version == "0.0.1") served = Format::openmetrics;
    } else if (detail::iequals(type, "text/plain")) {
      if (!has_version || version == "0.0.4") served = Format::prometheus;
    } else if (detail::iequals(type, "text/*") || type == "*/*") {
      served = Format::prometheus;
    } else if (protobuf && detail::iequals(type, "application/vnd.google.protobuf")) {
      // As client_golang: only the delimited encoding of MetricFamily messages.
      if (proto == "io.prometheus.client.MetricFamily" && encoding == "delimited") {
        served = Format::protobuf;
      }
    }
    if (served && q > best_q) {
      best_q = q;
      best = *served;
    }
  }
  return best;
}

}  // namespace pytheus
