// Exemplars on counters and histogram buckets: the API, validation, the trace-id hooks, the
// OpenMetrics lines and custom collectors' exemplars, on the in-memory backends.
#include <pytheus/exemplar.hpp>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "test_helpers.hpp"

namespace {

using namespace pytheus;

class ExemplarTest : public pytheus_test::CoreTest {};

std::string om(const Registry& r) {
  return generate_metrics(r, Format::openmetrics);
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

TEST_F(ExemplarTest, CounterExemplarFollowsTotal) {
  CollectorRegistry r;
  Counter c("requests_total", "Requests.", {"method"}, {}, &r);
  c.labels({{"method", "GET"}}).inc(2, {{"trace_id", "abc"}}, 1700000000.5);
  const std::string text = om(r);
  EXPECT_TRUE(
      contains(text, "requests_total{method=\"GET\"} 2 # {trace_id=\"abc\"} 2 1700000000.5\n"))
      << text;
  // The text format has no exemplars.
  EXPECT_FALSE(contains(generate_metrics(r, Format::prometheus), "trace_id")) << text;
  const auto e = c.labels({{"method", "GET"}}).exemplar();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->labels, (std::vector<std::pair<std::string, std::string>>{{"trace_id", "abc"}}));
  EXPECT_EQ(e->value, 2);
  EXPECT_EQ(e->timestamp, 1700000000.5);
}

TEST_F(ExemplarTest, LatestWinsAndDefaultTimestampIsNow) {
  CollectorRegistry r;
  Counter c("jobs_total", "Jobs.", {}, {}, &r);
  const double before = detail::unix_time_now();
  c.inc(1, {{"trace_id", "first"}});
  c.inc(3, Labels{{"trace_id", "second"}, {"span_id", "s"}});
  const auto e = c.exemplar();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->value, 3);
  EXPECT_EQ(e->labels.size(), 2u);
  ASSERT_TRUE(e->timestamp);
  EXPECT_GE(*e->timestamp, before);
  EXPECT_EQ(c.get(), 4);
  EXPECT_TRUE(contains(om(r), "jobs_total 4 # {span_id=\"s\",trace_id=\"second\"} 3 ")) << om(r);
}

TEST_F(ExemplarTest, HistogramExemplarOnItsBucketOnly) {
  CollectorRegistry r;
  Histogram h("latency_seconds", "Latency.", {}, {}, &r, {0.1, 1, 10});
  h.observe(0.5, {{"trace_id", "t1"}}, 1000);
  h.observe(20, {{"trace_id", "t2"}}, 1001);
  h.observe(0.05);
  const std::string text = om(r);
  EXPECT_TRUE(contains(text, "latency_seconds_bucket{le=\"0.1\"} 1\n")) << text;
  EXPECT_TRUE(contains(text, "latency_seconds_bucket{le=\"1.0\"} 2 # {trace_id=\"t1\"} 0.5 1000\n"))
      << text;
  EXPECT_TRUE(contains(text, "latency_seconds_bucket{le=\"10.0\"} 2\n")) << text;
  EXPECT_TRUE(contains(text, "latency_seconds_bucket{le=\"+Inf\"} 3 # {trace_id=\"t2\"} 20 1001\n"))
      << text;
  const HistogramSnapshot s = h.snapshot();
  ASSERT_EQ(s.exemplars.size(), 4u);
  EXPECT_FALSE(s.exemplars[0]);
  ASSERT_TRUE(s.exemplars[1]);
  EXPECT_EQ(s.exemplars[1]->value, 0.5);
}

TEST_F(ExemplarTest, EscapedLikeLabels) {
  CollectorRegistry r;
  Counter c("odd_total", "Odd.", {}, {}, &r);
  c.inc(1, {{"note", "a \"q\" \\ b\nc 日本"}}, 5);
  EXPECT_TRUE(contains(om(r), "odd_total 1 # {note=\"a \\\"q\\\" \\\\ b\\nc 日本\"} 1 5\n"))
      << om(r);
}

TEST_F(ExemplarTest, Validation) {
  Counter c("checked_total", "x", {}, {}, nullptr);
  Histogram h("checked_seconds", "x", {}, {}, nullptr);
  EXPECT_THROW(c.inc(1, {{"bad-name", "x"}}), LabelError);
  EXPECT_THROW(c.inc(1, {{"trace_id", std::string("\xff")}}), LabelError);
  EXPECT_THROW(c.inc(1, {{"a", "1"}, {"a", "2"}}), LabelError);
  EXPECT_THROW(c.inc(-1, {{"a", "1"}}), InvalidValueError);
  EXPECT_THROW(c.inc(1, {{"a", "1"}}, std::numeric_limits<double>::infinity()), InvalidValueError);
  EXPECT_THROW(h.observe(std::nan(""), {{"a", "1"}}), InvalidValueError);
  // 128 characters, names and values together, fit; 129 do not. Characters, not bytes.
  c.inc(1, {{"trace_id", std::string(120, 'x')}});
  std::string wide;
  for (int i = 0; i < 119; ++i) wide += "日";
  c.inc(1, {{"trace_id", wide}});  // 8 + 119 = 127 characters, 365 bytes
  h.observe(1, {{"trace_id", wide + "😀"}});
  try {
    c.inc(1, {{"trace_id", std::string(121, 'x')}});
    FAIL() << "129 characters accepted";
  } catch (const LabelError& e) {
    EXPECT_TRUE(contains(e.what(), "checked_total")) << e.what();
    EXPECT_TRUE(contains(e.what(), "128")) << e.what();
  }
  EXPECT_EQ(c.get(), 2);  // refused increments did not count
  const auto e = h.snapshot().exemplars;
  ASSERT_EQ(e.size(), h.buckets().size());
}

