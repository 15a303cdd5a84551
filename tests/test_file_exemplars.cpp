// Exemplars on MultiProcessFileBackend: every process's reach the scrape, one per counter
// series and histogram bucket, the latest by timestamp across process slots; none torn
// while processes write; cleared by remove().
#include <atomic>
#include <cstdio>
#include <string>

#include "exposition_parsers.hpp"
#include "file_test_helpers.hpp"

namespace pytheus_test {
namespace {

using pytheus::CollectorRegistry;
using pytheus::Exemplar;

struct Metrics {
  CollectorRegistry reg;
  pytheus::Counter requests{"requests_total", "Requests.", {"method"}, {}, &reg};
  pytheus::Histogram latency{"latency", "Latency.", {}, {}, &reg, pytheus::Buckets{0.25, 0.5, 1}};
};

double observed(int w, int i) {
  return ((w * 7 + i) % 6) * 0.25;
}

const Exemplar* exemplar_of(const std::vector<pytheus::MetricFamily>& families,
                            const std::string& name, const std::string& suffix,
                            const std::string& le = "") {
  for (const auto& f : families) {
    if (f.name != name) continue;
    for (const auto& s : f.samples) {
      if (s.suffix != suffix || !s.exemplar) continue;
      bool match = le.empty();
      for (const auto& [n, v] : s.labels) match = match || (n == "le" && v == le);
      if (match) return &*s.exemplar;
    }
  }
  return nullptr;
}

TEST_F(FileBackendTest, FourProcessesOneExemplarPerBucketFromARealObservation) {
  Metrics m;
  std::vector<pid_t> pids;
  for (int w = 0; w < 4; ++w) {
    pids.push_back(spawn([&, w] {
      for (int i = 0; i < 300; ++i) {
        const std::string trace = "w" + std::to_string(w) + "-" + std::to_string(i);
        m.latency.observe(observed(w, i), {{"trace_id", trace}});
        m.requests.labels({{"method", "GET"}}).inc(1, {{"trace_id", trace}});
      }
    }));
  }
  for (pid_t pid : pids) ASSERT_EQ(wait_child(pid), 0);
  const auto f = pytheus::collect(m.reg);
  const double bounds[] = {0.25, 0.5, 1, std::numeric_limits<double>::infinity()};
  const char* les[] = {"0.25", "0.5", "1", "+Inf"};
  for (int b = 0; b < 4; ++b) {
    const Exemplar* e = exemplar_of(f, "latency", "_bucket", les[b]);
    ASSERT_NE(e, nullptr) << "no exemplar on bucket " << les[b];
    int w = -1, i = -1;
    ASSERT_EQ(std::sscanf(e->labels.at(0).second.c_str(), "w%d-%d", &w, &i), 2);
    EXPECT_EQ(e->value, observed(w, i));
    EXPECT_LE(e->value, bounds[b]);
    if (b > 0) {
      EXPECT_GT(e->value, bounds[b - 1]);
    }
  }
  const Exemplar* r = exemplar_of(f, "requests_total", "");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->value, 1);
  const std::string om = pytheus::generate_metrics(m.reg, pytheus::Format::openmetrics);
  EXPECT_NE(om.find("latency_bucket{le=\"+Inf\"} 1200 # {trace_id=\"w"), std::string::npos) << om;
  // promtool and both of prometheus_client's parsers accept it, exemplars included.
  EXPECT_EQ(parser_problems(pytheus::generate_metrics(m.reg), om), "");
}

TEST_F(FileBackendTest, LatestExemplarByTimestampWinsAcrossSlots) {
  Metrics m;
  // The later timestamp is written first, by another process.
  ASSERT_EQ(wait_child(spawn([&] {
              m.requests.labels({{"method", "GET"}}).inc(1, {{"trace_id", "late"}}, 2000);
              m.latency.observe(0.1, {{"trace_id", "late"}}, 2000);
            })),
            0);
  m.requests.labels({{"method", "GET"}}).inc(1, {{"trace_id", "early"}}, 1000);
  m.latency.observe(0.2, {{"trace_id", "early"}}, 1000);
  auto f = pytheus::collect(m.reg);
  ASSERT_NE(exemplar_of(f, "requests_total", ""), nullptr);
  EXPECT_EQ(exemplar_of(f, "requests_total", "")->labels[0].second, "late");
  ASSERT_NE(exemplar_of(f, "latency", "_bucket", "0.25"), nullptr);
  EXPECT_EQ(exemplar_of(f, "latency", "_bucket", "0.25")->labels[0].second, "late");
  m.requests.labels({{"method", "GET"}}).inc(1, {{"trace_id", "newest"}}, 3000);
  f = pytheus::collect(m.reg);
  EXPECT_EQ(exemplar_of(f, "requests_total", "")->labels[0].second, "newest");
  // remove() clears the series' exemplars in every slot.
  m.requests.remove({{"method", "GET"}});
  m.requests.labels({{"method", "GET"}}).inc();
  f = pytheus::collect(m.reg);
  EXPECT_EQ(exemplar_of(f, "requests_total", ""), nullptr);
}

TEST_F(FileBackendTest, ExemplarsNeverTornWhileProcessesWrite) {
  Metrics m;
  m.latency.observe(0.1);  // the series exists before the fork
  std::vector<pid_t> pids;
  for (int w = 0; w < 2; ++w) {
    pids.push_back(spawn([&, w] {
      for (int i = 0; i < 20000; ++i) {
        // The label repeats the value: a torn record would disagree with itself.
        const double v = 0.001 * (1 + (i + w) % 200);
        m.latency.observe(v, {{"trace_id", std::to_string(v) + std::string(30 * w, 'p')}});
      }
    }));
  }
  for (int i = 0; i < 200; ++i) {
    const auto f = pytheus::collect(m.reg);
    if (const Exemplar* e = exemplar_of(f, "latency", "_bucket", "0.25")) {
      ASSERT_EQ(e->labels[0].second.substr(0, std::to_string(e->value).size()),
                std::to_string(e->value));
    }
  }
  for (pid_t pid : pids) ASSERT_EQ(wait_child(pid), 0);
}

}  // namespace
}  // namespace pytheus_test
