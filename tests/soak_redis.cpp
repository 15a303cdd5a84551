// Soak test of the Redis backend: P worker processes x T threads drive every metric type
// (Counter, Gauge, Histogram, Summary, labelled and not) while another process scrapes
// continuously, for a set time, per write mode. Passes when no operation threw, every scrape
// answered and was consistent (+Inf == count, buckets non-decreasing, counters never going
// back), every process's RSS stayed flat after warm-up, and the totals in Redis are exactly
// the operations done.
//
//     soak_redis [--seconds N | --minutes M] [--modes write_behind,write_through]
//                [--processes P] [--threads T]
//
// Each mode runs N seconds, except write_through after write_behind, which runs N/3 (at least
// 5 s): it is a thousand times slower per operation and mostly measures the network.
// RSS is "flat" when the largest sample of the last quarter of the run exceeds the largest of
// the second quarter (warm-up is the first) by at most max(4 MiB, 10%).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "redis_test_helpers.hpp"

using namespace pytheus;
using Clock = std::chrono::steady_clock;

namespace {

const char* const kRoutes[] = {"/", "/api", "/login", "/static"};
constexpr int kRoutesN = 4;

// The metrics of every process of the soak, in their own registry.
struct Metrics {
  CollectorRegistry reg;
  Counter c{"soak_requests_total", "Requests.", {}, {}, &reg};
  Counter c_route{"soak_route_requests_total", "Requests per route.", {"route"}, {}, &reg};
  Gauge g{"soak_level", "Level.", {}, {}, &reg};
  Gauge g_route{"soak_route_level", "Level per route.", {"route"}, {}, &reg};
  Histogram h{"soak_latency_seconds", "Latency.", {}, {}, &reg, Buckets{0.25, 0.5, 0.75}};
  Histogram h_route{"soak_route_latency_seconds", "Latency per route.", {"route"}, {}, &reg};
  Summary s{"soak_size_bytes", "Sizes.", {}, {}, &reg};
  Summary s_route{"soak_route_size_bytes", "Sizes per route.", {"route"}, {}, &reg};

  // One step: nine operations, every metric type, labelled and not. Observed values are
  // multiples of 1/8, so every sum is exact.
  void step(long i) {
    const char* route = kRoutes[i % kRoutesN];
    const double v = double(i % 8) * 0.125;
    c.inc();
    c_route.labels({{"route", route}}).inc();
    g.inc(2);
    g.dec(1);
    g_route.labels({{"route", route}}).inc();
    h.observe(v);
    h_route.labels({{"route", route}}).observe(v);
    s.observe(v);
    s_route.labels({{"route", route}}).observe(1);
  }
};

// What one worker did: steps per route value and the sum of observed values.
struct Work {
  long steps = 0;
  long per_route[kRoutesN] = {};
  double sum = 0;
  void add(long i) {
    ++steps;
    ++per_route[i % kRoutesN];
    sum += double(i % 8) * 0.125;
  }
  void merge(const Work& o) {
    steps += o.steps;
    for (int r = 0; r < kRoutesN; ++r) per_route[r] += o.per_route[r];
    sum += o.sum;
  }
};

long rss_kib() {
  long pages_total = 0, pages_resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages_total, &pages_resident) != 2) pages_resident = 0;
    std::fclose(f);
  }
  return pages_resident * (sysconf(_SC_PAGESIZE) / 1024);
}

// Samples this process's RSS every 250 ms until stopped.
class RssSampler {
 public:
  RssSampler()
      : thread_([this] {
          while (!stop_.load()) {
            samples_.push_back(rss_kib());
            std::this_thread::sleep_for(std::chrono::milliseconds(250));
          }
        }) {}
  std::vector<long> stop() {
    stop_.store(true);
    thread_.join();
    return samples_;
  }

 private:
  std::atomic<bool> stop_{false};
  std::vector<long> samples_;
  std::thread thread_;
};

// The RSS growth (KiB) from the second quarter's peak to the last quarter's peak, and whether
// it is within max(4 MiB, 10%).
struct RssVerdict {
  long baseline = 0, final = 0;
  bool flat = false;
};
RssVerdict judge(const std::vector<long>& s) {
  RssVerdict v;
  const std::size_t n = s.size();
  if (n < 8) return v;
  for (std::size_t i = n / 4; i < n / 2; ++i) v.baseline = std::max(v.baseline, s[i]);
  for (std::size_t i = 3 * n / 4; i < n; ++i) v.final = std::max(v.final, s[i]);
  v.flat = v.final - v.baseline <= std::max(4096L, v.baseline / 10);
  return v;
}

std::string join(const std::vector<long>& v) {
  std::string s;
  for (long x : v) s += std::to_string(x) + " ";
  return s;
}

void write_all(int fd, const std::string& s) {
  std::size_t off = 0;
  while (off < s.size()) {
    const ssize_t n = write(fd, s.data() + off, s.size() - off);
    if (n <= 0) return;
    off += std::size_t(n);
  }
}

