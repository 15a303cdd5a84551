// ChildProcess: a program a test starts (a server, an example) and always stops, and TempDir,
// a directory removed with everything in it at the end of the test.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

extern char** environ;

namespace pytheus_test {

// TempDir is a fresh directory under $TMPDIR (or /tmp), removed by the destructor.
class TempDir {
 public:
  explicit TempDir(const std::string& name = "pytheus-test") {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/" + name + "-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp " + pattern);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// Calls `condition` every `interval` until it returns true or `timeout` has passed; returns
// its last result. The way to wait for something in a test: poll, never sleep blindly.
inline bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
                       std::chrono::milliseconds interval = std::chrono::milliseconds(50)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(interval);
  }
}

// ChildProcess runs `argv` (argv[0] a path) with its stdout and stderr in `log_path` and the
// environment of the test plus `env`. stop() (and the destructor) ends it: SIGTERM, then
// SIGKILL if it is still running after the grace period.
class ChildProcess {
 public:
  ChildProcess(std::vector<std::string> argv, std::filesystem::path log_path,
               std::vector<std::pair<std::string, std::string>> env = {})
      : log_path_(std::move(log_path)) {
    if (argv.empty()) throw std::invalid_argument("ChildProcess: empty argv");
    std::vector<std::string> vars;
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string var = *e;
      bool overridden = false;
      for (const auto& [k, v] : env) overridden = overridden || var.rfind(k + "=", 0) == 0;
      if (!overridden) vars.push_back(var);
    }
    for (const auto& [k, v] : env) vars.push_back(k + "=" + v);
    std::vector<char*> args, envp;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    for (auto& v : vars) envp.push_back(v.data());
    envp.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path_.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    const int rc = posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      pid_ = -1;
      throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
    }
    name_ = argv[0];
  }
  ~ChildProcess() { stop(); }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }

  // Returns whether the process is still running.
  bool running() {
    if (pid_ < 0 || status_) return false;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) status_ = status;
    return !status_;
  }

  // Ends the process (if it still runs) and returns its exit code, or 128 + the signal that
  // ended it.
  int stop(int signal = SIGTERM, std::chrono::milliseconds grace = std::chrono::seconds(5)) {
    if (pid_ < 0) return -1;
    if (running()) {
      kill(pid_, signal);
      if (!wait_until([&] { return !running(); }, grace, std::chrono::milliseconds(10))) {
        kill(pid_, SIGKILL);
        int status = 0;
        waitpid(pid_, &status, 0);
        status_ = status;
      }
    }
    return WIFEXITED(*status_) ? WEXITSTATUS(*status_) : 128 + WTERMSIG(*status_);
  }

  // Returns what the process wrote so far.
  std::string output() const {
    std::ifstream in(log_path_);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
  }

  // Waits until the output holds `text`; returns the line it is on, or nullopt on timeout or
  // when the process ends first.
  std::optional<std::string> wait_for_line(const std::string& text,
                                           std::chrono::milliseconds timeout) {
    std::optional<std::string> line;
    wait_until(
        [&] {
          std::istringstream lines(output());
          for (std::string l; std::getline(lines, l);) {
            if (l.find(text) != std::string::npos) {
              line = l;
              return true;
            }
          }
          return !running();
        },
        timeout);
    return line;
  }

  const std::string& name() const { return name_; }

 private:
  std::filesystem::path log_path_;
  std::string name_;
  pid_t pid_ = -1;
  std::optional<int> status_;
};

}  // namespace pytheus_test
