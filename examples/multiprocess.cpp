// Multi-process metrics: a parent forks N workers that count their work into the same
// metrics through the Redis backend; the parent waits and prints the exposition, whose
// totals are exactly the sum of every worker's work.
//
//   multiprocess [workers] [backend-config-json]
//   multiprocess 4 '{"host": "127.0.0.1", "port": 6379}'
//   PYTHEUS_BACKEND_CLASS=MultiProcessRedisBackend PYTHEUS_BACKEND_CONFIG=redis.json multiprocess
//
// Without a config argument the backend comes from the environment, as in any service.
#include <sys/wait.h>
#include <unistd.h>
#include <pytheus/pytheus.hpp>

#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

namespace {

// Metrics are globals, as in most services; they bind to the backend on first use.
pytheus::Counter jobs("jobs_total", "Jobs done by all workers.");
pytheus::Counter outcomes("job_outcomes_total", "Jobs by outcome.", {"outcome"});
pytheus::Histogram job_seconds("job_seconds", "Job durations.", {}, {}, {},
                               pytheus::Buckets{0.01, 0.1, 1});

constexpr int kJobsPerWorker = 10000;

void work() {
  for (int i = 0; i < kJobsPerWorker; ++i) {
    jobs.inc();
    outcomes.labels({{"outcome", i % 10 == 0 ? "error" : "ok"}}).inc();
    job_seconds.observe((i % 4) * 0.05);
  }
}

}  // namespace

int run(int argc, char** argv) {
  const int workers = argc > 1 ? std::atoi(argv[1]) : 4;
  if (argc > 2) {
    pytheus::load_backend("MultiProcessRedisBackend", nlohmann::json::parse(argv[2]));
  } else {
    pytheus::load_backend();  // PYTHEUS_BACKEND_CLASS / PYTHEUS_BACKEND_CONFIG
  }
  if (pytheus::loaded_backend() != "MultiProcessRedisBackend") {
    std::cerr << "multiprocess: the loaded backend is " << pytheus::loaded_backend()
              << ", which cannot add up several processes; give a Redis config or set "
                 "PYTHEUS_BACKEND_CLASS=MultiProcessRedisBackend\n";
    return 2;
  }
  // A key prefix of its own per run, so that earlier runs on the same Redis do not add in.
  pytheus::BackendConfig config = pytheus::loaded_backend_config();
  if (!config.contains("key_prefix")) {
    config["key_prefix"] = "multiprocess-example-" + std::to_string(getpid());
    pytheus::load_backend("MultiProcessRedisBackend", config);
  }

  std::vector<pid_t> children;
  for (int w = 0; w < workers; ++w) {
    pid_t pid = fork();  // after load_backend: each child gets its own connection
    if (pid == 0) {
      work();
      std::exit(0);  // exit() delivers what a write-behind worker still holds
    }
    children.push_back(pid);
  }
  int failed = 0;
  for (pid_t pid : children) {
    int status = 0;
    waitpid(pid, &status, 0);
    failed += !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }

  std::cout << pytheus::generate_metrics();
  const double expected = double(workers) * kJobsPerWorker;
  std::cerr << "expected: jobs_total " << expected << ", job_seconds_count " << expected << "; got "
            << jobs.get() << " and " << job_seconds.snapshot().count << "\n";
  return failed == 0 && jobs.get() == expected && job_seconds.snapshot().count == expected ? 0 : 1;
}

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {  // a bad config, Redis unreachable: say which
    std::cerr << "multiprocess: " << e.what() << "\n";
    return 1;
  }
}
