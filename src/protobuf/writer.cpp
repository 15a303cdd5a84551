// The protobuf writer: families streamed in, delimited MetricFamily messages out.
//
// Implementation notes:
// - One MetricFamily message is reused for every family (Clear() keeps its allocated
//   sub-messages and strings), so a scrape allocates little beyond the output string.
// - A family's samples are grouped into Metric messages by label set (without `le` for a
//   histogram, `quantile` for a summary). The built-in metrics write a series' samples one
//   after another, so the previous series is checked first; else a hash of the labels finds
//   an earlier one (a custom collector may come back to one), compared label by label.
// - Label values, help texts and exemplar labels that are not UTF-8 get U+FFFD for each bad
//   byte, as in the text formats (the protobuf string type is UTF-8 text).
// - Samples the message types have no field for (a custom collector's gauge with suffix
//   "_foo", say) are not dropped: they go to an untyped family of their own full name, which
//   is the sample name the text formats show.
#include "writer.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <string_view>
#include <system_error>

#include <google/protobuf/arena.h>
#include <google/protobuf/io/coded_stream.h>

#include "pytheus/detail/strings.hpp"
#include "pytheus/errors.hpp"
#include "pytheus/protobuf.hpp"

namespace pytheus::protobuf {
namespace detail {
namespace {

namespace pb = io::prometheus::client;

// Assigns `s` to `dst`, each byte that does not start a valid UTF-8 sequence replaced by
// U+FFFD (as the text formats do).
void assign_utf8(std::string* dst, std::string_view s) {
  if (pytheus::detail::is_valid_utf8(s)) {
    dst->assign(s.data(), s.size());
    return;
  }
  dst->clear();
  for (std::size_t i = 0; i < s.size();) {
    if (std::size_t len = pytheus::detail::utf8_sequence(s, i)) {
      dst->append(s.data() + i, len);
      i += len;
    } else {
      dst->append("\xEF\xBF\xBD");
      ++i;
    }
  }
}

// Parses a bound label value ("0.5", "+Inf", "1e3"), independently of the C locale.
bool parse_bound(std::string_view s, double& out) {
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  if (s.empty()) return false;
  const char* end = s.data() + s.size();
  const auto r = std::from_chars(s.data(), end, out);
  return r.ec == std::errc() && r.ptr == end;
}

// Unix seconds as a protobuf Timestamp; left unset outside the years 1 to 9999, which is
// all a Timestamp may hold (and a double's range would overflow the integer seconds).
void set_timestamp(google::protobuf::Timestamp* ts, double seconds) {
  if (!(seconds >= -62135596800.0 && seconds < 253402300800.0)) return;
  double whole = std::floor(seconds);
  auto nanos = static_cast<std::int32_t>(std::llround((seconds - whole) * 1e9));
  if (nanos >= 1000000000) {
    whole += 1;
    nanos -= 1000000000;
  }
  ts->set_seconds(static_cast<std::int64_t>(whole));
  ts->set_nanos(nanos);
}

// Whether `v` is a count the integer fields can hold.
bool as_count(double v, std::uint64_t& n) {
  if (v >= 0 && v < 18446744073709551616.0 && v == std::floor(v)) {
    n = static_cast<std::uint64_t>(v);
    return true;
  }
  return false;
}

// The number of bits needed for `v` (C++20's std::bit_width).
int bit_width(std::size_t v) {
  int bits = 0;
  for (; v != 0; v >>= 1) ++bits;
  return bits;
}

pb::MetricType wire_type(MetricType type) {
  switch (type) {
    case MetricType::counter:
      return pb::COUNTER;
    case MetricType::histogram:
      return pb::HISTOGRAM;
    case MetricType::summary:
      return pb::SUMMARY;
    case MetricType::untyped:
      return pb::UNTYPED;
    case MetricType::gauge:
    case MetricType::info:
    case MetricType::stateset:
      break;
  }
  // Prometheus has no info or state set type: they are the conventional gauges, as in the
  // text format (`<name>_info` with value 1; one series per state with value 0 or 1).
  return pb::GAUGE;
}

void set_labels(pb::Metric* m, const LabelView* labels, std::size_t n, std::string_view skip) {
  for (std::size_t i = 0; i < n; ++i) {
    if (!skip.empty() && labels[i].name == skip) continue;
    pb::LabelPair* l = m->add_label();
    l->set_name(labels[i].name.data(), labels[i].name.size());
    assign_utf8(l->mutable_value(), labels[i].value);
  }
}

void set_exemplar(pb::Exemplar* out, const Exemplar& e) {
  for (const auto& [name, value] : e.labels) {
    pb::LabelPair* l = out->add_label();
    assign_utf8(l->mutable_name(), name);
    assign_utf8(l->mutable_value(), value);
  }
  out->set_value(e.value);
  if (e.timestamp) set_timestamp(out->mutable_timestamp(), *e.timestamp);
}

google::protobuf::ArenaOptions arena_options() {
  google::protobuf::ArenaOptions o;
  o.start_block_size = 16 * 1024;
  o.max_block_size = 1024 * 1024;
  return o;
}

class Writer final : public pytheus::detail::FormatWriter {
 public:
  explicit Writer(std::string& out)
      : out_(out),
        arena_(arena_options()),
        family_(google::protobuf::Arena::CreateMessage<pb::MetricFamily>(&arena_)) {}

