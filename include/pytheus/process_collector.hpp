// ProcessCollector: the process metrics every Prometheus client exports, read from Linux /proc.
//
// It yields process_cpu_seconds_total, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_open_fds, process_max_fds and
// process_start_time_seconds, with the names and meanings of client_golang's process
// collector, so dashboards built for other clients work unchanged. It reads the process that
// calls collect(), so a worker forked after the collector was made reports itself. Linux only:
// a family whose /proc file cannot be read is left out rather than failing the scrape.
// Safe for concurrent use.
#pragma once

#include <dirent.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <limits>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pytheus/collector.hpp"

namespace pytheus {

/// ProcessCollector yields the standard `process_*` metrics of the calling process, read from
/// `/proc` at each scrape. The HTTP exposer registers one by default; register one yourself
/// when you serve metrics another way.
///
/// **Example**:
///     pytheus::default_registry().register_collector(std::make_shared<pytheus::ProcessCollector>());
class ProcessCollector final : public Collector {
 public:
  /// Reads `proc_root` (where procfs is mounted) for `proc_root/self/...` and `proc_root/stat`.
  explicit ProcessCollector(std::string proc_root = "/proc") : root_(std::move(proc_root)) {}

  std::vector<std::string> describe() const override {
    return {"process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_virtual_memory_bytes",
            "process_open_fds",
            "process_max_fds",
            "process_start_time_seconds"};
  }

  std::vector<MetricFamily> collect() const override {
    std::vector<MetricFamily> out;
    auto add = [&out](const char* name, const char* help, MetricType type, const char* unit,
                      double value) {
      out.push_back({name, help, type, unit, {{"", {}, value}}});
    };
    const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
    const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
    if (std::optional<Stat> st = read_stat(); st && ticks > 0) {
      add("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
          MetricType::counter, "seconds", (st->utime + st->stime) / ticks);
      add("process_resident_memory_bytes", "Resident memory size in bytes.", MetricType::gauge,
          "bytes", st->rss_pages * page);
      add("process_virtual_memory_bytes", "Virtual memory size in bytes.", MetricType::gauge,
          "bytes", st->vsize);
      if (std::optional<double> btime = boot_time()) {
        add("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
            MetricType::gauge, "seconds", *btime + st->starttime / ticks);
      }
    }
    if (std::optional<double> fds = open_fds()) {
      add("process_open_fds", "Number of open file descriptors.", MetricType::gauge, "", *fds);
    }
    if (std::optional<double> max = max_fds()) {
      add("process_max_fds", "Maximum number of open file descriptors.", MetricType::gauge, "",
          *max);
    }
    return out;
  }

 private:
  struct Stat {
    double utime = 0, stime = 0, starttime = 0, vsize = 0, rss_pages = 0;
  };

  static std::optional<std::string> read_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) return std::nullopt;
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
  }

  static std::optional<double> to_number(std::string_view s) {
    std::string copy(s);
    char* end = nullptr;
    const double v = std::strtod(copy.c_str(), &end);
    if (copy.empty() || end != copy.c_str() + copy.size()) return std::nullopt;
    return v;
  }

  // proc(5): "pid (comm) state ppid ...". comm may hold spaces and parentheses, so the fields
  // are counted from the last ')'.
  std::optional<Stat> read_stat() const {
    std::optional<std::string> text = read_file(root_ + "/self/stat");
    if (!text) return std::nullopt;
    const std::size_t paren = text->rfind(')');
    if (paren == std::string::npos) return std::nullopt;
    std::istringstream rest(text->substr(paren + 1));
    std::vector<std::string> f;  // f[0] is field 3 (state)
    for (std::string word; rest >> word;) f.push_back(word);
    if (f.size() < 22) return std::nullopt;
    auto field = [&f](std::size_t number) { return to_number(f[number - 3]); };
    auto utime = field(14), stime = field(15), start = field(22), vsize = field(23),
         rss = field(24);
    if (!utime || !stime || !start || !vsize || !rss) return std::nullopt;
    return Stat{*utime, *stime, *start, *vsize, *rss};
  }

  // The boot time never changes, so it is read once.
  std::optional<double> boot_time() const {
    std::call_once(btime_once_, [this] {
      std::optional<std::string> text = read_file(root_ + "/stat");
      if (!text) return;
      std::istringstream lines(*text);
      for (std::string line; std::getline(lines, line);) {
        if (line.compare(0, 6, "btime ") == 0) btime_ = to_number(line.substr(6));
      }
    });
    return btime_;
  }

  std::optional<double> open_fds() const {
    DIR* dir = opendir((root_ + "/self/fd").c_str());
    if (dir == nullptr) return std::nullopt;
    const std::string own = std::to_string(dirfd(dir));  // listed too, but not the process's
    double count = 0;
    while (const dirent* e = readdir(dir)) {
      const std::string_view name = e->d_name;
      if (name != "." && name != ".." && name != own) ++count;
    }
    closedir(dir);
    return count;
  }

  // The soft limit from "Max open files  <soft>  <hard>  files".
  std::optional<double> max_fds() const {
    std::optional<std::string> text = read_file(root_ + "/self/limits");
    if (!text) return std::nullopt;
    std::istringstream lines(*text);
    for (std::string line; std::getline(lines, line);) {
      if (line.compare(0, 14, "Max open files") != 0) continue;
      std::istringstream words(line.substr(14));
      std::string soft;
      words >> soft;
      if (soft == "unlimited") return std::numeric_limits<double>::infinity();
      return to_number(soft);
    }
    return std::nullopt;
  }

  const std::string root_;
  mutable std::once_flag btime_once_;
  mutable std::optional<double> btime_;
};

}  // namespace pytheus
