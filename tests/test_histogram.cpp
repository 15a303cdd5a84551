#include <chrono>
#include <limits>
#include <thread>

#include "test_helpers.hpp"

using namespace pytheus;
using pytheus_test::CoreTest;

class HistogramTest : public CoreTest {};

TEST_F(HistogramTest, DefaultBuckets) {
  Histogram h("h", "x", {}, {}, nullptr);
  const std::vector<double> expected = {
      0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
      0.5,   1,    2.5,   5,    10,  std::numeric_limits<double>::infinity()};
  EXPECT_EQ(h.buckets(), expected);
  EXPECT_EQ(h.descriptor().le_values,
            (std::vector<std::string>{"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1",
                                      "2.5", "5", "10", "+Inf"}));
}

TEST_F(HistogramTest, ObservationsLandInCumulativeBuckets) {
  Histogram h("h", "x", {}, {}, nullptr, {1, 2, 5});
  h.observe(0.5);
  h.observe(1);  // a value equal to a bound belongs to that bucket (le)
  h.observe(3);
  h.observe(100);
  h.observe(-1);
  HistogramSnapshot s = h.snapshot();
  EXPECT_EQ(s.buckets, (std::vector<double>{3, 3, 4, 5}));
  EXPECT_EQ(s.count, 5);
  EXPECT_EQ(s.sum, 103.5);
}

TEST_F(HistogramTest, NonFiniteObservationsAreRefused) {
  Histogram h("h", "x", {}, {}, nullptr, {1});
  h.observe(1e300);  // above every bound: the +Inf bucket
  EXPECT_THROW(h.observe(std::numeric_limits<double>::infinity()), InvalidValueError);
  EXPECT_THROW(h.observe(-std::numeric_limits<double>::infinity()), InvalidValueError);
  EXPECT_THROW(h.observe(std::nan("")), InvalidValueError);
  EXPECT_EQ(h.snapshot().buckets, (std::vector<double>{0, 1}));
  EXPECT_EQ(h.snapshot().count, 1);
}

TEST_F(HistogramTest, CustomBucketsAreCheckedAndInfAdded) {
  EXPECT_THROW(Histogram("h", "x", {}, {}, nullptr, std::vector<double>{}), BucketError);
  EXPECT_THROW(Histogram("h", "x", {}, {}, nullptr, {1, 1}), BucketError);
  EXPECT_THROW(Histogram("h", "x", {}, {}, nullptr, {2, 1}), BucketError);
  EXPECT_THROW(Histogram("h", "x", {}, {}, nullptr, {1, std::nan("")}), BucketError);
  try {
    Histogram("latency", "x", {}, {}, nullptr, {0.5, 0.25});
    FAIL();
  } catch (const BucketError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("\"latency\""), std::string::npos) << m;
    EXPECT_NE(m.find("0.25"), std::string::npos) << m;
  }
  Histogram with_inf("h", "x", {}, {}, nullptr, {1, std::numeric_limits<double>::infinity()});
  EXPECT_EQ(with_inf.buckets().size(), 2u);
  Histogram only_inf("h", "x", {}, {}, nullptr, {std::numeric_limits<double>::infinity()});
  EXPECT_EQ(only_inf.buckets().size(), 1u);
}

TEST_F(HistogramTest, BucketHelpers) {
  EXPECT_EQ(linear_buckets(1, 0.5, 4), (std::vector<double>{1, 1.5, 2, 2.5}));
  EXPECT_EQ(exponential_buckets(1, 2, 4), (std::vector<double>{1, 2, 4, 8}));
  EXPECT_THROW(linear_buckets(0, 1, 0), BucketError);
  EXPECT_THROW(linear_buckets(0, 0, 3), BucketError);
  EXPECT_THROW(exponential_buckets(0, 2, 3), BucketError);
  EXPECT_THROW(exponential_buckets(1, 1, 3), BucketError);
  Histogram h("h", "x", {}, {}, nullptr, exponential_buckets(0.001, 10, 4));
  EXPECT_EQ(h.descriptor().le_values,
            (std::vector<std::string>{"0.001", "0.01", "0.1", "1", "+Inf"}));
}

TEST_F(HistogramTest, TimeObservesElapsedSeconds) {
  Histogram h("h", "x", {}, {}, nullptr);
  {
    auto t = h.time();
    std::this_thread::sleep_for(std::chrono::milliseconds(15));
  }
  EXPECT_EQ(h.snapshot().count, 1);
  EXPECT_GE(h.snapshot().sum, 0.014);
  EXPECT_EQ(h.time([] { return 7; }), 7);
  auto f = h.wrap_time([](int a, int b) { return a + b; });
  EXPECT_EQ(f(2, 3), 5);
  EXPECT_EQ(h.snapshot().count, 3);
  auto t = h.time();
  double recorded = t.stop();
  EXPECT_GE(recorded, 0);
  EXPECT_EQ(h.snapshot().count, 4);
}

TEST_F(HistogramTest, ExpositionHasBucketsCountAndSum) {
  CollectorRegistry r;
  Histogram h("req_seconds", "Latency.", {"route"}, {}, &r, {0.1, 1});
  h.labels({{"route", "/a"}}).observe(0.05);
  h.labels({{"route", "/a"}}).observe(0.5);
  EXPECT_EQ(generate_metrics(r),
            "# HELP req_seconds Latency.\n"
            "# TYPE req_seconds histogram\n"
            "req_seconds_bucket{route=\"/a\",le=\"0.1\"} 1\n"
            "req_seconds_bucket{route=\"/a\",le=\"1\"} 2\n"
            "req_seconds_bucket{route=\"/a\",le=\"+Inf\"} 2\n"
            "req_seconds_count{route=\"/a\"} 2\n"
            "req_seconds_sum{route=\"/a\"} 0.55\n");
}

TEST_F(HistogramTest, StaticBackendsKeepTheInvariant) {
  BasicHistogram<AtomicBackend> a("a", "x", {}, {}, nullptr, {1, 2});
  BasicHistogram<ShardedBackend> s("s", "x", {}, {}, nullptr, {1, 2});
  for (double v : {0.5, 1.5, 3.0}) {
    a.observe(v);
    s.observe(v);
  }
  for (const auto& snap : {a.snapshot(), s.snapshot()}) {
    EXPECT_EQ(snap.buckets, (std::vector<double>{1, 2, 3}));
    EXPECT_EQ(snap.count, 3);
    EXPECT_EQ(snap.sum, 5);
  }
}
