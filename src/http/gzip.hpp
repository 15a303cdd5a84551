// The gzip content coding of scrape responses: whether the scraper accepts it, and zlib's
// compression. Private to pytheus::http; the tests include it.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace pytheus::http::gzip {

/// Returns whether an Accept-Encoding header (RFC 9110 12.5.3) allows gzip: "gzip" or
/// "x-gzip" with a q above 0, or else "*" with a q above 0.
bool accepted(std::string_view accept_encoding);

/// Returns `in` as one gzip member, or nullopt when zlib fails (the caller sends it plain).
std::optional<std::string> compress(std::string_view in);

}  // namespace pytheus::http::gzip
