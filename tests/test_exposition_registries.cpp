// generate_metrics over several registries: one exposition, each registry's prefix on its own
// families, one block per family, one `# EOF`.
#include <string>

#include "test_helpers.hpp"

using namespace pytheus;
using pytheus_test::CoreTest;

class ExpositionRegistriesTest : public CoreTest {};

TEST_F(ExpositionRegistriesTest, EachRegistryKeepsItsPrefix) {
  set_created_samples(false);
  CollectorRegistry app("app"), plain;
  Counter jobs("jobs_total", "Jobs.", {}, {}, &app);
  Gauge up("up_flag", "Up.", {}, {}, &plain);
  jobs.inc(2);
  up.set(1);
  EXPECT_EQ(generate_metrics({&app, &plain}),
            "# HELP app_jobs_total Jobs.\n# TYPE app_jobs_total counter\napp_jobs_total 2\n"
            "# HELP up_flag Up.\n# TYPE up_flag gauge\nup_flag 1\n");
  EXPECT_EQ(generate_metrics({&app, &plain}, Format::openmetrics),
            "# TYPE app_jobs counter\n# HELP app_jobs Jobs.\napp_jobs_total 2\n"
            "# TYPE up_flag gauge\n# HELP up_flag Up.\nup_flag 1\n# EOF\n");
  EXPECT_EQ(generate_metrics({&app}), generate_metrics(app));
}

TEST_F(ExpositionRegistriesTest, AFamilyInTwoRegistriesFailsTheScrape) {
  CollectorRegistry a, b;
  Counter x("shared_total", "x", {}, {}, &a);
  Counter y("shared_total", "y", {}, {}, &b);
  try {
    generate_metrics({&a, &b});
    FAIL() << "expected CollectError";
  } catch (const CollectError& e) {
    EXPECT_NE(std::string(e.what()).find("\"shared_total\""), std::string::npos) << e.what();
  }
}
