// `_created` across processes on the shared files: the earliest creation of a series wins (an
// atomic min in its index record), remove() zeroes it so that a series created again is dated
// anew, and a series only other processes have shows their time.
#include <chrono>
#include <thread>

#include "file_test_helpers.hpp"

namespace pytheus_test {
namespace {

using pytheus::CollectorRegistry;

struct Metrics {
  CollectorRegistry reg;
  pytheus::Counter c{"jobs_total", "Jobs.", {"k"}, {}, &reg};
  pytheus::Counter plain{"runs_total", "Runs.", {}, {}, &reg};
  pytheus::Histogram h{"wait_seconds", "Wait.", {"k"}, {}, &reg, pytheus::Buckets{1}};
  pytheus::Summary s{"size_bytes", "Sizes.", {}, {}, &reg};
  pytheus::Gauge g{"level", "Level.", {"k"}, {}, &reg};

  void touch(const std::string& own) {
    c.labels({{"k", "shared"}}).inc();
    c.labels({{"k", own}}).inc();
    plain.inc();
    h.labels({{"k", "shared"}}).observe(0.5);
    s.observe(2);
    g.labels({{"k", "shared"}}).set(1);
  }
};

// The `_created` samples of the labelled series "shared", in one scrape: jobs, wait.
std::vector<double> shared_created(Metrics& m) {
  const auto f = pytheus::collect(m.reg);
  return {sample(f, "jobs_total_created", {{"k", "shared"}}),
          sample(f, "wait_seconds_created", {{"k", "shared"}})};
}

// The same of the unlabelled series, which exist from the metric's construction: runs, size.
std::vector<double> unlabelled_created(Metrics& m) {
  const auto f = pytheus::collect(m.reg);
  return {sample(f, "runs_total_created"), sample(f, "size_bytes_created")};
}

// A time strictly after every time read so far (the clock may have a coarse step).
double next_time() {
  const double now = pytheus::detail::unix_time_now();
  while (pytheus::detail::unix_time_now() <= now + 0.002) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return pytheus::detail::unix_time_now();
}

}  // namespace

TEST_F(FileBackendTest, CreatedIsTheEarliestProcesssAcrossProcesses) {
  const double start = next_time();
  Metrics m;
  std::vector<std::pair<double, double>> window;
  for (int i = 0; i < 4; ++i) {
    const double begin = next_time();
    const pid_t pid = spawn([&m, i] { m.touch("own" + std::to_string(i)); });
    ASSERT_EQ(wait_child(pid), 0);
    window.emplace_back(begin, next_time());
  }
  for (const double created : shared_created(m)) {
    EXPECT_GE(created, window[0].first);
    EXPECT_LE(created, window[0].second);
  }
  // The parent made the unlabelled series (with the metrics) and never wrote them: still the
  // earliest creation, which the first child recorded.
  for (const double created : unlabelled_created(m)) {
    EXPECT_GE(created, start);
    EXPECT_LE(created, window[0].first);
  }
  const auto f = pytheus::collect(m.reg);
  for (int i = 0; i < 4; ++i) {
    const double own = sample(f, "jobs_total_created", {{"k", "own" + std::to_string(i)}});
    EXPECT_GE(own, window[i].first) << i;
    EXPECT_LE(own, window[i].second) << i;
  }
  EXPECT_TRUE(samples(f, "level_created", {{"k", "shared"}}).empty());

  // remove() and clear() in the parent (which never used the series) forget the time: the
  // series created again is dated anew.
  const double before_remove = next_time();
  m.c.labels({{"k", "shared"}});
  EXPECT_TRUE(m.c.remove({{"k", "shared"}}));
  m.h.labels({{"k", "shared"}});
  m.h.clear();
  m.touch("parent");
  const double after_touch = next_time();
  for (const double created : shared_created(m)) {
    EXPECT_GE(created, before_remove);
    EXPECT_LE(created, after_touch);
  }
  // A later process keeps the earliest time.
  const std::vector<double> parents = shared_created(m);
  const pid_t pid = spawn([] {
    Metrics later;
    later.touch("late");
  });
  ASSERT_EQ(wait_child(pid), 0);
  EXPECT_EQ(shared_created(m), parents);

  // The switch turns them off on this backend too.
  pytheus::set_created_samples(false);
  EXPECT_TRUE(samples(pytheus::collect(m.reg), "jobs_total_created", {{"k", "shared"}}).empty());
  EXPECT_EQ(pytheus::generate_metrics(m.reg, pytheus::Format::openmetrics).find("_created"),
            std::string::npos);
  pytheus::set_created_samples(true);
}

}  // namespace pytheus_test
