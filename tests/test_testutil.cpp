#include "pytheus/testutil.hpp"

#include "test_helpers.hpp"

using namespace pytheus;
using pytheus_test::CoreTest;

class TestutilTest : public CoreTest {};

TEST_F(TestutilTest, GetSampleValue) {
  CollectorRegistry r("svc");
  Counter c("requests_total", "x", {"code"}, {}, &r);
  Histogram h("lat_seconds", "x", {}, {}, &r, {1});
  c.labels({{"code", "200"}}).inc(3);
  h.observe(0.5);
  EXPECT_EQ(testutil::get_sample_value(r, "svc_requests_total", {{"code", "200"}}), 3);
  EXPECT_EQ(testutil::get_sample_value(r, "svc_requests_total", {{"code", "500"}}), std::nullopt);
  EXPECT_EQ(testutil::get_sample_value(r, "svc_requests_total"), std::nullopt);
  EXPECT_EQ(testutil::get_sample_value(r, "svc_lat_seconds_bucket", {{"le", "1"}}), 1);
  EXPECT_EQ(testutil::get_sample_value(r, "svc_lat_seconds_count"), 1);
  EXPECT_EQ(testutil::get_sample_value(r, "svc_lat_seconds_sum"), 0.5);
}

TEST_F(TestutilTest, CollectAndCompare) {
  Counter hits("hits_total", "Hits.", {}, {}, nullptr);
  hits.inc();
  EXPECT_EQ(testutil::collect_and_compare(hits.collector(),
                                          "# HELP hits_total Hits.\n"
                                          "# TYPE hits_total counter\n"
                                          "hits_total 1\n"),
            "");
  std::string diff = testutil::collect_and_compare(hits.collector(),
                                                   "# HELP hits_total Hits.\n"
                                                   "# TYPE hits_total counter\n"
                                                   "hits_total 2\n");
  EXPECT_NE(diff.find("line 3"), std::string::npos) << diff;
  EXPECT_NE(diff.find("hits_total 2"), std::string::npos) << diff;
  EXPECT_NE(testutil::collect_and_compare(hits.collector(), "", Format::openmetrics), "");
  EXPECT_EQ(testutil::collect_and_compare(
                hits.collector(), "# TYPE hits counter\n# HELP hits Hits.\nhits_total 1\n# EOF\n",
                Format::openmetrics),
            "");
}
