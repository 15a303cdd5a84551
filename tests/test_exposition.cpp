#include <chrono>
#include <clocale>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <thread>

#include "test_helpers.hpp"

using namespace pytheus;
using pytheus_test::CoreTest;

class ExpositionTest : public CoreTest {};

TEST_F(ExpositionTest, EscapingInTextFormat) {
  CollectorRegistry r;
  Counter c("c", "Help with \\ backslash,\nnewline and \"quotes\".", {"v"}, {}, &r);
  c.labels({{"v", "a\"b\\c\nd"}}).inc();
  EXPECT_EQ(generate_metrics(r),
            "# HELP c Help with \\\\ backslash,\\nnewline and \"quotes\".\n"
            "# TYPE c counter\n"
            "c{v=\"a\\\"b\\\\c\\nd\"} 1\n");
}

TEST_F(ExpositionTest, EscapingInOpenMetrics) {
  CollectorRegistry r;
  Gauge g("g", "Say \"hi\"\\\n", {"v"}, {}, &r);
  g.labels({{"v", "\"\\\n"}}).set(1);
  EXPECT_EQ(generate_metrics(r, Format::openmetrics),
            "# TYPE g gauge\n"
            "# HELP g Say \\\"hi\\\"\\\\\\n\n"
            "g{v=\"\\\"\\\\\\n\"} 1\n"
            "# EOF\n");
}

TEST_F(ExpositionTest, NonAsciiKept) {
  CollectorRegistry r;
  Gauge g("g", "héllo ✓", {"v"}, {}, &r);
  g.labels({{"v", "日本 \xF0\x9F\x98\x80"}}).set(1);
  const std::string text = generate_metrics(r);
  EXPECT_NE(text.find("# HELP g héllo ✓\n"), std::string::npos) << text;
  EXPECT_NE(text.find("g{v=\"日本 \xF0\x9F\x98\x80\"} 1\n"), std::string::npos) << text;
}

namespace {
struct BadUtf8 : Collector {
  std::vector<MetricFamily> collect() const override {
    return {{"g", "x", MetricType::gauge, "", {{"", {{"k", std::string("a\xff", 2)}}, 1}}}};
  }
};
}  // namespace

// A custom collector cannot smuggle in what labels() refuses: the scrape fails, naming it.
TEST_F(ExpositionTest, CustomCollectorInvalidUtf8FailsTheScrape) {
  CollectorRegistry r;
  r.register_collector(std::make_shared<BadUtf8>());
  try {
    generate_metrics(r);
    FAIL();
  } catch (const CollectError& e) {
    EXPECT_NE(std::string(e.what()).find("UTF-8"), std::string::npos) << e.what();
  }
}

// `le` and `quantile` are canonical floats in OpenMetrics only where they are reserved.
TEST_F(ExpositionTest, OpenMetricsCanonicalisesOnlyReservedBounds) {
  CollectorRegistry r;
  Counter c("c_total", "x", {"le", "quantile"}, {}, &r);
  c.labels({{"le", "5"}, {"quantile", "1"}}).inc();
  Gauge g("g", "x", {"le"}, {}, &r);
  g.labels({{"le", "-3"}}).set(1);
  Histogram h("h", "x", {}, {}, &r, {1, 2.5});
  h.observe(2);
  const std::string om = generate_metrics(r, Format::openmetrics);
  EXPECT_NE(om.find("c_total{le=\"5\",quantile=\"1\"} 1\n"), std::string::npos) << om;
  EXPECT_NE(om.find("g{le=\"-3\"} 1\n"), std::string::npos) << om;
  EXPECT_NE(om.find("h_bucket{le=\"1.0\"} 0\n"), std::string::npos) << om;
  EXPECT_NE(om.find("h_bucket{le=\"2.5\"} 1\n"), std::string::npos) << om;
}

