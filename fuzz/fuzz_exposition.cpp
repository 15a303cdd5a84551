// Label values and help texts through both exposition formats. The output must parse back
// (with an independent reader written here) to exactly the label values given, and have
// exactly the lines expected: no input can forge a series or a line. Label values that are
// not UTF-8 must be refused; help texts are UTF-8 repaired. A histogram's observation may be
// negative (OpenMetrics then leaves out its count and sum) and shows `_created`. Exemplars
// carry fuzzed label values too.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "pytheus/backends/atomic.hpp"
#include "pytheus/backends/single_process.hpp"
#include "pytheus/detail/strings.hpp"
#include "pytheus/enum.hpp"
#include "pytheus/info.hpp"
#include "pytheus/pytheus.hpp"

namespace {

[[noreturn]] void fail(const char* what, const std::string& text) {
  std::fprintf(stderr, "fuzz_exposition: %s\n--- exposition ---\n%s\n", what, text.c_str());
  std::abort();
}

// What the writers promise for bytes that are not UTF-8: each invalid byte becomes U+FFFD.
std::string repair_utf8(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    if (std::size_t len = pytheus::detail::utf8_sequence(s, i);
        len > 0 || static_cast<unsigned char>(s[i]) < 0x80) {
      len = len ? len : 1;
      out.append(s.substr(i, len));
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

// Reads a label value starting after the opening quote; returns the unescaped value and
// moves `i` past the closing quote. Fails on anything the formats do not allow.
std::string read_value(const std::string& line, std::size_t& i, const std::string& text) {
  std::string v;
  while (true) {
    if (i >= line.size()) fail("unterminated label value", text);
    char c = line[i++];
    if (c == '"') return v;
    if (c == '\\') {
      if (i >= line.size()) fail("dangling backslash", text);
      char e = line[i++];
      if (e == 'n') {
        v += '\n';
      } else if (e == '\\' || e == '"') {
        v += e;
      } else {
        fail("unknown escape in label value", text);
      }
    } else {
      v += c;
    }
  }
}

std::string unescape_help(std::string_view s, bool om, const std::string& text) {
  std::string v;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\') {
      v += s[i];
      continue;
    }
    if (++i >= s.size()) fail("dangling backslash in HELP", text);
    if (s[i] == 'n') {
      v += '\n';
    } else if (s[i] == '\\' || (om && s[i] == '"')) {
      v += s[i];
    } else {
      fail("unknown escape in HELP", text);
    }
  }
  return v;
}

void check(pytheus::Format format, const std::string& help, const std::vector<std::string>& values,
           const pytheus::Registry& registry, double observed) {
  const bool om = format == pytheus::Format::openmetrics;
  const std::string text = pytheus::generate_metrics(registry, format);
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t nl = text.find('\n', start);
    if (nl == std::string::npos) fail("missing final newline", text);
    lines.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  // Gauge: HELP, TYPE and one line per value; histogram: HELP, TYPE, 2 buckets, count, sum,
  // and in OpenMetrics _created, but no count and sum below zero; then # EOF.
  const std::size_t histogram = om ? (observed < 0 ? 2 + 1 : 4 + 1) : 4;
  const std::size_t expected = 2 + values.size() + 2 + histogram + (om ? 1 : 0);
  if (lines.size() != expected) fail("unexpected number of lines", text);
  const std::string help_prefix = "# HELP fuzz_gauge ";
  const std::string& help_line = om ? lines[1] : lines[0];
  if (help_line.rfind(help_prefix, 0) != 0) fail("HELP line moved", text);
  if (unescape_help(std::string_view(help_line).substr(help_prefix.size()), om, text) !=
      repair_utf8(help)) {
    fail("HELP does not read back", text);
  }
  for (std::size_t k = 0; k < values.size(); ++k) {
    const std::string& line = lines[2 + k];
    const std::string head = "fuzz_gauge{a=\"";
    if (line.rfind(head, 0) != 0) fail("sample line does not start as expected", text);
    std::size_t i = head.size();
    std::string a = read_value(line, i, text);
    if (line.compare(i, 4, ",b=\"") != 0) fail("second label missing", text);
    i += 4;
    std::string b = read_value(line, i, text);
    if (line.compare(i, std::string::npos, "} " + std::to_string(k)) != 0) {
      fail("value or trailer wrong", text);
    }
    if (a != values[k] || b != values[values.size() - 1 - k]) {
      fail("label values do not read back", text);
    }
  }
  if (om && lines.back() != "# EOF") fail("missing # EOF", text);
  if (om && lines[lines.size() - 2].rfind("fuzz_histogram_created ", 0) != 0) {
    fail("histogram _created missing", text);
  }
}

// An Enum whose states are the fuzzed values, and an Info whose label is: in both formats,
// one line per state that reads back to it, exactly the chosen one at 1.
void check_states(const std::string& help, const std::vector<std::string>& states) {
  if (states.empty()) return;
  pytheus::CollectorRegistry registry;
  pytheus::BasicEnum<pytheus::SingleProcessBackend> e("fuzz_enum", help, states, {}, {}, &registry);
  pytheus::BasicInfo<pytheus::SingleProcessBackend> info("fuzz", help, {"v"}, {}, &registry);
  const std::size_t chosen = states.size() / 2;
  e.state(states[chosen]);
  info.info({{"v", states[0]}});
  for (auto format : {pytheus::Format::prometheus, pytheus::Format::openmetrics}) {
    const bool om = format == pytheus::Format::openmetrics;
    const std::string text = pytheus::generate_metrics(registry, format);
    std::vector<std::string> lines;
    for (std::size_t start = 0; start < text.size();) {
      const std::size_t nl = text.find('\n', start);
      if (nl == std::string::npos) fail("missing final newline", text);
      lines.push_back(text.substr(start, nl - start));
      start = nl + 1;
    }
    if (lines.size() != 2 + states.size() + 2 + 1 + (om ? 1 : 0)) {
      fail("unexpected number of lines for enum and info", text);
    }
    for (std::size_t k = 0; k < states.size(); ++k) {
      const std::string& line = lines[2 + k];
      const std::string head = "fuzz_enum{fuzz_enum=\"";
      if (line.rfind(head, 0) != 0) fail("state line does not start as expected", text);
      std::size_t i = head.size();
      if (read_value(line, i, text) != states[k]) fail("state does not read back", text);
      if (line.compare(i, std::string::npos, k == chosen ? "} 1" : "} 0") != 0) {
        fail("state value wrong", text);
      }
    }
    const std::string& line = lines[2 + states.size() + 2];
    const std::string head = "fuzz_info{v=\"";
    if (line.rfind(head, 0) != 0) fail("info line does not start as expected", text);
    std::size_t i = head.size();
    if (read_value(line, i, text) != states[0] || line.compare(i, std::string::npos, "} 1") != 0) {
      fail("info does not read back", text);
    }
  }
}

std::size_t utf8_chars(std::string_view s) {
  std::size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

// Exemplars whose label value is fuzzed, on a counter and a histogram bucket: accepted
// exactly when UTF-8 and within 128 characters; in OpenMetrics the one line they belong to
// carries them and reads back; the text format never shows them.
void check_exemplars(const std::vector<std::string>& values) {
  for (std::size_t k = 0; k < values.size() && k < 8; ++k) {
    const std::string& v = values[k];
    pytheus::CollectorRegistry registry;
    pytheus::BasicCounter<pytheus::SingleProcessBackend> c("fuzz_ex", "x", {}, {}, &registry);
    pytheus::BasicHistogram<pytheus::AtomicBackend> h("fuzz_exh", "x", {}, {}, &registry, {1});
    const bool valid = pytheus::detail::is_valid_utf8(v) && utf8_chars(v) + 1 <= 128;
    try {
      c.inc(1, {{"v", v}}, 5);
      h.observe(0.5, {{"v", v}}, 7);
      if (!valid) fail("an invalid exemplar was accepted", v);
    } catch (const pytheus::LabelError&) {
      if (valid) fail("a valid exemplar was refused", v);
      continue;
    }
    const std::string text = pytheus::generate_metrics(registry, pytheus::Format::openmetrics);
    if (pytheus::generate_metrics(registry, pytheus::Format::prometheus).find(" # {") !=
        std::string::npos) {
      fail("the text format shows an exemplar", text);
    }
    const std::pair<std::string, std::string> expected[] = {
        {"fuzz_ex_total 1 # {v=\"", "} 1 5"}, {"fuzz_exh_bucket{le=\"1.0\"} 1 # {v=\"", "} 0.5 7"}};
    std::size_t found = 0;
    for (std::size_t start = 0; start < text.size();) {
      const std::size_t nl = text.find('\n', start);
      const std::string line = text.substr(start, nl - start);
      start = nl + 1;
      if (line.find(" # ") == std::string::npos) continue;
      bool matched = false;
      for (const auto& [head, tail] : expected) {
        if (line.rfind(head, 0) != 0) continue;
        std::size_t i = head.size();
        if (read_value(line, i, text) != v) fail("exemplar value does not read back", text);
        if (line.compare(i, std::string::npos, tail) != 0) fail("exemplar trailer wrong", text);
        matched = true;
      }
      if (!matched) fail("an exemplar on an unexpected line", text);
      ++found;
    }
    if (found != 2) fail("exemplars missing", text);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Input: help text, then label values, separated by 0x01 bytes.
  std::vector<std::string> parts(1);
  for (std::size_t i = 0; i < size; ++i) {
    if (data[i] == 0x01) {
      parts.emplace_back();
    } else {
      parts.back() += static_cast<char>(data[i]);
    }
  }
  const std::string help = parts[0];
  std::vector<std::string> values(parts.begin() + 1, parts.end());
  // Distinct label sets only (a repeated one is the same series) and not too many.
  std::vector<std::string> distinct;
  for (const auto& v : values) {
    bool seen = false;
    for (const auto& d : distinct) seen = seen || d == v;
    if (!seen && distinct.size() < 32) distinct.push_back(v);
  }
  // Values that are not UTF-8 are refused when their series would be created (two of them
  // would print alike); the others are kept.
  pytheus::CollectorRegistry registry;
  pytheus::BasicGauge<pytheus::SingleProcessBackend> gauge("fuzz_gauge", help, {"a", "b"}, {},
                                                           &registry);
  std::vector<std::string> kept;
  for (const auto& v : distinct) {
    if (pytheus::detail::is_valid_utf8(v)) {
      kept.push_back(v);
      continue;
    }
    try {
      gauge.labels({{"a", v}, {"b", ""}}).set(1);
      fail("a label value that is not UTF-8 was accepted", v);
    } catch (const pytheus::LabelError&) {
    }
  }
  for (std::size_t k = 0; k < kept.size(); ++k) {
    gauge.labels({{"a", kept[k]}, {"b", kept[kept.size() - 1 - k]}}).set(static_cast<double>(k));
  }
  pytheus::BasicHistogram<pytheus::AtomicBackend> histogram("fuzz_histogram", help, {}, {},
                                                            &registry, {1});
  const double observed = static_cast<double>(size) - 16;
  histogram.observe(observed);
  check(pytheus::Format::prometheus, help, kept, registry, observed);
  check(pytheus::Format::openmetrics, help, kept, registry, observed);
  check_states(help, kept);
  check_exemplars(distinct);
  return 0;
}
