#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "test_helpers.hpp"

using namespace pytheus;
using pytheus_test::CoreTest;

class LabelsTest : public CoreTest {};

TEST_F(LabelsTest, NameRules) {
  EXPECT_TRUE(is_valid_metric_name("http_requests_total"));
  EXPECT_TRUE(is_valid_metric_name("ns:sub_metric"));
  EXPECT_TRUE(is_valid_metric_name("_x"));
  EXPECT_FALSE(is_valid_metric_name(""));
  EXPECT_FALSE(is_valid_metric_name("9lives"));
  EXPECT_FALSE(is_valid_metric_name("with-dash"));
  EXPECT_FALSE(is_valid_metric_name("sp ace"));
  EXPECT_TRUE(is_valid_label_name("method"));
  EXPECT_FALSE(is_valid_label_name("a:b"));
  EXPECT_FALSE(is_valid_label_name("__reserved"));
  EXPECT_FALSE(is_valid_label_name("1abc"));
}

TEST_F(LabelsTest, InvalidMetricNameThrowsWithTheName) {
  try {
    Counter c("bad-name", "x", {}, {}, nullptr);
    FAIL() << "no exception";
  } catch (const InvalidNameError& e) {
    EXPECT_NE(std::string(e.what()).find("\"bad-name\""), std::string::npos) << e.what();
  }
}

TEST_F(LabelsTest, InvalidLabelNamesThrow) {
  EXPECT_THROW(Counter("c1", "x", {"bad-label"}, {}, nullptr), InvalidNameError);
  EXPECT_THROW(Counter("c2", "x", {"__internal"}, {}, nullptr), InvalidNameError);
  EXPECT_THROW(Counter("c3", "x", {""}, {}, nullptr), InvalidNameError);
  EXPECT_THROW(Histogram("h1", "x", {"le"}, {}, nullptr), InvalidNameError);
  EXPECT_THROW(Summary("s1", "x", {"quantile"}, {}, nullptr), InvalidNameError);
  // le and quantile are only reserved for the types that use them.
  EXPECT_NO_THROW(Counter("c4", "x", {"le", "quantile"}, {}, nullptr));
  EXPECT_NO_THROW(Summary("s2", "x", {"le"}, {}, nullptr));
  EXPECT_NO_THROW(Histogram("h2", "x", {"quantile"}, {}, nullptr));
  try {
    Histogram h("latency", "x", {"le"}, {}, nullptr);
    FAIL();
  } catch (const InvalidNameError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("\"le\""), std::string::npos) << m;
    EXPECT_NE(m.find("\"latency\""), std::string::npos) << m;
  }
}

TEST_F(LabelsTest, DuplicateRequiredLabelThrows) {
  EXPECT_THROW(Counter("c", "x", {"a", "a"}, {}, nullptr), LabelError);
}

TEST_F(LabelsTest, DefaultLabelsMustBeRequired) {
  try {
    Counter c("c", "x", {"a"}, {{"b", "1"}}, nullptr);
    FAIL();
  } catch (const LabelError& e) {
    EXPECT_NE(std::string(e.what()).find("\"b\""), std::string::npos) << e.what();
  }
  EXPECT_THROW(Counter("c2", "x", {}, {{"b", "1"}}, nullptr), LabelError);
}

TEST_F(LabelsTest, OrderOfValuesNeverChangesTheSeries) {
  CollectorRegistry r;
  Counter c("requests_total", "x", {"method", "code"}, {}, &r);
  c.labels({{"method", "GET"}, {"code", "200"}}).inc();
  c.labels({{"code", "200"}, {"method", "GET"}}).inc();
  c.labels({{"code", "200"}}).labels({{"method", "GET"}}).inc();
  c.labels(std::map<std::string, std::string>{{"code", "200"}, {"method", "GET"}}).inc();
  EXPECT_EQ(c.labels({{"method", "GET"}, {"code", "200"}}).get(), 4);
  EXPECT_EQ(c.collector()->label_sets().size(), 1u);
  EXPECT_EQ(generate_metrics(r),
            "# HELP requests_total x\n# TYPE requests_total counter\n"
            "requests_total{method=\"GET\",code=\"200\"} 4\n");
}

TEST_F(LabelsTest, MapsAndVectorsOfPairsAreAccepted) {
  Counter c("c", "x", {"a", "b"}, {}, nullptr);
  std::unordered_map<std::string, std::string> m{{"b", "2"}, {"a", "1"}};
  std::vector<std::pair<std::string, std::string>> v{{"a", "1"}, {"b", "2"}};
  c.labels(m).inc();
  c.labels(v).inc();
  EXPECT_EQ(c.labels({{"a", "1"}, {"b", "2"}}).get(), 2);
}

