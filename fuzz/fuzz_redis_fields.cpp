// The reader and writer of Redis hash fields (src/redis/labels_json.hpp). Arbitrary bytes as a
// field read by a scrape give a label set or "invalid" (skipped), never a crash or an
// exception; a label set read back is written and read again unchanged; and any label set the
// writer writes (names and values of arbitrary bytes) reads back as the same labels, invalid
// UTF-8 bytes becoming U+FFFD. The written field is printable ASCII (ensure_ascii), so it can
// never carry a byte that breaks another format.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "redis/labels_json.hpp"

namespace {

using Labels = std::vector<std::pair<std::string, std::string>>;
using pytheus::detail::redis::labels_field;
using pytheus::detail::redis::next_code_point;
using pytheus::detail::redis::parse_field;
using pytheus::detail::redis::parse_labels_field;

[[noreturn]] void fail(const char* what, std::string_view input) {
  std::fprintf(stderr, "fuzz_redis_fields: %s; input (%zu bytes): ", what, input.size());
  for (unsigned char c : input) std::fprintf(stderr, "\\x%02x", c);
  std::fprintf(stderr, "\n");
  std::abort();
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// What a label value must read back as: the same text, each invalid UTF-8 byte as U+FFFD.
std::string expected_text(std::string_view s) {
  std::string out;
  std::size_t i = 0;
  while (i < s.size()) append_utf8(out, next_code_point(s, i));
  return out;
}

// Checks everything a scrape relies on for one field, whatever its bytes.
void check_reader(std::string_view field) {
  const auto labels = parse_labels_field(field);
  if (!labels) {
    // Invalid for a metric of any label names.
    if (parse_field(field, {}).valid || parse_field(field, {"a"}).valid) {
      fail("parse_field accepts what parse_labels_field refuses", field);
    }
    return;
  }
  std::vector<std::string> names;
  for (std::size_t i = 0; i < labels->size(); ++i) {
    if (i > 0 && !((*labels)[i - 1].first < (*labels)[i].first)) {
      fail("labels not sorted by unique name", field);
    }
    names.push_back((*labels)[i].first);
  }
  const std::string canonical = labels_field(*labels);
  const auto again = parse_labels_field(canonical);
  if (!again || *again != *labels) fail("canonical field does not read back the same", field);
  if (labels_field(*again) != canonical) fail("canonical field is not a fixed point", field);
  const auto parsed = parse_field(field, names);
  if (!parsed.valid || parsed.canonical != canonical || parsed.labels != *labels) {
    fail("parse_field disagrees with parse_labels_field", field);
  }
  // A metric with one more label name never takes the field.
  names.push_back(names.empty() ? std::string("a") : names.back() + "_");
  if (parse_field(field, names).valid) fail("field taken by a metric of other labels", field);
}

// Splits the input into a label set: name, value, name, value... separated by 0xFF 0xFE
// (rare in text, so seeds stay readable). Names are made unique and valid UTF-8, as the core
// guarantees (label names are ASCII identifiers); values keep every byte.
Labels label_set(std::string_view in) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (std::size_t i = 0; i + 1 < in.size(); ++i) {
    if (static_cast<unsigned char>(in[i]) == 0xFF &&
        static_cast<unsigned char>(in[i + 1]) == 0xFE) {
      parts.push_back(in.substr(start, i - start));
      start = i + 2;
      ++i;
    }
  }
  parts.push_back(in.substr(start));
  std::map<std::string, std::string> unique;
  for (std::size_t i = 0; i + 1 < parts.size(); i += 2) {
    unique.emplace(expected_text(parts[i]), std::string(parts[i + 1]));
  }
  return Labels(unique.begin(), unique.end());
}

void check_writer(std::string_view in) {
  const Labels labels = label_set(in);
  const std::string field = labels_field(labels);
  for (unsigned char c : field) {
    if (c < 0x20 || c > 0x7E) fail("written field is not printable ASCII", in);
  }
  const auto back = parse_labels_field(field);
  if (!back) fail("written field does not parse", in);
  std::map<std::string, std::string> expected;
  for (const auto& [name, value] : labels) expected.emplace(name, expected_text(value));
  if (back->size() != expected.size()) fail("written field reads back another label count", in);
  std::size_t i = 0;
  for (const auto& [name, value] : expected) {
    if ((*back)[i].first != name || (*back)[i].second != value) {
      fail("written field reads back other labels", in);
    }
    ++i;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  check_reader(in);
  check_writer(in);
  return 0;
}
