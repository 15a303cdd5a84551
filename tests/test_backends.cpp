#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "test_helpers.hpp"

using namespace pytheus;
using pytheus_test::CoreTest;
using pytheus_test::RecordingBackend;

class BackendsTest : public CoreTest {
 protected:
  void SetUp() override {
    CoreTest::SetUp();
    pytheus_test::register_recording_backend();
    RecordingBackend::reset();
  }
  static std::string write_file(const std::string& name, const std::string& text) {
    std::string path = ::testing::TempDir() + name;
    std::ofstream(path) << text;
    return path;
  }
};

TEST_F(BackendsTest, DefaultIsSingleProcessBackend) {
  EXPECT_EQ(loaded_backend(), "SingleProcessBackend");
  EXPECT_EQ(loaded_backend_config(), BackendConfig::object());
}

TEST_F(BackendsTest, BuiltinsAndDottedPathsAreRegistered) {
  auto names = registered_backends();
  for (const char* n : {"SingleProcessBackend", "pytheus.backends.base.SingleProcessBackend",
                        "AtomicBackend", "ShardedBackend", "RecordingBackend"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), n), names.end()) << n;
  }
  load_backend("pytheus.backends.base.SingleProcessBackend");
  EXPECT_EQ(loaded_backend(), "SingleProcessBackend");
  load_backend("tests.RecordingBackend");
  EXPECT_EQ(loaded_backend(), "RecordingBackend");
}

TEST_F(BackendsTest, ExplicitArgumentsWinOverEnvironment) {
  setenv(kBackendClassEnv, "AtomicBackend", 1);
  setenv(kBackendConfigEnv, write_file("cfg_env.json", R"({"from": "file"})").c_str(), 1);
  load_backend("RecordingBackend", BackendConfig{{"from", "arg"}});
  EXPECT_EQ(loaded_backend(), "RecordingBackend");
  EXPECT_EQ(loaded_backend_config()["from"], "arg");
  // Class from the argument, config from the environment.
  load_backend("RecordingBackend");
  EXPECT_EQ(loaded_backend_config()["from"], "file");
  // Both from the environment.
  load_backend();
  EXPECT_EQ(loaded_backend(), "AtomicBackend");
  EXPECT_EQ(loaded_backend_config()["from"], "file");
  // Config from the argument, class from the environment.
  load_backend(std::nullopt, BackendConfig{{"k", 1}});
  EXPECT_EQ(loaded_backend(), "AtomicBackend");
  EXPECT_EQ(loaded_backend_config()["k"], 1);
}

TEST_F(BackendsTest, InitializeRunsOnLoadWithTheConfig) {
  load_backend("RecordingBackend", BackendConfig{{"answer", 42}});
  ASSERT_EQ(RecordingBackend::log().initialized.size(), 1u);
  EXPECT_EQ(RecordingBackend::log().initialized[0]["answer"], 42);
}

TEST_F(BackendsTest, UnknownClassListsTheRegisteredOnes) {
  try {
    load_backend("NoSuchBackend");
    FAIL();
  } catch (const BackendError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("\"NoSuchBackend\""), std::string::npos) << m;
    EXPECT_NE(m.find("SingleProcessBackend"), std::string::npos) << m;
    EXPECT_NE(m.find("RecordingBackend"), std::string::npos) << m;
  }
  setenv(kBackendClassEnv, "FromEnvBackend", 1);
  try {
    load_backend();
    FAIL();
  } catch (const BackendError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("\"FromEnvBackend\""), std::string::npos) << m;
    EXPECT_NE(m.find(kBackendClassEnv), std::string::npos) << m;
  }
  EXPECT_EQ(loaded_backend(), "SingleProcessBackend");  // the previous one stays
}

TEST_F(BackendsTest, BadConfigFilesAreReportedWithThePath) {
  setenv(kBackendConfigEnv, "/nonexistent/pytheus.json", 1);
  try {
    load_backend("SingleProcessBackend");
    FAIL();
  } catch (const BackendError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/pytheus.json"), std::string::npos);
  }
  const std::string bad = write_file("bad.json", "{\"host\": ");
  setenv(kBackendConfigEnv, bad.c_str(), 1);
  try {
    load_backend("SingleProcessBackend");
    FAIL();
  } catch (const BackendError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find(bad), std::string::npos) << m;
    EXPECT_NE(m.find("invalid JSON"), std::string::npos) << m;
  }
  setenv(kBackendConfigEnv, write_file("array.json", "[1, 2]").c_str(), 1);
  EXPECT_THROW(load_backend("SingleProcessBackend"), BackendError);
  EXPECT_THROW(load_backend("SingleProcessBackend", BackendConfig("string")), BackendError);
  // null means {}.
  EXPECT_NO_THROW(load_backend("SingleProcessBackend", BackendConfig()));
}

