// The protobuf exposition (pytheus::protobuf): every metric type parsed back with the
// generated classes of metrics.proto and compared with the text exposition of the same
// registry; the native histogram span/delta encoding; negotiation and the scrape handler.
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/util/delimited_message_util.h>

#include <atomic>
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "protobuf_test_helpers.hpp"
#include "pytheus/detail/format.hpp"
#include "pytheus/enum.hpp"
#include "pytheus/info.hpp"
#include "pytheus/protobuf.hpp"
#include "pytheus/stateset.hpp"
#include "test_helpers.hpp"
#include "writer.hpp"

#ifdef PYTHEUS_TEST_HTTP
#include "pytheus/http/scrape_handler.hpp"
#endif

using namespace pytheus;
namespace pb = io::prometheus::client;
using pytheus_test::CoreTest;
using pytheus_test::parse;
using pytheus_test::to_text;

namespace {

constexpr const char* kPrometheusAccept =
    "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,"
    "application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0."
    "1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

struct TableCollector : Collector {
  std::vector<MetricFamily> families;
  std::vector<MetricFamily> collect() const override { return families; }
};

class ProtobufTest : public CoreTest {
 protected:
  void SetUp() override {
    CoreTest::SetUp();
    protobuf::enable();
  }
};

TEST_F(ProtobufTest, EveryMetricTypeMatchesTheTextExposition) {
  CollectorRegistry r;
  Counter requests("requests_total", "Requests served.", {"path", "code"}, {}, &r);
  requests.labels({{"path", "/a"}, {"code", "200"}}).inc(3);
  requests.labels({{"path", "/b"}, {"code", "500"}}).inc();
  Gauge temperature("temperature_celsius", "Temperature.", {}, {}, &r);
  temperature.set(-3.5);
  Histogram latency("latency_seconds", "Latency.", {"op"}, {}, &r, {0.1, 0.5, 2});
  latency.labels({{"op", "read"}}).observe(0.05);
  latency.labels({{"op", "read"}}).observe(1);
  latency.labels({{"op", "read"}}).observe(7);
  latency.labels({{"op", "write"}}).observe(0.3);
  Summary size("size_bytes", "Sizes.", {}, {}, &r);
  size.observe(10);
  size.observe(32);
  Info build("build", "Build.", {"version"}, {}, &r);
  build.info({{"version", "1.2"}});
  Enum state("task_state", "State.", {"idle", "busy"}, {}, {}, &r);
  state.state("busy");
  StateSet features("features", "Features.", {"gzip", "tls"}, {}, {}, &r);
  features.set_state("tls");
  auto table = std::make_shared<TableCollector>();
  table->families = {{"queue_length", "Queue.", MetricType::untyped, "", {{"", {{"q", "x"}}, 4}}},
                     {"delay_seconds",
                      "Delay.",
                      MetricType::summary,
                      "seconds",
                      {{"", {{"quantile", "0.5"}}, 0.25},
                       {"", {{"quantile", "0.99"}}, 1.5},
                       {"_count", {}, 7},
                       {"_sum", {}, 3.25}}}};
  r.register_collector(table);

  const std::vector<pb::MetricFamily> families = parse(protobuf::generate_metrics(r));
  EXPECT_EQ(to_text(families), generate_metrics(r));

  // What the text format leaves out: the created timestamps and the unit.
  ASSERT_GE(families.size(), 4u);
  EXPECT_EQ(families[0].type(), pb::COUNTER);
  EXPECT_GT(families[0].metric(0).counter().created_timestamp().seconds(), 1500000000);
  EXPECT_GT(families[2].metric(0).histogram().created_timestamp().seconds(), 1500000000);
  EXPECT_GT(families[3].metric(0).summary().created_timestamp().seconds(), 1500000000);
  EXPECT_EQ(families.back().unit(), "seconds");
  // The +Inf bucket is implied by the count, as client_golang writes it.
  EXPECT_EQ(families[2].metric(0).histogram().bucket_size(), 3);
  EXPECT_EQ(families[2].metric(0).histogram().sample_count(), 3u);
}

TEST_F(ProtobufTest, ScrapesConcurrentWithUpdatesAndEnable) {
  CollectorRegistry r;
  Counter c("work_total", "Work.", {"worker"}, {}, &r);
  Histogram h("work_seconds", "Work.", {}, {}, &r, {0.5, 1});
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        c.labels({{"worker", std::to_string(t) + "-" + std::to_string(i % 20)}}).inc();
        h.observe(i % 3 * 0.4);
      }
    });
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        protobuf::enable();
        const std::vector<pb::MetricFamily> families = parse(protobuf::generate_metrics(r));
        if (negotiate_format(kPrometheusAccept) != Format::protobuf) failed = true;
        for (const pb::MetricFamily& f : families) {
          for (const pb::Metric& m : f.metric()) {
            if (m.has_histogram() && m.histogram().bucket_size() > 0 &&
                m.histogram().bucket(0).cumulative_count() > m.histogram().sample_count()) {
              failed = true;  // a bucket over the count: a torn read
            }
          }
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_FALSE(failed);
  const std::vector<pb::MetricFamily> families = parse(protobuf::generate_metrics(r));
  ASSERT_EQ(families.size(), 2u);
  double total = 0;
  for (const pb::Metric& m : families[0].metric()) total += m.counter().value();
  EXPECT_EQ(total, 4000);
  EXPECT_EQ(families[1].metric(0).histogram().sample_count(), 4000u);
}

