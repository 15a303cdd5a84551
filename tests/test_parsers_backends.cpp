// Every metric type on every backend, through every parser: counters, gauges, histograms,
// summaries, Info, Enum and StateSet, labelled with hostile values (quotes, backslashes,
// newlines, UTF-8, exposition syntax), `_created` on, filled by several processes on the
// multi-process backends (one process, several rounds, in memory). The text output must pass
// `promtool check metrics` and prometheus_client's text parser, the OpenMetrics output
// prometheus_client's OpenMetrics parser, and what they parse must be what was recorded:
// every sample, its value, and each `_created` within the time of the process that first
// created the series.
//
// What is recorded lives in one place, record(): each call goes to a Sink, which either does
// it to the metrics (in the process of that round) or adds it to the expected samples (in
// the parent, for every round). A new kind of sample (exemplars, say) is a new Sink method.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "child_process.hpp"
#include "every_backend.hpp"
#include "pytheus/backends/file.hpp"
#include "pytheus/backends/redis.hpp"
#include "pytheus/enum.hpp"
#include "pytheus/info.hpp"
#include "pytheus/pytheus.hpp"
#include "pytheus/stateset.hpp"
#include "redis_test_helpers.hpp"

using namespace pytheus;

namespace {

using Labels = std::map<std::string, std::string>;

// Label values that break naive writers and parsers. Not UTF-8 is refused by labels(), so it
// is not here.
const std::vector<std::string> kHostile = {
    "plain",
    "with \"quotes\"",
    "back\\slash\\",
    "new\nline\n",
    "\\n literal backslash-n",
    "日本語 ünïcödé 😀",
    "",
    "} 1\nfake_series_total 999",
    "=\",{}",
};

const std::vector<double> kBounds = {0.5, 2};
const std::vector<std::string> kEnumStates = {"idle", "run \"now\"", "日本"};
const std::vector<std::string> kSetStates = {"a\\b", "new\nline", "c"};

// What record() does, to real metrics or to the expectation.
class Sink {
 public:
  virtual ~Sink() = default;
  virtual void count(const std::string& value, double v) = 0;
  virtual void gauge_add(const std::string& value, double v) = 0;
  virtual void observe(const std::string& value, double v) = 0;
  virtual void summarize(const std::string& value, double v) = 0;
  virtual void info(const std::string& value, const std::string& version) = 0;
  virtual void enum_state(const std::string& value, const std::string& state) = 0;
  virtual void state(const std::string& state, bool holds) = 0;
};

// Round `round` of `rounds`: what one process records. Each series gets values that add up
// exactly in binary (halves and quarters); the Enum and StateSet get their whole state set
// each round, so the latest round decides it on every backend.
void record(int round, int rounds, Sink& s) {
  for (std::size_t i = 0; i < kHostile.size(); ++i) {
    const std::string& v = kHostile[i];
    // Some series first appear in a later round: their `_created` is that round's.
    if (static_cast<int>(i % 3) > round) continue;
    s.count(v, 1 + 0.5 * static_cast<double>(i));
    s.gauge_add(v, 0.25 * static_cast<double>(round + 1));
    s.observe(v, i % 2 ? 0.25 : 3);
    s.summarize(v, 0.5 * static_cast<double>(i));
    s.info(v, "1." + std::to_string(i));
    s.enum_state(v, kEnumStates[(i + static_cast<std::size_t>(round)) % kEnumStates.size()]);
  }
  s.state(kSetStates[0], round % 2 == 0);
  s.state(kSetStates[1], true);
  s.state(kSetStates[2], round == rounds - 1);
}

// The metrics, made in the parent before any round.
struct Metrics {
  CollectorRegistry reg;
  Counter events{"events_total", "Events, \"quoted\" \\ and\nnewline.", {"value"}, {}, &reg};
  Gauge level{"level", "Level.", {"value"}, {}, &reg};
  Histogram size{"size_bytes", "Sizes.", {"value"}, {}, &reg, Buckets{kBounds[0], kBounds[1]}};
  Summary wait{"wait_seconds", "Waits.", {"value"}, {}, &reg};
  Info build{"build", "Build facts.", {"version", "value"}, {}, &reg};
  Enum task{"task_state", "One state.", kEnumStates, {"value"}, {}, &reg};
  StateSet features{"features", "Any states.", kSetStates, {}, {}, &reg};
};

class LiveSink : public Sink {
 public:
  explicit LiveSink(Metrics& m) : m_(m) {}
  void count(const std::string& value, double v) override {
    m_.events.labels({{"value", value}}).inc(v);
  }
  void gauge_add(const std::string& value, double v) override {
    m_.level.labels({{"value", value}}).inc(v);
  }
  void observe(const std::string& value, double v) override {
    m_.size.labels({{"value", value}}).observe(v);
  }
  void summarize(const std::string& value, double v) override {
    m_.wait.labels({{"value", value}}).observe(v);
  }
  void info(const std::string& value, const std::string& version) override {
    m_.build.info({{"version", version}, {"value", value}});
  }
  void enum_state(const std::string& value, const std::string& state) override {
    m_.task.labels({{"value", value}}).state(state);
  }
  void state(const std::string& state, bool holds) override { m_.features.set_state(state, holds); }

