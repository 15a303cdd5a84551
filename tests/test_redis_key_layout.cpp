// The Redis key layout on its own, without a server: the keys and hash fields of every metric
// type, with and without labels and key_prefix, as pytheus writes them (docs/redis.md).
#include <gtest/gtest.h>

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
  return MetricInfo{name, "Help.", type, std::move(labels)};
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