  void family(std::string_view name, std::string_view help, MetricType type,
              std::string_view unit) override {
    flush();
    open_ = true;
    type_ = type;
    raw_name_.assign(name);
    family_->Clear();
    std::string* full = family_->mutable_name();
    full->assign(name.data(), name.size());
    if (type == MetricType::info) full->append("_info");
    assign_utf8(family_->mutable_help(), help);
    if (!unit.empty()) family_->set_unit(unit.data(), unit.size());
    family_->set_type(wire_type(type));
    skip_ = type == MetricType::histogram ? "le" : type == MetricType::summary ? "quantile" : "";
    last_ = nullptr;
    // A fresh table per family, in the memory of the last one.
    slots_.assign(std::max<std::size_t>(16, slots_.size() / 4), Slot{});
    slots_.resize(std::size_t(1) << bit_width(slots_.size() - 1));
  }

  void sample(std::string_view suffix, const LabelView* labels, std::size_t n,
              double value) override {
    counter_for_exemplar_ = nullptr;
    bucket_for_exemplar_ = nullptr;
    inf_series_ = nullptr;
    if (!open_) return;
    if (!write(suffix, labels, n, value)) side(suffix, labels, n, value);
  }

  void exemplar(const Exemplar& e) override {
    if (counter_for_exemplar_ != nullptr) {
      set_exemplar(counter_for_exemplar_->mutable_exemplar(), e);
    } else if (bucket_for_exemplar_ != nullptr) {
      set_exemplar(bucket_for_exemplar_->mutable_exemplar(), e);
    } else if (inf_series_ != nullptr) {
      // The +Inf bucket is left out (the count says it) unless it carries an exemplar.
      pb::Bucket* b = inf_series_->add_bucket();
      b->set_upper_bound(std::numeric_limits<double>::infinity());
      set_bucket_count(b, inf_count_);
      set_exemplar(b->mutable_exemplar(), e);
      inf_series_ = nullptr;
    }
  }

  void native_histogram(const LabelView* labels, std::size_t n, const NativeBuckets& nb) override {
    counter_for_exemplar_ = nullptr;
    bucket_for_exemplar_ = nullptr;
    inf_series_ = nullptr;
    if (!open_ || type_ != MetricType::histogram) return;
    pb::Histogram* h = series(labels, n)->mutable_histogram();
    h->set_schema(nb.schema);
    h->set_zero_threshold(nb.zero_threshold);
    h->set_zero_count(nb.zero_count);
    // The last call for a series holds (a custom writer may repeat one).
    h->clear_negative_span();
    h->clear_negative_delta();
    h->clear_positive_span();
    h->clear_positive_delta();
    encode_buckets(nb.negative, h->mutable_negative_span(), h->mutable_negative_delta());
    encode_buckets(nb.positive, h->mutable_positive_span(), h->mutable_positive_delta());
    // As client_golang: a native histogram without observations and with a zero threshold
    // of 0 gets a no-op span, or scrapers would take it for a classic one.
    if (nb.zero_threshold == 0 && nb.zero_count == 0 && h->positive_span_size() == 0 &&
        h->negative_span_size() == 0) {
      pb::BucketSpan* span = h->add_positive_span();
      span->set_offset(0);
      span->set_length(0);
    }
  }

