#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>

#include "pytheus/process_collector.hpp"
#include "test_helpers.hpp"

using namespace pytheus;
using pytheus_test::CoreTest;

namespace {

std::map<std::string, double> values(const ProcessCollector& c) {
  std::map<std::string, double> out;
  for (const MetricFamily& f : c.collect()) {
    EXPECT_EQ(f.samples.size(), 1u) << f.name;
    if (!f.samples.empty()) out[f.name] = f.samples[0].value;
  }
  return out;
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

class ProcessCollectorTest : public CoreTest {};

TEST_F(ProcessCollectorTest, ReadsPlausibleValuesOfThisProcess) {
  ProcessCollector collector;
  auto v = values(collector);
  ASSERT_EQ(v.size(), 6u);
  EXPECT_GT(v["process_resident_memory_bytes"], 0);
  EXPECT_GE(v["process_virtual_memory_bytes"], v["process_resident_memory_bytes"]);
  EXPECT_GE(v["process_open_fds"], 3);  // stdin, stdout, stderr at least
  rlimit limit{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &limit), 0);
  if (limit.rlim_cur == RLIM_INFINITY) {
    EXPECT_TRUE(std::isinf(v["process_max_fds"]));
  } else {
    EXPECT_EQ(v["process_max_fds"], static_cast<double>(limit.rlim_cur));
  }
  const double start = v["process_start_time_seconds"];
  EXPECT_LE(start, now_seconds() + 1);
  EXPECT_GT(start, now_seconds() - 3600);  // this test binary started less than an hour ago
  EXPECT_GE(v["process_cpu_seconds_total"], 0);
}

TEST_F(ProcessCollectorTest, ValuesFollowTheProcess) {
  ProcessCollector collector;
  const auto before = values(collector);

  const int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(values(collector)["process_open_fds"], before.at("process_open_fds") + 1);
  close(fd);

  // Burn CPU until the clock-tick granularity (10 ms) shows it.
  volatile double sink = 0;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  double cpu = before.at("process_cpu_seconds_total");
  while (cpu <= before.at("process_cpu_seconds_total") &&
         std::chrono::steady_clock::now() < until) {
    for (int i = 0; i < 1000000; ++i) sink = sink + std::sqrt(static_cast<double>(i));
    cpu = values(collector)["process_cpu_seconds_total"];
  }
  EXPECT_GT(cpu, before.at("process_cpu_seconds_total"));
  EXPECT_EQ(values(collector)["process_start_time_seconds"],
            before.at("process_start_time_seconds"));
}

TEST_F(ProcessCollectorTest, ParsesProcFilesExactly) {
  // A command name with spaces and parentheses must not shift the fields.
  namespace fs = std::filesystem;
  const fs::path root = fs::temp_directory_path() / ("pytheus-proc-" + std::to_string(getpid()));
  fs::create_directories(root / "self" / "fd");
  for (const char* fd : {"0", "1", "2"}) std::ofstream(root / "self" / "fd" / fd) << "";
  std::ofstream(root / "self" / "stat")
      << "4242 (a (weird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 "
         "250 150 0 0 20 0 1 0 12345 104857600 2560 18446744073709551615 0 0 0 0 0 0 0 0 0 0 "
         "0 0 17 0 0 0 0 0 0\n";
  std::ofstream(root / "stat") << "cpu  1 2 3\nbtime 1700000000\nprocesses 10\n";
  std::ofstream(root / "self" / "limits")
      << "Limit                     Soft Limit           Hard Limit           Units     \n"
         "Max open files            4096                 524288               files     \n";

  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  auto v = values(ProcessCollector(root.string()));
  fs::remove_all(root);
  EXPECT_DOUBLE_EQ(v["process_cpu_seconds_total"], 400 / ticks);
  EXPECT_EQ(v["process_virtual_memory_bytes"], 104857600);
  EXPECT_EQ(v["process_resident_memory_bytes"], 2560 * page);
  EXPECT_DOUBLE_EQ(v["process_start_time_seconds"], 1700000000 + 12345 / ticks);
  EXPECT_EQ(v["process_open_fds"], 3);
  EXPECT_EQ(v["process_max_fds"], 4096);
}

TEST_F(ProcessCollectorTest, WithoutProcFamiliesAreLeftOut) {
  ProcessCollector collector("/nonexistent-proc");
  EXPECT_TRUE(collector.collect().empty());
  CollectorRegistry registry;
  registry.register_collector(std::make_shared<ProcessCollector>("/nonexistent-proc"));
  EXPECT_EQ(generate_metrics(registry), "");  // the scrape still succeeds
}

TEST_F(ProcessCollectorTest, ExposesStandardNamesInBothFormats) {
  CollectorRegistry registry;
  registry.register_collector(std::make_shared<ProcessCollector>());
  const std::string text = generate_metrics(registry);
  EXPECT_NE(text.find("# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total "),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("\nprocess_start_time_seconds "), std::string::npos) << text;
  const std::string om = generate_metrics(registry, Format::openmetrics);
  EXPECT_NE(om.find("# TYPE process_cpu_seconds counter\n# UNIT process_cpu_seconds seconds\n"),
            std::string::npos)
      << om;
  EXPECT_NE(om.find("\nprocess_cpu_seconds_total "), std::string::npos) << om;
  EXPECT_NE(om.find("# UNIT process_resident_memory_bytes bytes\n"), std::string::npos) << om;

  // A second one in the same registry is refused by name.
  EXPECT_THROW(registry.register_collector(std::make_shared<ProcessCollector>()),
               RegistrationError);
}
