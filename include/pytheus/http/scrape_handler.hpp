// pytheus::http::ScrapeHandler: answers a scrape request with no HTTP server of its own.
//
// Part of the compiled target pytheus::http (needs zlib to build; code that includes this
// header does not). A service that already runs an HTTP server mounts `/metrics` in its own
// router: it copies the method, path and headers of a request into a ScrapeRequest, calls
// handle() and sends back the ScrapeResponse's status, headers and body. pytheus::http::Exposer
// answers every request through this same class. The handler never throws to its caller: a
// scrape that cannot be answered with current values gets 503 with a short reason, never a
// partial body, and a failure of the handler itself 500. handle(), add() and remove() are safe
// to call from any number of threads at once.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pytheus/registry.hpp"

namespace pytheus::http {

/// BasicAuth is the username and password a scraper must send with HTTP basic authentication.
/// Requests without them get 401 with a `WWW-Authenticate` challenge for `realm`. The
/// credentials travel in clear text: use it on trusted networks or behind TLS.
struct BasicAuth {
  std::string username;
  std::string password;
  std::string realm = "metrics";
};

/// Headers are the fields of a request or a response, in order, names as sent.
using Headers = std::vector<std::pair<std::string, std::string>>;

/// Returns the value of the first field of `headers` named `name` (compared without regard to
/// case, as HTTP field names are), or nullopt.
std::optional<std::string_view> find_header(const Headers& headers, std::string_view name);

/// ScrapeRequest is what the handler needs of an HTTP request.
struct ScrapeRequest {
  /// "GET", "HEAD", ... as sent (methods are case-sensitive).
  std::string method;
  /// The path of the request target, without the query string ("/metrics").
  std::string path;
  /// The request's header fields; Accept, Accept-Encoding and Authorization are read.
  Headers headers;
};

/// ScrapeResponse is what the handler answers: send `status`, every field of `headers` (which
/// always has Content-Type) and `body`. For HEAD, `body` is what GET would send: send its
/// length as Content-Length and not the body itself, as HTTP servers do for HEAD anyway.
struct ScrapeResponse {
  int status = 200;
  Headers headers;
  std::string body;
};

/// ScrapeHandlerOptions are the optional settings of a ScrapeHandler.
struct ScrapeHandlerOptions {
  /// Requires these credentials on every request, any path, when set.
  std::optional<BasicAuth> basic_auth;
  /// Scrapes answered at the same time; one more gets 503 with `Retry-After: 1`. At least 1.
  std::size_t max_concurrent_scrapes = 4;
  /// Gzips the body when the scraper's `Accept-Encoding` allows it.
  bool gzip = true;
  /// Adds the `process_*` metrics of this process (ProcessCollector) to every path.
  bool process_collector = true;
};

/// ScrapeHandler maps paths to registries and answers scrape requests for them.
///
/// GET and HEAD on a served path answer with the exposition: OpenMetrics 1.0.0 when the
/// `Accept` header prefers it, else the Prometheus text format 0.0.4, followed by the handler's
/// own metrics. Other methods on a served path get 405, other paths 404 (after basic auth, so
/// nothing is revealed without the credentials). A failed scrape (a backend's store
/// unreachable, a collector throwing) gets 503 and counts in
/// `pytheus_http_scrape_errors_total{path,reason="collect"}`; one beyond
/// max_concurrent_scrapes counts there with reason="limit"; every answer to GET or HEAD (and
/// every 401) on a served path counts in `pytheus_http_scrapes_total{path,format,status}`.
/// These self-metrics are process-local (AtomicBackend), whatever backend is loaded.
///
/// **Example** (any server; the whole program with cpp-httplib is examples/mount_handler.cpp):
///     pytheus::http::ScrapeHandler metrics;
///     metrics.add("/metrics", pytheus::default_registry());
///     pytheus::http::ScrapeResponse r =
///         metrics.handle({"GET", "/metrics", {{"Accept-Encoding", "gzip"}}});
///     // send r.status, every field of r.headers, Content-Length r.body.size(), r.body
class ScrapeHandler {
 public:
  /// Makes a handler. Throws pytheus::Error for invalid options (max_concurrent_scrapes 0, a
  /// BasicAuth username with ':').
  explicit ScrapeHandler(ScrapeHandlerOptions options = {});
  ~ScrapeHandler();
  ScrapeHandler(const ScrapeHandler&) = delete;
  ScrapeHandler& operator=(const ScrapeHandler&) = delete;

  /// Serves `registry` on `path` (which must start with '/'); `registry` must outlive the
  /// handler. Throws pytheus::Error when the path is invalid or already served.
  void add(std::string path, Registry& registry);
  /// Serves `registry` on `path`, keeping it alive as long as it is served.
  void add(std::string path, std::shared_ptr<Registry> registry);
  /// Stops serving `path`; returns whether it was served.
  bool remove(std::string_view path);
  /// Serves the default registry on "/metrics" when no path is served yet.
  void add_default_if_empty();

  /// Answers `request`. Never throws.
  ScrapeResponse handle(const ScrapeRequest& request);

  /// Returns the registry of the handler's own metrics (scrape counts, process metrics), which
  /// every path serves after its own registry. A server built on the handler may add its own.
  CollectorRegistry& self_registry();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pytheus::http
