// MultiProcessFileBackend's updates allocate nothing: inc(), dec(), set() of every gauge kind
// and observe() of histograms and summaries, once their series exist (and also right after a
// fork, where the first update takes a new slot: that one may allocate, the next do not),
// native histograms included.
#include <gtest/gtest.h>

#include "allocation_counter.hpp"
#include "file_test_helpers.hpp"

namespace pytheus_test {
namespace {

namespace ac = allocation_counter;

template <class F>
long allocations_in(F&& f) {
  ac::allocations = 0;
  ac::counting = true;
  f();
  ac::counting = false;
  return ac::allocations.load();
}

TEST_F(FileBackendTest, UpdatesAllocateNothing) {
  pytheus::CollectorRegistry reg;
  pytheus::Counter c("c", "C.", {}, {}, &reg);
  pytheus::Gauge shared("g_shared", "G.", {}, {}, &reg, pytheus::GaugeMode::shared);
  pytheus::Gauge sum("g_sum", "G.", {}, {}, &reg, pytheus::GaugeMode::livesum);
  pytheus::Gauge recent("g_recent", "G.", {}, {}, &reg, pytheus::GaugeMode::mostrecent);
  pytheus::Histogram h("h", "H.", {}, {}, &reg);
  pytheus::Summary s("s", "S.", {}, {}, &reg);
  pytheus::Histogram native("n", "N.", {}, {}, &reg, {}, pytheus::NativeHistogramOptions{});
  auto warm = [&] {
    c.inc();
    shared.inc();
    sum.set(1);
    recent.dec();
    h.observe(0.2);
    s.observe(3);
    // Native buckets: within their window, an observation is increments under the
    // region's lock (only a value outside it rebuilds the window, which may allocate).
    native.observe(0.2);
    native.observe(-3);
    native.observe(0);
  };
  warm();  // binds every series
  EXPECT_EQ(allocations_in([&] {
              for (int i = 0; i < 1000; ++i) warm();
            }),
            0);
  const pid_t pid = spawn([&] {
    warm();  // a slot of its own
    const long n = allocations_in([&] {
      for (int i = 0; i < 1000; ++i) warm();
    });
    if (n != 0) throw std::runtime_error(std::to_string(n) + " allocations after fork");
  });
  EXPECT_EQ(wait_child(pid), 0);
}

}  // namespace
}  // namespace pytheus_test
