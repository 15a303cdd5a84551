#include <memory>
#include <string>

#include "test_helpers.hpp"

using namespace pytheus;
using pytheus_test::CoreTest;

class RegistryTest : public CoreTest {};

TEST_F(RegistryTest, PrefixIsPrepended) {
  CollectorRegistry svc("svc");
  Counter jobs("jobs_total", "Jobs.", {}, {}, &svc);
  jobs.inc();
  EXPECT_EQ(generate_metrics(svc),
            "# HELP svc_jobs_total Jobs.\n# TYPE svc_jobs_total counter\nsvc_jobs_total 1\n");
  EXPECT_THROW(CollectorRegistry("bad prefix"), InvalidNameError);
}

TEST_F(RegistryTest, SecondDifferentCollectorUnderTakenNameThrows) {
  CollectorRegistry r("app");
  Counter a("jobs_total", "Jobs.", {}, {}, &r);
  try {
    Gauge b("jobs_total", "Other.", {}, {}, &r);
    FAIL();
  } catch (const RegistrationError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("\"jobs_total\""), std::string::npos) << m;
    EXPECT_NE(m.find("\"app\""), std::string::npos) << m;
  }
  // The same collector again is a no-op.
  r.register_collector(a.collector());
  EXPECT_EQ(r.collectors().size(), 1u);
}

TEST_F(RegistryTest, UnregisterFreesTheName) {
  CollectorRegistry r;
  Counter a("jobs_total", "Jobs.", {}, {}, &r);
  EXPECT_TRUE(r.unregister_collector(*a.collector()));
  EXPECT_FALSE(r.unregister_collector(*a.collector()));
  Counter b("jobs_total", "Jobs.", {}, {}, &r);
  EXPECT_TRUE(r.unregister("jobs_total"));
  EXPECT_FALSE(r.unregister("jobs_total"));
  EXPECT_EQ(generate_metrics(r), "");
}

TEST_F(RegistryTest, NullptrRegistersNowhere) {
  auto before = default_registry().collectors().size();
  Counter c("unregistered_total", "x", {}, {}, nullptr);
  Counter d("unregistered_total", "x", {}, {}, nullptr);  // no conflict: registered nowhere
  EXPECT_EQ(default_registry().collectors().size(), before);
}

TEST_F(RegistryTest, DefaultRegistryProxyFollowsSetRegistry) {
  auto mine = std::make_shared<CollectorRegistry>("mine");
  auto previous = default_registry().target();
  set_registry(mine);
  Counter c("proxied_total", "x");
  c.inc();
  EXPECT_EQ(mine->collectors().size(), 1u);
  EXPECT_EQ(default_registry().prefix(), "mine");
  EXPECT_NE(generate_metrics().find("mine_proxied_total 1\n"), std::string::npos);
  set_registry(previous);
  EXPECT_EQ(generate_metrics().find("proxied_total"), std::string::npos);
}

namespace {
struct QueueCollector : Collector {
  double length = 7;
  std::vector<std::string> describe() const override { return {"queue_length"}; }
  std::vector<MetricFamily> collect() const override {
    MetricFamily f{"queue_length", "Jobs waiting.", MetricType::gauge, "", {}};
    f.samples.push_back({"", {{"queue", "main"}}, length});
    return {f};
  }
};
}  // namespace

TEST_F(RegistryTest, CustomCollectorIsCollectedAndChecked) {
  CollectorRegistry r;
  auto q = std::make_shared<QueueCollector>();
  r.register_collector(q);
  EXPECT_EQ(generate_metrics(r),
            "# HELP queue_length Jobs waiting.\n# TYPE queue_length gauge\n"
            "queue_length{queue=\"main\"} 7\n");
  q->length = 9;
  EXPECT_NE(generate_metrics(r).find("queue_length{queue=\"main\"} 9\n"), std::string::npos);
  EXPECT_THROW(Gauge("queue_length", "x", {}, {}, &r), RegistrationError);
  EXPECT_THROW(r.register_collector(nullptr), Error);
}