  void finish() override { flush(); }

 private:
  // Writes a sample into its field of the current family; false when the type has none.
  bool write(std::string_view suffix, const LabelView* labels, std::size_t n, double value) {
    switch (type_) {
      case MetricType::counter:
        if (suffix.empty()) {
          counter_for_exemplar_ = series(labels, n)->mutable_counter();
          counter_for_exemplar_->set_value(value);
          return true;
        }
        if (suffix == "_created") {
          set_timestamp(series(labels, n)->mutable_counter()->mutable_created_timestamp(), value);
          return true;
        }
        return false;
      case MetricType::gauge:
      case MetricType::stateset:
        if (!suffix.empty()) return false;
        add_metric(labels, n)->mutable_gauge()->set_value(value);
        return true;
      case MetricType::info:
        if (!suffix.empty() && suffix != "_info") return false;
        add_metric(labels, n)->mutable_gauge()->set_value(value);
        return true;
      case MetricType::untyped:
        if (!suffix.empty()) return false;
        add_metric(labels, n)->mutable_untyped()->set_value(value);
        return true;
      case MetricType::histogram:
        return write_histogram(suffix, labels, n, value);
      case MetricType::summary:
        return write_summary(suffix, labels, n, value);
    }
    return false;
  }

  bool write_histogram(std::string_view suffix, const LabelView* labels, std::size_t n,
                       double value) {
    if (suffix == "_bucket") {
      const LabelView* le = find_label(labels, n, "le");
      if (le == nullptr) return false;
      double bound = 0;
      if (!parse_bound(le->value, bound)) throw bad_bound("le", le->value);
      pb::Histogram* h = series(labels, n)->mutable_histogram();
      if (std::isinf(bound) && bound > 0) {
        // Implied by the count, as client_golang leaves it out.
        inf_series_ = h;
        inf_count_ = value;
        return true;
      }
      pb::Bucket* b = h->add_bucket();
      b->set_upper_bound(bound);
      set_bucket_count(b, value);
      bucket_for_exemplar_ = b;
      return true;
    }
    if (suffix == "_count") {
      pb::Histogram* h = series(labels, n)->mutable_histogram();
      std::uint64_t count = 0;
      if (as_count(value, count)) {
        h->set_sample_count(count);
      } else {
        h->set_sample_count_float(value);
      }
      return true;
    }
    if (suffix == "_sum") {
      series(labels, n)->mutable_histogram()->set_sample_sum(value);
      return true;
    }
    if (suffix == "_created") {
      set_timestamp(series(labels, n)->mutable_histogram()->mutable_created_timestamp(), value);
      return true;
    }
    return false;
  }

  bool write_summary(std::string_view suffix, const LabelView* labels, std::size_t n,
                     double value) {
    if (suffix.empty()) {
      const LabelView* q = find_label(labels, n, "quantile");
      if (q == nullptr) return false;
      double quantile = 0;
      if (!parse_bound(q->value, quantile)) throw bad_bound("quantile", q->value);
      pb::Quantile* out = series(labels, n)->mutable_summary()->add_quantile();
      out->set_quantile(quantile);
      out->set_value(value);
      return true;
    }
    if (suffix == "_count") {
      std::uint64_t count = 0;
      // The summary message has no float count: a fractional one is rounded down.
      if (!as_count(value, count) && value > 0 && std::isfinite(value)) {
        count = value < 18446744073709551616.0 ? static_cast<std::uint64_t>(value)
                                               : std::numeric_limits<std::uint64_t>::max();
      }
      series(labels, n)->mutable_summary()->set_sample_count(count);
      return true;
    }
    if (suffix == "_sum") {
      series(labels, n)->mutable_summary()->set_sample_sum(value);
      return true;
    }
    if (suffix == "_created") {
      set_timestamp(series(labels, n)->mutable_summary()->mutable_created_timestamp(), value);
      return true;
    }
    return false;
  }

