// The hot paths allocate nothing in steady state: inc, observe, set, and labels() lookups of
// existing children, on the loaded backend and on static ones. A replaced global operator
// new (allocation_counter.hpp) counts every allocation made while a window is open.
#include "allocation_counter.hpp"
#include "test_helpers.hpp"

namespace {

using pytheus_test::allocations_in;

template <class B>
void check_hot_paths() {
  using namespace pytheus;
  BasicCounter<B> requests("requests_total", "x", {"method", "code"}, {}, nullptr);
  BasicCounter<B> hits("hits_total", "x", {}, {}, nullptr);
  BasicGauge<B> in_flight("in_flight", "x", {}, {}, nullptr);
  BasicHistogram<B> latency("latency_seconds", "x", {"route"}, {{"route", "/"}}, nullptr);
  BasicSummary<B> sizes("sizes_bytes", "x", {}, {}, nullptr);
  BasicHistogram<B> native("native_seconds", "x", {}, {}, nullptr, {}, NativeHistogramOptions{});
  // Warm up: create the children and bind every value once.
  requests.labels({{"method", "GET"}, {"code", "200"}}).inc();
  auto get = requests.labels({{"method", "GET"}});
  get.labels({{"code", "200"}}).inc();
  hits.inc();
  in_flight.set(1);
  latency.observe(0.1);
  latency.labels({{"route", "/api"}}).observe(0.1);
  sizes.observe(1);
  for (int i = 0; i < 10000; ++i) native.observe(i * 0.001 - 1);  // every native bucket used

  const long n = allocations_in([&] {
    for (int i = 0; i < 10000; ++i) {
      requests.labels({{"method", "GET"}, {"code", "200"}}).inc();
      requests.labels({{"code", "200"}, {"method", "GET"}}).inc(2);
      get.labels({{"code", "200"}}).inc();
      hits.inc();
      in_flight.inc();
      in_flight.dec();
      in_flight.set(i);
      latency.observe(i * 0.001);
      latency.labels({{"route", "/api"}}).observe(0.2);
      sizes.observe(i);
      native.observe(i * 0.001 - 1);
      auto copy = requests;  // copying a handle is free too
      copy.labels({{"method", "GET"}, {"code", "200"}}).inc();
    }
  });
  EXPECT_EQ(n, 0) << "allocations on the hot path";
  EXPECT_EQ(requests.labels({{"method", "GET"}, {"code", "200"}}).get(), 2 + 10000 * 5);
}

class AllocationTest : public pytheus_test::CoreTest {};

}  // namespace

TEST_F(AllocationTest, CountingWorks) {
  // The counter is real: a window around an allocation sees it.
  // The pointer goes through a volatile: GCC removes a new/delete pair it can see whole.
  EXPECT_GE(allocations_in([] {
              int* volatile p = new int(1);
              delete p;
            }),
            1);
}

TEST_F(AllocationTest, LoadedSingleProcessBackend) {
  check_hot_paths<pytheus::LoadedBackend>();
}

TEST_F(AllocationTest, LoadedAtomicBackend) {
  pytheus::load_backend("AtomicBackend");
  check_hot_paths<pytheus::LoadedBackend>();
}

TEST_F(AllocationTest, StaticBackends) {
  check_hot_paths<pytheus::SingleProcessBackend>();
  check_hot_paths<pytheus::AtomicBackend>();
  check_hot_paths<pytheus::ShardedBackend>();
}

// Exemplars: after a series' first exemplar (which allocates its cells once), recording one
// allocates nothing, nor does a plain update inside an ExemplarScope.
template <class B>
void check_exemplar_paths() {
  using namespace pytheus;
  BasicCounter<B> requests("requests_total", "x", {"method"}, {}, nullptr);
  BasicHistogram<B> latency("latency_seconds", "x", {}, {}, nullptr);
  const std::string trace = "4bf92f3577b34da6a3ce929d0e0e4736";
  requests.labels({{"method", "GET"}}).inc(1, {{"trace_id", trace}});
  latency.observe(0.1, {{"trace_id", trace}});
  const long n = allocations_in([&] {
    for (int i = 0; i < 1000; ++i) {
      requests.labels({{"method", "GET"}}).inc(1, {{"trace_id", trace}, {"span_id", "00f067aa"}});
      latency.observe(i * 0.001, {{"trace_id", trace}}, 1700000000.5);
      ExemplarScope scope({{"trace_id", trace}});
      requests.labels({{"method", "GET"}}).inc();
      latency.observe(0.2);
    }
  });
  EXPECT_EQ(n, 0) << "allocations recording exemplars";
  ASSERT_TRUE(requests.labels({{"method", "GET"}}).exemplar());
}

TEST_F(AllocationTest, Exemplars) {
  check_exemplar_paths<pytheus::LoadedBackend>();
  check_exemplar_paths<pytheus::SingleProcessBackend>();
  check_exemplar_paths<pytheus::AtomicBackend>();
}
