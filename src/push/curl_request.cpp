// libcurl, through its public easy and URL APIs only.
//
// Why these settings:
// - curl_global_init is not thread-safe in every libcurl build, so it runs once, under
//   std::call_once, before the first handle; each request then has its own easy handle, and
//   nothing is shared between threads.
// - CURLOPT_NOSIGNAL: with the synchronous resolver, timeouts otherwise use SIGALRM, which is
//   process-wide and unsafe with threads.
// - Credentials go through CURLOPT_USERNAME/PASSWORD, never in the URL, so libcurl's error
//   texts (which may quote the URL) cannot contain them.
// - Redirects are not followed (a redirect could carry the credentials elsewhere) and only
//   http and https are allowed.
// - `Expect:` is cleared: libcurl would otherwise wait up to a second for `100 Continue` before
//   sending a body above 1 KiB.
#include "curl_request.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <memory>
#include <mutex>

namespace pytheus::push::detail {
namespace {

constexpr std::size_t kMaxResponseBytes = 64 * 1024;

void global_init() {
  static std::once_flag once;
  static CURLcode code = CURLE_OK;
  std::call_once(once, [] { code = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (code != CURLE_OK) {
    throw PushError(
        std::string("Pushgateway: libcurl initialisation failed: ") + curl_easy_strerror(code), 0);
  }
}

struct UrlDeleter {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};
struct EasyDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct ListDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

// Returns a part of `u`, or nullopt when it is absent.
std::optional<std::string> url_part(CURLU* u, CURLUPart part, unsigned flags = 0) {
  char* value = nullptr;
  if (curl_url_get(u, part, &value, flags) != CURLUE_OK || value == nullptr) return std::nullopt;
  std::string out(value);
  curl_free(value);
  return out;
}

std::size_t write_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto* body = static_cast<std::string*>(user);
  const std::size_t n = size * count;
  if (body->size() < kMaxResponseBytes) {
    body->append(data, std::min(n, kMaxResponseBytes - body->size()));
  }
  return n;
}

}  // namespace

GatewayUrl parse_gateway_url(const std::string& url) {
  global_init();
  std::unique_ptr<CURLU, UrlDeleter> u(curl_url());
  if (!u) throw PushError("Pushgateway: out of memory parsing the URL", 0);
  // As client_golang does: no scheme means http (libcurl's own default would be https).
  const std::string full = url.find("://") == std::string::npos ? "http://" + url : url;
  const CURLUcode rc = curl_url_set(u.get(), CURLUPART_URL, full.c_str(), 0);
  if (rc != CURLUE_OK) {
    // The URL may hold credentials: name the problem, not the URL.
    throw PushError(std::string("Pushgateway: invalid gateway URL: ") + curl_url_strerror(rc), 0);
  }
  const std::string scheme = url_part(u.get(), CURLUPART_SCHEME).value_or("");
  if (scheme != "http" && scheme != "https") {
    throw PushError("Pushgateway: the gateway URL must be http or https, not \"" + scheme + "\"",
                    0);
  }
  if (url_part(u.get(), CURLUPART_QUERY) || url_part(u.get(), CURLUPART_FRAGMENT)) {
    throw PushError("Pushgateway: the gateway URL must not have a query or fragment", 0);
  }
  GatewayUrl out;
  const auto user = url_part(u.get(), CURLUPART_USER, CURLU_URLDECODE);
  const auto password = url_part(u.get(), CURLUPART_PASSWORD, CURLU_URLDECODE);
  if (user || password) out.credentials = PushBasicAuth{user.value_or(""), password.value_or("")};
  curl_url_set(u.get(), CURLUPART_USER, nullptr, 0);
  curl_url_set(u.get(), CURLUPART_PASSWORD, nullptr, 0);
  out.base = url_part(u.get(), CURLUPART_URL).value_or("");
  while (!out.base.empty() && out.base.back() == '/') out.base.pop_back();
  return out;
}

HttpResponse perform(const HttpRequest& request) {
  global_init();
  const std::string what = std::string(request.method) + " " + request.url;
  std::unique_ptr<CURL, EasyDeleter> curl(curl_easy_init());
  if (!curl) throw PushError("Pushgateway: " + what + ": cannot create a libcurl handle", 0);
  CURL* c = curl.get();

  HttpResponse response;
  char error[CURL_ERROR_SIZE] = "";
  std::unique_ptr<curl_slist, ListDeleter> headers;
  auto add_header = [&](const char* h) {
    curl_slist* l = curl_slist_append(headers.get(), h);
    if (l == nullptr) throw PushError("Pushgateway: " + what + ": out of memory", 0);
    headers.release();
    headers.reset(l);
  };
  add_header("Expect:");

  bool ok = curl_easy_setopt(c, CURLOPT_URL, request.url.c_str()) == CURLE_OK;
  ok = ok && curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error) == CURLE_OK;
  ok = ok && curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
  ok = ok && curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
  ok = ok && curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK;
  ok = ok && curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                              static_cast<long>(request.connect_timeout.count())) == CURLE_OK;
  ok = ok && curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
                              static_cast<long>(request.request_timeout.count())) == CURLE_OK;
  ok = ok && curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, request.method) == CURLE_OK;
  ok = ok && curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &write_body) == CURLE_OK;
  ok = ok && curl_easy_setopt(c, CURLOPT_WRITEDATA, &response.body) == CURLE_OK;
  ok = ok && curl_easy_setopt(c, CURLOPT_USERAGENT, "pytheus-cpp") == CURLE_OK;
  if (request.body != nullptr) {
    add_header("Content-Type: text/plain; version=0.0.4; charset=utf-8");
    ok = ok && curl_easy_setopt(c, CURLOPT_POSTFIELDS, request.body->data()) == CURLE_OK;
    ok = ok && curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                                static_cast<curl_off_t>(request.body->size())) == CURLE_OK;
  }
  if (request.basic_auth != nullptr) {
    ok = ok && curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC) == CURLE_OK;
    ok = ok &&
         curl_easy_setopt(c, CURLOPT_USERNAME, request.basic_auth->username.c_str()) == CURLE_OK;
    ok = ok &&
         curl_easy_setopt(c, CURLOPT_PASSWORD, request.basic_auth->password.c_str()) == CURLE_OK;
  }
  ok = ok && curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get()) == CURLE_OK;
  if (!ok) throw PushError("Pushgateway: " + what + ": libcurl refused an option", 0);

  const CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    std::string cause = error[0] != '\0' ? error : curl_easy_strerror(rc);
    while (!cause.empty() && (cause.back() == '\n' || cause.back() == '\r')) cause.pop_back();
    const char* kind = rc == CURLE_OPERATION_TIMEDOUT ? "timed out"
                       : rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST
                           ? "gateway unreachable"
                           : "request failed";
    throw PushError("Pushgateway: " + what + ": " + kind + ": " + cause, 0);
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

}  // namespace pytheus::push::detail
