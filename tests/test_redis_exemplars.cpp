// Exemplars on MultiProcessRedisBackend: every process's reach the scrape, one per counter
// series and histogram bucket, the latest by timestamp; deleted with remove(); expiring
// like the other keys. Both write modes.
#include <sys/types.h>

#include <map>
#include <set>
#include <string>

#include "exposition_parsers.hpp"
#include "redis_test_helpers.hpp"

using namespace pytheus;
using pytheus_test::fork_child;
using pytheus_test::RawRedis;
using pytheus_test::RedisModeTest;
using pytheus_test::RedisServer;
using pytheus_test::wait_child;

namespace {

struct Metrics {
  CollectorRegistry reg;
  Counter requests{"requests_total", "Requests.", {"method"}, {}, &reg};
  Counter jobs{"jobs_total", "Jobs.", {}, {}, &reg};
  Histogram latency{"latency_seconds", "Latency.", {"route"}, {}, &reg, Buckets{0.25, 0.5, 1}};
};

// What worker `w` observes at step `i`: every bucket, +Inf included, gets some.
double observed(int w, int i) {
  return ((w * 7 + i) % 6) * 0.25;
}

const Exemplar* exemplar_of(const std::vector<MetricFamily>& families, const std::string& name,
                            const std::string& suffix, const std::string& le = "") {
  for (const MetricFamily& f : families) {
    if (f.name != name) continue;
    for (const Sample& s : f.samples) {
      if (s.suffix != suffix || !s.exemplar) continue;
      bool match = le.empty();
      for (const auto& [n, v] : s.labels) match = match || (n == "le" && v == le);
      if (match) return &*s.exemplar;
    }
  }
  return nullptr;
}

}  // namespace

TEST_P(RedisModeTest, FourProcessesOneExemplarPerBucketFromARealObservation) {
  RedisServer server;
  const nlohmann::json config = server.config(pytheus_test::mode_config(GetParam()));
  constexpr int kWorkers = 4, kSteps = 200;
  std::vector<pid_t> children;
  for (int w = 0; w < kWorkers; ++w) {
    children.push_back(fork_child([&, w] {
      load_backend("MultiProcessRedisBackend", config);
      Metrics m;
      for (int i = 0; i < kSteps; ++i) {
        const std::string trace = "w" + std::to_string(w) + "-" + std::to_string(i);
        m.latency.labels({{"route", "/"}}).observe(observed(w, i), {{"trace_id", trace}});
        m.requests.labels({{"method", "GET"}}).inc(1, {{"trace_id", trace}});
        ExemplarScope scope({{"trace_id", trace}});
        m.jobs.inc();
      }
      return MultiProcessRedisBackend::flush() ? 0 : 1;
    }));
  }
  for (pid_t c : children) EXPECT_EQ(wait_child(c), 0);
  load_backend("MultiProcessRedisBackend", config);
  Metrics m;
  m.latency.labels({{"route", "/"}});
  m.requests.labels({{"method", "GET"}});
  const auto f = collect(m.reg);
  // Each trace id names the worker and step; its exemplar value must be what that step
  // observed, in the bucket that shows it.
  const double bounds[] = {0.25, 0.5, 1, std::numeric_limits<double>::infinity()};
  const char* les[] = {"0.25", "0.5", "1", "+Inf"};
  for (int b = 0; b < 4; ++b) {
    const Exemplar* e = exemplar_of(f, "latency_seconds", "_bucket", les[b]);
    ASSERT_NE(e, nullptr) << "no exemplar on bucket " << les[b];
    ASSERT_EQ(e->labels.size(), 1u);
    int w = -1, i = -1;
    ASSERT_EQ(std::sscanf(e->labels[0].second.c_str(), "w%d-%d", &w, &i), 2);
    EXPECT_EQ(e->value, observed(w, i)) << e->labels[0].second;
    EXPECT_LE(e->value, bounds[b]);
    if (b > 0) {
      EXPECT_GT(e->value, bounds[b - 1]);
    }
    EXPECT_TRUE(e->timestamp);
  }
  std::size_t bucket_exemplars = 0;
  for (const MetricFamily& fam : f) {
    for (const Sample& s : fam.samples) bucket_exemplars += s.suffix == "_bucket" && s.exemplar;
  }
  EXPECT_EQ(bucket_exemplars, 4u);
  const Exemplar* r = exemplar_of(f, "requests_total", "");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->value, 1);
  EXPECT_EQ(r->labels[0].second.rfind("w", 0), 0u);
  ASSERT_NE(exemplar_of(f, "jobs_total", ""), nullptr);  // the scope's, unlabelled counter
  // OpenMetrics shows them; the text format does not.
  const std::string om = generate_metrics(m.reg, Format::openmetrics);
  EXPECT_NE(om.find("latency_seconds_bucket{route=\"/\",le=\"+Inf\"} 800 # {trace_id=\"w"),
            std::string::npos)
      << om;
  const std::string text = generate_metrics(m.reg, Format::prometheus);
  EXPECT_EQ(text.find("trace_id"), std::string::npos);
  // promtool and both of prometheus_client's parsers accept it, exemplars included.
  EXPECT_EQ(pytheus_test::parser_problems(text, om), "");
}

