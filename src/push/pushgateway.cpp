// Pushgateway: the grouping key and URL checked once in the constructor, then one request per
// call (curl_request.cpp). The registry is read before anything is sent, so a registry that
// cannot be read (CollectError) never leaves a half-pushed group.
#include "pytheus/push/pushgateway.hpp"

#include <utility>

#include "curl_request.hpp"
#include "grouping_key.hpp"
#include "pytheus/exposition.hpp"

namespace pytheus::push {
namespace {

// The first line of the gateway's answer, trimmed and bounded, for an error message.
std::string first_line(const std::string& body) {
  std::string line = body.substr(0, body.find('\n'));
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  constexpr std::size_t kMax = 300;
  if (line.size() > kMax) line = line.substr(0, kMax) + "...";
  return line;
}

}  // namespace

Pushgateway::Pushgateway(const std::string& url, std::string job, PushgatewayOptions options)
    : job_(std::move(job)), options_(std::move(options)) {
  const std::string path = detail::grouping_path(job_, options_.grouping);
  if (options_.connect_timeout.count() < 1 || options_.request_timeout.count() < 1) {
    throw PushError("Pushgateway: connect_timeout and request_timeout must be at least 1 ms", 0);
  }
  detail::GatewayUrl gateway = detail::parse_gateway_url(url);
  if (!options_.basic_auth) options_.basic_auth = std::move(gateway.credentials);
  group_url_ = gateway.base + path;
}

void Pushgateway::push(const Registry& registry) const {
  const std::string body = generate_metrics(registry, Format::prometheus);
  send("PUT", &body);
}

void Pushgateway::push_add(const Registry& registry) const {
  const std::string body = generate_metrics(registry, Format::prometheus);
  send("POST", &body);
}

void Pushgateway::delete_group() const {
  send("DELETE", nullptr);
}

void Pushgateway::send(const char* method, const std::string* body) const {
  detail::HttpRequest request{method,
                              group_url_,
                              body,
                              options_.basic_auth ? &*options_.basic_auth : nullptr,
                              options_.connect_timeout,
                              options_.request_timeout};
  const detail::HttpResponse response = detail::perform(request);
  // Pushgateway 0.10 and later answer 200 to a push, earlier ones 202; a delete gets 202.
  if (response.status == 200 || response.status == 202) return;
  std::string message = "Pushgateway: " + std::string(method) + " " + group_url_ + ": HTTP " +
                        std::to_string(response.status);
  const std::string line = first_line(response.body);
  if (!line.empty()) message += ": " + line;
  throw PushError(message, static_cast<int>(response.status));
}

}  // namespace pytheus::push