TEST_F(ProtobufTest, EmptyRegistryIsEmptyBody) {
  CollectorRegistry r;
  EXPECT_EQ(protobuf::generate_metrics(r), "");
  // A family without series is left out, as client_golang gathers.
  Counter unused("unused_total", "x", {"k"}, {}, &r);
  EXPECT_EQ(protobuf::generate_metrics(r), "");
}

TEST_F(ProtobufTest, DelimitedFramingOfManyFamilies) {
  CollectorRegistry r("svc");
  std::vector<std::unique_ptr<Gauge>> gauges;
  for (int i = 0; i < 300; ++i) {
    gauges.push_back(std::make_unique<Gauge>("g" + std::to_string(i), std::string(i, 'h'),
                                             LabelNames{}, LabelDefaults{}, &r));
    gauges.back()->set(i);
  }
  const std::string body = protobuf::generate_metrics(r);
  const std::vector<pb::MetricFamily> families = parse(body);
  ASSERT_EQ(families.size(), 300u);
  for (int i = 0; i < 300; ++i) {
    EXPECT_EQ(families[i].name(), "svc_g" + std::to_string(i));
    EXPECT_EQ(families[i].help().size(), std::size_t(i));
    EXPECT_EQ(families[i].metric(0).gauge().value(), i);
  }
  // The first frame starts with its size as a varint (more than 127 bytes: two bytes).
  pb::MetricFamily first;
  ASSERT_TRUE(first.ParseFromString(body.substr(1, std::size_t(body[0]))));
  EXPECT_EQ(first.name(), "svc_g0");
}

TEST_F(ProtobufTest, HostileLabelValuesAsTheTextFormats) {
  CollectorRegistry r;
  Counter c("hostile_total", "Help with \\ and\nnewline and \xff byte.", {"v"}, {}, &r);
  const std::vector<std::string> values = {"quote \" backslash \\ newline \n end", "",
                                           "\xc3\xa9t\xc3\xa9 \xe2\x82\xac",
                                           std::string("nul \0 inside", 12), "} {x=\"1\"} 5\n"};
  for (const std::string& v : values) c.labels({{"v", v}}).inc();
  const std::vector<pb::MetricFamily> families = parse(protobuf::generate_metrics(r));
  ASSERT_EQ(families.size(), 1u);
  ASSERT_EQ(families[0].metric_size(), int(values.size()));
  for (std::size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(families[0].metric(int(i)).label(0).value(), values[i]);
  }
  // Help that is not UTF-8 gets U+FFFD for each bad byte, as in the text formats.
  EXPECT_EQ(families[0].help(), "Help with \\ and\nnewline and \xEF\xBF\xBD byte.");
  // Everything else as the text format has it.
  EXPECT_EQ(to_text(families), generate_metrics(r));
}

