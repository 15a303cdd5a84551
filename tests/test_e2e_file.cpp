// End to end with MultiProcessFileBackend and a real Prometheus server: examples/multiprocess
// runs 4 worker processes on shared files, chosen through PYTHEUS_BACKEND_CLASS/_CONFIG only
// (inline JSON); Prometheus scrapes every worker, and each must have reported exactly the
// total that all the workers produced together (multiprocess_e2e.hpp, as for Redis).
#include <gtest/gtest.h>

#include <filesystem>

#include "multiprocess_e2e.hpp"

TEST(PrometheusFileE2E, EveryWorkerServesTheExactTotalOfAllWorkers) {
  pytheus_test::TempDir dir("pytheus-e2e-file");
  std::filesystem::create_directory(dir / "metrics");
  pytheus_test::expect_every_worker_serves_the_total(
      {{"PYTHEUS_BACKEND_CLASS", "MultiProcessFileBackend"},
       {"PYTHEUS_BACKEND_CONFIG", "{\"directory\": \"" + (dir / "metrics").string() + "\"}"}},
      dir.path());
}
