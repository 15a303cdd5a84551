// The Redis key layout on its own, without a server: the keys and hash fields of every metric
// type, with and without labels and key_prefix, as pytheus writes them (docs/redis.md).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

#include "redis/key_layout.hpp"
#include "redis/labels_json.hpp"

using namespace pytheus;
using namespace pytheus::detail::redis;

namespace {

using Strings = std::vector<std::string>;
const double inf = std::numeric_limits<double>::infinity();

MetricInfo info(const char* name, MetricType type,
                std::vector<std::pair<std::string, std::string>> labels = {}) {
  MetricInfo m;
  m.name = name;
  m.description = "Help.";
  m.type = type;
  m.labels = std::move(labels);
  return m;
}

}  // namespace

TEST(RedisKeyLayout, UnlabelledCounterIsOneStringKey) {
  const Keys k = value_keys(std::nullopt, info("hits_total", MetricType::counter), std::nullopt);
  EXPECT_EQ(k.keys, Strings{"hits_total"});
  EXPECT_FALSE(k.hash);
  EXPECT_EQ(k.field, "");
  EXPECT_FALSE(k.histogram);
}

TEST(RedisKeyLayout, LabelledCounterIsAHashFieldOfSortedLabels) {
  // MetricInfo labels come sorted by name; the field is json.dumps of them.
  const Keys k =
      value_keys(std::nullopt,
                 info("requests_total", MetricType::counter, {{"code", "200"}, {"method", "GET"}}),
                 std::nullopt);
  EXPECT_EQ(k.keys, Strings{"requests_total"});
  EXPECT_TRUE(k.hash);
  EXPECT_EQ(k.field, R"({"code": "200", "method": "GET"})");
}

TEST(RedisKeyLayout, KeyPrefixIsWrittenWithADash) {
  EXPECT_EQ(metric_key(std::string("svc"), "jobs_total"), "svc-jobs_total");
  EXPECT_EQ(metric_key(std::nullopt, "jobs_total"), "jobs_total");
  const Keys k = value_keys(std::string("svc"), info("in_flight", MetricType::gauge), std::nullopt);
  EXPECT_EQ(k.keys, Strings{"svc-in_flight"});
  // The read path composes the same keys.
  EXPECT_EQ(metric_keys(std::string("svc"), "in_flight", MetricType::gauge, {}),
            Strings{"svc-in_flight"});
}

TEST(RedisKeyLayout, HistogramHasABucketKeyPerBoundThenCountAndSum) {
  const std::vector<double> bounds = {0.005, 0.1, 1, 2.5, 10, inf};
  const Strings expected = {"lat:0.005", "lat:0.1",  "lat:1",     "lat:2.5",
                            "lat:10",    "lat:+Inf", "lat:count", "lat:sum"};
  const Keys k = histogram_keys(std::nullopt, info("lat", MetricType::histogram), bounds);
  EXPECT_EQ(k.keys, expected);
  EXPECT_TRUE(k.histogram);
  EXPECT_EQ(k.buckets, bounds.size());
  EXPECT_FALSE(k.hash);
  EXPECT_EQ(metric_keys(std::nullopt, "lat", MetricType::histogram, bounds), expected);

  const Keys labelled = histogram_keys(
      std::string("p"), info("lat", MetricType::histogram, {{"route", "/"}}), {1, inf});
  EXPECT_EQ(labelled.keys, (Strings{"p-lat:1", "p-lat:+Inf", "p-lat:count", "p-lat:sum"}));
  EXPECT_TRUE(labelled.hash);
  EXPECT_EQ(labelled.field, R"({"route": "/"})");
}

TEST(RedisKeyLayout, SummaryHasCountAndSum) {
  const Keys k = histogram_keys(std::nullopt, info("size", MetricType::summary), {});
  EXPECT_EQ(k.keys, (Strings{"size:count", "size:sum"}));
  EXPECT_TRUE(k.histogram);
  EXPECT_EQ(k.buckets, 0u);
  EXPECT_EQ(metric_keys(std::nullopt, "size", MetricType::summary, {}), k.keys);
}

TEST(RedisKeyLayout, BucketOfABucketwiseValue) {
  const Keys k =
      value_keys(std::nullopt, info("lat", MetricType::histogram), std::string_view("+Inf"));
  EXPECT_EQ(k.keys, Strings{"lat:+Inf"});
}

// Counters, histograms and summaries keep their series' creation times in NAME:created,
// under the same field as their values; other types and bucket-wise values have none.
TEST(RedisKeyLayout, CreatedKeyOfTypesWithCreatedSamples) {
  EXPECT_EQ(created_key(std::nullopt, "hits_total"), "hits_total:created");
  EXPECT_EQ(created_key(std::string("svc"), "hits_total"), "svc-hits_total:created");
  const Keys counter =
      value_keys(std::nullopt, info("hits_total", MetricType::counter, {{"a", "1"}}), std::nullopt);
  EXPECT_EQ(counter.created_key, "hits_total:created");
  EXPECT_EQ(counter.field, R"({"a": "1"})");
  MetricInfo prefixed = info("jobs_total", MetricType::counter);
  prefixed.registry_prefix = "app";
  EXPECT_EQ(value_keys(std::string("svc"), prefixed, std::nullopt).created_key,
            "svc-app_jobs_total:created");
  EXPECT_EQ(histogram_keys(std::nullopt, info("lat", MetricType::histogram), {1, inf}).created_key,
            "lat:created");
  EXPECT_EQ(histogram_keys(std::nullopt, info("size", MetricType::summary), {}).created_key,
            "size:created");
  EXPECT_EQ(value_keys(std::nullopt, info("temp", MetricType::gauge), std::nullopt).created_key,
            "");
  EXPECT_EQ(value_keys(std::nullopt, info("lat", MetricType::histogram), std::string_view("1"))
                .created_key,
            "");
}

