// multiprocess: a pre-fork service on a multi-process backend (Redis, or the shared files of
// MultiProcessFileBackend). The parent forks N workers; each serves /metrics on its own port
// and does a fixed amount of work (on Redis, flushed). Since the values are shared, every
// worker serves the same totals, exactly the sum of all the workers' work: Prometheus may
// scrape any of them.
//
//   multiprocess [WORKERS [BASE_PORT]] [--once]
//     WORKERS    worker processes (default 4)
//     BASE_PORT  worker i serves http://127.0.0.1:BASE_PORT+i/metrics (default 8000; 0 gives
//                each worker a free port, printed on stdout)
//     --once     no serving: the workers work and exit, the parent prints the exposition
//
//   PYTHEUS_BACKEND_CLASS=MultiProcessRedisBackend PYTHEUS_BACKEND_CONFIG=redis.json multiprocess
//   PYTHEUS_BACKEND_CLASS=MultiProcessFileBackend
//     PYTHEUS_BACKEND_CONFIG='{"directory": "/run/multiprocess"}' multiprocess
//
// The backend comes from the environment only, as in any service. SIGTERM or Ctrl-C stops the
// parent, which stops its workers.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>  // the Redis configuration is read and changed here
#ifdef PYTHEUS_EXAMPLE_HAVE_REDIS
#include <pytheus/backends/redis.hpp>
#endif
#include <pytheus/http/exposer.hpp>
#include <pytheus/pytheus.hpp>

#include <cstdlib>
#include <exception>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace {

// Metrics are globals, as in most services; they bind to the backend on first use.
pytheus::Counter jobs("jobs_total", "Jobs done by all workers.");
pytheus::Counter outcomes("job_outcomes_total", "Jobs by outcome.", {"outcome"});
pytheus::Histogram job_seconds("job_seconds", "Job durations.", {}, {}, {},
                               pytheus::Buckets{0.01, 0.1, 1});

constexpr int kJobsPerWorker = 10000;  // every tenth is an error

void work() {
  for (int i = 0; i < kJobsPerWorker; ++i) {
    jobs.inc();
    outcomes.labels({{"outcome", i % 10 == 0 ? "error" : "ok"}}).inc();
    job_seconds.observe((i % 4) * 0.05);
  }
}

// Delivers what a write-behind Redis worker still holds; returns false if Redis is unreachable.
// Values in shared files are delivered by inc() itself.
bool deliver() {
#ifdef PYTHEUS_EXAMPLE_HAVE_REDIS
  if (pytheus::loaded_backend() == "MultiProcessRedisBackend") {
    return pytheus::MultiProcessRedisBackend::flush();
  }
#endif
  return true;
}

// A worker: serves, works, delivers its work, serves until told to stop.
int run_worker(int index, int base_port, const sigset_t& stop_signals) {
  const int port = base_port == 0 ? 0 : base_port + index;
  pytheus::http::Exposer exposer("127.0.0.1", static_cast<std::uint16_t>(port));
  exposer.start();
  std::cout << "worker " << index << " (pid " << getpid() << ") serving " << exposer.url()
            << std::endl;
  work();
  if (!deliver()) {  // write-behind: deliver before reporting
    std::cerr << "worker " << index << ": Redis unreachable, work not delivered yet\n";
  }
  std::cout << "worker " << index << " done: " << kJobsPerWorker << " jobs" << std::endl;
  int signal = 0;
  sigwait(&stop_signals, &signal);
  return 0;  // the exposer stops; exit() delivers anything still pending
}

// Waits for every child; returns how many did not exit with 0.
int reap(const std::vector<pid_t>& children) {
  int failed = 0;
  for (pid_t pid : children) {
    int status = 0;
    waitpid(pid, &status, 0);
    failed += !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  return failed;
}

}  // namespace

int run(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  bool once = false;
  std::vector<int> numbers;
  for (const std::string& arg : args) {
    if (arg == "--once") {
      once = true;
    } else {
      numbers.push_back(std::stoi(arg));
    }
  }
  const int workers = numbers.size() > 0 ? numbers[0] : 4;
  const int base_port = numbers.size() > 1 ? numbers[1] : 8000;

  pytheus::load_backend();  // PYTHEUS_BACKEND_CLASS / PYTHEUS_BACKEND_CONFIG
  const std::string backend = pytheus::loaded_backend();
  if (backend != "MultiProcessRedisBackend" && backend != "MultiProcessFileBackend") {
    std::cerr
        << "multiprocess: the loaded backend is " << backend
        << ", which cannot add up several processes; set PYTHEUS_BACKEND_CLASS="
           "MultiProcessRedisBackend or MultiProcessFileBackend, and PYTHEUS_BACKEND_CONFIG\n";
    return 2;
  }
  if (backend == "MultiProcessRedisBackend") {
    // A key prefix of its own per run, so that earlier runs on the same Redis do not add in
    // (a real service keeps one prefix across restarts).
    pytheus::BackendConfig config = pytheus::loaded_backend_config();
    if (!config.contains("key_prefix")) {
      config["key_prefix"] = "multiprocess-example-" + std::to_string(getpid());
      pytheus::load_backend("MultiProcessRedisBackend", config);
    }
  }
  // Values in a file directory continue across runs: the work of this run comes on top.
  const double jobs_before = jobs.get();
  const double count_before = job_seconds.snapshot().count;

  // Blocked before the fork, so that workers and their threads inherit it; sigwait takes them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigset_t parent_signals = stop_signals;
  sigaddset(&parent_signals, SIGCHLD);
  sigprocmask(SIG_BLOCK, &parent_signals, nullptr);

  std::vector<pid_t> children;
  for (int w = 0; w < workers; ++w) {
    const pid_t pid = fork();  // after load_backend: each child gets its own connection/slot
    if (pid == 0) {
      try {
        if (once) {
          work();
          std::exit(0);  // exit() delivers what a write-behind worker still holds
        }
        std::exit(run_worker(w, base_port, stop_signals));
      } catch (const std::exception& e) {
        std::cerr << "worker " << w << ": " << e.what() << "\n";
        std::exit(1);
      }
    }
    children.push_back(pid);
  }

  const double expected = double(workers) * kJobsPerWorker;
  if (once) {
    const int failed = reap(children);
    std::cout << pytheus::generate_metrics();
    const double jobs_done = jobs.get() - jobs_before;
    const double observed = job_seconds.snapshot().count - count_before;
    std::cerr << "expected: jobs_total +" << expected << ", job_seconds_count +" << expected
              << "; got +" << jobs_done << " and +" << observed << "\n";
    return failed == 0 && jobs_done == expected && observed == expected ? 0 : 1;
  }

  std::cout << "parent (pid " << getpid() << "): " << workers << " workers; jobs_total will be "
            << expected << " on every one of them" << std::endl;
  // Until SIGTERM or SIGINT, or a worker exiting by itself (a failure: it should serve on).
  int signal = 0;
  sigwait(&parent_signals, &signal);
  for (pid_t pid : children) kill(pid, SIGTERM);
  const int failed = reap(children);
  if (signal == SIGCHLD) std::cerr << "multiprocess: a worker exited; stopped the others\n";
  return signal != SIGCHLD && failed == 0 ? 0 : 1;
}

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {  // a bad config, Redis unreachable: say which
    std::cerr << "multiprocess: " << e.what() << "\n";
    return 1;
  }
}
