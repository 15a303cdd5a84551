// Random families, samples, exemplars and native buckets into the protobuf writer, parsed
// back with the generated classes (round trip). The output must be a clean sequence of
// delimited MetricFamily messages, all text in it UTF-8, and every sample must be where the
// format puts it: in its family's Metric for its label set (`le`/`quantile` aside), or in
// the untyped family of its full name when its type has no field for it. A bound label that
// is not a number fails the scrape with CollectError, nothing else.
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/util/delimited_message_util.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "pytheus/detail/strings.hpp"
#include "pytheus/errors.hpp"
#include "writer.hpp"

namespace pb = io::prometheus::client;
using pytheus::LabelView;
using pytheus::MetricType;

namespace {

[[noreturn]] void fail(const char* what, const std::string& detail = "") {
  std::fprintf(stderr, "fuzz_protobuf: %s %s\n", what, detail.c_str());
  std::abort();
}

std::string repair_utf8(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    if (std::size_t len = pytheus::detail::utf8_sequence(s, i)) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

struct Input {
  const std::uint8_t* p;
  std::size_t n;
  std::uint8_t byte() {
    if (n == 0) return 0;
    --n;
    return *p++;
  }
  std::string bytes(std::size_t max) {
    std::size_t len = byte() % (max + 1);
    if (len > n) len = n;
    std::string s(reinterpret_cast<const char*>(p), len);
    p += len;
    n -= len;
    return s;
  }
  double value() {
    switch (byte() % 6) {
      case 0:
        return byte();
      case 1:
        return -1.5 * byte();
      case 2:
        return std::nan("");
      case 3:
        return HUGE_VAL;
      case 4: {
        double d = 0;
        std::string b = bytes(8);
        b.resize(8);
        std::memcpy(&d, b.data(), 8);
        return d;
      }
      default:
        return byte() / 8.0;
    }
  }
};

bool same(double a, double b) {
  return a == b || (std::isnan(a) && std::isnan(b));
}

// Where a sample goes, as the writer documents it.
bool has_field(MetricType t, std::string_view suffix, bool has_le, bool has_quantile) {
  switch (t) {
    case MetricType::counter:
      return suffix.empty() || suffix == "_created";
    case MetricType::gauge:
    case MetricType::stateset:
    case MetricType::untyped:
      return suffix.empty();
    case MetricType::info:
      return suffix.empty() || suffix == "_info";
    case MetricType::histogram:
      return (suffix == "_bucket" && has_le) || suffix == "_count" || suffix == "_sum" ||
             suffix == "_created";
    case MetricType::summary:
      return (suffix.empty() && has_quantile) || suffix == "_count" || suffix == "_sum" ||
             suffix == "_created";
  }
  return false;
}

void check_utf8(const std::string& s) {
  if (!pytheus::detail::is_valid_utf8(s)) fail("text that is not UTF-8 in the output", s);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Input in{data, size};
  static const char* kSuffixes[] = {"", "_bucket", "_count", "_sum", "_created", "_info", "_x"};
  static const char* kLabels[] = {"a", "b", "le", "quantile"};
  static const char* kBounds[] = {"0.5", "+Inf", "1", "-2", "1e3", "NaN", "x", ""};

  // What each family should hold: the number of samples in Metric messages of the main family
  // and of each side family (by name), and the values of ungrouped types in order.
  struct Expected {
    std::string name;
    MetricType type;
    std::size_t grouped_series = 0;                         // distinct label keys (grouped types)
    std::vector<double> values;                             // gauge-like values in order
    std::vector<std::pair<std::string, std::size_t>> side;  // in first-sample order
  };
  std::vector<Expected> expected;
  std::map<std::string, bool> keys;  // label keys seen in the current family

  std::string out;
  auto writer = pytheus::protobuf::detail::make_writer(out);
  try {
    const int families = in.byte() % 5;
    for (int f = 0; f < families; ++f) {
      const auto type = static_cast<MetricType>(in.byte() % 7);
      const std::string name = "f" + std::to_string(f);
      writer->family(name, in.bytes(16), type, in.byte() % 2 ? "seconds" : "");
      expected.push_back({name, type});
      keys.clear();
      const int samples = in.byte() % 12;
      for (int s = 0; s < samples && in.n > 0; ++s) {
        const int op = in.byte() % 8;
        std::vector<std::string> values;
        std::vector<LabelView> labels;
        const int count = in.byte() % 4;
        for (int i = 0; i < count; ++i) {
          const char* label = kLabels[in.byte() % 4];
          values.push_back((label == std::string("le") || label == std::string("quantile")) &&
                                   in.byte() % 4
                               ? kBounds[in.byte() % 8]
                               : in.bytes(6));
          labels.push_back({label, {}});
        }
        for (std::size_t i = 0; i < labels.size(); ++i) labels[i].value = values[i];
        if (op == 6) {
          pytheus::Exemplar e{{{"trace_id", in.bytes(5)}}, in.value(), std::nullopt};
          if (in.byte() % 2) e.timestamp = 1.7e9 + in.byte();
          writer->exemplar(e);
          continue;
        }
        if (op == 7) {
          pytheus::NativeBuckets b;
          b.schema = in.byte() % 9 - 4;
          b.zero_threshold = in.byte() % 2 ? 0 : 1e-128;
          b.zero_count = in.byte() % 3;
          std::int32_t index = static_cast<std::int8_t>(in.byte());
          for (int i = in.byte() % 5; i > 0; --i) {
            b.positive.emplace_back(index, in.byte());
            index += 1 + in.byte() % 5;
          }
          writer->native_histogram(labels.data(), labels.size(), b);
          if (type != MetricType::histogram) continue;
        }
        const std::string_view suffix = op == 7 ? "" : kSuffixes[in.byte() % 7];
        const double value = in.value();
        bool has_le = false, has_quantile = false;
        std::string key;
        for (const LabelView& l : labels) {
          has_le |= l.name == "le";
          has_quantile |= l.name == "quantile";
        }
        const std::string_view skip = type == MetricType::histogram ? "le"
                                      : type == MetricType::summary ? "quantile"
                                                                    : "";
        for (const LabelView& l : labels) {
          if (l.name == skip) continue;
          const std::string v = repair_utf8(l.value);
          key += std::to_string(l.name.size()) + ':' + std::string(l.name) +
                 std::to_string(v.size()) + ':' + v;
        }
        Expected& e = expected.back();
        if (op == 7) {
          // native_histogram alone: a series of its own label set.
          if (!keys[key]) ++e.grouped_series;
          keys[key] = true;
          continue;
        }
        writer->sample(suffix, labels.data(), labels.size(), value);
        if (!has_field(type, suffix, has_le, has_quantile)) {
          const std::string full = name + std::string(suffix);
          auto it = std::find_if(e.side.begin(), e.side.end(),
                                 [&](const auto& p) { return p.first == full; });
          if (it == e.side.end()) {
            e.side.emplace_back(full, 1);
          } else {
            ++it->second;
          }
        } else if (type == MetricType::counter || type == MetricType::histogram ||
                   type == MetricType::summary) {
          if (!keys[key]) ++e.grouped_series;
          keys[key] = true;
        } else {
          e.values.push_back(value);
        }
      }
    }
    writer->finish();
  } catch (const pytheus::CollectError&) {
    return 0;  // an unparsable bound: the whole scrape fails, as documented
  }

  // Parse everything back.
  std::vector<pb::MetricFamily> got;
  google::protobuf::io::ArrayInputStream stream(out.data(), static_cast<int>(out.size()));
  for (;;) {
    pb::MetricFamily f;
    bool clean_eof = false;
    if (!google::protobuf::util::ParseDelimitedFromZeroCopyStream(&f, &stream, &clean_eof)) {
      if (!clean_eof) fail("a delimited frame does not parse");
      break;
    }
    got.push_back(std::move(f));
  }
  std::size_t at = 0;
  for (const Expected& e : expected) {
    const std::size_t main = e.grouped_series + e.values.size();
    if (main > 0) {
      if (at >= got.size()) fail("a family is missing", e.name);
      const pb::MetricFamily& f = got[at++];
      const std::string name = e.type == MetricType::info ? e.name + "_info" : e.name;
      if (f.name() != name) fail("family name", f.name() + " != " + name);
      if (static_cast<std::size_t>(f.metric_size()) != main) fail("metric count", name);
      check_utf8(f.help());
      for (int i = 0; i < f.metric_size(); ++i) {
        const pb::Metric& m = f.metric(i);
        for (const pb::LabelPair& l : m.label()) check_utf8(l.value());
        if (!e.values.empty()) {
          const double v = e.type == MetricType::untyped ? m.untyped().value() : m.gauge().value();
          if (!same(v, e.values[i])) fail("value", name);
        }
        if (m.has_histogram()) {
          const pb::Histogram& h = m.histogram();
          for (const pb::Bucket& b : h.bucket()) {
            if (b.has_exemplar()) {
              for (const pb::LabelPair& l : b.exemplar().label()) check_utf8(l.value());
            }
          }
          // Deltas add up to each span's counts: lengths and deltas agree.
          std::size_t length = 0;
          for (const pb::BucketSpan& s : h.positive_span()) length += s.length();
          if (length != static_cast<std::size_t>(h.positive_delta_size())) {
            fail("span lengths and deltas disagree", name);
          }
        }
      }
    }
    for (const auto& [side_name, n] : e.side) {
      if (at >= got.size()) fail("a side family is missing", side_name);
      const pb::MetricFamily& f = got[at++];
      if (f.name() != side_name || f.type() != pb::UNTYPED) fail("side family", f.name());
      if (static_cast<std::size_t>(f.metric_size()) != n) fail("side family count", side_name);
    }
  }
  if (at != got.size()) fail("more families than written");
  return 0;
}
