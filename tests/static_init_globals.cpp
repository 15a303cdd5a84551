// Globals of another translation unit: constructed before main(), before any backend is
// loaded by the test. One of them is even used during static initialisation.
#include <pytheus/pytheus.hpp>

pytheus::Counter g_global_requests("global_requests_total", "Defined as a global.", {"code"}, {},
                                   nullptr);
pytheus::Counter g_global_early("global_early_total", "Used during static init.", {}, {}, nullptr);
pytheus::Histogram g_global_latency("global_latency_seconds", "Global histogram.", {}, {}, nullptr,
                                    {1});

namespace {
const bool g_used_early = [] {
  g_global_early.inc(2);
  return true;
}();
}  // namespace
