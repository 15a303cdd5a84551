#include <chrono>
#include <stdexcept>
#include <thread>

#include "test_helpers.hpp"

using namespace pytheus;
using pytheus_test::CoreTest;

class GaugeTest : public CoreTest {};

TEST_F(GaugeTest, IncDecSet) {
  Gauge g("in_flight", "x", {}, {}, nullptr);
  g.set(3);
  g.inc();
  g.dec();
  g.dec(0.5);
  g.inc(-2);  // a gauge may go down through inc
  EXPECT_EQ(g.get(), 0.5);
  g.set(-7.25);
  EXPECT_EQ(g.get(), -7.25);
  g.set(std::numeric_limits<double>::infinity());
  EXPECT_EQ(g.get(), std::numeric_limits<double>::infinity());
}

TEST_F(GaugeTest, NanIsRefused) {
  Gauge g("g", "x", {}, {}, nullptr);
  EXPECT_THROW(g.set(std::nan("")), InvalidValueError);
  EXPECT_THROW(g.inc(std::nan("")), InvalidValueError);
  EXPECT_THROW(g.dec(std::nan("")), InvalidValueError);
  EXPECT_EQ(g.get(), 0);
}

TEST_F(GaugeTest, SetToCurrentTime) {
  Gauge g("last_run", "x", {}, {}, nullptr);
  const double before =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  g.set_to_current_time();
  const double after =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_GE(g.get(), before);
  EXPECT_LE(g.get(), after);
}

TEST_F(GaugeTest, TrackInprogressAlsoOnException) {
  Gauge g("in_flight", "x", {}, {}, nullptr);
  {
    auto a = g.track_inprogress();
    auto b = g.track_inprogress();
    EXPECT_EQ(g.get(), 2);
  }
  EXPECT_EQ(g.get(), 0);
  try {
    auto guard = g.track_inprogress();
    EXPECT_EQ(g.get(), 1);
    throw std::runtime_error("x");
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(g.get(), 0);
  EXPECT_EQ(g.track_inprogress([&] { return g.get(); }), 1);
  auto wrapped = g.wrap_track_inprogress([&](int x) { return g.get() + x; });
  EXPECT_EQ(wrapped(10), 11);
  EXPECT_THROW(g.track_inprogress([]() { throw std::runtime_error("x"); }), std::runtime_error);
  EXPECT_EQ(g.get(), 0);
}

TEST_F(GaugeTest, TimeSetsTheElapsedSeconds) {
  Gauge g("last_duration_seconds", "x", {}, {}, nullptr);
  {
    auto t = g.time();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_GE(g.get(), 0.019);
  EXPECT_LT(g.get(), 10);
  g.time([] {});
  EXPECT_LT(g.get(), 0.019);
  auto wrapped = g.wrap_time([] { std::this_thread::sleep_for(std::chrono::milliseconds(20)); });
  wrapped();
  EXPECT_GE(g.get(), 0.019);
}

TEST_F(GaugeTest, MovedTimerRecordsOnce) {
  Gauge g("g", "x", {}, {}, nullptr);
  g.set(-1);
  auto outer = [&] {
    auto t = g.time();
    return t;  // moved out: only the moved-to timer records
  };
  {
    auto t = outer();
    EXPECT_EQ(g.get(), -1);
  }
  EXPECT_GE(g.get(), 0);
}