TEST(ProtobufWriter, NonUtf8LabelValuesBecomeReplacementCharacters) {
  // The metrics refuse such values; a writer fed by other code still gets UTF-8 out.
  std::string out;
  auto w = protobuf::detail::make_writer(out);
  w->family("g", "G.", MetricType::gauge, "");
  LabelView l{"v", "bad \xc3 \xff\xfe ok \xc3\xa9"};
  w->sample("", &l, 1, 1);
  w->finish();
  const std::vector<pb::MetricFamily> families = parse(out);
  ASSERT_EQ(families.size(), 1u);
  EXPECT_EQ(families[0].metric(0).label(0).value(),
            "bad \xEF\xBF\xBD \xEF\xBF\xBD\xEF\xBF\xBD ok \xc3\xa9");
}

TEST_F(ProtobufTest, RegistryPrefixesAndSeveralRegistries) {
  CollectorRegistry app("app"), side("side");
  Enum mode("mode", "Mode.", {"a", "b"}, {}, {}, &app);
  Counter hits("hits_total", "Hits.", {}, {}, &side);
  hits.inc();
  const std::vector<pb::MetricFamily> families = parse(protobuf::generate_metrics({&app, &side}));
  ASSERT_EQ(families.size(), 2u);
  EXPECT_EQ(families[0].name(), "app_mode");
  EXPECT_EQ(families[0].metric(0).label(0).name(), "app_mode");
  EXPECT_EQ(families[1].name(), "side_hits_total");
  EXPECT_EQ(to_text(families), generate_metrics({&app, &side}));
}

TEST_F(ProtobufTest, CollisionsFailAsInTheTextFormat) {
  CollectorRegistry r;
  auto table = std::make_shared<TableCollector>();
  table->families = {{"dup", "x", MetricType::gauge, "", {{"", {}, 1}}},
                     {"dup", "x", MetricType::gauge, "", {{"", {}, 2}}}};
  r.register_collector(table);
  EXPECT_THROW(protobuf::generate_metrics(r), CollectError);
  EXPECT_THROW(generate_metrics(r), CollectError);
}

TEST_F(ProtobufTest, CustomSamplesWithoutAFieldBecomeUntypedFamilies) {
  CollectorRegistry r;
  auto table = std::make_shared<TableCollector>();
  table->families = {
      {"odd",
       "Odd.",
       MetricType::gauge,
       "",
       {{"", {{"k", "a"}}, 1}, {"_extra", {{"k", "a"}}, 2}, {"", {{"k", "b"}}, 3}}},
      {"cnt_total",
       "C.",
       MetricType::counter,
       "",
       {{"", {{"k", "a"}}, 1}, {"", {{"k", "b"}}, 2}, {"_created", {{"k", "a"}}, 5}}}};
  r.register_collector(table);
  const std::vector<pb::MetricFamily> families = parse(protobuf::generate_metrics(r));
  ASSERT_EQ(families.size(), 3u);
  EXPECT_EQ(families[0].name(), "odd");
  EXPECT_EQ(families[0].metric_size(), 2);
  EXPECT_EQ(families[1].name(), "odd_extra");
  EXPECT_EQ(families[1].type(), pb::UNTYPED);
  EXPECT_EQ(families[1].metric(0).untyped().value(), 2);
  // A sample that comes back to an earlier series joins it.
  ASSERT_EQ(families[2].metric_size(), 2);
  EXPECT_EQ(families[2].metric(0).counter().created_timestamp().seconds(), 5);
  EXPECT_FALSE(families[2].metric(1).counter().has_created_timestamp());
}

TEST_F(ProtobufTest, UnparsableBoundFailsTheScrapeNamingIt) {
  CollectorRegistry r;
  auto table = std::make_shared<TableCollector>();
  table->families = {{"h", "x", MetricType::histogram, "", {{"_bucket", {{"le", "big"}}, 1}}}};
  r.register_collector(table);
  try {
    protobuf::generate_metrics(r);
    FAIL() << "no error";
  } catch (const CollectError& e) {
    EXPECT_NE(std::string(e.what()).find("le label \"big\""), std::string::npos) << e.what();
  }
}