// OpenMetrics sums are counters: never negative, and absent beside negative buckets (with the
// histogram's count, which the +Inf bucket carries). The text format shows them as they are.
TEST_F(ExpositionTest, OpenMetricsOmitsNegativeSums) {
  CollectorRegistry r;
  Histogram pos("pos", "x", {"k"}, {}, &r, {1});
  pos.labels({{"k", "neg"}}).observe(-2);
  pos.labels({{"k", "ok"}}).observe(3);
  Histogram neg("neg", "x", {}, {}, &r, {-1, 1});
  neg.observe(5);
  Summary s("s", "x", {"k"}, {}, &r);
  s.labels({{"k", "neg"}}).observe(-1.5);
  s.labels({{"k", "ok"}}).observe(1.5);
  const std::string om = generate_metrics(r, Format::openmetrics);
  EXPECT_EQ(om.find("pos_sum{k=\"neg\"}"), std::string::npos) << om;
  EXPECT_EQ(om.find("pos_count{k=\"neg\"}"), std::string::npos) << om;
  EXPECT_NE(om.find("pos_bucket{k=\"neg\",le=\"+Inf\"} 1\n"), std::string::npos) << om;
  EXPECT_NE(om.find("pos_count{k=\"ok\"} 1\npos_sum{k=\"ok\"} 3\n"), std::string::npos) << om;
  EXPECT_EQ(om.find("neg_sum"), std::string::npos) << om;
  EXPECT_EQ(om.find("neg_count"), std::string::npos) << om;
  EXPECT_NE(om.find("neg_bucket{le=\"+Inf\"} 1\n"), std::string::npos) << om;
  EXPECT_EQ(om.find("s_sum{k=\"neg\"}"), std::string::npos) << om;
  EXPECT_NE(om.find("s_count{k=\"neg\"} 1\n"), std::string::npos) << om;
  EXPECT_NE(om.find("s_sum{k=\"ok\"} 1.5\n"), std::string::npos) << om;
  const std::string text = generate_metrics(r);
  EXPECT_NE(text.find("pos_sum{k=\"neg\"} -2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("s_sum{k=\"neg\"} -1.5\n"), std::string::npos) << text;
}

namespace {
// Custom collectors may yield infinities (metrics refuse them: no shared store can add to one).
struct Infinities : Collector {
  std::vector<MetricFamily> collect() const override {
    const double inf = std::numeric_limits<double>::infinity();
    return {{"g", "x", MetricType::gauge, "", {{"", {{"k", "c"}}, inf}, {"", {{"k", "d"}}, -inf}}}};
  }
};
}  // namespace

TEST_F(ExpositionTest, FloatsShortestRoundTripAndSpecials) {
  CollectorRegistry r;
  Gauge g("g", "x", {"k"}, {}, nullptr);
  g.labels({{"k", "a"}}).set(0.1);
  g.labels({{"k", "b"}}).set(1e21);
  g.labels({{"k", "e"}}).set(123456789);
  g.labels({{"k", "f"}}).set(1.0 / 3);
  g.labels({{"k", "g"}}).set(-0.0);
  g.labels({{"k", "h"}}).set(5e-324);
  FamilyBuilder built;
  g.collector()->write_to(built);
  std::vector<MetricFamily> families = built.take();
  for (const MetricFamily& f : Infinities().collect()) {
    families[0].samples.insert(families[0].samples.begin() + 2, f.samples.begin(), f.samples.end());
  }
  struct Fixed : Collector {
    std::vector<MetricFamily> fams;
    std::vector<MetricFamily> collect() const override { return fams; }
  };
  auto fixed = std::make_shared<Fixed>();
  fixed->fams = families;
  r.register_collector(fixed);
  EXPECT_EQ(generate_metrics(r),
            "# HELP g x\n# TYPE g gauge\n"
            "g{k=\"a\"} 0.1\n"
            "g{k=\"b\"} 1e+21\n"
            "g{k=\"c\"} +Inf\n"
            "g{k=\"d\"} -Inf\n"
            "g{k=\"e\"} 123456789\n"
            "g{k=\"f\"} 0.3333333333333333\n"
            "g{k=\"g\"} -0\n"
            "g{k=\"h\"} 5e-324\n");
  EXPECT_EQ(detail::format_double(std::nan("")), "NaN");
}

TEST_F(ExpositionTest, OpenMetricsCountersUnitsAndBounds) {
  set_created_samples(false);
  CollectorRegistry r("app");
  Counter requests("requests_total", "Requests.", {}, {}, &r);
  Counter plain("events", "Events.", {}, {}, &r);
  MetricOptions o;
  o.name = "request_duration_seconds";
  o.description = "Duration.";
  o.unit = "seconds";
  o.registry = &r;
  o.buckets = {0.5, 1, 10};
  Histogram h(o);
  requests.inc(2);
  plain.inc();
  h.observe(0.7);
  EXPECT_EQ(generate_metrics(r, Format::openmetrics),
            "# TYPE app_requests counter\n"
            "# HELP app_requests Requests.\n"
            "app_requests_total 2\n"
            "# TYPE app_events counter\n"
            "# HELP app_events Events.\n"
            "app_events_total 1\n"
            "# TYPE app_request_duration_seconds histogram\n"
            "# UNIT app_request_duration_seconds seconds\n"
            "# HELP app_request_duration_seconds Duration.\n"
            "app_request_duration_seconds_bucket{le=\"0.5\"} 0\n"
            "app_request_duration_seconds_bucket{le=\"1.0\"} 1\n"
            "app_request_duration_seconds_bucket{le=\"10.0\"} 1\n"
            "app_request_duration_seconds_bucket{le=\"+Inf\"} 1\n"
            "app_request_duration_seconds_count 1\n"
            "app_request_duration_seconds_sum 0.7\n"
            "# EOF\n");
  // The text format keeps names as defined and has no UNIT line.
  const std::string text = generate_metrics(r);
  EXPECT_NE(text.find("# TYPE app_events counter\napp_events 1\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("# UNIT"), std::string::npos);
  EXPECT_EQ(text.find("# EOF"), std::string::npos);
}

TEST_F(ExpositionTest, UnitMustBeTheNameSuffix) {
  MetricOptions o;
  o.name = "request_duration";
  o.unit = "seconds";
  o.registry = nullptr;
  try {
    Gauge g(o);
    FAIL();
  } catch (const InvalidNameError& e) {
    EXPECT_NE(std::string(e.what()).find("_seconds"), std::string::npos) << e.what();
  }
  o.name = "bytes_read_bytes_total";
  o.unit = "bytes";
  EXPECT_NO_THROW(Counter{o});
}

TEST_F(ExpositionTest, EmptyRegistry) {
  CollectorRegistry r;
  EXPECT_EQ(generate_metrics(r), "");
  EXPECT_EQ(generate_metrics(r, Format::openmetrics), "# EOF\n");
}

namespace {
struct FixedCollector : Collector {
  std::vector<MetricFamily> families;
  std::vector<MetricFamily> collect() const override { return families; }
};
}  // namespace

TEST_F(ExpositionTest, OneBlockPerFamilyEvenFromUncheckedCollectors) {
  CollectorRegistry r;
  auto a = std::make_shared<FixedCollector>();
  a->families = {{"dup", "x", MetricType::gauge, "", {{"", {}, 1}}}};
  auto b = std::make_shared<FixedCollector>();
  b->families = a->families;
  r.register_collector(a);
  r.register_collector(b);  // unchecked: describe() is empty
  try {
    generate_metrics(r);
    FAIL();
  } catch (const CollectError& e) {
    EXPECT_NE(std::string(e.what()).find("\"dup\""), std::string::npos) << e.what();
  }
}

TEST_F(ExpositionTest, InvalidNamesFromCustomCollectorsFailTheScrape) {
  CollectorRegistry r;
  auto a = std::make_shared<FixedCollector>();
  a->families = {{"bad name", "x", MetricType::gauge, "", {{"", {}, 1}}}};
  r.register_collector(a);
  EXPECT_THROW(generate_metrics(r), CollectError);
  a->families = {{"ok", "x", MetricType::gauge, "", {{"", {{"bad-label", "v"}}, 1}}}};
  EXPECT_THROW(generate_metrics(r), CollectError);
}

namespace {
struct ThrowingCollector : Collector {
  std::vector<MetricFamily> collect() const override { throw std::runtime_error("sensor gone"); }
};
}  // namespace

TEST_F(ExpositionTest, FailingCollectorGivesCollectError) {
  CollectorRegistry r;
  r.register_collector(std::make_shared<ThrowingCollector>());
  try {
    generate_metrics(r);
    FAIL();
  } catch (const CollectError& e) {
    EXPECT_NE(std::string(e.what()).find("sensor gone"), std::string::npos);
  }
}

TEST_F(ExpositionTest, Negotiation) {
  EXPECT_EQ(negotiate_format(""), Format::prometheus);
  EXPECT_EQ(negotiate_format("*/*"), Format::prometheus);
  EXPECT_EQ(negotiate_format("text/plain;version=0.0.4"), Format::prometheus);
  EXPECT_EQ(negotiate_format("application/openmetrics-text"), Format::openmetrics);
  // What Prometheus 2.x sends.
  EXPECT_EQ(negotiate_format("application/openmetrics-text;version=1.0.0,application/"
                             "openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,"
                             "*/*;q=0.1"),
            Format::openmetrics);
  EXPECT_EQ(negotiate_format("text/plain;q=0.9, application/openmetrics-text;q=0.5"),
            Format::prometheus);
  EXPECT_EQ(negotiate_format("Application/OpenMetrics-Text; Version=1.0.0"), Format::openmetrics);
  EXPECT_EQ(negotiate_format("application/openmetrics-text;version=2.0.0"), Format::prometheus);
  EXPECT_EQ(negotiate_format("application/openmetrics-text;q=0"), Format::prometheus);
  EXPECT_EQ(negotiate_format(",,;;q=,"), Format::prometheus);
  EXPECT_EQ(content_type(Format::prometheus), "text/plain; version=0.0.4; charset=utf-8");
}

TEST_F(ExpositionTest, NegotiationSkipsUnservedTypesAndReadsQuotedParameters) {
  // Prometheus with native histograms lists protobuf first; OpenMetrics is ranked next.
  EXPECT_EQ(negotiate_format("application/vnd.google.protobuf;proto=io.prometheus.client."
                             "MetricFamily;encoding=delimited;q=0.8,application/"
                             "openmetrics-text;version=1.0.0;q=0.7,text/plain;version=0.0.4;"
                             "q=0.6,*/*;q=0.1"),
            Format::openmetrics);
  EXPECT_EQ(negotiate_format("application/json, application/openmetrics-text;q=0.5"),
            Format::openmetrics);
  EXPECT_EQ(negotiate_format("application/openmetrics-text;version=\"1.0.0\""),
            Format::openmetrics);
  EXPECT_EQ(negotiate_format("application/openmetrics-text;version=\"2.0.0\""), Format::prometheus);
  EXPECT_EQ(negotiate_format("application/openmetrics-text;x=\"a,b;c\";q=0.9,text/plain;q=0.8"),
            Format::openmetrics);
  // Ties go to the first listed; text/* and */* are the text format; q=0 is refused.
  EXPECT_EQ(negotiate_format("text/plain;q=0.5,application/openmetrics-text;q=0.5"),
            Format::prometheus);
  EXPECT_EQ(negotiate_format("application/openmetrics-text;q=0.5,text/plain;q=0.5"),
            Format::openmetrics);
  EXPECT_EQ(negotiate_format("text/*;q=0.9,application/openmetrics-text;q=0.8"),
            Format::prometheus);
  EXPECT_EQ(negotiate_format("text/plain;version=1.0.0;q=1,application/openmetrics-text;q=0.2"),
            Format::openmetrics);
  EXPECT_EQ(negotiate_format("text/plain;q=0,application/openmetrics-text;q=0.001"),
            Format::openmetrics);
  EXPECT_EQ(negotiate_format("application/openmetrics-text;q=1.5"), Format::prometheus);
  EXPECT_EQ(negotiate_format("application/openmetrics-text;q=0,5"), Format::prometheus);
}

TEST_F(ExpositionTest, NegotiationIgnoresTheLocale) {
  // Under a locale whose decimal point is a comma, strtod reads "0.9" as 0.
  const char* set = std::setlocale(LC_NUMERIC, "de_DE.UTF-8");
  if (set == nullptr) set = std::setlocale(LC_NUMERIC, "de_DE");
  if (set == nullptr) GTEST_SKIP() << "no German locale installed";
  const Format f = negotiate_format("text/plain;q=0.2,application/openmetrics-text;q=0.9");
  std::setlocale(LC_NUMERIC, "C");
  EXPECT_EQ(f, Format::openmetrics);
  EXPECT_EQ(content_type(Format::openmetrics),
            "application/openmetrics-text; version=1.0.0; charset=utf-8");
}

TEST_F(ExpositionTest, ChildrenInCreationOrder) {
  CollectorRegistry r;
  Counter c("c", "x", {"k"}, {}, &r);
  for (const char* k : {"z", "a", "m"}) c.labels({{"k", k}}).inc();
  EXPECT_EQ(generate_metrics(r),
            "# HELP c x\n# TYPE c counter\nc{k=\"z\"} 1\nc{k=\"a\"} 1\nc{k=\"m\"} 1\n");
}

namespace {
// The value of the first sample line starting with `prefix`, or -1.
double sample_value(const std::string& text, const std::string& prefix) {
  const std::size_t at = text.find("\n" + prefix);
  if (at == std::string::npos) return -1;
  const std::size_t v = at + 1 + prefix.size();
  return std::stod(text.substr(v, text.find('\n', v) - v));
}
}  // namespace

// OpenMetrics shows each series' creation time for counters, histograms and summaries.
TEST_F(ExpositionTest, CreatedSamplesPerSeries) {
  CollectorRegistry r;
  const double before = detail::unix_time_now();
  Counter c("c_total", "x", {"k"}, {}, &r);
  c.labels({{"k", "a"}}).inc();
  Histogram h("h", "x", {}, {}, &r, {1});
  h.observe(0.5);
  Summary s("s", "x", {}, {}, &r);
  Gauge g("g", "x", {}, {}, &r);
  const double after = detail::unix_time_now();
  const std::string om = generate_metrics(r, Format::openmetrics);
  for (const char* p : {"c_created{k=\"a\"} ", "h_created ", "s_created "}) {
    const double v = sample_value(om, p);
    EXPECT_GE(v, before) << p << om;
    EXPECT_LE(v, after) << p << om;
  }
  EXPECT_NE(om.find("c_total{k=\"a\"} 1\nc_created{k=\"a\"} "), std::string::npos) << om;
  EXPECT_NE(om.find("h_sum 0.5\nh_created "), std::string::npos) << om;
  EXPECT_EQ(om.find("g_created"), std::string::npos) << om;
  EXPECT_EQ(generate_metrics(r).find("_created"), std::string::npos);

  // remove() starts the series afresh.
  const double first = sample_value(om, "c_created{k=\"a\"} ");
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  c.remove({{"k", "a"}});
  c.labels({{"k", "a"}}).inc();
  EXPECT_GT(sample_value(generate_metrics(r, Format::openmetrics), "c_created{k=\"a\"} "), first);
}

TEST_F(ExpositionTest, CreatedSamplesSwitch) {
  CollectorRegistry r;
  MetricOptions off;
  off.name = "off_total";
  off.description = "x";
  off.registry = &r;
  off.created_samples = false;
  Counter a(off);
  MetricOptions on = off;
  on.name = "on_total";
  on.created_samples = true;
  Counter b(on);
  Counter d("default_total", "x", {}, {}, &r);
  std::string om = generate_metrics(r, Format::openmetrics);
  EXPECT_EQ(om.find("off_created"), std::string::npos) << om;
  EXPECT_NE(om.find("on_created"), std::string::npos) << om;
  EXPECT_NE(om.find("default_created"), std::string::npos) << om;
  set_created_samples(false);
  EXPECT_FALSE(created_samples_default());
  om = generate_metrics(r, Format::openmetrics);
  EXPECT_NE(om.find("on_created"), std::string::npos) << om;
  EXPECT_EQ(om.find("default_created"), std::string::npos) << om;
}