TEST(RedisKeyLayout, FieldOfLabelValuesInDeclaredOrder) {
  // Declared order b, a: the field is still sorted by name, as Python's json.dumps of the
  // sorted dict writes it.
  EXPECT_EQ(field_of({"b", "a"}, {"2", "1"}), R"({"a": "1", "b": "2"})");
  EXPECT_EQ(field_of({"path"}, {"/caf\xc3\xa9"}), R"({"path": "/caf\u00e9"})");
  EXPECT_EQ(field_of({}, {}), "{}");
}

TEST(RedisKeyLayout, FieldsReadBackInAnyOrder) {
  const Strings sorted = {"a", "b"};
  for (const char* field :
       {R"({"a": "1", "b": "2"})", R"({"b": "2", "a": "1"})", R"({"b":"2","a":"1"})"}) {
    const ParsedField p = parse_field(field, sorted);
    ASSERT_TRUE(p.valid) << field;
    EXPECT_EQ(p.canonical, R"({"a": "1", "b": "2"})") << field;
    EXPECT_EQ(p.labels, (std::vector<std::pair<std::string, std::string>>{{"a", "1"}, {"b", "2"}}));
  }
  EXPECT_FALSE(parse_field(R"({"a": "1"})", sorted).valid);  // a label missing
  EXPECT_FALSE(parse_field(R"({"a": "1", "c": "2"})", sorted).valid);
  EXPECT_FALSE(parse_field("not json", sorted).valid);
}

TEST(RedisKeyLayout, SequenceKeyIsPrefixed) {
  EXPECT_EQ(sequence_key(std::nullopt, "host", 12, 34), "pytheus_flush_seq:host:12:34");
  EXPECT_EQ(sequence_key(std::string("svc"), "host", 12, 34), "svc-pytheus_flush_seq:host:12:34");
}

// Bucket keys must be the ones Python pytheus writes (issue 11, edge 4): an integral bound as
// Python prints an int, any other as Python's str() of a float.
const std::vector<std::pair<double, const char*>> kBucketTable = {
    {0.005, "0.005"},
    {0.00025, "0.00025"},
    {0.0001, "0.0001"},
    {1e-05, "1e-05"},
    {1.5e-07, "1.5e-07"},
    {2.5e-300, "2.5e-300"},
    {0.1, "0.1"},
    {0.3, "0.3"},
    {2.5, "2.5"},
    {1, "1"},
    {5, "5"},
    {10, "10"},
    {100000, "100000"},
    {2000000, "2000000"},
    {-3, "-3"},
    {123456.75, "123456.75"},
    {9999999999999998, "9999999999999998"},
    {1e16, "1e+16"},
    {1.5e16, "1.5e+16"},
    {1e100, "1e+100"},
    {1.7976931348623157e308, "1.7976931348623157e+308"},
    {-0.5, "-0.5"},
};

TEST(RedisKeyLayout, BucketBoundsArePrintedAsPythonPrintsThem) {
  for (const auto& [bound, text] : kBucketTable) EXPECT_EQ(bucket_text(bound), text) << text;
  EXPECT_EQ(bucket_text(inf), "+Inf");
  EXPECT_EQ(metric_keys(std::nullopt, "h", MetricType::histogram, {1e-05, 100000, inf}),
            (Strings{"h:1e-05", "h:100000", "h:+Inf", "h:count", "h:sum"}));
}

// The same table against the real Python on this machine, when there is one: str(int(b)) for
// an integral bound below 1e16 (how Python pytheus users and its defaults write them), else
// str(float(b)).
TEST(RedisKeyLayout, BucketBoundsMatchPythonsOwnStr) {
  if (std::system("python3 -c 'pass' >/dev/null 2>&1") != 0) GTEST_SKIP() << "no python3";
  std::string script =
      "import sys\nfor line in sys.stdin:\n    b = float.fromhex(line.strip())\n"
      "    print(str(int(b)) if b == int(b) and abs(b) < 1e16 else str(b))\n";
  const std::string in = ::testing::TempDir() + "pytheus_bounds.txt";
  const std::string py = ::testing::TempDir() + "pytheus_bounds.py";
  {
    std::FILE* f = std::fopen(py.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs(script.c_str(), f);
    std::fclose(f);
    f = std::fopen(in.c_str(), "w");
    ASSERT_NE(f, nullptr);
    for (const auto& row : kBucketTable) std::fprintf(f, "%a\n", row.first);
    // More bounds than the table: every power of ten, and thirds of them.
    for (int e = -320; e <= 307; ++e) {
      std::fprintf(f, "%a\n%a\n", std::pow(10.0, e), std::pow(10.0, e) / 3);
    }
    std::fclose(f);
  }
  std::FILE* p = popen(("python3 " + py + " < " + in).c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::vector<double> bounds;
  for (const auto& row : kBucketTable) bounds.push_back(row.first);
  for (int e = -320; e <= 307; ++e) {
    bounds.push_back(std::pow(10.0, e));
    bounds.push_back(std::pow(10.0, e) / 3);
  }
  char line[128];
  std::size_t n = 0;
  while (std::fgets(line, sizeof line, p) != nullptr && n < bounds.size()) {
    std::string expected(line);
    while (!expected.empty() && expected.back() == '\n') expected.pop_back();
    EXPECT_EQ(bucket_text(bounds[n]), expected) << "bound " << n;
    ++n;
  }
  EXPECT_EQ(pclose(p), 0);
  EXPECT_EQ(n, bounds.size());
}
