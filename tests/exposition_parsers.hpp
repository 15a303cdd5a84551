// Runs an exposition through promtool (the text format) and through both of
// prometheus_client's parsers (tests/parse_exposition.py: text and OpenMetrics, every
// exemplar written must come back), for tests of backends whose expositions are made inside
// the test. PYTHEUS_PROMTOOL, PYTHEUS_PYTHON3 and PYTHEUS_PARSE_EXPOSITION are set by CMake.
#pragma once

#include <unistd.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <string>

namespace pytheus_test {

// Returns "" when every parser accepts the exposition, else what they said.
inline std::string parser_problems(const std::string& text, const std::string& openmetrics) {
  char dir_template[] = "/tmp/pytheus-parse-XXXXXX";
  const char* dir = mkdtemp(dir_template);
  if (dir == nullptr) return "mkdtemp failed";
  const std::string d = dir;
  std::ofstream(d + "/text") << text;
  std::ofstream(d + "/om") << openmetrics;
  // parse_exposition.py runs a program, then the same with --openmetrics.
  const std::string cmd = "'" PYTHEUS_PROMTOOL "' check metrics < '" + d +
                          "/text' 2>&1 && '" PYTHEUS_PYTHON3 "' '" PYTHEUS_PARSE_EXPOSITION
                          "' sh -c 'if [ \"$1\" = --openmetrics ]; then cat " +
                          d + "/om; else cat " + d + "/text; fi' _ 2>&1";
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return "popen failed";
  std::array<char, 4096> buf{};
  while (std::size_t n = std::fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
  const int rc = pclose(p);
  std::remove((d + "/text").c_str());
  std::remove((d + "/om").c_str());
  rmdir(d.c_str());
  return rc == 0 && out.find("ok:") != std::string::npos ? "" : out;
}

}  // namespace pytheus_test