  CollectError bad_bound(std::string_view label, std::string_view value) const {
    std::string shown;
    assign_utf8(&shown, value.substr(0, 64));
    return CollectError("metric " + family_->name() + " has a sample whose " + std::string(label) +
                        " label \"" + shown + "\" is not a number");
  }

  static void set_bucket_count(pb::Bucket* b, double value) {
    std::uint64_t count = 0;
    if (as_count(value, count)) {
      b->set_cumulative_count(count);
    } else {
      b->set_cumulative_count_float(value);
    }
  }

  static const LabelView* find_label(const LabelView* labels, std::size_t n,
                                     std::string_view name) {
    for (std::size_t i = 0; i < n; ++i) {
      if (labels[i].name == name) return &labels[i];
    }
    return nullptr;
  }

  // A sample with no field of its family's type: an untyped sample of its full name.
  void side(std::string_view suffix, const LabelView* labels, std::size_t n, double value) {
    std::string name = raw_name_;
    name.append(suffix.data(), suffix.size());
    pb::MetricFamily* f = nullptr;
    for (pb::MetricFamily& s : side_) {
      if (s.name() == name) f = &s;
    }
    if (f == nullptr) {
      f = &side_.emplace_back();
      f->set_name(name);
      f->set_help(family_->help());
      f->set_type(pb::UNTYPED);
    }
    pb::Metric* m = f->add_metric();
    set_labels(m, labels, n, "");
    m->mutable_untyped()->set_value(value);
  }

  pb::Metric* add_metric(const LabelView* labels, std::size_t n) {
    pb::Metric* m = family_->add_metric();
    set_labels(m, labels, n, skip_);
    return m;
  }

  // The Metric of the series with these labels (`le` or `quantile` aside), added if new.
  pb::Metric* series(const LabelView* labels, std::size_t n) {
    if (last_ != nullptr && same_labels(*last_, labels, n)) return last_;
    const std::size_t h = hash_labels(labels, n);
    std::size_t mask = slots_.size() - 1;
    std::size_t i = h & mask;
    for (; slots_[i].metric >= 0; i = (i + 1) & mask) {
      if (slots_[i].hash != h) continue;
      pb::Metric* m = family_->mutable_metric(slots_[i].metric);
      if (same_labels(*m, labels, n)) return last_ = m;
    }
    last_ = add_metric(labels, n);
    slots_[i] = {h, family_->metric_size() - 1};
    if (2 * static_cast<std::size_t>(family_->metric_size()) > slots_.size()) grow();
    return last_;
  }

  // Doubles the open-addressing table of series (kept at most half full).
  void grow() {
    std::vector<Slot> old(slots_.size() * 2, Slot{});
    old.swap(slots_);
    const std::size_t mask = slots_.size() - 1;
    for (const Slot& s : old) {
      if (s.metric < 0) continue;
      std::size_t i = s.hash & mask;
      while (slots_[i].metric >= 0) i = (i + 1) & mask;
      slots_[i] = s;
    }
  }

  // Whether `m` has these labels (`le` or `quantile` aside), compared as written (UTF-8
  // repaired).
  bool same_labels(const pb::Metric& m, const LabelView* labels, std::size_t n) {
    int j = 0;
    for (std::size_t i = 0; i < n; ++i) {
      if (!skip_.empty() && labels[i].name == skip_) continue;
      if (j >= m.label_size()) return false;
      const pb::LabelPair& l = m.label(j++);
      if (l.name() != labels[i].name) return false;
      if (l.value() != labels[i].value) {
        if (pytheus::detail::is_valid_utf8(labels[i].value)) return false;
        assign_utf8(&value_, labels[i].value);
        if (l.value() != value_) return false;
      }
    }
    return j == m.label_size();
  }

  // A hash of the labels (`le` or `quantile` aside) as written (UTF-8 repaired).
  std::size_t hash_labels(const LabelView* labels, std::size_t n) {
    std::size_t h = 0;
    auto mix = [&h](std::string_view s) {
      h = (h ^ std::hash<std::string_view>()(s)) * 0x100000001b3ULL + s.size();
    };
    for (std::size_t i = 0; i < n; ++i) {
      if (!skip_.empty() && labels[i].name == skip_) continue;
      mix(labels[i].name);
      if (pytheus::detail::is_valid_utf8(labels[i].value)) {
        mix(labels[i].value);
      } else {
        assign_utf8(&value_, labels[i].value);
        mix(value_);
      }
    }
    return h;
  }

