// One HTTP request through libcurl's easy API, and the gateway URL parsed by libcurl's URL API.
// Internal to pytheus::push.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "pytheus/push/pushgateway.hpp"

namespace pytheus::push::detail {

// A gateway URL split into what requests and messages use.
struct GatewayUrl {
  std::string base;  // scheme://host[:port][/prefix], no credentials, no trailing '/'
  std::optional<PushBasicAuth> credentials;  // from `user:password@` in the URL, if any
};

// Parses `url` (`http://` is prepended when it has no scheme); throws PushError when it cannot be
// parsed or its scheme is not http or https. Query and fragment are refused: they would end up
// before the group's path.
GatewayUrl parse_gateway_url(const std::string& url);

struct HttpRequest {
  const char* method;               // "PUT", "POST", "DELETE"
  std::string url;                  // no credentials in it
  const std::string* body;          // nullptr: no body
  const PushBasicAuth* basic_auth;  // nullptr: none
  std::chrono::milliseconds connect_timeout;
  std::chrono::milliseconds request_timeout;
};

struct HttpResponse {
  long status = 0;
  std::string body;  // at most the first 64 KiB
};

// Sends `request` and returns the answer, whatever its status. Throws PushError (status 0)
// when there is no answer: unreachable, timed out, refused by TLS.
HttpResponse perform(const HttpRequest& request);

}  // namespace pytheus::push::detail