TEST_F(LabelsTest, PartialHandleIsNotObservable) {
  Counter c("c", "x", {"method", "code"}, {}, nullptr);
  auto get = c.labels({{"method", "GET"}});
  EXPECT_FALSE(get.is_observable());
  EXPECT_FALSE(c.is_observable());
  EXPECT_THROW(get.inc(), UnobservableMetricError);
  EXPECT_THROW(c.inc(), UnobservableMetricError);
  EXPECT_THROW(get.get(), UnobservableMetricError);
  try {
    get.inc();
  } catch (const UnobservableMetricError& e) {
    EXPECT_NE(std::string(e.what()).find("\"c\""), std::string::npos) << e.what();
  }
  auto full = get.labels({{"code", "500"}});
  EXPECT_TRUE(full.is_observable());
  full.inc(2.5);
  EXPECT_EQ(full.get(), 2.5);
  EXPECT_EQ(get.labels_set(), (Labels{{"method", "GET"}}));
  EXPECT_EQ(full.labels_set(), (Labels{{"method", "GET"}, {"code", "500"}}));
}

TEST_F(LabelsTest, PartialHandlesAreIndependentOfEachOther) {
  Counter c("c", "x", {"a", "b"}, {}, nullptr);
  auto a1 = c.labels({{"a", "1"}});
  auto a2 = a1.labels({{"a", "2"}});  // overrides a on a new handle, a1 unchanged
  a1.labels({{"b", "x"}}).inc();
  a2.labels({{"b", "x"}}).inc(5);
  EXPECT_EQ(c.labels({{"a", "1"}, {"b", "x"}}).get(), 1);
  EXPECT_EQ(c.labels({{"a", "2"}, {"b", "x"}}).get(), 5);
}

TEST_F(LabelsTest, DefaultLabelsApplyAndCanBeOverridden) {
  CollectorRegistry r;
  Histogram latency("request_seconds", "Latency.", {"route"}, {{"route", "/"}}, &r);
  EXPECT_TRUE(latency.is_observable());
  latency.observe(0.3);
  latency.labels({{"route", "/api"}}).observe(1);
  EXPECT_EQ(latency.snapshot().count, 1);
  EXPECT_EQ(latency.labels({{"route", "/api"}}).snapshot().count, 1);

  Counter partial_default("c", "x", {"a", "b"}, {{"a", "A"}}, &r);
  EXPECT_FALSE(partial_default.is_observable());
  partial_default.labels({{"b", "B"}}).inc();
  EXPECT_EQ(partial_default.labels({{"a", "A"}, {"b", "B"}}).get(), 1);
  partial_default.labels({{"a", "Z"}, {"b", "B"}}).inc(3);
  EXPECT_EQ(partial_default.labels({{"b", "B"}, {"a", "Z"}}).get(), 3);
}

TEST_F(LabelsTest, UnknownLabelThrowsAndNamesIt) {
  Counter c("c", "x", {"method"}, {}, nullptr);
  try {
    c.labels({{"methd", "GET"}});
    FAIL();
  } catch (const LabelError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("\"methd\""), std::string::npos) << m;
    EXPECT_NE(m.find("method"), std::string::npos) << m;
  }
}

TEST_F(LabelsTest, LabelGivenTwiceThrows) {
  Counter c("c", "x", {"a"}, {}, nullptr);
  EXPECT_THROW(c.labels({{"a", "1"}, {"a", "2"}}), LabelError);
}

TEST_F(LabelsTest, LabelsOnMetricWithoutLabelsThrows) {
  Counter c("c", "x", {}, {}, nullptr);
  try {
    c.labels({{"a", "1"}});
    FAIL();
  } catch (const LabelError& e) {
    EXPECT_NE(std::string(e.what()).find("no labels"), std::string::npos) << e.what();
  }
  EXPECT_THROW(c.clear(), LabelError);
}

TEST_F(LabelsTest, AnyUtf8StringIsAValidValue) {
  Counter c("c", "x", {"v"}, {}, nullptr);
  const std::string odd("a\"b\\c\nd\0e\xc3\xa9", 12);
  c.labels({{"v", odd}}).inc();
  c.labels({{"v", ""}}).inc(2);
  EXPECT_EQ(c.labels({{"v", odd}}).get(), 1);
  EXPECT_EQ(c.labels({{"v", ""}}).get(), 2);
  EXPECT_EQ(c.collector()->label_sets().size(), 2u);
}

