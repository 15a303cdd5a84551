#include <chrono>
#include <thread>

#include "test_helpers.hpp"

using namespace pytheus;
using pytheus_test::CoreTest;

class SummaryTest : public CoreTest {};

TEST_F(SummaryTest, SumAndCount) {
  Summary s("payload_bytes", "Payload sizes.", {}, {}, nullptr);
  s.observe(512);
  s.observe(0.5);
  s.observe(-2);
  HistogramSnapshot snap = s.snapshot();
  EXPECT_EQ(snap.count, 3);
  EXPECT_EQ(snap.sum, 510.5);
  EXPECT_TRUE(snap.buckets.empty());
  EXPECT_THROW(s.observe(std::nan("")), InvalidValueError);
}

TEST_F(SummaryTest, Exposition) {
  CollectorRegistry r;
  Summary s("payload_bytes", "Payload sizes.", {"kind"}, {}, &r);
  s.labels({{"kind", "json"}}).observe(10);
  EXPECT_EQ(generate_metrics(r),
            "# HELP payload_bytes Payload sizes.\n"
            "# TYPE payload_bytes summary\n"
            "payload_bytes_count{kind=\"json\"} 1\n"
            "payload_bytes_sum{kind=\"json\"} 10\n");
}

TEST_F(SummaryTest, Timing) {
  Summary s("job_seconds", "x", {}, {}, nullptr);
  {
    auto t = s.time();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  s.time([] {});
  s.wrap_time([] {})();
  EXPECT_EQ(s.snapshot().count, 3);
  EXPECT_GE(s.snapshot().sum, 0.009);
}

TEST_F(SummaryTest, StaticBackend) {
  BasicSummary<AtomicBackend> s("s", "x", {}, {}, nullptr);
  s.observe(1);
  s.observe(2);
  EXPECT_EQ(s.snapshot().count, 2);
  EXPECT_EQ(s.snapshot().sum, 3);
}