TEST_F(BackendsTest, FailedInitializeKeepsThePreviousBackend) {
  Counter c("c", "x", {}, {}, nullptr);
  c.inc(2);
  EXPECT_THROW(load_backend("RecordingBackend", BackendConfig{{"fail", true}}), BackendError);
  EXPECT_EQ(loaded_backend(), "SingleProcessBackend");
  c.inc();
  EXPECT_EQ(c.get(), 3);
  EXPECT_TRUE(RecordingBackend::log().created.empty());
}

TEST_F(BackendsTest, ValuesGoToTheLoadedBackendWithTheirKeys) {
  load_backend("RecordingBackend");
  Counter c("requests_total", "x", {"method", "code"}, {}, nullptr);
  c.labels({{"method", "GET"}, {"code", "200"}}).inc(3);
  // Labels reach the backend sorted by name, whatever their declared order.
  EXPECT_EQ(RecordingBackend::value("requests_total|code=200|method=GET"), 3);
  Gauge g("temp", "x", {}, {}, nullptr);
  g.set(5);
  g.dec(2);
  EXPECT_EQ(RecordingBackend::value("temp"), 3);
  EXPECT_EQ(g.get(), 3);
}

TEST_F(BackendsTest, HistogramOnABackendWithoutItsOwnUsesOneObjectPerBucket) {
  load_backend("RecordingBackend");
  Histogram h("lat", "x", {}, {}, nullptr, {1, 2.5});
  h.observe(2);
  EXPECT_EQ(RecordingBackend::value("lat:1"), 0);
  EXPECT_EQ(RecordingBackend::value("lat:2.5"), 1);
  EXPECT_EQ(RecordingBackend::value("lat:+Inf"), 1);
  EXPECT_EQ(RecordingBackend::value("lat:count"), 1);
  EXPECT_EQ(RecordingBackend::value("lat:sum"), 2);
  EXPECT_EQ(h.snapshot().buckets, (std::vector<double>{0, 1, 1}));
  Summary s("size", "x", {}, {}, nullptr);
  s.observe(4);
  EXPECT_EQ(RecordingBackend::value("size:count"), 1);
  EXPECT_EQ(RecordingBackend::value("size:sum"), 4);
}

TEST_F(BackendsTest, ValuesAreBoundOnFirstUseNotAtDefinition) {
  load_backend("RecordingBackend");
  Counter c("lazy_total", "x", {}, {}, nullptr);
  EXPECT_TRUE(RecordingBackend::log().created.empty());
  c.inc();
  EXPECT_EQ(RecordingBackend::log().created.size(), 1u);
}

TEST_F(BackendsTest, LoadingAnotherBackendMovesValuesAndCarriesLocalOnes) {
  Counter c("moved_total", "x", {}, {}, nullptr);
  Histogram h("moved_seconds", "x", {}, {}, nullptr, {1});
  Gauge untouched("untouched", "x", {}, {}, nullptr);
  c.inc(4);
  h.observe(0.5);
  h.observe(3);
  load_backend("RecordingBackend");
  // In-memory values were carried over to the new backend...
  EXPECT_EQ(RecordingBackend::value("moved_total"), 4);
  EXPECT_EQ(RecordingBackend::value("moved_seconds:1"), 1);
  EXPECT_EQ(RecordingBackend::value("moved_seconds:+Inf"), 2);
  EXPECT_EQ(RecordingBackend::value("moved_seconds:count"), 2);
  EXPECT_EQ(RecordingBackend::value("moved_seconds:sum"), 3.5);
  // ...and new operations land there.
  c.inc();
  EXPECT_EQ(RecordingBackend::value("moved_total"), 5);
  // A value never used is bound only when first used.
  EXPECT_EQ(std::count(RecordingBackend::log().created.begin(),
                       RecordingBackend::log().created.end(), "untouched"),
            0);
  untouched.set(1);
  EXPECT_EQ(RecordingBackend::value("untouched"), 1);
  // Moving away from a backend that is not process-local carries nothing over.
  load_backend("AtomicBackend");
  EXPECT_EQ(c.get(), 0);
}

