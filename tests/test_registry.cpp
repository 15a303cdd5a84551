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

// Two families whose sample names collide break scrapes: refused at registration, naming both.
TEST_F(RegistryTest, CollidingSampleNamesRefusedNamingBoth) {
  auto refused = [](auto make, const char* a, const char* b, const char* sample) {
    try {
      make();
      ADD_FAILURE() << "accepted: " << b;
    } catch (const RegistrationError& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find(std::string("\"") + a + "\""), std::string::npos) << m;
      EXPECT_NE(m.find(std::string("\"") + b + "\""), std::string::npos) << m;
      EXPECT_NE(m.find(std::string("\"") + sample + "\""), std::string::npos) << m;
    }
  };
  {
    CollectorRegistry r;
    Histogram h("x", "h", {}, {}, &r);
    refused([&] { Gauge("x_count", "g", {}, {}, &r); }, "x", "x_count", "x_count");
    refused([&] { Counter("x_sum", "c", {}, {}, &r); }, "x", "x_sum", "x_sum");
    refused([&] { Gauge("x_bucket", "g", {}, {}, &r); }, "x", "x_bucket", "x_bucket");
    refused([&] { Gauge("x_created", "g", {}, {}, &r); }, "x", "x_created", "x_created");
    Gauge ok("x_counts", "g", {}, {}, &r);
  }
  {
    CollectorRegistry r;
    Counter c("x_total", "c", {}, {}, &r);
    refused([&] { Gauge("x", "g", {}, {}, &r); }, "x_total", "x", "x");
    refused([&] { Counter("x", "c", {}, {}, &r); }, "x_total", "x", "x");
    refused([&] { Summary("x_created", "s", {}, {}, &r); }, "x_total", "x_created", "x_created");
  }
  {
    CollectorRegistry r;
    Gauge g("y_count", "g", {}, {}, &r);
    refused([&] { Summary("y", "s", {}, {}, &r); }, "y_count", "y", "y_count");
    Gauge t("z_total", "g", {}, {}, &r);
    refused([&] { Counter("z", "c", {}, {}, &r); }, "z_total", "z", "z_total");
  }
  {
    // With a prefix, the names are the exposed ones; unregistering frees them.
    CollectorRegistry r("app");
    auto h = std::make_shared<Histogram>("lat", "h", LabelNames{}, LabelDefaults{}, &r);
    refused([&] { Gauge("lat_sum", "g", {}, {}, &r); }, "app_lat", "app_lat_sum", "app_lat_sum");
    EXPECT_TRUE(r.unregister("lat"));
    Gauge g("lat_sum", "g", {}, {}, &r);
  }
  {
    // The default registry too.
    auto own = std::make_shared<CollectorRegistry>();
    set_registry(own);
    Histogram h("d", "h");
    refused([&] { Gauge("d_count", "g"); }, "d", "d_count", "d_count");
    set_registry(nullptr);
  }
}

namespace {
struct NamedGauge : Collector {
  NamedGauge(std::string n, bool d) : name(std::move(n)), described(d) {}
  std::string name;
  bool described;
  std::vector<std::string> describe() const override {
    return described ? std::vector<std::string>{name} : std::vector<std::string>{};
  }
  std::vector<MetricFamily> collect() const override {
    return {{name, "x", MetricType::gauge, "", {{"", {}, 1}}}};
  }
};
}  // namespace

// A custom collector that names its families is checked by those names; one that does not is
// caught by the scrape, which names both families.
TEST_F(RegistryTest, CustomCollectorCollisionsCaught) {
  CollectorRegistry r;
  Histogram h("x", "h", {}, {}, &r);
  EXPECT_THROW(r.register_collector(std::make_shared<NamedGauge>("x_count", true)),
               RegistrationError);
  r.register_collector(std::make_shared<NamedGauge>("x_sum", false));
  for (Format f : {Format::prometheus, Format::openmetrics}) {
    try {
      generate_metrics(r, f);
      ADD_FAILURE() << "scrape accepted x_sum beside histogram x";
    } catch (const CollectError& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find("\"x\""), std::string::npos) << m;
      EXPECT_NE(m.find("\"x_sum\""), std::string::npos) << m;
    }
  }
}