TEST_F(LabelsTest, ManyLabelsBeyondTheInlineBuffer) {
  std::vector<std::string> names;
  for (int i = 0; i < 20; ++i) names.push_back("l" + std::to_string(i));
  Counter c("wide", "x", names, {}, nullptr);
  std::vector<std::pair<std::string, std::string>> values, reversed;
  for (int i = 0; i < 20; ++i) values.emplace_back(names[i], std::to_string(i));
  reversed.assign(values.rbegin(), values.rend());
  c.labels(values).inc();
  c.labels(reversed).inc();
  EXPECT_EQ(c.labels(values).get(), 2);
  EXPECT_THROW(
      c.labels(std::vector<std::pair<std::string, std::string>>{{"l19", "a"}, {"l19", "b"}}),
      LabelError);
}

TEST_F(LabelsTest, RemoveAndClear) {
  CollectorRegistry r;
  Counter c("c", "x", {"a", "b"}, {}, &r);
  auto kept = c.labels({{"a", "1"}, {"b", "1"}});
  kept.inc();
  c.labels({{"a", "2"}, {"b", "2"}}).inc();
  EXPECT_TRUE(c.remove({{"b", "1"}, {"a", "1"}}));
  EXPECT_FALSE(c.remove({{"a", "1"}, {"b", "1"}}));
  EXPECT_EQ(generate_metrics(r), "# HELP c x\n# TYPE c counter\nc{a=\"2\",b=\"2\"} 1\n");
  // A handle to a removed child keeps working, but only a new lookup is exported again.
  kept.inc();
  EXPECT_EQ(c.labels({{"a", "1"}, {"b", "1"}}).get(), 0);
  EXPECT_THROW(c.remove({{"a", "1"}}), LabelError);  // incomplete
  c.clear();
  EXPECT_EQ(generate_metrics(r), "# HELP c x\n# TYPE c counter\n");
  EXPECT_TRUE(c.collector()->label_sets().empty());
}

TEST_F(LabelsTest, RemoveUsesDefaultsAndPartialLabels) {
  Counter c("c", "x", {"a", "b"}, {{"a", "A"}}, nullptr);
  c.labels({{"b", "1"}}).inc();
  EXPECT_TRUE(c.remove({{"b", "1"}}));
  c.labels({{"b", "2"}}).inc();
  EXPECT_TRUE(c.labels({{"a", "A"}}).remove({{"b", "2"}}));
  EXPECT_TRUE(c.collector()->label_sets().empty());
}

TEST_F(LabelsTest, ChildHandleOutlivesItsMetric) {
  std::optional<Counter> child;
  {
    Counter c("short_lived_total", "x", {"a", "b"}, {}, nullptr);
    child = c.labels({{"a", "1"}, {"b", "2"}});
    auto sibling = child->labels({{"b", "3"}});  // relabelling a child reaches the family
    sibling.inc();
    EXPECT_EQ(c.labels({{"a", "1"}, {"b", "3"}}).get(), 1);
  }
  // The metric is gone (no handle, no registry): the child still counts...
  child->inc(2);
  EXPECT_EQ(child->get(), 2);
  EXPECT_EQ(child->name(), "short_lived_total");
  // ...but cannot reach its family any more, and says so.
  try {
    child->labels({{"b", "4"}});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("\"short_lived_total\""), std::string::npos) << e.what();
  }
}

TEST_F(LabelsTest, CardinalityLimitRefuses) {
  CollectorRegistry r;
  MetricOptions o;
  o.name = "limited_total";
  o.required_labels = {"user"};
  o.registry = &r;
  o.max_series = 2;
  Counter c(o);
  c.labels({{"user", "a"}}).inc();
  c.labels({{"user", "b"}}).inc();
  c.labels({{"user", "a"}}).inc();  // existing label sets keep working
  const auto before = detail::overflow_count("limited_total");
  try {
    c.labels({{"user", "c"}});
    FAIL();
  } catch (const CardinalityError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("\"limited_total\""), std::string::npos) << m;
    EXPECT_NE(m.find("user=\"c\""), std::string::npos) << m;
  }
  EXPECT_THROW(c.labels({{"user", "d"}}), LabelError);  // CardinalityError is a LabelError
  EXPECT_EQ(detail::overflow_count("limited_total"), before + 2);
  EXPECT_NE(generate_metrics().find("pytheus_series_overflow_total{metric=\"limited_total\"}"),
            std::string::npos);
  // Removing a child makes room again.
  EXPECT_TRUE(c.remove({{"user", "b"}}));
  c.labels({{"user", "c"}}).inc();
  EXPECT_EQ(c.collector()->label_sets().size(), 2u);
}

