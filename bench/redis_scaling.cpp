// How far one Redis (or a Redis Cluster) goes with write-behind: N worker processes each dirty
// D series per flush interval, and flush themselves every interval. Reports the flush latency
// the workers saw (p50, p99, max), whether every flush finished within its interval ("keeps
// up"), and the Redis CPU the load cost, from INFO cpu (used_cpu_sys + used_cpu_user) of every
// node. Not a ctest: bench/redis_scaling.sh starts the servers and runs the matrix.
//
//   redis_scaling --nodes 7000,7001,7002 --config '{"cluster": {...}}' \
//                 --procs 4 --series 1000 --seconds 5 [--interval-ms 1000]
//
// The D series are spread over 100 counters (D/100 label sets each, at least one), so that on a
// cluster they spread over the masters like a real service's metrics.
#include <hiredis/hiredis.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "pytheus/backends/redis.hpp"
#include "pytheus/pytheus.hpp"

namespace {

using Clock = std::chrono::steady_clock;

struct Args {
  std::vector<int> nodes;
  nlohmann::json config;
  int procs = 1;
  int series = 100;
  double seconds = 5;
  int interval_ms = 1000;
};

// used_cpu_sys + used_cpu_user of the server on `port`, in seconds.
double redis_cpu(int port) {
  redisContext* c = redisConnect("127.0.0.1", port);
  if (c == nullptr || c->err) {
    std::fprintf(stderr, "cannot connect to 127.0.0.1:%d\n", port);
    std::exit(2);
  }
  auto* r = static_cast<redisReply*>(redisCommand(c, "INFO cpu"));
  double total = 0;
  std::istringstream in(std::string(r->str, r->len));
  std::string line;
  while (std::getline(in, line)) {
    for (const char* key : {"used_cpu_sys:", "used_cpu_user:"}) {
      if (line.rfind(key, 0) == 0) total += std::atof(line.c_str() + std::strlen(key));
    }
  }
  freeReplyObject(r);
  redisFree(c);
  return total;
}

// One worker: returns its flush latencies in microseconds through `fd`.
int worker(const Args& a, int fd) {
  nlohmann::json cfg = a.config;
  cfg["write_mode"] = "write_behind";
  cfg["flush_interval_ms"] = 3600 * 1000;  // this loop flushes, and times each flush
  pytheus::load_backend("MultiProcessRedisBackend", cfg);
  pytheus::CollectorRegistry reg;
  const int metrics = std::min(100, a.series);
  const int per_metric = std::max(1, a.series / metrics);
  std::vector<std::unique_ptr<pytheus::Counter>> counters;
  std::vector<std::vector<pytheus::Counter*>> children(static_cast<std::size_t>(metrics));
  for (int m = 0; m < metrics; ++m) {
    counters.push_back(std::make_unique<pytheus::Counter>("scaling_" + std::to_string(m) + "_total",
                                                          "Scaling load.", pytheus::LabelNames{"k"},
                                                          pytheus::LabelDefaults{}, &reg));
  }
  std::vector<double> latencies;
  const auto start = Clock::now();
  auto next = start;
  int round = 0;
  bool behind = false;
  while (Clock::now() - start < std::chrono::duration<double>(a.seconds)) {
    for (int m = 0; m < metrics; ++m) {
      for (int k = 0; k < per_metric; ++k) {
        counters[static_cast<std::size_t>(m)]->labels({{"k", std::to_string(k)}}).inc();
      }
    }
    const auto t0 = Clock::now();
    const bool ok = pytheus::MultiProcessRedisBackend::flush();
    const auto t1 = Clock::now();
    latencies.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    if (!ok) behind = true;
    ++round;
    next += std::chrono::milliseconds(a.interval_ms);
    if (Clock::now() > next) {
      behind = true;  // this interval's work took longer than the interval
      next = Clock::now();
    }
    std::this_thread::sleep_until(next);
  }
  latencies.push_back(behind ? -1 : 0);  // the last value says whether it kept up
  const std::size_t n = latencies.size();
  if (write(fd, &n, sizeof n) != sizeof n) return 1;
  const auto bytes = static_cast<ssize_t>(n * sizeof(double));
  if (write(fd, latencies.data(), n * sizeof(double)) != bytes) return 1;
  return 0;
}

std::vector<int> parse_ports(const std::string& s) {
  std::vector<int> out;
  std::stringstream in(s);
  std::string p;
  while (std::getline(in, p, ',')) out.push_back(std::atoi(p.c_str()));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const std::string v = argv[i + 1];
    if (k == "--nodes")
      a.nodes = parse_ports(v);
    else if (k == "--config")
      a.config = nlohmann::json::parse(v);
    else if (k == "--procs")
      a.procs = std::atoi(v.c_str());
    else if (k == "--series")
      a.series = std::atoi(v.c_str());
    else if (k == "--seconds")
      a.seconds = std::atof(v.c_str());
    else if (k == "--interval-ms")
      a.interval_ms = std::atoi(v.c_str());
    else {
      std::fprintf(stderr, "unknown argument %s\n", k.c_str());
      return 2;
    }
  }
  if (a.nodes.empty() || !a.config.is_object()) {
    std::fprintf(stderr,
                 "usage: redis_scaling --nodes P1,P2 --config JSON [--procs N] "
                 "[--series D] [--seconds S] [--interval-ms I]\n");
    return 2;
  }
  double cpu0 = 0;
  for (int p : a.nodes) cpu0 += redis_cpu(p);
  const auto t0 = Clock::now();
  std::vector<pid_t> pids;
  std::vector<int> fds;
  for (int w = 0; w < a.procs; ++w) {
    int fd[2];
    if (pipe(fd) != 0) return 2;
    std::fflush(nullptr);
    const pid_t pid = fork();
    if (pid == 0) {
      close(fd[0]);
      _exit(worker(a, fd[1]));
    }
    close(fd[1]);
    pids.push_back(pid);
    fds.push_back(fd[0]);
  }
  std::vector<double> all;
  bool kept_up = true;
  for (int fd : fds) {
    std::size_t n = 0;
    if (read(fd, &n, sizeof n) != sizeof n) return 3;
    std::vector<double> v(n);
    std::size_t got = 0;
    while (got < n * sizeof(double)) {
      const ssize_t r = read(fd, reinterpret_cast<char*>(v.data()) + got, n * sizeof(double) - got);
      if (r <= 0) return 3;
      got += static_cast<std::size_t>(r);
    }
    if (v.back() < 0) kept_up = false;
    all.insert(all.end(), v.begin(), v.end() - 1);
    close(fd);
  }
  for (pid_t p : pids) waitpid(p, nullptr, 0);
  const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
  double cpu1 = 0;
  for (int p : a.nodes) cpu1 += redis_cpu(p);
  std::sort(all.begin(), all.end());
  auto pct = [&](double q) {
    return all.empty() ? 0.0
                       : all[std::min(all.size() - 1, static_cast<std::size_t>(q * all.size()))];
  };
  // One JSON line per run: easy to collect into a table.
  nlohmann::json out = {{"nodes", a.nodes.size()},
                        {"procs", a.procs},
                        {"series", a.series},
                        {"interval_ms", a.interval_ms},
                        {"flushes", all.size()},
                        {"flush_p50_ms", pct(0.5) / 1000},
                        {"flush_p99_ms", pct(0.99) / 1000},
                        {"flush_max_ms", all.empty() ? 0 : all.back() / 1000},
                        {"redis_cpu_pct", 100 * (cpu1 - cpu0) / wall},
                        {"wall_s", wall},
                        // Redis CPU per series delivered (summed over the nodes): how many
                        // series updates one Redis core could take, whatever the clients' CPU.
                        {"redis_cpu_us_per_series",
                         all.empty() ? 0 : (cpu1 - cpu0) * 1e6 / (double(all.size()) * a.series)},
                        {"series_per_s", double(a.procs) * a.series * 1000 / a.interval_ms},
                        {"kept_up", kept_up}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}
