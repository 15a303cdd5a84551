// Prints an exposition full of hostile label values and help texts (quotes, backslashes,
// newlines, non-ASCII, braces, empty values; bytes that are not UTF-8 are refused), negative
// observations, negative buckets, exemplars, `_created` samples, Info, Enum and StateSet, for
// promtool and prometheus_client's parsers to check. `--openmetrics` prints OpenMetrics instead.
#include <pytheus/enum.hpp>
#include <pytheus/info.hpp>
#include <pytheus/pytheus.hpp>
#include <pytheus/stateset.hpp>

#include <cstring>
#include <iostream>
#include <string>

int main(int argc, char** argv) {
  const bool om = argc > 1 && std::strcmp(argv[1], "--openmetrics") == 0;
  pytheus::CollectorRegistry r("hostile");
  const std::string values[] = {
      "plain",
      "with \"quotes\"",
      "back\\slash\\",
      "new\nline\n",
      "\\n literal backslash-n",
      "日本語 ünïcödé 😀",
      std::string("not utf-8: \xff\xfe \xc3 \xed\xa0\x80 end"),
      "",
      "} 1\nfake_series_total 999",
      "=\",{}",
      std::string("nul \0 inside", 12),
  };
  pytheus::Counter c("events_total", "Help with \\ backslash, \"quotes\",\nnewline and ✓.",
                     {"value", "kind"}, {}, &r);
  pytheus::Gauge g("level", "Gauge \\n \n\n", {"value"}, {}, &r);
  pytheus::Histogram h("size_bytes", "Sizes.", {"value"}, {}, &r, {1, 10});
  pytheus::Summary s("wait_seconds", std::string("Summary \xff help"), {"value"}, {}, &r);
  int i = 0;
  for (const std::string& v : values) {
    try {
      c.labels({{"value", v}, {"kind", v}}).inc(++i);
    } catch (const pytheus::LabelError&) {
      continue;  // not UTF-8: refused, never exposed as a lookalike of another value
    }
    g.labels({{"value", v}}).set(-i * 1.5);
    h.labels({{"value", v}}).observe(i);
    s.labels({{"value", v}}).observe(i * 0.1);
  }
  // Negative observations: sums below zero, which OpenMetrics leaves out.
  h.labels({{"value", "negative"}}).observe(-5);
  // Exemplars (OpenMetrics only) with hostile values, on a counter and on buckets. No "}" in
  // them: the spec allows it, but prometheus_client's parser ends the label set there.
  c.labels({{"value", "plain"}, {"kind", "plain"}})
      .inc(2, {{"trace_id", "1\n# EOF \"q\" \\ ="}, {"span_id", "日本語 😀"}}, 1700000000.25);
  h.labels({{"value", "plain"}}).observe(5, {{"trace_id", "4bf92f3577b34da6a3ce929d0e0e4736"}});
  h.labels({{"value", "plain"}}).observe(50, {{"trace_id", ""}}, 1700000001);
  s.labels({{"value", "negative"}}).observe(-0.5);
  pytheus::Info build("build", "Build \"facts\".", {"version", "value"}, {}, &r);
  pytheus::Enum state("task_state", "One state.", {"idle", "run \"now\"", "日本"}, {"value"}, {},
                      &r);
  pytheus::StateSet features("features", "Any states.", {"a\\b", "new\nline", "c"}, {}, {}, &r);
  features.set_state("new\nline");
  features.set_state("c");
  for (const std::string& v :
       {std::string("plain"), std::string("} 1\nx 2"), std::string("=\",{}")}) {
    build.info({{"version", "1.0"}, {"value", v}});
    state.labels({{"value", v}}).state("run \"now\"");
  }
  pytheus::Histogram below("offset_seconds", "Negative buckets.", {}, {}, &r, {-1, 0, 1});
  below.observe(-2);
  below.observe(3);

  std::cout << pytheus::generate_metrics(
      r, om ? pytheus::Format::openmetrics : pytheus::Format::prometheus);
}
