// Native histograms on MultiProcessRedisBackend, against a real redis-server: the NAME:native
// hash layout, snapshots and scrapes, and 4 forked processes whose series reduced their
// resolution differently, merged exactly at scrape time. Both write modes.
#include <cmath>
#include <set>

#include "native_test_helpers.hpp"
#include "pytheus/detail/native.hpp"
#include "redis_test_helpers.hpp"

using namespace pytheus;
using pytheus_test::flush_within;
using pytheus_test::fork_child;
using pytheus_test::NativeRecorder;
using pytheus_test::RawRedis;
using pytheus_test::RedisModeTest;
using pytheus_test::RedisServer;
using pytheus_test::RedisTest;
using pytheus_test::small_limit;
using pytheus_test::wait_child;
namespace native = pytheus::detail::native;

namespace {

// Worker w's observations: multiples of 2^-6 (exact sums). Worker 0 spreads 96 values over
// 12 octaves and must reduce its resolution itself (its own state, before any merge); the
// others stay within a few octaves at schema 3.
double value_of(int w, int i) {
  if (w == 0) return std::ldexp(1.0 + ((i / 12) % 8) / 8.0, (i % 12) - 3);  // 96 values
  const double v = 1 + (i % 16) / 8.0;
  return (w == 3 && i % 5 == 0) ? -v : (i % 97 == 0 ? 0 : v);
}

// The buckets of every worker's observations computed directly at `schema`.
NativeBuckets expected_at(int workers, int n, std::int32_t schema, double zero_threshold) {
  std::vector<double> values;
  for (int w = 0; w < workers; ++w) {
    for (int i = 0; i < n; ++i) values.push_back(value_of(w, i));
  }
  return pytheus_test::expected_at(values, schema, zero_threshold);
}

}  // namespace