TEST_F(ExemplarTest, ScopeAttachesToPlainUpdates) {
  CollectorRegistry r;
  Counter c("scoped_total", "x", {"route"}, {}, &r);
  Histogram h("scoped_seconds", "x", {}, {}, &r, {1});
  c.labels({{"route", "/"}}).inc();
  EXPECT_FALSE(c.labels({{"route", "/"}}).exemplar());
  {
    ExemplarScope scope({{"trace_id", "outer"}});
    c.labels({{"route", "/"}}).inc();
    {
      ExemplarScope inner(Labels{{"trace_id", "inner"}});
      { auto timer = h.time(); }
    }
    EXPECT_EQ(c.labels({{"route", "/"}}).exemplar()->labels[0].second, "outer");
    // Another thread has no scope.
    std::thread([&] { c.labels({{"route", "/x"}}).inc(); }).join();
    EXPECT_FALSE(c.labels({{"route", "/x"}}).exemplar());
  }
  ASSERT_TRUE(h.snapshot().exemplars.at(0));
  EXPECT_EQ(h.snapshot().exemplars[0]->labels[0].second, "inner");
  c.labels({{"route", "/y"}}).inc();
  EXPECT_FALSE(c.labels({{"route", "/y"}}).exemplar());
  EXPECT_THROW(ExemplarScope({{"bad name", "x"}}), LabelError);
  EXPECT_EQ(detail::exemplar_hooks.load(), 0);
}

TEST_F(ExemplarTest, Provider) {
  Counter c("provided_total", "x", {}, {}, nullptr);
  std::string current = "t-1";
  set_exemplar_provider([&] { return current.empty() ? Labels{} : Labels{{"trace_id", current}}; });
  c.inc();
  EXPECT_EQ(c.exemplar()->labels[0].second, "t-1");
  current.clear();
  c.inc(5);
  EXPECT_EQ(c.exemplar()->value, 1);  // no trace: no exemplar, the old one stays
  current = std::string(200, 'x');
  EXPECT_THROW(c.inc(), LabelError);
  set_exemplar_provider({});
  EXPECT_EQ(detail::exemplar_hooks.load(), 0);
  current = "t-2";
  c.inc();
  EXPECT_EQ(c.exemplar()->labels[0].second, "t-1");
}

struct ExemplarCollector : Collector {
  std::optional<Exemplar> e;
  std::vector<MetricFamily> collect() const override {
    Sample s{"", {}, 7, e};
    return {{"custom_total", "Custom.", MetricType::counter, "", {s}}};
  }
};

TEST_F(ExemplarTest, CustomCollectorSamples) {
  CollectorRegistry r;
  auto col = std::make_shared<ExemplarCollector>();
  col->e = Exemplar{{{"trace_id", "c1"}}, 7, 12.25};
  r.register_collector(col);
  EXPECT_TRUE(contains(om(r), "custom_total 7 # {trace_id=\"c1\"} 7 12.25\n")) << om(r);
  EXPECT_EQ(collect(r).at(0).samples.at(0).exemplar, col->e);
  col->e = Exemplar{{{"trace_id", std::string(130, 'x')}}, 7, std::nullopt};
  EXPECT_THROW(om(r), CollectError);
}

TEST_F(ExemplarTest, ConcurrentWritersAndReaders) {
  // Every exemplar read is one a writer wrote whole: label and value agree.
  Histogram h("busy_seconds", "x", {}, {}, nullptr, {1});
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (int t = 0; t < 3; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; !stop.load(); ++i) {
        const double v = (t * 1000000 + i % 1000) * 1e-9;
        h.observe(v, {{"trace_id",
                       std::to_string(v) + std::string(static_cast<std::size_t>(t) * 30, 'p')}});
      }
    });
  }
  for (int i = 0; i < 2000; ++i) {
    const auto e = h.snapshot().exemplars;
    if (e.empty() || !e[0]) continue;
    const std::string& label = e[0]->labels.at(0).second;
    ASSERT_EQ(label.substr(0, std::to_string(e[0]->value).size()), std::to_string(e[0]->value));
  }
  stop = true;
  for (auto& w : writers) w.join();
}

}  // namespace