 private:
  Metrics& m_;
};

// One expected sample: its value, or for `_created` the time window it must fall in.
struct Expected {
  double value = 0;
  bool created = false;
  double earliest = 0;
  double latest = 0;
};

// Sample name and labels, as parse_to_json.py prints them (bounds as Python's float repr).
using SampleKey = std::pair<std::string, Labels>;

std::string py_float(double v) {
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  double back = 0;
  // The shortest text that reads back the same, with ".0" for an integer, as Python prints.
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    back = std::strtod(buf, nullptr);
    if (back == v) break;
  }
  std::string s = buf;
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

class ModelSink : public Sink {
 public:
  // Samples recorded from now on belong to a round run between `begin` and `end`.
  void round(double begin, double end) {
    begin_ = begin;
    end_ = end;
  }
  void count(const std::string& value, double v) override {
    add({"events_total", {{"value", value}}}, v);
    created({"events_created", {{"value", value}}});
  }
  void gauge_add(const std::string& value, double v) override {
    add({"level", {{"value", value}}}, v);
  }
  void observe(const std::string& value, double v) override {
    const Labels l = {{"value", value}};
    std::vector<double> bounds = kBounds;
    bounds.push_back(INFINITY);
    for (double b : bounds) {
      Labels bl = l;
      bl["le"] = py_float(b);
      add({"size_bytes_bucket", bl}, v <= b ? 1 : 0);
    }
    add({"size_bytes_count", l}, 1);
    add({"size_bytes_sum", l}, v);
    created({"size_bytes_created", l});
  }
  void summarize(const std::string& value, double v) override {
    const Labels l = {{"value", value}};
    add({"wait_seconds_count", l}, 1);
    add({"wait_seconds_sum", l}, v);
    created({"wait_seconds_created", l});
  }
  void info(const std::string& value, const std::string& version) override {
    samples_[{"build_info", {{"value", value}, {"version", version}}}].value = 1;
  }
  void enum_state(const std::string& value, const std::string& state) override {
    for (const std::string& s : kEnumStates) {
      samples_[{"task_state", {{"value", value}, {"task_state", s}}}].value = s == state ? 1 : 0;
    }
  }
  void state(const std::string& state, bool holds) override {
    samples_[{"features", {{"features", state}}}].value = holds ? 1 : 0;
  }

  const std::map<SampleKey, Expected>& samples() const { return samples_; }

 private:
  void add(const SampleKey& k, double v) { samples_[k].value += v; }
  // The first round that touches a series creates it.
  void created(const SampleKey& k) {
    auto [it, fresh] = samples_.try_emplace(k);
    if (!fresh) return;
    it->second.created = true;
    it->second.earliest = begin_;
    it->second.latest = end_;
  }