TEST_F(LabelsTest, CardinalityLimitFolds) {
  CollectorRegistry r;
  MetricOptions o;
  o.name = "folded_total";
  o.required_labels = {"user", "kind"};
  o.registry = &r;
  o.max_series = 1;
  o.overflow = Overflow::fold;
  Counter c(o);
  c.labels({{"user", "a"}, {"kind", "x"}}).inc();
  c.labels({{"user", "b"}, {"kind", "x"}}).inc(2);
  c.labels({{"user", "c"}, {"kind", "y"}}).inc(3);
  EXPECT_EQ(generate_metrics(r),
            "# HELP folded_total \n# TYPE folded_total counter\n"
            "folded_total{user=\"a\",kind=\"x\"} 1\n"
            "folded_total{user=\"__overflow__\",kind=\"__overflow__\"} 5\n");
  EXPECT_EQ(detail::overflow_count("folded_total"), 2u);
  c.clear();
  c.labels({{"user", "z"}, {"kind", "x"}}).inc();
  EXPECT_EQ(c.collector()->label_sets().size(), 1u);
}

TEST_F(LabelsTest, CardinalityLimitNeedsLabels) {
  MetricOptions o;
  o.name = "nolabels_total";
  o.registry = nullptr;
  o.max_series = 3;
  EXPECT_THROW(Counter{o}, LabelError);
}

TEST_F(LabelsTest, RemovedChildrenAreFreedAndErased) {
  pytheus_test::register_recording_backend();
  pytheus_test::RecordingBackend::reset();
  load_backend("RecordingBackend");
  Counter c("erased_total", "x", {"k"}, {}, nullptr);
  Histogram h("erased_seconds", "x", {"k"}, {}, nullptr, {1});
  c.labels({{"k", "a"}}).inc();
  c.labels({{"k", "b"}}).inc();
  h.labels({{"k", "a"}}).observe(0.5);
  auto held = c.labels({{"k", "b"}});
  EXPECT_TRUE(c.remove({{"k", "a"}}));
  h.clear();
  auto& erased = pytheus_test::RecordingBackend::log().erased;
  EXPECT_NE(std::find(erased.begin(), erased.end(), "erased_total|k=a"), erased.end());
  EXPECT_EQ(std::find(erased.begin(), erased.end(), "erased_total|k=b"), erased.end());
  EXPECT_NE(std::find(erased.begin(), erased.end(), "erased_seconds:+Inf|k=a"), erased.end());
  EXPECT_NE(std::find(erased.begin(), erased.end(), "erased_seconds:count|k=a"), erased.end());
  // Memory is freed once no handle holds the child.
  auto& destroyed = pytheus_test::RecordingBackend::log().destroyed;
  auto gone = [&](const char* key) {
    return std::find(destroyed.begin(), destroyed.end(), key) != destroyed.end();
  };
  EXPECT_TRUE(gone("erased_total|k=a"));
  EXPECT_TRUE(gone("erased_seconds:+Inf|k=a"));
  EXPECT_TRUE(c.remove({{"k", "b"}}));
  EXPECT_FALSE(gone("erased_total|k=b"));  // `held` still uses it
  held = c.labels({{"k", "c"}});
  EXPECT_TRUE(gone("erased_total|k=b"));
}

// Two different invalid values would print as one series (each bad byte as U+FFFD): a new
// series with a value that is not UTF-8 is refused, naming the label; lookups never check.
TEST_F(LabelsTest, InvalidUtf8ValueRefusedWhenTheSeriesIsCreated) {
  CollectorRegistry r;
  Counter c("c_total", "x", {"path"}, {}, &r);
  for (const std::string& bad : {std::string("a\xff", 2), std::string("a\xfe", 2),
                                 std::string("\xed\xa0\x80", 3), std::string("\xc0\xaf", 2)}) {
    try {
      c.labels({{"path", bad}}).inc();
      ADD_FAILURE() << "accepted an invalid value";
    } catch (const LabelError& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find("\"path\""), std::string::npos) << m;
      EXPECT_NE(m.find("UTF-8"), std::string::npos) << m;
    }
  }
  c.labels({{"path", "日本 ✓"}}).inc();
  EXPECT_EQ(c.collector()->label_sets().size(), 1u);
  EXPECT_EQ(generate_metrics(r),
            "# HELP c_total x\n# TYPE c_total counter\nc_total{path=\"日本 ✓\"} 1\n");
}

// Duplicates are found whatever the label count (a bitmask once stopped at 64).
TEST_F(LabelsTest, DuplicateLabelPast64Refused) {
  CollectorRegistry r;
  std::vector<std::string> names;
  for (int i = 0; i < 70; ++i) names.push_back("l" + std::to_string(i));
  Gauge g("g", "x", names, {}, &r);
  std::vector<std::pair<std::string, std::string>> labels;
  for (const auto& n : names) labels.emplace_back(n, "v");
  labels.emplace_back("l66", "again");
  try {
    g.labels(labels).set(1);
    ADD_FAILURE() << "accepted label l66 twice";
  } catch (const LabelError& e) {
    EXPECT_NE(std::string(e.what()).find("\"l66\""), std::string::npos) << e.what();
  }
}
