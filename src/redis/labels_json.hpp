// Label sets as pytheus writes them in Redis hash fields: Python's json.dumps of a dict
// (separators ", " and ": ", ensure_ascii), and the reading of fields any writer made. Pure
// functions, no hiredis: tests/test_redis_labels.cpp and fuzz/fuzz_redis_fields.cpp use them
// directly. key_layout.hpp is the only user inside the backend.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pytheus::detail::redis {

// Decodes the UTF-8 sequence at s[i]; returns the code point and advances i. Bytes that are
// not valid UTF-8 decode to U+FFFD, one byte at a time.
char32_t next_code_point(std::string_view s, std::size_t& i);

// Appends `s` as a JSON string the way Python's json.dumps (ensure_ascii=True) writes it.
void append_python_json_string(std::string& out, std::string_view s);

// Returns the hash field of a label set: `{"a": "1", "b": "2"}` with the names sorted, as
// json.dumps(dict(sorted(labels.items()))) writes it. `labels` must be sorted by name.
std::string labels_field(const std::vector<std::pair<std::string, std::string>>& labels);

// Returns what Python's str() gives for a float: repr's shortest digits, fixed notation for
// exponents -4..15 ("1.0", "0.0001", "1234.5"), else scientific ("1e-05", "1.5e+16").
std::string python_float_str(double v);

// Parses a hash field written by any pytheus: a JSON object of label name to value, keys in
// any order. Values that are not strings become what Python's str() makes of them (ints,
// floats, booleans, null). Returns the labels sorted by name, or nullopt for anything else.
std::optional<std::vector<std::pair<std::string, std::string>>> parse_labels_field(
    std::string_view field);

// What a scrape makes of one hash field of a metric whose label names are `sorted_names`:
// its labels (sorted by name) and canonical field, or invalid (skipped and counted).
struct ParsedField {
  bool valid = false;
  std::string canonical;
  std::vector<std::pair<std::string, std::string>> labels;
};

ParsedField parse_field(std::string_view field, const std::vector<std::string>& sorted_names);

}  // namespace pytheus::detail::redis
