// The exposer server's request framing (src/http/wire.hpp). Arbitrary bytes as what a
// connection received give incomplete, complete or reject, never a crash; a complete request
// lies within the bytes and within max_bytes, is framed the same when given alone, and every
// shorter prefix of it is "incomplete" (so the answer never depends on how the bytes were cut
// into reads); parse_request splits it into a token method, a target, an HTTP/1.x version,
// header fields with token names, and a body of its Content-Length.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "wire.hpp"

namespace {

using pytheus::http::wire::check_request;
using pytheus::http::wire::is_tchar;
using pytheus::http::wire::parse_request;
using pytheus::http::wire::RequestCheck;

[[noreturn]] void fail(const char* what, std::string_view input) {
  std::fprintf(stderr, "fuzz_http_wire: %s; input (%zu bytes): ", what, input.size());
  for (unsigned char c : input) std::fprintf(stderr, "\\x%02x", c);
  std::fprintf(stderr, "\n");
  std::abort();
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!is_tchar(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  // The first byte picks the limit, so that small limits are reached too.
  const std::size_t max_bytes = 64 + static_cast<std::size_t>(data[0]) * 8;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  const RequestCheck check = check_request(in, max_bytes);
  if (check.status == RequestCheck::Status::reject) {
    if (check.code < 400 || check.code > 505) fail("reject with a non-error status", in);
    return 0;
  }
  if (check.status == RequestCheck::Status::incomplete) return 0;

  if (check.size == 0 || check.size > in.size() || check.size > max_bytes) {
    fail("complete request outside the bytes or the limit", in);
  }
  const std::string_view request = in.substr(0, check.size);
  const RequestCheck alone = check_request(request, max_bytes);
  if (alone.status != RequestCheck::Status::complete || alone.size != check.size) {
    fail("a complete request framed differently alone", in);
  }
  for (std::size_t cut : {check.size - 1, check.size / 2, std::size_t{1}}) {
    if (cut == 0 || cut >= check.size) continue;
    if (check_request(request.substr(0, cut), max_bytes).status !=
        RequestCheck::Status::incomplete) {
      fail("a prefix of a complete request is not incomplete", in);
    }
  }

  const auto parsed = parse_request(request);
  if (!is_token(parsed.method)) fail("method is not a token", in);
  if (parsed.target.empty()) fail("empty target", in);
  if (parsed.version != "HTTP/1.1" && parsed.version != "HTTP/1.0") fail("version", in);
  std::size_t content_length = 0;
  for (const auto& [name, value] : parsed.headers) {
    if (!is_token(name)) fail("header name is not a token", in);
    if (pytheus::detail::iequals(name, "content-length")) {
      content_length = std::strtoull(std::string(value).c_str(), nullptr, 10);
    }
  }
  if (parsed.body.size() != content_length) fail("body is not Content-Length bytes", in);
  (void)parsed.path();
  (void)parsed.keep_alive();
  return 0;
}
