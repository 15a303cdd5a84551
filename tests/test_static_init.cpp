// Metrics defined as globals (in another translation unit) before main() loads a backend end
// up on the loaded backend, including one that was used before the load.
#include "test_helpers.hpp"

extern pytheus::Counter g_global_requests;
extern pytheus::Counter g_global_early;
extern pytheus::Histogram g_global_latency;

using pytheus_test::RecordingBackend;

TEST(StaticInit, GlobalsEndUpOnTheLoadedBackend) {
  pytheus_test::register_recording_backend();
  RecordingBackend::reset();
  // What main() of a service does first.
  pytheus::load_backend("RecordingBackend");

  g_global_requests.labels({{"code", "200"}}).inc();
  g_global_latency.observe(0.5);
  g_global_early.inc();
  EXPECT_EQ(RecordingBackend::value("global_requests_total|code=200"), 1);
  EXPECT_EQ(RecordingBackend::value("global_latency_seconds:1"), 1);
  EXPECT_EQ(RecordingBackend::value("global_latency_seconds:count"), 1);
  // Used during static init on the default backend, then carried over: 2 + 1.
  EXPECT_EQ(RecordingBackend::value("global_early_total"), 3);
  EXPECT_EQ(g_global_early.get(), 3);
}
