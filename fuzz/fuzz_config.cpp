// The backend configuration and environment path of load_backend: any JSON text as the
// PYTHEUS_BACKEND_CONFIG file, any class name in PYTHEUS_BACKEND_CLASS or as the argument,
// any parsed JSON as the config argument. Each call either loads a backend or throws
// BackendError; nothing else (no crash, no other exception, no half-loaded state).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "pytheus/pytheus.hpp"

namespace {

struct TempFile {
  std::string path;
  ~TempFile() { std::remove(path.c_str()); }
};

const std::string& config_path() {
  static const TempFile file{[] {
    // tmpfs when there is one: a disk file per iteration would make the run I/O bound.
    char buf[] = "/dev/shm/pytheus_fuzz_config_XXXXXX";
    int fd = mkstemp(buf);
    if (fd < 0) {
      char fallback[] = "/tmp/pytheus_fuzz_config_XXXXXX";
      fd = mkstemp(fallback);
      if (fd >= 0) close(fd);
      return std::string(fallback);
    }
    close(fd);
    return std::string(buf);
  }()};
  return file.path;
}

void expect_loaded_or_backend_error(const char* what, void (*attempt)(const std::string&),
                                    const std::string& input) {
  const std::string before = pytheus::loaded_backend();
  try {
    attempt(input);
  } catch (const pytheus::BackendError&) {
    // Refused: the previous backend must still be the loaded one.
    if (pytheus::loaded_backend() != before) {
      std::fprintf(stderr, "fuzz_config: %s: failed load changed the backend\n", what);
      std::abort();
    }
    return;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz_config: %s: unexpected exception: %s\n", what, e.what());
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  unsetenv(pytheus::kBackendClassEnv);
  unsetenv(pytheus::kBackendConfigEnv);
  pytheus::load_backend("SingleProcessBackend");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const int mode = data[0] % 3;
  const std::string input(reinterpret_cast<const char*>(data + 1), size - 1);
  unsetenv(pytheus::kBackendClassEnv);
  unsetenv(pytheus::kBackendConfigEnv);
  switch (mode) {
    case 0:  // the config file named by the environment
      std::ofstream(config_path(), std::ios::binary | std::ios::trunc) << input;
      setenv(pytheus::kBackendConfigEnv, config_path().c_str(), 1);
      expect_loaded_or_backend_error(
          "config file", [](const std::string&) { pytheus::load_backend("AtomicBackend"); }, input);
      break;
    case 1:  // a class name from the environment and as the argument
      setenv(pytheus::kBackendClassEnv, input.c_str(), 1);
      expect_loaded_or_backend_error(
          "env class", [](const std::string&) { pytheus::load_backend(); }, input);
      expect_loaded_or_backend_error(
          "class argument", [](const std::string& s) { pytheus::load_backend(s); }, input);
      break;
    default: {  // an already parsed config as the argument
      auto parsed = nlohmann::json::parse(input, nullptr, /*allow_exceptions=*/false);
      if (parsed.is_discarded()) break;
      static nlohmann::json* current = nullptr;
      current = &parsed;
      expect_loaded_or_backend_error(
          "config argument",
          [](const std::string&) { pytheus::load_backend("SingleProcessBackend", *current); },
          input);
      break;
    }
  }
  unsetenv(pytheus::kBackendClassEnv);
  unsetenv(pytheus::kBackendConfigEnv);
  return 0;
}