// --- the writer fed by hand: exemplars and native histograms, as their producers call it.

std::vector<pb::MetricFamily> write(const std::function<void(MetricWriter&)>& fill) {
  std::string out;
  auto w = protobuf::detail::make_writer(out);
  fill(*w);
  w->finish();
  return parse(out);
}

TEST(ProtobufWriter, ExemplarsOnCountersAndBuckets) {
  const Exemplar trace{{{"trace_id", "abc"}}, 0.7, 1700000000.25};
  const auto families = write([&](MetricWriter& w) {
    w.family("c_total", "C.", MetricType::counter, "");
    w.sample("", nullptr, 0, 3);
    w.exemplar(trace);
    w.family("h", "H.", MetricType::histogram, "");
    LabelView le{"le", "1"};
    w.sample("_bucket", &le, 1, 2);
    w.exemplar(trace);
    le.value = "+Inf";
    w.sample("_bucket", &le, 1, 4);
    w.exemplar(Exemplar{{{"trace_id", "inf"}}, 9, std::nullopt});
    w.sample("_count", nullptr, 0, 4);
    w.sample("_sum", nullptr, 0, 12);
  });
  ASSERT_EQ(families.size(), 2u);
  const pb::Exemplar& ce = families[0].metric(0).counter().exemplar();
  ASSERT_EQ(ce.label_size(), 1);
  EXPECT_EQ(ce.label(0).name(), "trace_id");
  EXPECT_EQ(ce.label(0).value(), "abc");
  EXPECT_EQ(ce.value(), 0.7);
  EXPECT_EQ(ce.timestamp().seconds(), 1700000000);
  EXPECT_EQ(ce.timestamp().nanos(), 250000000);
  const pb::Histogram& h = families[1].metric(0).histogram();
  ASSERT_EQ(h.bucket_size(), 2);  // the +Inf bucket kept for its exemplar
  EXPECT_EQ(h.bucket(0).exemplar().label(0).value(), "abc");
  EXPECT_TRUE(std::isinf(h.bucket(1).upper_bound()));
  EXPECT_EQ(h.bucket(1).cumulative_count(), 4u);
  EXPECT_EQ(h.bucket(1).exemplar().label(0).value(), "inf");
  EXPECT_FALSE(h.bucket(1).exemplar().has_timestamp());
}

struct Spans {
  std::vector<std::pair<std::int32_t, std::uint32_t>> spans;
  std::vector<std::int64_t> deltas;
};

Spans encode(const std::vector<std::pair<std::int32_t, std::uint64_t>>& buckets) {
  google::protobuf::RepeatedPtrField<pb::BucketSpan> spans;
  google::protobuf::RepeatedField<std::int64_t> deltas;
  protobuf::detail::encode_buckets(buckets, &spans, &deltas);
  Spans out;
  for (const pb::BucketSpan& s : spans) out.spans.emplace_back(s.offset(), s.length());
  out.deltas.assign(deltas.begin(), deltas.end());
  return out;
}

TEST(ProtobufNative, SpanAndDeltaEncodingAsClientGolang) {
  using V = std::vector<std::pair<std::int32_t, std::uint64_t>>;
  using S = std::vector<std::pair<std::int32_t, std::uint32_t>>;
  using D = std::vector<std::int64_t>;
  EXPECT_EQ(encode({}).spans, S{});
  EXPECT_EQ(encode({}).deltas, D{});
  EXPECT_EQ(encode({{0, 1}}).spans, (S{{0, 1}}));
  EXPECT_EQ(encode({{0, 1}}).deltas, D{1});
  // The first span's offset is the first index, negative ones included.
  EXPECT_EQ(encode({{-5, 2}}).spans, (S{{-5, 1}}));
  // Gaps of one or two buckets are filled with empty ones; three or more start a new span
  // whose offset is the gap.
  const Spans s = encode(V{{-2, 3}, {-1, 1}, {1, 2}, {5, 4}, {7, 4}, {8, 1}});
  EXPECT_EQ(s.spans, (S{{-2, 4}, {3, 4}}));
  EXPECT_EQ(s.deltas, (D{3, -2, -1, 2, 2, -4, 4, -3}));
  // Counts beyond what a delta of int32 could say.
  EXPECT_EQ(encode(V{{1, 5000000000ULL}, {2, 1}}).deltas, (D{5000000000LL, -4999999999LL}));
}