  void flush() {
    if (!open_) return;
    open_ = false;
    // An empty family is left out, as client_golang gathers: there is nothing to scrape.
    if (family_->metric_size() > 0) append_delimited(*family_);
    for (const pb::MetricFamily& f : side_) append_delimited(f);
    side_.clear();
  }

  void append_delimited(const pb::MetricFamily& f) {
    const std::size_t size = f.ByteSizeLong();
    if (size > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
      throw CollectError("metric family " + f.name() + " is larger than protobuf's 2 GiB limit");
    }
    std::uint8_t varint[10];
    std::uint8_t* end = google::protobuf::io::CodedOutputStream::WriteVarint32ToArray(
        static_cast<std::uint32_t>(size), varint);
    out_.append(reinterpret_cast<const char*>(varint), static_cast<std::size_t>(end - varint));
    const std::size_t at = out_.size();
    out_.resize(at + size);
    f.SerializeWithCachedSizesToArray(reinterpret_cast<std::uint8_t*>(&out_[at]));
  }

  std::string& out_;
  bool open_ = false;
  MetricType type_ = MetricType::untyped;
  std::string raw_name_;
  std::string_view skip_;
  // The message of the current family, reused for each (Clear() keeps its sub-messages), on
  // an arena: its strings and sub-messages come from a few large blocks freed together at
  // the end of the scrape, rather than from one malloc each.
  google::protobuf::Arena arena_;
  pb::MetricFamily* family_;
  std::vector<pb::MetricFamily> side_;
  // The series written last (where the next sample most often goes), and every series of the
  // family by the hash of its labels.
  pb::Metric* last_ = nullptr;
  struct Slot {
    std::size_t hash = 0;
    int metric = -1;  // index in family_, -1 when empty
  };
  std::vector<Slot> slots_ = std::vector<Slot>(16);
  std::string value_;
  // Where an exemplar() call that follows goes.
  pb::Counter* counter_for_exemplar_ = nullptr;
  pb::Bucket* bucket_for_exemplar_ = nullptr;
  pb::Histogram* inf_series_ = nullptr;
  double inf_count_ = 0;
};

}  // namespace

std::unique_ptr<pytheus::detail::FormatWriter> make_writer(std::string& out) {
  return std::make_unique<Writer>(out);
}

void encode_buckets(const std::vector<std::pair<std::int32_t, std::uint64_t>>& buckets,
                    google::protobuf::RepeatedPtrField<pb::BucketSpan>* spans,
                    google::protobuf::RepeatedField<std::int64_t>* deltas) {
  std::int64_t previous = 0;
  std::int64_t next_index = 0;
  pb::BucketSpan* span = nullptr;
  auto append = [&](std::int64_t count) {
    span->set_length(span->length() + 1);
    deltas->Add(count - previous);
    previous = count;
  };
  for (const auto& [index, count] : buckets) {
    const std::int64_t gap = static_cast<std::int64_t>(index) - next_index;
    // Gaps of one or two empty buckets are cheaper inside a span than as a new one.
    if (span == nullptr || gap > 2) {
      span = spans->Add();
      span->set_offset(static_cast<std::int32_t>(gap));
      span->set_length(0);
    } else {
      for (std::int64_t j = 0; j < gap; ++j) append(0);
    }
    append(static_cast<std::int64_t>(count));
    next_index = static_cast<std::int64_t>(index) + 1;
  }
}

}  // namespace detail

void enable() {
  pytheus::detail::install_protobuf_writer(&detail::make_writer);
}

std::string generate_metrics(const Registry& registry) {
  enable();
  return pytheus::generate_metrics(registry, Format::protobuf);
}

std::string generate_metrics(const std::vector<const Registry*>& registries) {
  enable();
  return pytheus::generate_metrics(registries, Format::protobuf);
}

}  // namespace pytheus::protobuf