TEST_F(BackendsTest, StaticBackendIgnoresLoadBackend) {
  BasicCounter<AtomicBackend> fast("fast_total", "x", {}, {}, nullptr);
  fast.inc(2);
  load_backend("RecordingBackend");
  fast.inc();
  EXPECT_EQ(fast.get(), 3);
  EXPECT_TRUE(RecordingBackend::log().created.empty());
  BasicCounter<RecordingBackend> recorded("recorded_total", "x", {}, {}, nullptr);
  recorded.inc(7);
  EXPECT_EQ(RecordingBackend::value("recorded_total"), 7);
}

TEST_F(BackendsTest, ShardedBackendSumsAcrossThreads) {
  BasicCounter<ShardedBackend> c("sharded_total", "x", {}, {}, nullptr);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) c.inc();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.get(), 40000);
  BasicGauge<ShardedBackend> g("sharded_gauge", "x", {}, {}, nullptr);
  g.inc(5);
  g.set(2);
  g.dec();
  EXPECT_EQ(g.get(), 1);
  EXPECT_GE(ShardedBackend::shard_count(), 1u);
}

TEST_F(BackendsTest, LoadBackendByType) {
  load_backend<AtomicBackend>();
  EXPECT_EQ(loaded_backend(), "AtomicBackend");
  load_backend<RecordingBackend>(BackendConfig{{"x", 1}});
  EXPECT_EQ(loaded_backend(), "RecordingBackend");
  struct Unregistered {
    Unregistered(const BackendConfig&, const MetricInfo&, std::optional<std::string_view>) {}
    void inc(double) {}
    void dec(double) {}
    void set(double) {}
    double get() { return 0; }
  };
  EXPECT_THROW(load_backend<Unregistered>(), BackendError);
}

TEST_F(BackendsTest, NameClashWithAnotherClassIsRefused) {
  EXPECT_THROW(register_backend<RecordingBackend>("AtomicBackend"), BackendError);
  EXPECT_NO_THROW(register_backend<RecordingBackend>("RecordingBackend"));  // same class again
}

namespace {
// A backend class with a bulk read: answers for every metric on it with one fixed sample.
struct BulkBackend {
  static inline int bulk_calls = 0;
  BulkBackend(const BackendConfig&, const MetricInfo&, std::optional<std::string_view>) {}
  void inc(double) {}
  void dec(double) {}
  void set(double) {}
  double get() { return -1; }
  // Answers every requested metric with one series: the local ones, else one of its own.
  static std::vector<MetricRows> generate_samples(const BackendConfig&,
                                                  const std::vector<MetricRequest>& metrics) {
    ++bulk_calls;
    std::vector<MetricRows> out;
    for (const MetricRequest& m : metrics) {
      SeriesRow row;
      row.label_values = m.local_series.empty()
                             ? std::vector<std::string>(m.label_names.size(), "x")
                             : m.local_series.front();
      row.value = 99;
      row.histogram.buckets.assign(m.bounds.size(), 7);
      row.histogram.count = 7;
      row.histogram.sum = 1.5;
      out.push_back({row});
    }
    return out;
  }
};
struct Constant : Collector {
  std::vector<MetricFamily> collect() const override {
    return {{"constant", "c", MetricType::gauge, "", {{"", {}, 1}}}};
  }
};
}  // namespace

TEST_F(BackendsTest, BulkReadServesItsMetricsAndOthersAreCollectedDirectly) {
  register_backend<BulkBackend>("BulkBackend");
  load_backend("BulkBackend");
  CollectorRegistry r;
  Counter on_backend("bulk_total", "b", {}, {}, &r);
  BasicCounter<AtomicBackend> static_one("static_total", "s", {}, {}, &r);
  static_one.inc(5);
  r.register_collector(std::make_shared<Constant>());
  BulkBackend::bulk_calls = 0;
  EXPECT_EQ(generate_metrics(r),
            "# HELP bulk_total b\n# TYPE bulk_total counter\nbulk_total 99\n"
            "# HELP static_total s\n# TYPE static_total counter\nstatic_total 5\n"
            "# HELP constant c\n# TYPE constant gauge\nconstant 1\n");
  EXPECT_EQ(BulkBackend::bulk_calls, 1);
}

TEST_F(BackendsTest, BulkRowsOfHistogramsAndSummariesAreLaidOutByTheCore) {
  register_backend<BulkBackend>("BulkBackend");
  load_backend("BulkBackend");
  CollectorRegistry r;
  Histogram h("rows_seconds", "h", {"route"}, {}, &r, {0.5});
  h.labels({{"route", "/a"}});
  Summary s("rows_bytes", "s", {}, {}, &r);
  EXPECT_EQ(generate_metrics(r),
            "# HELP rows_seconds h\n# TYPE rows_seconds histogram\n"
            "rows_seconds_bucket{route=\"/a\",le=\"0.5\"} 7\n"
            "rows_seconds_bucket{route=\"/a\",le=\"+Inf\"} 7\n"
            "rows_seconds_count{route=\"/a\"} 7\nrows_seconds_sum{route=\"/a\"} 1.5\n"
            "# HELP rows_bytes s\n# TYPE rows_bytes summary\n"
            "rows_bytes_count 7\nrows_bytes_sum 1.5\n");
}

