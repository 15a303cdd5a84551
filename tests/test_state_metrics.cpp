// Info, Enum and StateSet: their API, their exposition in both formats, and their storage as
// gauges on any backend.
#include <string>

#include "pytheus/enum.hpp"
#include "pytheus/info.hpp"
#include "pytheus/stateset.hpp"
#include "test_helpers.hpp"

using namespace pytheus;
using pytheus_test::CoreTest;

class StateMetricsTest : public CoreTest {};

TEST_F(StateMetricsTest, InfoInBothFormats) {
  CollectorRegistry r("app");
  Info build("build", "Build.", {"version", "commit"}, {}, &r);
  build.info({{"version", "1.4.2"}, {"commit", "9f1c"}});
  EXPECT_EQ(generate_metrics(r),
            "# HELP app_build_info Build.\n# TYPE app_build_info gauge\n"
            "app_build_info{version=\"1.4.2\",commit=\"9f1c\"} 1\n");
  EXPECT_EQ(generate_metrics(r, Format::openmetrics),
            "# TYPE app_build info\n# HELP app_build Build.\n"
            "app_build_info{version=\"1.4.2\",commit=\"9f1c\"} 1\n# EOF\n");
  EXPECT_THROW(Info("build_info", "x", {}, {}, nullptr), InvalidNameError);
  // An info collides with a gauge of its sample's name.
  EXPECT_THROW(Gauge("build_info", "x", {}, {}, &r), RegistrationError);
}

TEST_F(StateMetricsTest, EnumHoldsOneState) {
  CollectorRegistry r;
  Enum task("task_state", "State.", {"starting", "running", "stopped"}, {"task"}, {}, &r);
  auto a = task.labels({{"task", "a"}});
  EXPECT_EQ(a.state(), "starting");
  a.state("running");
  EXPECT_EQ(a.state(), "running");
  EXPECT_THROW(a.state("flying"), InvalidValueError);
  EXPECT_EQ(generate_metrics(r, Format::openmetrics),
            "# TYPE task_state stateset\n# HELP task_state State.\n"
            "task_state{task=\"a\",task_state=\"starting\"} 0\n"
            "task_state{task=\"a\",task_state=\"running\"} 1\n"
            "task_state{task=\"a\",task_state=\"stopped\"} 0\n# EOF\n");
  EXPECT_EQ(generate_metrics(r),
            "# HELP task_state State.\n# TYPE task_state gauge\n"
            "task_state{task=\"a\",task_state=\"starting\"} 0\n"
            "task_state{task=\"a\",task_state=\"running\"} 1\n"
            "task_state{task=\"a\",task_state=\"stopped\"} 0\n");
  EXPECT_THROW(Enum("e", "x", {}, {}, {}, nullptr), InvalidValueError);
  EXPECT_THROW(Enum("e", "x", {"a", "a"}, {}, {}, nullptr), InvalidValueError);
  EXPECT_THROW(Enum("e", "x", {"a"}, {"e"}, {}, nullptr), LabelError);
}

TEST_F(StateMetricsTest, StateSetHoldsAny) {
  CollectorRegistry r("svc");
  StateSet features("features", "Features.", {"cache", "gzip", "tls"}, {}, {}, &r);
  features.set_state("gzip");
  features.set_state("tls", true);
  features.set_state("tls", false);
  features.set_state("cache");
  EXPECT_TRUE(features.holds("gzip"));
  EXPECT_FALSE(features.holds("tls"));
  EXPECT_THROW(features.set_state("nope"), InvalidValueError);
  // The state label is the family's name, prefix included.
  EXPECT_EQ(generate_metrics(r, Format::openmetrics),
            "# TYPE svc_features stateset\n# HELP svc_features Features.\n"
            "svc_features{svc_features=\"cache\"} 1\n"
            "svc_features{svc_features=\"gzip\"} 1\n"
            "svc_features{svc_features=\"tls\"} 0\n# EOF\n");
  std::vector<std::string> many(54);
  for (std::size_t i = 0; i < many.size(); ++i) many[i] = "s" + std::to_string(i);
  EXPECT_THROW(StateSet("big", "x", many, {}, {}, nullptr), InvalidValueError);
}

namespace {
// Remembers the type and mode it was made for, and the last value set.
struct TypeRecordingBackend {
  static inline MetricType type = MetricType::untyped;
  static inline GaugeMode mode = GaugeMode::backend_default;
  static inline double last_set = -1;
  TypeRecordingBackend(const BackendConfig&, const MetricInfo& m, std::optional<std::string_view>) {
    type = m.type;
    mode = m.gauge_mode;
  }
  void inc(double) {}
  void dec(double) {}
  void set(double v) { last_set = v; }
  double get() { return last_set; }
};
}  // namespace

// Stored as gauges (mode mostrecent): every backend stores them.
TEST_F(StateMetricsTest, StoredAsGaugesOnTheBackend) {
  register_backend<TypeRecordingBackend>("TypeRecordingBackend");
  load_backend("TypeRecordingBackend");
  CollectorRegistry r;
  Enum e("mode", "x", {"a", "b"}, {}, {}, &r);
  e.state("b");
  EXPECT_EQ(TypeRecordingBackend::type, MetricType::gauge);
  EXPECT_EQ(TypeRecordingBackend::mode, GaugeMode::mostrecent);
  EXPECT_EQ(TypeRecordingBackend::last_set, 1);
  Info i("version", "x", {"v"}, {}, &r);
  i.info({{"v", "1"}});
  EXPECT_EQ(TypeRecordingBackend::type, MetricType::gauge);
  EXPECT_EQ(TypeRecordingBackend::last_set, 1);
}
