// Shared by the protobuf tests: the delimited messages of a body, and the Prometheus text
// format 0.0.4 of parsed families written the way pytheus writes it, to compare a protobuf
// scrape with the text scrape of the same registry.
#pragma once

#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/util/delimited_message_util.h>
#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

#include "metrics.pb.h"
#include "pytheus/detail/format.hpp"

namespace pytheus_test {

namespace pb = io::prometheus::client;

// Every delimited message of `body`; fails the test on a bad frame.
inline std::vector<pb::MetricFamily> parse(const std::string& body) {
  std::vector<pb::MetricFamily> out;
  google::protobuf::io::ArrayInputStream in(body.data(), static_cast<int>(body.size()));
  for (;;) {
    pb::MetricFamily f;
    bool clean_eof = false;
    if (!google::protobuf::util::ParseDelimitedFromZeroCopyStream(&f, &in, &clean_eof)) {
      EXPECT_TRUE(clean_eof) << "a delimited frame does not parse";
      return out;
    }
    out.push_back(std::move(f));
  }
}

inline void escape(std::string& out, const std::string& s, bool quote) {
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quote && c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

inline void line(std::string& out, const std::string& name, const pb::Metric& m, double value,
                 const char* extra_name = nullptr, double extra = 0) {
  out += name;
  std::string labels;
  for (const pb::LabelPair& l : m.label()) {
    labels += (labels.empty() ? "" : ",") + l.name() + "=\"";
    escape(labels, l.value(), true);
    labels += '"';
  }
  if (extra_name != nullptr) {
    labels += (labels.empty() ? "" : ",") + std::string(extra_name) + "=\"" +
              pytheus::detail::format_double(extra) + '"';
  }
  if (!labels.empty()) out += '{' + labels + '}';
  out += ' ' + pytheus::detail::format_double(value) + '\n';
}

// The Prometheus text format 0.0.4 of parsed families, written the way pytheus writes it.
inline std::string to_text(const std::vector<pb::MetricFamily>& families) {
  std::string out;
  for (const pb::MetricFamily& f : families) {
    out += "# HELP " + f.name() + ' ';
    escape(out, f.help(), false);
    out += "\n# TYPE " + f.name() + ' ';
    switch (f.type()) {
      case pb::COUNTER:
        out += "counter\n";
        break;
      case pb::GAUGE:
        out += "gauge\n";
        break;
      case pb::SUMMARY:
        out += "summary\n";
        break;
      case pb::HISTOGRAM:
        out += "histogram\n";
        break;
      default:
        out += "untyped\n";
    }
    for (const pb::Metric& m : f.metric()) {
      switch (f.type()) {
        case pb::COUNTER:
          line(out, f.name(), m, m.counter().value());
          break;
        case pb::GAUGE:
          line(out, f.name(), m, m.gauge().value());
          break;
        case pb::UNTYPED:
          line(out, f.name(), m, m.untyped().value());
          break;
        case pb::SUMMARY:
          for (const pb::Quantile& q : m.summary().quantile()) {
            line(out, f.name(), m, q.value(), "quantile", q.quantile());
          }
          line(out, f.name() + "_count", m, double(m.summary().sample_count()));
          line(out, f.name() + "_sum", m, m.summary().sample_sum());
          break;
        case pb::HISTOGRAM: {
          const pb::Histogram& h = m.histogram();
          for (const pb::Bucket& b : h.bucket()) {
            line(out, f.name() + "_bucket", m, double(b.cumulative_count()), "le", b.upper_bound());
          }
          line(out, f.name() + "_bucket", m, double(h.sample_count()), "le",
               std::numeric_limits<double>::infinity());
          line(out, f.name() + "_count", m, double(h.sample_count()));
          line(out, f.name() + "_sum", m, h.sample_sum());
          break;
        }
        default:
          break;
      }
    }
  }
  return out;
}

}  // namespace pytheus_test
