// The configuration of MultiProcessFileBackend: every key checked, errors naming it.
#include <limits.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <string>

#include "pytheus/errors.hpp"
#include "store.hpp"

namespace pytheus::detail::file {
namespace {

[[noreturn]] void bad(const std::string& what) {
  throw BackendError("MultiProcessFileBackend configuration: " + what);
}

// The default service: the program's file name, so that two different programs pointed at
// one directory by mistake are told apart.
std::string program_name() {
  char buf[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "pytheus";
  std::string path(buf, static_cast<std::size_t>(n));
  const auto slash = path.rfind('/');
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  if (name.size() >= kServiceMax) name.resize(kServiceMax - 1);
  return name.empty() ? "pytheus" : name;
}

}  // namespace

Config parse_config(const BackendConfig& config) {
  if (!config.is_object()) bad("must be a JSON object");
  Config c;
  for (const auto& [key, value] : config.items()) {
    if (key == "directory") {
      if (!value.is_string() || value.get<std::string>().empty()) {
        bad("\"directory\" must be a non-empty string (the directory the files are kept in)");
      }
      c.directory = value.get<std::string>();
    } else if (key == "service") {
      if (!value.is_string() || value.get<std::string>().empty() ||
          value.get<std::string>().size() >= kServiceMax ||
          value.get<std::string>().find('\0') != std::string::npos) {
        bad("\"service\" must be a non-empty string of at most " + std::to_string(kServiceMax - 1) +
            " bytes");
      }
      c.service = value.get<std::string>();
    } else if (key == "file_mode") {
      long mode = -1;
      if (value.is_number_integer()) {
        mode = value.get<long>();
      } else if (value.is_string()) {
        const std::string s = value.get<std::string>();
        char* end = nullptr;
        mode = s.empty() ? -1 : std::strtol(s.c_str(), &end, 8);
        if (end == nullptr || *end != '\0') mode = -1;
      }
      if (mode < 0 || mode > 0777 || (mode & 0600) != 0600) {
        bad("\"file_mode\" must be permission bits (an integer, or octal text such as \"0640\") "
            "that let the owner read and write");
      }
      c.file_mode = static_cast<mode_t>(mode);
    } else if (key == "gauge_mode") {
      const GaugeMode m = value.is_string() ? parse_gauge_mode(value.get<std::string>())
                                            : GaugeMode::backend_default;
      if (m == GaugeMode::backend_default) {
        bad("\"gauge_mode\" must be one of shared, all, sum, max, min, mostrecent, liveall, "
            "livesum, livemax, livemin, livemostrecent");
      }
      c.gauge_mode = m;
    } else if (key == "max_processes") {
      if (!value.is_number_integer() || value.get<long long>() < 1 ||
          value.get<long long>() > 65536) {
        bad("\"max_processes\" must be an integer from 1 to 65536");
      }
      c.max_processes = value.get<std::uint32_t>();
    } else {
      bad("unknown key \"" + key +
          "\" (known: directory, service, file_mode, gauge_mode, max_processes)");
    }
  }
  if (c.directory.empty()) bad("\"directory\" is required (the directory the files are kept in)");
  if (c.service.empty()) c.service = program_name();
  return c;
}

}  // namespace pytheus::detail::file
