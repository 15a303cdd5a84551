// The HTTP/1.1 request framing of the exposer's server, as pure functions on bytes (fuzzed by
// fuzz/fuzz_http_wire.cpp): check_request finds where a request ends, or why it is refused,
// before anything of it is kept beyond max_bytes; parse_request then splits a request it found
// complete. One strict parser decides both, so no two parsers can disagree about where a
// request ends. Private to pytheus::http; the tests include it.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pytheus/detail/strings.hpp"
#include "pytheus/exposition.hpp"

namespace pytheus::http::wire {

using detail::iequals;

/// RequestCheck is what check_request makes of the bytes received on a connection so far.
struct RequestCheck {
  enum class Status {
    incomplete,  // a valid beginning: wait for more
    complete,    // a whole request: its line, headers and body are the first `size` bytes
    reject,      // answer `code` with `reason`, and close the connection
  };
  Status status = Status::incomplete;
  std::size_t size = 0;
  int code = 0;
  const char* reason = "";
};

// RFC 9110 5.6.2: the characters of a token (method, header name).
inline bool is_tchar(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         (c != 0 && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr);
}

// A control character other than horizontal tab (never valid in a request line or field).
inline bool is_ctl(unsigned char c) {
  return (c < 0x20 && c != '\t') || c == 0x7F;
}

inline RequestCheck reject(int code, const char* reason) {
  RequestCheck r;
  r.status = RequestCheck::Status::reject;
  r.code = code;
  r.reason = reason;
  return r;
}

// Checks what has arrived of a request line: "METHOD SP TARGET SP HTTP/1.x", the method a
// token, the target printable. `line` has no CRLF; `complete` says whether the CRLF came.
inline RequestCheck check_request_line(std::string_view line, bool complete) {
  std::size_t i = 0;
  while (i < line.size() && is_tchar(static_cast<unsigned char>(line[i]))) ++i;
  if (i < line.size() && line[i] != ' ') return reject(400, "malformed request line");
  if (i == 0 && (complete || !line.empty())) return reject(400, "malformed request line");
  for (char c : line) {
    if (is_ctl(static_cast<unsigned char>(c)) || c == '\t') {
      return reject(400, "malformed request line");
    }
  }
  if (!complete) return {};
  const std::size_t sp1 = line.find(' ');
  const std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || sp2 == sp1 + 1) {
    return reject(400, "malformed request line (HTTP/0.9 is not served)");
  }
  const std::string_view version = line.substr(sp2 + 1);
  if (version.find(' ') != std::string_view::npos) return reject(400, "malformed request line");
  if (version == "HTTP/1.1" || version == "HTTP/1.0") return {};
  if (version.size() == 8 && version.substr(0, 5) == "HTTP/" && version[6] == '.' &&
      version[5] >= '0' && version[5] <= '9' && version[7] >= '0' && version[7] <= '9') {
    return reject(505, "HTTP version not supported: use HTTP/1.1");
  }
  return reject(400, "malformed request line");
}