std::string read_all(int fd) {
  std::string s;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) s.append(buf, std::size_t(n));
  return s;
}

// Worker: threads doing steps until the deadline. Reports "steps r0 r1 r2 r3 sum exceptions
// | rss samples".
int worker(const nlohmann::json& config, int threads, Clock::time_point deadline, int out) {
  load_backend("MultiProcessRedisBackend", config);
  Metrics m;
  RssSampler rss;
  std::vector<Work> work(std::size_t(threads), Work{});
  std::atomic<long> exceptions{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      Work& w = work[std::size_t(t)];
      for (long i = 0; Clock::now() < deadline; ++i) {
        try {
          m.step(i);
        } catch (const std::exception& e) {
          if (exceptions++ == 0) std::fprintf(stderr, "soak worker: %s\n", e.what());
        }
        w.add(i);
        // A breath now and then, so the scraper and Redis get the CPU on small machines.
        if (i % 256 == 255) std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
    });
  }
  for (auto& t : ts) t.join();
  Work total;
  for (const Work& w : work) total.merge(w);
  const auto flush_deadline = Clock::now() + std::chrono::seconds(30);
  while (!MultiProcessRedisBackend::flush() && Clock::now() < flush_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const std::vector<long> samples = rss.stop();
  std::ostringstream o;
  o.precision(17);
  o << total.steps;
  for (long r : total.per_route) o << ' ' << r;
  o << ' ' << total.sum << ' ' << exceptions.load() << ' '
    << MultiProcessRedisBackend::stats().dropped << " | " << join(samples);
  write_all(out, o.str());
  return MultiProcessRedisBackend::stats().pending_series == 0 ? 0 : 1;
}

// Scraper: collects (and renders) the registry until the deadline, checking each scrape.
// Reports "scrapes failed inconsistent | rss samples".
int scraper(const nlohmann::json& config, Clock::time_point deadline, int out) {
  load_backend("MultiProcessRedisBackend", config);
  Metrics m;
  RssSampler rss;
  long scrapes = 0, failed = 0, inconsistent = 0;
  double last_requests = 0, last_count = 0;
  while (Clock::now() < deadline) {
    try {
      if (scrapes % 2 == 0) {
        const auto f = collect(m.reg);
        const std::string problem = pytheus_test::histogram_problem(f);
        const double requests = pytheus_test::sample_value(f, "soak_requests_total", "");
        const double count = pytheus_test::sample_value(f, "soak_size_bytes", "_count");
        if (!problem.empty() || requests < last_requests || count < last_count) {
          if (inconsistent++ == 0) std::fprintf(stderr, "soak scrape: %s\n", problem.c_str());
        }
        last_requests = requests;
        last_count = count;
      } else if (generate_metrics(m.reg).find("# TYPE soak_route_latency_seconds histogram") ==
                 std::string::npos) {
        ++inconsistent;
      }
    } catch (const std::exception& e) {
      if (failed++ == 0) std::fprintf(stderr, "soak scrape failed: %s\n", e.what());
    }
    ++scrapes;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::ostringstream o;
  o << scrapes << ' ' << failed << ' ' << inconsistent << " | " << join(rss.stop());
  write_all(out, o.str());
  return 0;
}

struct Child {
  pid_t pid;
  int fd;
  std::string name;
};

template <class F>
Child spawn(const std::string& name, F f) {
  int p[2];
  if (pipe(p) != 0) std::abort();
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    close(p[0]);
    int code = 3;
    try {
      code = f(p[1]);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s: %s\n", name.c_str(), e.what());
    }
    close(p[1]);
    std::fflush(nullptr);
    _exit(code);
  }
  close(p[1]);
  return {pid, p[0], name};
}

std::vector<long> parse_rss(const std::string& report) {
  std::vector<long> v;
  std::istringstream in(report.substr(report.find('|') + 1));
  long x;
  while (in >> x) v.push_back(x);
  return v;
}

bool check_rss(const std::string& name, const std::vector<long>& samples) {
  const RssVerdict v = judge(samples);
  std::printf("  %-10s RSS %ld KiB after warm-up, %ld KiB at the end (%+ld KiB, %zu samples): %s\n",
              name.c_str(), v.baseline, v.final, v.final - v.baseline, samples.size(),
              v.flat ? "flat" : "GROWING");
  return v.flat;
}