  double begin_ = 0;
  double end_ = 0;
  std::map<SampleKey, Expected> samples_;
};

// A time strictly after every time read so far.
double next_time() {
  const double now = detail::unix_time_now();
  while (detail::unix_time_now() <= now + 0.002) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return detail::unix_time_now();
}

// Runs a command; returns its exit code and (in `out`) what it printed on stdout and stderr.
int run(const std::string& command, std::string& out) {
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return -1;
  char buf[4096];
  std::size_t n;
  out.clear();
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
}

// The samples prometheus_client parsed from `file` in format `fmt`, keyed as the model keys.
std::map<SampleKey, double> parsed(const std::string& fmt, const std::string& file,
                                   std::string& error) {
  std::string out;
  const int rc = run(std::string(PYTHEUS_PYTHON3) + " " + PYTHEUS_TESTS_DIR + "/parse_to_json.py " +
                         fmt + " " + file,
                     out);
  std::map<SampleKey, double> samples;
  if (rc != 0) {
    error = out;
    return samples;
  }
  const nlohmann::json j = nlohmann::json::parse(out);
  for (const auto& fam : j["families"]) {
    for (const auto& s : fam["samples"]) {
      Labels labels;
      for (const auto& [k, v] : s["labels"].items()) labels[k] = v.get<std::string>();
      SampleKey key{s["name"].get<std::string>(), labels};
      if (samples.count(key)) error += "duplicate sample " + key.first + "\n";
      samples[key] = std::strtod(s["value"].get<std::string>().c_str(), nullptr);
    }
  }
  return samples;
}

std::string describe(const SampleKey& k) {
  std::string s = k.first + "{";
  for (const auto& [n, v] : k.second) s += n + "=" + nlohmann::json(v).dump() + ",";
  return s + "}";
}

// Compares what a parser read with the model; `created`: whether `_created` samples belong.
void compare(const std::string& what, const std::map<SampleKey, double>& got,
             const std::map<SampleKey, Expected>& want, bool created) {
  std::size_t expected = 0;
  for (const auto& [key, e] : want) {
    if (e.created && !created) continue;
    ++expected;
    auto it = got.find(key);
    if (it == got.end()) {
      ADD_FAILURE() << what << ": missing " << describe(key);
      continue;
    }
    if (e.created) {
      EXPECT_GE(it->second, e.earliest) << what << ": " << describe(key);
      EXPECT_LE(it->second, e.latest) << what << ": " << describe(key);
    } else {
      EXPECT_EQ(it->second, e.value) << what << ": " << describe(key);
    }
  }
  for (const auto& [key, v] : got) {
    if (!want.count(key)) ADD_FAILURE() << what << ": unexpected " << describe(key) << " " << v;
  }
  EXPECT_EQ(got.size(), expected) << what;
}

class EveryParserTest : public pytheus_test::OnEveryBackend {};

}  // namespace

TEST_P(EveryParserTest, OutputParsesAndReadsBackWhatWasRecorded) {
  constexpr int kRounds = 3;
  Metrics m;
  ModelSink model;
  for (int round = 0; round < kRounds; ++round) {
    const double begin = next_time();
    // Round 0 in this process; later rounds in their own processes on a multi-process
    // backend, in this one in memory.
    if (round == 0 || !multi_process()) {
      LiveSink live(m);
      record(round, kRounds, live);
    } else {
      const pid_t pid = pytheus_test::fork_child([&] {
        LiveSink live(m);
        record(round, kRounds, live);
        return GetParam() != "redis" || MultiProcessRedisBackend::flush() ? 0 : 1;
      });
      ASSERT_EQ(pytheus_test::wait_child(pid), 0) << "round " << round;
    }
    model.round(begin, next_time());
    record(round, kRounds, model);
  }

  const std::string text_file = (dir_ / "metrics.txt").string();
  const std::string om_file = (dir_ / "metrics.om").string();
  const std::string text = generate_metrics(m.reg);
  const std::string om = generate_metrics(m.reg, Format::openmetrics);
  write_file(text_file, text);
  write_file(om_file, om);

  std::string out;
  EXPECT_EQ(run(std::string(PYTHEUS_PROMTOOL) + " check metrics < " + text_file, out), 0)
      << out << "\n"
      << text;

  std::string error;
  const auto text_samples = parsed("text", text_file, error);
  EXPECT_EQ(error, "") << text;
  compare(GetParam() + " text", text_samples, model.samples(), false);

  error.clear();
  const auto om_samples = parsed("openmetrics", om_file, error);
  EXPECT_EQ(error, "") << om;
  compare(GetParam() + " openmetrics", om_samples, model.samples(), true);
}

INSTANTIATE_TEST_SUITE_P(Backends, EveryParserTest, pytheus_test::kEveryBackend,
                         pytheus_test::backend_param_name);