/// Checks the bytes received so far on a connection (`in`, starting at a request) and says
/// whether they hold a whole request, the beginning of a valid one, or something to refuse.
/// Strict on what could make two parsers disagree about where a request ends (request
/// smuggling): bare LF line ends, control characters, folded or malformed header lines,
/// several Content-Length fields and any Transfer-Encoding are refused. A request is at most
/// `max_bytes` long, body included; the request line at most `max_line`.
inline RequestCheck check_request(std::string_view in, std::size_t max_bytes,
                                  std::size_t max_line = 8192) {
  // The request line.
  const std::size_t line_end = in.find("\r\n");
  std::string_view line = in.substr(0, std::min(line_end, in.size()));
  if (line_end == std::string_view::npos && !line.empty() && line.back() == '\r') {
    line.remove_suffix(1);  // the CR of a CRLF still to come
  }
  if (line.find('\n') != std::string_view::npos) return reject(400, "bare LF in request");
  RequestCheck r = check_request_line(line, line_end != std::string_view::npos);
  if (r.status == RequestCheck::Status::reject) return r;
  if (line.size() > max_line) return reject(414, "request target too long");
  if (line_end == std::string_view::npos) {
    if (in.size() > max_bytes) return reject(431, "request header too large");
    return {};
  }

  // Header fields, one per line, up to the empty line.
  std::size_t pos = line_end + 2;
  bool content_length_seen = false, transfer_encoding = false;
  unsigned long long content_length = 0;
  while (true) {
    const std::size_t end = in.find("\r\n", pos);
    std::string_view field =
        in.substr(pos, (end == std::string_view::npos ? in.size() : end) - pos);
    if (end == std::string_view::npos && !field.empty() && field.back() == '\r') {
      field.remove_suffix(1);  // the CR of a CRLF still to come
    }
    for (char c : field) {
      if (c == '\n' || c == '\r') return reject(400, "bare CR or LF in header");
      if (is_ctl(static_cast<unsigned char>(c))) {
        return reject(400, "control character in header");
      }
    }
    if (end == std::string_view::npos) {
      if (in.size() > max_bytes) return reject(431, "request header too large");
      if (!field.empty() && (field[0] == ' ' || field[0] == '\t')) {
        return reject(400, "folded header line");
      }
      return {};
    }
    pos = end + 2;
    if (pos > max_bytes) return reject(431, "request header too large");
    if (field.empty()) break;  // the end of the header
    if (field[0] == ' ' || field[0] == '\t') return reject(400, "folded header line");
    std::size_t colon = 0;
    while (colon < field.size() && is_tchar(static_cast<unsigned char>(field[colon]))) {
      ++colon;
    }
    if (colon == 0 || colon == field.size() || field[colon] != ':') {
      return reject(400, "malformed header line");
    }
    const std::string_view name = field.substr(0, colon);
    std::string_view value = field.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    if (iequals(name, "content-length")) {
      if (content_length_seen) return reject(400, "more than one Content-Length");
      content_length_seen = true;
      if (value.empty() || value.size() > 18) {
        return value.empty() ? reject(400, "invalid Content-Length")
                             : reject(413, "request body too large");
      }
      for (char c : value) {
        if (c < '0' || c > '9') return reject(400, "invalid Content-Length");
        content_length = content_length * 10 + static_cast<unsigned>(c - '0');
      }
    } else if (iequals(name, "transfer-encoding")) {
      transfer_encoding = true;
    }
  }
  if (transfer_encoding) {
    return content_length_seen ? reject(400, "both Transfer-Encoding and Content-Length")
                               : reject(501, "Transfer-Encoding is not supported");
  }
  if (content_length > max_bytes - pos) return reject(413, "request body too large");
  if (in.size() < pos + content_length) return {};
  r.status = RequestCheck::Status::complete;
  r.size = pos + static_cast<std::size_t>(content_length);
  return r;
}

/// Request is a request that check_request found complete, split into its parts (views into
/// the bytes given to parse_request).
struct Request {
  std::string_view method;
  std::string_view target;                                             // as sent: path and query
  std::string_view version;                                            // "HTTP/1.1" or "HTTP/1.0"
  std::vector<std::pair<std::string_view, std::string_view>> headers;  // values trimmed
  std::string_view body;

  /// The target's path: the target up to '?' or '#'.
  std::string_view path() const { return target.substr(0, target.find_first_of("?#")); }

  /// Whether the connection stays open after the response (RFC 9112 9.3): HTTP/1.1 unless
  /// "Connection: close", HTTP/1.0 only with "Connection: keep-alive".
  bool keep_alive() const {
    bool close = false, keep = false;
    for (const auto& [name, value] : headers) {
      if (!iequals(name, "connection")) continue;
      std::string_view list = value;
      while (!list.empty()) {
        const std::size_t comma = list.find(',');
        const std::string_view token = detail::trim(list.substr(0, comma));
        close = close || iequals(token, "close");
        keep = keep || iequals(token, "keep-alive");
        list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
      }
    }
    if (close) return false;
    return version == "HTTP/1.1" || keep;
  }
};

/// Splits `in`, the first RequestCheck::size bytes of a request that check_request found
/// complete, into its parts. On other bytes the result is unspecified but stays within `in`.
inline Request parse_request(std::string_view in) {
  Request r;
  const std::size_t line_end = std::min(in.find("\r\n"), in.size());
  const std::string_view line = in.substr(0, line_end);
  const std::size_t sp1 = std::min(line.find(' '), line.size());
  const std::size_t sp2 = std::min(line.find(' ', std::min(sp1 + 1, line.size())), line.size());
  r.method = line.substr(0, sp1);
  r.target = line.substr(std::min(sp1 + 1, line.size()), sp2 - std::min(sp1 + 1, sp2));
  r.version = line.substr(std::min(sp2 + 1, line.size()));
  std::size_t pos = std::min(line_end + 2, in.size());
  while (pos < in.size()) {
    const std::size_t end = std::min(in.find("\r\n", pos), in.size());
    const std::string_view field = in.substr(pos, end - pos);
    pos = std::min(end + 2, in.size());
    if (field.empty()) break;
    const std::size_t colon = std::min(field.find(':'), field.size());
    r.headers.emplace_back(field.substr(0, colon),
                           detail::trim(field.substr(std::min(colon + 1, field.size()))));
  }
  r.body = in.substr(pos);
  return r;
}

}  // namespace pytheus::http::wire