TEST_P(RedisModeTest, LatestExemplarByTimestampWinsAcrossProcesses) {
  RedisServer server;
  const nlohmann::json config = server.config(pytheus_test::mode_config(GetParam()));
  // The later timestamp reaches Redis first; the earlier one must not replace it.
  pid_t first = fork_child([&] {
    load_backend("MultiProcessRedisBackend", config);
    Metrics m;
    m.jobs.inc(1, {{"trace_id", "late"}}, 2000);
    m.latency.labels({{"route", "/"}}).observe(0.1, {{"trace_id", "late"}}, 2000);
    return MultiProcessRedisBackend::flush() ? 0 : 1;
  });
  ASSERT_EQ(wait_child(first), 0);
  pid_t second = fork_child([&] {
    load_backend("MultiProcessRedisBackend", config);
    Metrics m;
    m.jobs.inc(1, {{"trace_id", "early"}}, 1000);
    m.latency.labels({{"route", "/"}}).observe(0.2, {{"trace_id", "early"}}, 1000);
    return MultiProcessRedisBackend::flush() ? 0 : 1;
  });
  ASSERT_EQ(wait_child(second), 0);
  load_backend("MultiProcessRedisBackend", config);
  Metrics m;
  const auto f = collect(m.reg);
  const Exemplar* j = exemplar_of(f, "jobs_total", "");
  ASSERT_NE(j, nullptr);
  EXPECT_EQ(j->labels[0].second, "late");
  EXPECT_EQ(j->timestamp, 2000);
  const Exemplar* l = exemplar_of(f, "latency_seconds", "_bucket", "0.25");
  ASSERT_NE(l, nullptr);
  EXPECT_EQ(l->labels[0].second, "late");
  EXPECT_EQ(l->value, 0.1);
}

TEST_P(RedisModeTest, ExemplarsAreDeletedWithTheSeriesAndExpire) {
  RedisServer server;
  load(server, pytheus_test::mode_config(GetParam()));
  RawRedis raw(server.port());
  Metrics m;
  m.requests.labels({{"method", "GET"}}).inc(1, {{"trace_id", "a"}});
  m.requests.labels({{"method", "PUT"}}).inc(1, {{"trace_id", "b"}});
  m.latency.labels({{"route", "/"}}).observe(0.3, {{"trace_id", "c"}});
  ASSERT_TRUE(pytheus_test::flush_within(10));
  EXPECT_EQ(raw.hash("requests_total:exemplars").size(), 2u);
  EXPECT_EQ(raw.hash("latency_seconds:exemplars").size(), 1u);
  EXPECT_GT(raw.integer({"TTL", "requests_total:exemplars"}), 0);
  EXPECT_GT(raw.integer({"TTL", "latency_seconds:exemplars"}), 0);
  m.requests.remove({{"method", "GET"}});
  m.latency.remove({{"route", "/"}});
  ASSERT_TRUE(pytheus_test::flush_within(10));
  const auto left = raw.hash("requests_total:exemplars");
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left.begin()->first, "{\"method\": \"PUT\"}");
  EXPECT_EQ(raw.integer({"EXISTS", "latency_seconds:exemplars"}), 0);
  // A field another writer left that is no exemplar is skipped, never fatal.
  raw.run({"HSET", "requests_total:exemplars", "{\"method\": \"PUT\"}", "garbage"});
  const auto f = collect(m.reg);
  EXPECT_EQ(exemplar_of(f, "requests_total", ""), nullptr);
}
