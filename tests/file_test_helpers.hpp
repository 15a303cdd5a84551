// Shared by the MultiProcessFileBackend tests: a fixture that loads the backend on a fresh
// directory, forked children that run a function, and sample lookup in a collected registry.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "child_process.hpp"
#include "pytheus/backends/file.hpp"
#include "pytheus/pytheus.hpp"

namespace pytheus_test {

#ifdef PYTHEUS_TEST_SANITIZED
inline constexpr int kSanitized = 1;
#else
inline constexpr int kSanitized = 0;
#endif

// Loads MultiProcessFileBackend on a fresh directory for each test (plus `extra` config).
class FileBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    unsetenv(pytheus::kBackendClassEnv);
    unsetenv(pytheus::kBackendConfigEnv);
    load();
  }
  void TearDown() override {
    pytheus::load_backend("SingleProcessBackend", pytheus::BackendConfig::object());
  }
  void load(nlohmann::json extra = nlohmann::json::object()) {
    nlohmann::json config{{"directory", dir_.path().string()}};
    config.update(extra);
    pytheus::load_backend("MultiProcessFileBackend", config);
  }
  std::string path(const std::string& name) const { return (dir_.path() / name).string(); }

  TempDir dir_{"pytheus-file"};
};

// Forks a child that runs `f` and exits (0, or 1 when f throws or a check fails).
inline pid_t spawn(const std::function<void()>& f) {
  const pid_t pid = fork();
  if (pid == 0) {
    int code = 0;
    try {
      f();
    } catch (const std::exception& e) {
      fprintf(stderr, "child %d: %s\n", getpid(), e.what());
      code = 1;
    }
    _exit(code);
  }
  return pid;
}

// Waits for `pid`; returns its exit code, 128 + signal, or -1 on timeout (then kills it).
inline int wait_child(pid_t pid, std::chrono::seconds timeout = std::chrono::seconds(600)) {
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    usleep(1000);
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Memory shared with forked children (progress counters, flags).
template <class T>
T* shared_block(std::size_t n = 1) {
  void* p = mmap(nullptr, sizeof(T) * n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::runtime_error("mmap");
  return new (p) T[n]();
}

// The samples named `full_name` (family name + suffix) with exactly `labels`.
inline std::vector<double> samples(const std::vector<pytheus::MetricFamily>& families,
                                   const std::string& full_name,
                                   std::vector<std::pair<std::string, std::string>> labels = {}) {
  std::sort(labels.begin(), labels.end());
  std::vector<double> out;
  for (const auto& f : families) {
    for (const auto& s : f.samples) {
      auto l = s.labels;
      std::sort(l.begin(), l.end());
      if (f.name + s.suffix == full_name && l == labels) out.push_back(s.value);
    }
  }
  return out;
}

// The one sample named `full_name` with `labels`; NaN when there is none (or several).
inline double sample(const std::vector<pytheus::MetricFamily>& families,
                     const std::string& full_name,
                     std::vector<std::pair<std::string, std::string>> labels = {}) {
  auto v = samples(families, full_name, std::move(labels));
  return v.size() == 1 ? v[0] : std::nan("");
}

// Every sample of family `name` whose labels include `label`.
inline std::size_t count_series(const std::vector<pytheus::MetricFamily>& families,
                                const std::string& name) {
  for (const auto& f : families) {
    if (f.name == name) return f.samples.size();
  }
  return 0;
}

}  // namespace pytheus_test
