// The load that runs by itself at first use (no load_backend() call), each scenario in a
// forked child so that it starts with nothing loaded, as a fresh service does.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "pytheus/pytheus.hpp"

namespace {

// Runs `scenario` in a child process; returns its exit status (0: every check held).
int in_child(const std::function<int()>& scenario) {
  const pid_t pid = fork();
  if (pid == 0) {
    int code = 1;
    try {
      code = scenario();
    } catch (...) {
      code = 99;
    }
    std::_Exit(code);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 100;
}

struct LateBackend {
  LateBackend(const pytheus::BackendConfig&, const pytheus::MetricInfo&,
              std::optional<std::string_view>) {}
  void inc(double v) { x += v; }
  void dec(double v) { x -= v; }
  void set(double v) { x = v; }
  double get() { return x; }
  double x = 0;
};

}  // namespace

TEST(ImplicitLoad, UnknownClassFromTheEnvironmentNeverThrowsFromUpdates) {
  EXPECT_EQ(in_child([] {
              setenv(pytheus::kBackendClassEnv, "NoSuchBackend", 1);
              pytheus::Counter c("implicit_total", "x", {}, {}, nullptr);
              for (int i = 0; i < 3; ++i) c.inc();  // no exception, every time
              if (c.get() != 3) return 2;
              auto why = pytheus::backend_load_error();
              if (!why || why->find("NoSuchBackend") == std::string::npos) return 3;
              if (pytheus::loaded_backend() != "SingleProcessBackend") return 4;
              // An explicit load still reports its error.
              try {
                pytheus::load_backend("NoSuchBackend");
                return 5;
              } catch (const pytheus::BackendError&) {
              }
              return 0;
            }),
            0);
}

TEST(ImplicitLoad, UnreadableConfigIsReportedOnceNotThrown) {
  EXPECT_EQ(in_child([] {
              setenv(pytheus::kBackendClassEnv, "AtomicBackend", 1);
              setenv(pytheus::kBackendConfigEnv, "/nonexistent/pytheus.json", 1);
              pytheus::Gauge g("implicit_gauge", "x", {}, {}, nullptr);
              g.set(4);
              if (g.get() != 4) return 2;
              auto why = pytheus::backend_load_error();
              if (!why || why->find("/nonexistent/pytheus.json") == std::string::npos) return 3;
              return 0;
            }),
            0);
}

// A class registered after the first update (a static library initialised late) is loaded
// when it registers: linking is enough in every initialisation order.
TEST(ImplicitLoad, AClassThatRegistersLateIsLoadedThenWithValuesCarried) {
  EXPECT_EQ(in_child([] {
              setenv(pytheus::kBackendClassEnv, "LateBackend", 1);
              pytheus::Counter c("late_total", "x", {}, {}, nullptr);
              pytheus::Gauge g("late_gauge", "x", {}, {}, nullptr);
              c.inc(2);
              g.set(7);
              if (pytheus::loaded_backend() != "SingleProcessBackend") return 2;
              pytheus::register_backend<LateBackend>("LateBackend");
              if (pytheus::loaded_backend() != "LateBackend") return 3;
              if (pytheus::backend_load_error()) return 4;
              if (c.get() != 2) return 5;
              if (g.get() != 7) return 6;  // carried with set(), not as an increment
              return 0;
            }),
            0);
}

// An explicit choice made before the late class registers is kept.
TEST(ImplicitLoad, AnExplicitLoadIsNotOverriddenByALateRegistration) {
  EXPECT_EQ(in_child([] {
              setenv(pytheus::kBackendClassEnv, "LateBackend", 1);
              pytheus::Counter c("late_total", "x", {}, {}, nullptr);
              c.inc();
              pytheus::load_backend("AtomicBackend", nlohmann::json::object());
              pytheus::register_backend<LateBackend>("LateBackend");
              return pytheus::loaded_backend() == "AtomicBackend" ? 0 : 2;
            }),
            0);
}