TEST(ProtobufNative, HistogramFieldsAndTheEmptyHistogramsSpan) {
  const auto families = write([&](MetricWriter& w) {
    w.family("n", "Native.", MetricType::histogram, "");
    LabelView l{"op", "read"};
    NativeBuckets b;
    b.schema = 3;
    b.zero_threshold = 1e-128;
    b.zero_count = 2;
    b.positive = {{0, 1}, {1, 2}};
    b.negative = {{-3, 5}};
    w.native_histogram(&l, 1, b);
    w.sample("_count", &l, 1, 10);
    w.sample("_sum", &l, 1, -4.5);
    // No observations, zero threshold 0: a no-op span marks it native.
    l.value = "empty";
    w.native_histogram(&l, 1, NativeBuckets{});
    w.sample("_count", &l, 1, 0);
    w.sample("_sum", &l, 1, 0);
    // No observations but a zero threshold: that says it already.
    l.value = "threshold";
    NativeBuckets t;
    t.zero_threshold = 0.001;
    w.native_histogram(&l, 1, t);
    w.sample("_count", &l, 1, 0);
    w.sample("_sum", &l, 1, 0);
    // Native and classic buckets of one series go into one message.
    l.value = "both";
    NativeBuckets one;
    one.positive = {{0, 1}};
    w.native_histogram(&l, 1, one);
    LabelView bl[2] = {l, {"le", "1"}};
    w.sample("_bucket", bl, 2, 1);
    bl[1].value = "+Inf";
    w.sample("_bucket", bl, 2, 1);
    w.sample("_count", &l, 1, 1);
    w.sample("_sum", &l, 1, 1);
  });
  ASSERT_EQ(families.size(), 1u);
  ASSERT_EQ(families[0].metric_size(), 4);
  const pb::Histogram& h = families[0].metric(0).histogram();
  EXPECT_EQ(families[0].metric(0).label(0).value(), "read");
  EXPECT_EQ(h.schema(), 3);
  EXPECT_EQ(h.zero_threshold(), 1e-128);
  EXPECT_EQ(h.zero_count(), 2u);
  ASSERT_EQ(h.positive_span_size(), 1);
  EXPECT_EQ(h.positive_span(0).offset(), 0);
  EXPECT_EQ(h.positive_span(0).length(), 2u);
  EXPECT_EQ(std::vector<std::int64_t>(h.positive_delta().begin(), h.positive_delta().end()),
            (std::vector<std::int64_t>{1, 1}));
  ASSERT_EQ(h.negative_span_size(), 1);
  EXPECT_EQ(h.negative_span(0).offset(), -3);
  EXPECT_EQ(h.negative_delta(0), 5);
  EXPECT_EQ(h.sample_count(), 10u);
  EXPECT_EQ(h.sample_sum(), -4.5);

  const pb::Histogram& empty = families[0].metric(1).histogram();
  ASSERT_EQ(empty.positive_span_size(), 1);
  EXPECT_EQ(empty.positive_span(0).offset(), 0);
  EXPECT_EQ(empty.positive_span(0).length(), 0u);
  EXPECT_EQ(empty.positive_delta_size(), 0);
  EXPECT_EQ(empty.negative_span_size(), 0);
  EXPECT_TRUE(empty.has_schema());
  EXPECT_TRUE(empty.has_zero_threshold());

  const pb::Histogram& threshold = families[0].metric(2).histogram();
  EXPECT_EQ(threshold.positive_span_size(), 0);
  EXPECT_EQ(threshold.zero_threshold(), 0.001);

  const pb::Histogram& both = families[0].metric(3).histogram();
  EXPECT_EQ(families[0].metric(3).label_size(), 1);
  EXPECT_EQ(both.bucket_size(), 1);
  EXPECT_EQ(both.positive_delta_size(), 1);
  EXPECT_EQ(both.sample_count(), 1u);
}

