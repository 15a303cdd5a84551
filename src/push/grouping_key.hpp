// The path of a Pushgateway group, `/metrics/job/<job>{/<label>/<value>}`, built per the
// Pushgateway's rules. Pure functions, unit-tested without a server.
//
// A job name or label value that contains `/`, or is empty, cannot be a plain path segment
// (the gateway would split it, or drop the `//` when it cleans the path): it is sent as
// `<name>@base64/<base64url>` (RFC 4648 section 5), an empty value as the single `=` the
// gateway's README asks for. Any other value is percent-encoded, every byte outside the RFC 3986
// unreserved set, so it stays readable in logs (client_golang does the same, with `+` for a
// space, which the gateway would keep as `+`; `%20` avoids that).
#pragma once

#include <string>
#include <string_view>

#include "pytheus/labels.hpp"

namespace pytheus::push::detail {

// Base64 with the URL- and filename-safe alphabet, padded.
std::string base64url(std::string_view bytes);

// Percent-encodes every byte outside `A-Z a-z 0-9 - . _ ~`.
std::string percent_encode(std::string_view bytes);

// Appends `/<name>/<value>` or `/<name>@base64/<encoded>` to `path`.
void append_grouping_pair(std::string& path, std::string_view name, std::string_view value);

// Throws pytheus::InvalidNameError unless `job` is non-empty and every grouping label name is
// a valid label name other than `job` (the job has its own argument).
void validate_grouping_key(std::string_view job, const Labels& grouping);

// Returns `/metrics/job/<job>{/<label>/<value>}` (labels in name order), after
// validate_grouping_key.
std::string grouping_path(std::string_view job, const Labels& grouping);

}  // namespace pytheus::push::detail
