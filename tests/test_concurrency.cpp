// Many threads on one metric: exact totals, one child per label set, and histogram
// snapshots that never show a half-applied observation.
#include <atomic>
#include <thread>
#include <vector>

#include "test_helpers.hpp"

using namespace pytheus;
using pytheus_test::CoreTest;

class ConcurrencyTest : public CoreTest, public ::testing::WithParamInterface<const char*> {
 protected:
  void SetUp() override {
    CoreTest::SetUp();
    load_backend(GetParam());
  }
};

TEST_P(ConcurrencyTest, ExactTotalsFromManyThreads) {
  Counter c("c_total", "x", {"k"}, {}, nullptr);
  Gauge g("g", "x", {}, {}, nullptr);
  constexpr int kThreads = 4, kIters = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kIters; ++i) {
        // Half the threads give the labels freshly each time, half use a cached handle.
        if (t % 2) {
          c.labels({{"k", "same"}}).inc();
        } else {
          static thread_local auto cached = c.labels({{"k", "same"}});
          cached.inc();
        }
        g.inc();
        g.dec(0.5);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.labels({{"k", "same"}}).get(), kThreads * kIters);
  EXPECT_EQ(g.get(), kThreads * kIters * 0.5);
  EXPECT_EQ(c.collector()->label_sets().size(), 1u);
}

TEST_P(ConcurrencyTest, ConcurrentChildCreationGivesOneSeriesPerLabelSet) {
  Counter c("c_total", "x", {"a", "b"}, {}, nullptr);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        const std::string v = std::to_string(i);
        if (t % 2) {
          c.labels({{"a", v}, {"b", v}}).inc();
        } else {
          c.labels({{"b", v}, {"a", v}}).inc();
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  auto sets = c.collector()->label_sets();
  EXPECT_EQ(sets.size(), 200u);
  for (int i = 0; i < 200; ++i) {
    const std::string v = std::to_string(i);
    EXPECT_EQ(c.labels({{"a", v}, {"b", v}}).get(), 4);
  }
}

TEST_P(ConcurrencyTest, HistogramSnapshotsAreConsistentUnderLoad) {
  Histogram h("h", "x", {}, {}, nullptr, {0.1, 0.2, 0.5, 1});
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (int t = 0; t < 2; ++t) {
    writers.emplace_back([&, t] {
      double v = t * 0.3;
      while (!stop.load(std::memory_order_relaxed)) {
        h.observe(v);
        v = v > 2 ? 0 : v + 0.07;
      }
    });
  }
  for (int scrape = 0; scrape < 2000; ++scrape) {
    HistogramSnapshot s = h.snapshot();
    ASSERT_EQ(s.buckets.back(), s.count) << "scrape " << scrape;
    for (std::size_t i = 1; i < s.buckets.size(); ++i) {
      ASSERT_LE(s.buckets[i - 1], s.buckets[i]) << "scrape " << scrape;
    }
  }
  stop = true;
  for (auto& t : writers) t.join();
}

TEST_P(ConcurrencyTest, ScrapesWhileChildrenAreCreatedAndRemoved) {
  CollectorRegistry r;
  Counter c("churn_total", "x", {"k"}, {}, &r);
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    int i = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      const std::string k = std::to_string(i++ % 50);
      c.labels({{"k", k}}).inc();
      if (i % 7 == 0) c.remove({{"k", k}});
      if (i % 1000 == 0) c.clear();
    }
  });
  for (int i = 0; i < 300; ++i) {
    std::string text = generate_metrics(r);
    ASSERT_EQ(text.rfind("# HELP churn_total x\n# TYPE churn_total counter\n", 0), 0u);
  }
  stop = true;
  writer.join();
}

INSTANTIATE_TEST_SUITE_P(Backends, ConcurrencyTest,
                         ::testing::Values("SingleProcessBackend", "AtomicBackend",
                                           "ShardedBackend"));