// --- negotiation

TEST_F(ProtobufTest, NegotiatesPrometheusNativeHistogramAccept) {
  EXPECT_EQ(negotiate_format(kPrometheusAccept), Format::protobuf);
  EXPECT_TRUE(format_available(Format::protobuf));
  EXPECT_EQ(content_type(Format::protobuf),
            "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; "
            "encoding=delimited");
  // Ranked below OpenMetrics: OpenMetrics.
  EXPECT_EQ(negotiate_format("application/vnd.google.protobuf;proto=io.prometheus.client."
                             "MetricFamily;encoding=delimited;q=0.5,application/openmetrics-text"),
            Format::openmetrics);
  // Ties go to the first listed.
  EXPECT_EQ(negotiate_format("text/plain,application/vnd.google.protobuf;proto=io.prometheus."
                             "client.MetricFamily;encoding=delimited"),
            Format::prometheus);
  EXPECT_EQ(negotiate_format("application/vnd.google.protobuf; proto=\"io.prometheus.client."
                             "MetricFamily\"; encoding=\"delimited\", text/plain"),
            Format::protobuf);
  // Other encodings, another message or no proto parameter are not served.
  EXPECT_EQ(negotiate_format("application/vnd.google.protobuf;proto=io.prometheus.client."
                             "MetricFamily;encoding=text"),
            Format::prometheus);
  EXPECT_EQ(negotiate_format("application/vnd.google.protobuf;proto=other.Message;"
                             "encoding=delimited,application/openmetrics-text;q=0.2"),
            Format::openmetrics);
  EXPECT_EQ(negotiate_format("application/vnd.google.protobuf;encoding=delimited"),
            Format::prometheus);
  EXPECT_EQ(negotiate_format("application/vnd.google.protobuf;proto=io.prometheus.client."
                             "MetricFamily;encoding=delimited;q=0"),
            Format::prometheus);
}

TEST_F(ProtobufTest, WithoutTheComponentProtobufIsSkipped) {
  pytheus::detail::install_protobuf_writer(nullptr);
  EXPECT_FALSE(format_available(Format::protobuf));
  EXPECT_EQ(negotiate_format(kPrometheusAccept), Format::openmetrics);
  CollectorRegistry r;
  try {
    generate_metrics(r, Format::protobuf);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("pytheus::protobuf::enable()"), std::string::npos);
  }
  protobuf::enable();
  EXPECT_EQ(negotiate_format(kPrometheusAccept), Format::protobuf);
}

#ifdef PYTHEUS_TEST_HTTP
TEST_F(ProtobufTest, ScrapeHandlerServesProtobufAndGzip) {
  CollectorRegistry r;
  Gauge g("up_gauge", "Up.", {}, {}, &r);
  g.set(1);
  http::ScrapeHandlerOptions o;
  o.process_collector = false;
  http::ScrapeHandler handler(o);
  handler.add("/metrics", r);
  http::ScrapeResponse plain = handler.handle({"GET", "/metrics", {{"Accept", kPrometheusAccept}}});
  ASSERT_EQ(plain.status, 200);
  EXPECT_EQ(http::find_header(plain.headers, "Content-Type").value_or(""),
            std::string(protobuf::kContentType));
  const std::vector<pb::MetricFamily> families = parse(plain.body);
  ASSERT_GE(families.size(), 1u);
  EXPECT_EQ(families[0].name(), "up_gauge");

  http::ScrapeResponse gz = handler.handle(
      {"GET", "/metrics", {{"Accept", kPrometheusAccept}, {"Accept-Encoding", "gzip"}}});
  ASSERT_EQ(gz.status, 200);
  EXPECT_EQ(http::find_header(gz.headers, "Content-Encoding").value_or(""), "gzip");
  // The handler counts protobuf scrapes under their own format label.
  EXPECT_NE(generate_metrics(handler.self_registry()).find("format=\"protobuf\""),
            std::string::npos);
}
#endif

}  // namespace