bool run_leg(const std::string& mode, int seconds, int processes, int threads) {
  std::printf("== %s: %d processes x %d threads, 1 scraper, %d s ==\n", mode.c_str(), processes,
              threads, seconds);
  std::fflush(stdout);
  pytheus_test::RedisServer server;
  nlohmann::json extra = {{"write_mode", mode}};
  if (mode == "write_behind") extra["flush_interval_ms"] = 100;
  const nlohmann::json config = server.config(extra);
  const auto deadline = Clock::now() + std::chrono::seconds(seconds);
  std::vector<Child> children;
  for (int p = 0; p < processes; ++p) {
    children.push_back(spawn("worker" + std::to_string(p),
                             [&](int out) { return worker(config, threads, deadline, out); }));
  }
  children.push_back(spawn("scraper", [&](int out) { return scraper(config, deadline, out); }));
  bool ok = true;
  Work total;
  long exceptions = 0, dropped = 0;
  for (Child& c : children) {
    const std::string report = read_all(c.fd);
    close(c.fd);
    int status = 0;
    waitpid(c.pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      std::printf("  %s exited abnormally (status %d)\n", c.name.c_str(), status);
      ok = false;
    }
    std::istringstream in(report);
    if (c.name == "scraper") {
      long scrapes = 0, failed = 0, inconsistent = 0;
      in >> scrapes >> failed >> inconsistent;
      std::printf("  scraper    %ld scrapes, %ld failed, %ld inconsistent\n", scrapes, failed,
                  inconsistent);
      ok = ok && scrapes > 0 && failed == 0 && inconsistent == 0;
    } else {
      Work w;
      long exc = 0, drop = 0;
      in >> w.steps;
      for (long& r : w.per_route) in >> r;
      in >> w.sum >> exc >> drop;
      total.merge(w);
      exceptions += exc;
      dropped += drop;
    }
    ok = check_rss(c.name, parse_rss(report)) && ok;
  }
  // The totals, read by a process that did none of the work.
  load_backend("MultiProcessRedisBackend", config);
  Metrics m;
  const auto f = collect(m.reg);
  using pytheus_test::sample_value;
  const double n = double(total.steps);
  int wrong = 0;
  auto expect = [&](const char* what, double got, double want) {
    if (got != want) {
      std::printf("  WRONG %s: %.17g, expected %.17g\n", what, got, want);
      ++wrong;
    }
  };
  expect("requests", sample_value(f, "soak_requests_total", ""), n);
  expect("level", sample_value(f, "soak_level", ""), n);
  expect("latency count", sample_value(f, "soak_latency_seconds", "_count"), n);
  expect("latency sum", sample_value(f, "soak_latency_seconds", "_sum"), total.sum);
  expect("size count", sample_value(f, "soak_size_bytes", "_count"), n);
  expect("size sum", sample_value(f, "soak_size_bytes", "_sum"), total.sum);
  double route_sum = 0;
  for (int r = 0; r < kRoutesN; ++r) {
    const std::vector<std::pair<std::string, std::string>> labels = {{"route", kRoutes[r]}};
    const double want = double(total.per_route[r]);
    expect("route requests", sample_value(f, "soak_route_requests_total", "", labels), want);
    expect("route level", sample_value(f, "soak_route_level", "", labels), want);
    expect("route latency count", sample_value(f, "soak_route_latency_seconds", "_count", labels),
           want);
    expect("route size count", sample_value(f, "soak_route_size_bytes", "_count", labels), want);
    expect("route size sum", sample_value(f, "soak_route_size_bytes", "_sum", labels), want);
    route_sum += sample_value(f, "soak_route_latency_seconds", "_sum", labels);
  }
  expect("route latency sum", route_sum, total.sum);
  const std::string problem = pytheus_test::histogram_problem(f);
  if (!problem.empty()) {
    std::printf("  histogram problem: %s\n", problem.c_str());
    ++wrong;
  }
  std::printf("  %ld steps (%ld operations), %ld exceptions, %ld dropped, totals %s\n", total.steps,
              9 * total.steps, exceptions, dropped, wrong == 0 ? "exact" : "WRONG");
  ok = ok && wrong == 0 && exceptions == 0 && dropped == 0 && total.steps > 0;
  std::printf("== %s: %s ==\n", mode.c_str(), ok ? "PASS" : "FAIL");
  std::fflush(stdout);
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  int seconds = 20, processes = 4, threads = 3;
  std::vector<std::string> modes = {"write_behind", "write_through"};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--seconds" && has_value) {
      seconds = std::atoi(argv[++i]);
    } else if (a == "--minutes" && has_value) {
      seconds = int(std::atof(argv[++i]) * 60);
    } else if (a == "--processes" && has_value) {
      processes = std::atoi(argv[++i]);
    } else if (a == "--threads" && has_value) {
      threads = std::atoi(argv[++i]);
    } else if (a == "--modes" && has_value) {
      modes.clear();
      std::stringstream in(argv[++i]);
      std::string m;
      while (std::getline(in, m, ',')) modes.push_back(m);
    } else {
      std::fprintf(stderr,
                   "usage: %s [--seconds N | --minutes M] [--modes write_behind,write_through] "
                   "[--processes P] [--threads T]\n",
                   argv[0]);
      return 2;
    }
  }
  if (seconds < 4 || processes < 1 || threads < 1) {
    std::fprintf(stderr, "soak_redis: at least 4 seconds, 1 process and 1 thread\n");
    return 2;
  }
  bool ok = true;
  for (std::size_t i = 0; i < modes.size(); ++i) {
    const int s = modes[i] == "write_through" && i > 0 ? std::max(5, seconds / 3) : seconds;
    ok = run_leg(modes[i], s, processes, threads) && ok;
  }
  std::printf("soak_redis: %s\n", ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}
