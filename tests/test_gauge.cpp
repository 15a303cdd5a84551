#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <thread>

#include "pytheus/testutil.hpp"
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
}

// Redis cannot add to an infinite value: every backend refuses them the same way.
TEST_F(GaugeTest, NanAndInfinitiesAreRefused) {
  Gauge g("g", "x", {}, {}, nullptr);
  const double inf = std::numeric_limits<double>::infinity();
  for (double bad : {std::nan(""), inf, -inf}) {
    EXPECT_THROW(g.set(bad), InvalidValueError);
    EXPECT_THROW(g.inc(bad), InvalidValueError);
    EXPECT_THROW(g.dec(bad), InvalidValueError);
  }
  EXPECT_EQ(g.get(), 0);
  try {
    g.set(inf);
  } catch (const InvalidValueError& e) {
    EXPECT_NE(std::string(e.what()).find("set(+Inf)"), std::string::npos) << e.what();
  }
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

TEST_F(GaugeTest, EveryModeIsItsOneProcessCaseInMemory) {
  CollectorRegistry r;
  const std::string pid = std::to_string(getpid());
  for (GaugeMode mode :
       {GaugeMode::shared, GaugeMode::sum, GaugeMode::max, GaugeMode::min, GaugeMode::mostrecent,
        GaugeMode::livesum, GaugeMode::livemax, GaugeMode::livemin, GaugeMode::livemostrecent}) {
    CollectorRegistry one;
    Gauge g("mode_gauge", "m", {}, {}, &one, mode);
    g.set(7);
    g.inc(2);
    EXPECT_EQ(generate_metrics(one), "# HELP mode_gauge m\n# TYPE mode_gauge gauge\nmode_gauge 9\n")
        << to_string(mode);
  }
  for (GaugeMode mode : {GaugeMode::all, GaugeMode::liveall}) {
    CollectorRegistry one;
    Gauge g("mode_gauge", "m", {"queue"}, {}, &one, mode);
    g.labels({{"queue", "a"}}).set(3);
    EXPECT_EQ(generate_metrics(one),
              "# HELP mode_gauge m\n# TYPE mode_gauge gauge\n"
              "mode_gauge{queue=\"a\",pid=\"" +
                  pid + "\"} 3\n")
        << to_string(mode);
  }
}

TEST_F(GaugeTest, ModeNamesRoundTripAndBadUsesAreRefused) {
  for (const char* name : {"shared", "all", "sum", "max", "min", "mostrecent", "liveall", "livesum",
                           "livemax", "livemin", "livemostrecent"}) {
    EXPECT_EQ(to_string(parse_gauge_mode(name)), name);
  }
  EXPECT_EQ(parse_gauge_mode("average"), GaugeMode::backend_default);
  MetricOptions counter_opts;
  counter_opts.name = "not_a_gauge_total";
  counter_opts.registry = nullptr;
  counter_opts.gauge_mode = GaugeMode::sum;
  EXPECT_THROW(Counter{counter_opts}, InvalidValueError);
  MetricOptions clash;
  clash.name = "clash_gauge";
  clash.registry = nullptr;
  clash.required_labels = {"pid"};
  clash.gauge_mode = GaugeMode::all;
  EXPECT_THROW(Gauge{clash}, LabelError);
  clash.process_label = "worker";
  Gauge ok{clash};
  ok.labels({{"pid", "x"}}).set(1);
  EXPECT_NE(testutil::collect_text(ok.collector()).find("clash_gauge{pid=\"x\",worker=\""),
            std::string::npos);
}