TEST_P(RedisModeTest, NativeBucketsAreHashFieldsBesideTheClassicKeys) {
  RedisServer server;
  load(server, pytheus_test::mode_config(GetParam()));
  CollectorRegistry reg("");
  Histogram plain("plain_seconds", "x", {}, {}, &reg, {}, NativeHistogramOptions{});
  Histogram routed("routed_seconds", "x", {"route"}, {}, &reg, {}, NativeHistogramOptions{});
  plain.observe(1);
  plain.observe(-2);
  plain.observe(0);
  routed.labels({{"route", "/"}}).observe(1);
  ASSERT_TRUE(flush_within(10));
  RawRedis raw(server.port());
  const auto h = raw.hash("plain_seconds:native");
  EXPECT_EQ(h.at("p3_0|"), "1");
  EXPECT_EQ(h.at("n3_8|"), "1");
  EXPECT_EQ(h.at("z2.938735877055719e-39|"), "1");
  EXPECT_EQ(raw.hash("routed_seconds:native").at(R"(p3_0|{"route": "/"})"), "1");
  EXPECT_EQ(raw.str({"GET", "plain_seconds:count"}), "3");
  EXPECT_GT(raw.integer({"TTL", "plain_seconds:native"}), 0);

  const HistogramSnapshot s = plain.snapshot();
  ASSERT_TRUE(s.native);
  EXPECT_EQ(s.count, 3);
  EXPECT_EQ(s.native->schema, 3);
  EXPECT_EQ(s.native->zero_count, 1u);
  EXPECT_EQ(s.native->positive, (native::BucketList{{0, 1}}));
  EXPECT_EQ(s.native->negative, (native::BucketList{{8, 1}}));

  // Text shows the classic samples only: +Inf, count, sum.
  const std::string text = generate_metrics(reg);
  EXPECT_NE(text.find("plain_seconds_bucket{le=\"+Inf\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("routed_seconds_count{route=\"/\"} 1\n"), std::string::npos) << text;
}

TEST_P(RedisModeTest, FourProcessesAtDifferentSchemasMergeExactly) {
  RedisServer server;
  constexpr int kWorkers = 4;
#ifdef PYTHEUS_TEST_SANITIZED
  constexpr int kN = 2000;
#else
  constexpr int kN = 20000;
#endif
  const nlohmann::json config = server.config(pytheus_test::mode_config(GetParam()));
  std::vector<pid_t> children;
  for (int w = 0; w < kWorkers; ++w) {
    children.push_back(fork_child([&, w] {
      load_backend("MultiProcessRedisBackend", config);
      CollectorRegistry reg("");
      Histogram h("rpc_seconds", "x", {"svc"}, {}, &reg, {}, small_limit());
      auto child = h.labels({{"svc", "a"}});
      for (int i = 0; i < kN; ++i) child.observe(value_of(w, i));
      // Worker 0 went past 24 buckets and halved its resolution on its own.
      if (w == 0 && child.snapshot().native->schema >= 3) return 4;
      return MultiProcessRedisBackend::flush() ? 0 : 1;
    }));
  }
  for (pid_t c : children) EXPECT_EQ(wait_child(c), 0);
  load_backend("MultiProcessRedisBackend", config);
  CollectorRegistry reg("");
  Histogram h("rpc_seconds", "x", {"svc"}, {}, &reg, {}, small_limit());
  NativeRecorder rec;
  collect(reg, rec);
  ASSERT_EQ(rec.natives.count("a;"), 1u);
  const NativeBuckets& got = rec.natives["a;"];
  double sum = 0;
  for (int w = 0; w < kWorkers; ++w) {
    for (int i = 0; i < kN; ++i) sum += value_of(w, i);
  }
  EXPECT_EQ(rec.counts["a;"], double(kWorkers) * kN);
  EXPECT_EQ(rec.sums["a;"], sum);
  EXPECT_EQ(native::total_count(got), std::uint64_t{kWorkers} * kN);
  EXPECT_LT(got.schema, 3);
  EXPECT_LE(got.positive.size() + got.negative.size(), 24u);
  // Exact: the same as observing every value directly at the merged schema.
  EXPECT_EQ(got, expected_at(kWorkers, kN, got.schema, got.zero_threshold));
}

namespace {

// The native fields of the series whose labels field is `labels`: everything after the
// field's first '|' equals it.
std::size_t fields_of(const std::map<std::string, std::string>& h, const std::string& labels) {
  std::size_t n = 0;
  for (const auto& [f, v] : h) n += f.substr(f.find('|') + 1) == labels;
  return n;
}

// Series whose labels JSON resembles {"k": "a.c"}: a Lua pattern would match "abc" and
// "%a.c", a suffix match "xa.c", a prefix match "a.c|".
const std::vector<std::string> kLookalikes = {"abc", "xa.c", "a.c|", "%a.c", "a.c "};

std::string labels_json(const std::string& v) {
  return R"({"k": ")" + v + R"("})";
}

}  // namespace

// remove() deletes the series' native fields at every schema and zero bucket any process
// wrote, and nothing of another series; a series created again starts from nothing.
TEST_P(RedisModeTest, RemoveDeletesEveryProcesssNativeFieldsOfExactlyThatSeries) {
  RedisServer server;
  const nlohmann::json config = server.config(pytheus_test::mode_config(GetParam()));
  std::vector<pid_t> children;
  for (int w = 0; w < 2; ++w) {
    children.push_back(fork_child([&, w] {
      load_backend("MultiProcessRedisBackend", config);
      CollectorRegistry reg("");
      Histogram h("rpc_seconds", "x", {"k"}, {}, &reg, {}, small_limit());
      // Worker 0 halves its resolution on "a.c" (fields at several schemas); worker 3's
      // values include negatives and zeros (n and z fields).
      for (int i = 0; i < 200; ++i) h.labels({{"k", "a.c"}}).observe(value_of(w == 0 ? 0 : 3, i));
      for (const std::string& v : kLookalikes) {
        for (int i = 0; i < 20; ++i) h.labels({{"k", v}}).observe(value_of(3, i));
      }
      return MultiProcessRedisBackend::flush() ? 0 : 1;
    }));
  }
  for (pid_t c : children) ASSERT_EQ(wait_child(c), 0);

  load_backend("MultiProcessRedisBackend", config);
  CollectorRegistry reg("");
  Histogram h("rpc_seconds", "x", {"k"}, {}, &reg, {}, small_limit());
  RawRedis raw(server.port());
  const auto before = raw.hash("rpc_seconds:native");
  const std::string a = labels_json("a.c");
  ASSERT_GT(fields_of(before, a), 0u);
  std::set<char> kinds;
  std::set<std::string> schemas;
  for (const auto& [f, v] : before) {
    if (f.substr(f.find('|') + 1) != a) continue;
    kinds.insert(f[0]);
    if (f[0] != 'z') schemas.insert(f.substr(1, f.find('_') - 1));
  }
  ASSERT_EQ(kinds, (std::set<char>{'n', 'p', 'z'}));
  ASSERT_GE(schemas.size(), 2u);  // worker 0 wrote at more than one schema

  h.labels({{"k", "a.c"}});  // never observed here: removes what the workers wrote
  EXPECT_TRUE(h.remove({{"k", "a.c"}}));
  ASSERT_TRUE(MultiProcessRedisBackend::flush());
  const auto after = raw.hash("rpc_seconds:native");
  EXPECT_EQ(fields_of(after, a), 0u);
  for (const std::string& v : kLookalikes) {
    EXPECT_GT(fields_of(before, labels_json(v)), 0u) << v;
    EXPECT_EQ(fields_of(after, labels_json(v)), fields_of(before, labels_json(v))) << v;
  }
  EXPECT_EQ(after.size(), before.size() - fields_of(before, a));

  // Created again: one observation, and its buckets say one, not the workers' 400 besides.
  h.labels({{"k", "a.c"}}).observe(1);
  ASSERT_TRUE(MultiProcessRedisBackend::flush());
  NativeRecorder rec;
  collect(reg, rec);
  EXPECT_EQ(rec.counts["a.c;"], 1);
  ASSERT_EQ(rec.natives.count("a.c;"), 1u);
  EXPECT_EQ(native::total_count(rec.natives["a.c;"]), 1u);
  EXPECT_EQ(rec.natives["a.c;"].positive, (native::BucketList{{0, 1}}));
  EXPECT_EQ(rec.natives["a.c;"].schema, 3);

  // clear() deletes every series this process has, native fields included.
  for (const std::string& v : kLookalikes) h.labels({{"k", v}});
  h.clear();
  ASSERT_TRUE(MultiProcessRedisBackend::flush());
  EXPECT_EQ(raw.integer({"EXISTS", "rpc_seconds:native"}), 0);
}

// Write-behind: native deltas not yet flushed when the series is removed are dropped with
// the classic ones, so the flush does not bring the series' buckets back.
TEST_F(RedisTest, PendingNativeDeltasOfARemovedSeriesAreDropped) {
  RedisServer server;
  load(server, {{"flush_interval_ms", 60000}});
  CollectorRegistry reg("");
  Histogram h("rpc_seconds", "x", {"k"}, {}, &reg, {}, small_limit());
  h.labels({{"k", "a"}}).observe(1);
  h.labels({{"k", "b"}}).observe(1);
  ASSERT_TRUE(MultiProcessRedisBackend::flush());
  for (int i = 0; i < 96; ++i) h.labels({{"k", "a"}}).observe(value_of(0, i));  // pending
  h.labels({{"k", "b"}}).observe(-2);
  EXPECT_TRUE(h.remove({{"k", "a"}}));
  ASSERT_TRUE(MultiProcessRedisBackend::flush());
  RawRedis raw(server.port());
  const auto fields = raw.hash("rpc_seconds:native");
  EXPECT_EQ(fields_of(fields, labels_json("a")), 0u);
  EXPECT_EQ(fields, (std::map<std::string, std::string>{{R"(p3_0|{"k": "b"})", "1"},
                                                        {R"(n3_8|{"k": "b"})", "1"}}));
  EXPECT_EQ(MultiProcessRedisBackend::stats().pending_series, 0u);
}

INSTANTIATE_TEST_SUITE_P(Modes, RedisModeTest, ::testing::Values("write_through", "write_behind"));
