// Test helpers for users of pytheus-cpp: read one series' value, and compare a collector's
// exposition with expected text (client_golang's testutil, for C++).
#pragma once

#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "pytheus/exposition.hpp"
#include "pytheus/labels.hpp"
#include "pytheus/registry.hpp"

namespace pytheus::testutil {

/// Returns the value of the sample named `name` (as written in the Prometheus text format,
/// prefix and suffix included: "svc_latency_seconds_count") with exactly `labels`, or
/// nullopt when there is none.
inline std::optional<double> get_sample_value(const Registry& registry, std::string_view name,
                                              const Labels& labels = {}) {
  const std::string prefix = registry.prefix().empty() ? "" : registry.prefix() + "_";
  for (const MetricFamily& f : collect(registry)) {
    for (const Sample& s : f.samples) {
      if (prefix + f.name + s.suffix != name) continue;
      if (s.labels.size() != labels.size()) continue;
      bool same = true;
      for (const auto& [k, v] : s.labels) {
        auto it = labels.find(k);
        same = same && it != labels.end() && it->second == v;
      }
      if (same) return s.value;
    }
  }
  return std::nullopt;
}

/// Returns the exposition of `collector` alone, read the way a scrape reads it (through the
/// loaded backend's bulk read where there is one).
inline std::string collect_text(std::shared_ptr<Collector> collector,
                                Format format = Format::prometheus) {
  CollectorRegistry registry;
  registry.register_collector(std::move(collector));
  return generate_metrics(registry, format);
}

/// Compares the exposition of `collector` with `expected`. Returns an empty string when they
/// are equal, else a message showing the first line that differs. `_created` samples (wall
/// clock times) are left out of the comparison unless `expected` has one.
///
/// **Example**:
///     EXPECT_EQ(pytheus::testutil::collect_and_compare(hits.collector(),
///                   "# HELP hits_total Hits.\n# TYPE hits_total counter\nhits_total 1\n"), "");
inline std::string collect_and_compare(std::shared_ptr<Collector> collector,
                                       std::string_view expected,
                                       Format format = Format::prometheus) {
  std::string got = collect_text(std::move(collector), format);
  if (expected.find("_created") == std::string_view::npos) {
    std::string kept;
    std::istringstream lines(got);
    for (std::string l; std::getline(lines, l);) {
      const std::size_t name_end = l.find_first_of("{ ");
      if (l[0] != '#' && name_end != std::string::npos && name_end >= 8 &&
          l.compare(name_end - 8, 8, "_created") == 0) {
        continue;
      }
      kept += l;
      kept += '\n';
    }
    got = std::move(kept);
  }
  if (got == expected) return {};
  std::istringstream a(got), b{std::string(expected)};
  std::string la, lb;
  for (int line = 1;; ++line) {
    bool ha = static_cast<bool>(std::getline(a, la));
    bool hb = static_cast<bool>(std::getline(b, lb));
    if (!ha && !hb) break;
    if (!ha || !hb || la != lb) {
      return "line " + std::to_string(line) + ": got " + (ha ? "\"" + la + "\"" : "end of text") +
             ", want " + (hb ? "\"" + lb + "\"" : "end of text") + "\n--- got ---\n" + got;
    }
  }
  return "texts differ in their final newline\n--- got ---\n" + got;
}

}  // namespace pytheus::testutil