TEST_F(BackendsTest, ConfigFromInlineJsonInTheEnvironmentIsNeverEchoed) {
  setenv(kBackendClassEnv, "AtomicBackend", 1);
  setenv(kBackendConfigEnv, R"(  {"from": "env", "password": "hunter2"})", 1);
  load_backend();
  EXPECT_EQ(loaded_backend_config()["from"], "env");
  setenv(kBackendConfigEnv, R"({"password": "hunter2", )", 1);
  try {
    load_backend();
    FAIL() << "invalid inline JSON was accepted";
  } catch (const BackendError& e) {
    const std::string m = e.what();
    EXPECT_EQ(m.find("hunter2"), std::string::npos) << m;
    EXPECT_NE(m.find(kBackendConfigEnv), std::string::npos) << m;
  }
  EXPECT_EQ(loaded_backend(), "AtomicBackend");  // the previous backend stays
}

TEST_F(BackendsTest, ConfigAsJsonTextNeedsNoJsonHeaderAndIsNeverEchoed) {
  load_backend_json("RecordingBackend", R"({"from": "text"})");
  EXPECT_EQ(loaded_backend(), "RecordingBackend");
  EXPECT_EQ(loaded_backend_config()["from"], "text");
  try {
    load_backend_json("RecordingBackend", R"({"password": "hunter2")");
    FAIL() << "invalid JSON text was accepted";
  } catch (const BackendError& e) {
    EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos) << e.what();
  }
}

namespace {
struct OneLineBackend {
  OneLineBackend(const BackendConfig&, const MetricInfo&, std::optional<std::string_view>) {}
  void inc(double v) { x += v; }
  void dec(double v) { x -= v; }
  void set(double v) { x = v; }
  double get() { return x; }
  double x = 0;
};
}  // namespace
PYTHEUS_REGISTER_BACKEND(OneLineBackend, "OneLineBackend", {"my.dotted.OneLineBackend"});

TEST_F(BackendsTest, RegisterInOneLine) {
  load_backend("my.dotted.OneLineBackend");
  EXPECT_EQ(loaded_backend(), "OneLineBackend");
  Counter c("one_line_total", "x", {}, {}, nullptr);
  c.inc(2);
  EXPECT_EQ(c.get(), 2);
}

namespace {
// A bulk read that knows the creation time of series "early" only (as a shared store keeping
// the earliest of every process would).
struct CreatedBackend {
  CreatedBackend(const BackendConfig&, const MetricInfo&, std::optional<std::string_view>) {}
  void inc(double) {}
  void dec(double) {}
  void set(double) {}
  double get() { return 1; }
  static inline std::vector<double> seen_created;
  static std::vector<MetricRows> generate_samples(const BackendConfig&,
                                                  const std::vector<MetricRequest>& metrics) {
    std::vector<MetricRows> out;
    for (const MetricRequest& m : metrics) {
      seen_created = m.local_created;
      MetricRows rows;
      for (const auto& values : m.local_series) {
        SeriesRow row;
        row.label_values = values;
        row.value = 1;
        if (values[0] == "early") row.created = 1000.5;
        rows.push_back(row);
      }
      out.push_back(rows);
    }
    return out;
  }
};
}  // namespace

// Bulk rows carry a creation time when the backend knows one; else this process's own.
TEST_F(BackendsTest, BulkRowsCarryCreatedTimes) {
  register_backend<CreatedBackend>("CreatedBackend");
  load_backend("CreatedBackend");
  CollectorRegistry r;
  Counter c("made_total", "m", {"k"}, {}, &r);
  const double before = detail::unix_time_now();
  c.labels({{"k", "early"}}).inc();
  c.labels({{"k", "local"}}).inc();
  const std::string om = generate_metrics(r, Format::openmetrics);
  EXPECT_NE(om.find("made_created{k=\"early\"} 1000.5\n"), std::string::npos) << om;
  ASSERT_EQ(CreatedBackend::seen_created.size(), 2u);
  EXPECT_GE(CreatedBackend::seen_created[1], before);
  EXPECT_NE(om.find("made_created{k=\"local\"} " +
                    detail::format_double(CreatedBackend::seen_created[1]) + "\n"),
            std::string::npos)
      << om;
}
