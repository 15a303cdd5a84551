// pytheus::http::Exposer: serves registries over HTTP for Prometheus to scrape.
//
// Part of the compiled target pytheus::http, which needs zlib to build (code that includes
// this header does not). The exposer is a ScrapeHandler (scrape_handler.hpp) behind the
// project's own HTTP/1.1 server: a service that already runs a server can mount the handler
// there instead (docs/http.md says why the server is our own). Each path serves one registry,
// followed by the exposer's own metrics (scrape counts and, unless turned off, the process
// metrics). The format follows the scraper's `Accept` header, the body is gzipped when
// `Accept-Encoding` allows it, and a scrape that cannot be answered with current values gets 503
// with a short reason, never a partial body. Clients that are idle, slow or malformed cost a socket
// and a bounded buffer each, never a thread: scrapes are served while they abuse it (see the limits
// in ExposerOptions). There is no TLS. An Exposer is safe for concurrent use; its destructor stops
// it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "pytheus/errors.hpp"
#include "pytheus/http/scrape_handler.hpp"
#include "pytheus/registry.hpp"

namespace pytheus::http {

/// ExposerOptions are the optional settings of an Exposer.
struct ExposerOptions {
  /// Requires these credentials on every request when set.
  std::optional<BasicAuth> basic_auth;
  /// Scrapes served at the same time; one more gets 503 with `Retry-After: 1`. At least 1.
  std::size_t max_concurrent_scrapes = 4;
  /// Gzips the body when the scraper's `Accept-Encoding` allows it.
  bool gzip = true;
  /// Adds the `process_*` metrics of this process (ProcessCollector) to every path.
  bool process_collector = true;
  /// How long an idle keep-alive connection is kept open for the scraper's next request.
  std::chrono::seconds keep_alive_timeout{5};
  /// How long a client may take to send a request (from its first byte; for a new connection,
  /// from the connection) and, separately, to take in the response. A slower client is
  /// disconnected (a request cut short gets 408). At least 1 s.
  std::chrono::seconds request_timeout{10};
  /// Connections kept open at once. A new connection beyond it closes the oldest connection
  /// that is not being answered. At least 1. A keep-alive connection serves any number of
  /// requests until it is idle for keep_alive_timeout (0: one request per connection).
  std::size_t max_connections = 256;
  /// Largest request accepted: request line, headers and body together. A larger one gets 431
  /// (headers) or 413 (body), and its connection is closed. At least 1024.
  std::size_t max_request_bytes = 16384;
};

/// Exposer serves one or more registries over HTTP on a bind address and port that the caller
/// chooses; nothing listens on all interfaces unless asked for with "0.0.0.0" or "::".
///
/// Every request is answered by one ScrapeHandler (see its contract: negotiation, gzip, basic
/// auth, 404/405, 503, the scrape self-metrics). The server adds
/// `pytheus_http_dropped_connections_total{reason}` for the clients it cut off.
///
/// **Example**:
///     pytheus::http::Exposer exposer("127.0.0.1", 8000);  // port 0: any free port
///     exposer.start();                                    // GET /metrics: the default registry
///     std::cout << "curl " << exposer.url() << "\n";
class Exposer {
 public:
  /// Makes an exposer for `bind_address` (an IP address or host name; required, may not be
  /// empty) and `port` (0 picks a free port when started). Throws pytheus::Error for an empty
  /// address or invalid options.
  Exposer(std::string bind_address, std::uint16_t port, ExposerOptions options = {});
  /// Stops the exposer.
  ~Exposer();
  Exposer(const Exposer&) = delete;
  Exposer& operator=(const Exposer&) = delete;

  /// Serves `registry` on `path` (which must start with '/'); `registry` must outlive the
  /// exposer. Throws pytheus::Error when the path is invalid or already served. May be called
  /// before or after start().
  void add(std::string path, Registry& registry);
  /// Serves `registry` on `path`, keeping it alive as long as it is served.
  void add(std::string path, std::shared_ptr<Registry> registry);
  /// Stops serving `path`; returns whether it was served.
  bool remove(std::string_view path);

  /// Binds and starts serving in background threads; returns once connections are accepted.
  /// When no path was added, serves the default registry on "/metrics". Throws pytheus::Error
  /// naming the address when it cannot be resolved or bound (an address in use, say). Does
  /// nothing when already started.
  void start();
  /// Stops accepting connections, lets scrapes in progress finish, closes idle keep-alive
  /// connections and joins the threads. Does nothing when not started; start() may follow.
  void stop();
  /// Returns whether the exposer is started.
  bool running() const;

  /// Returns the port bound by the last start() (the free port picked when 0 was asked for,
  /// also after stop()), or the port given to the constructor before the first start().
  std::uint16_t port() const;
  /// Returns the bind address given to the constructor.
  const std::string& bind_address() const;
  /// Returns the URL of `path` on this exposer, e.g. "http://127.0.0.1:8000/metrics".
  std::string url(std::string_view path = "/metrics") const;

  /// Returns the registry of the exposer's own metrics (scrape counts, process metrics), which
  /// every path serves after its own registry.
  Registry& self_registry();
  /// Returns the handler that answers every request (the same one that add() fills).
  ScrapeHandler& handler();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pytheus::http
