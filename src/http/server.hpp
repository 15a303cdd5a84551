// The exposer's HTTP/1.1 server: sockets, connection states, limits and timeouts, on the
// wire parser of wire.hpp. It knows nothing of metrics: each complete request goes to a
// handler function. Private to pytheus::http.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "pytheus/http/scrape_handler.hpp"

namespace pytheus::http {

/// ServerLimits bound what each client may cost; see ExposerOptions for their meaning.
struct ServerLimits {
  std::chrono::seconds keep_alive_timeout{5};
  std::chrono::seconds request_timeout{10};
  std::size_t max_connections = 256;
  std::size_t max_request_bytes = 16384;
  /// Threads that run the handler; requests beyond wait (their bytes already read).
  std::size_t workers = 8;
};

/// Server listens on one address and serves until destroyed or stopped. One thread polls every
/// socket (the listening one included) and does all reading and writing without blocking;
/// `workers` threads run the handler. Idle, slow and non-reading clients cost a socket and a
/// bounded buffer each, never a thread.
class Server {
 public:
  /// Answers one request; called from a worker thread, several at once. Must not throw.
  using Handler = std::function<ScrapeResponse(const ScrapeRequest&)>;
  /// Told why a connection was closed on a client: "malformed", "too_large", "timeout" or
  /// "limit". Called from the polling thread. Must not throw.
  using OnDrop = std::function<void(const char* reason)>;

  /// Binds `address`:`port` (0: a free port), listens and starts the threads. Throws
  /// pytheus::Error naming the address when it cannot be resolved or bound.
  Server(const std::string& address, std::uint16_t port, ServerLimits limits, Handler handler,
         OnDrop on_drop);
  /// Stops.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// The port bound.
  std::uint16_t port() const;

  /// Closes the listening socket, closes idle connections and partial requests at once, lets
  /// requests being answered finish and their responses go out (within a 2 s grace), then joins
  /// the threads. Idempotent.
  void stop();

 private:
  class Loop;
  std::uint16_t port_ = 0;
  std::unique_ptr<Loop> loop_;
};

/// Returns "host:port", with brackets around an IPv6 host.
std::string host_port(const std::string& host, std::uint16_t port);

}  // namespace pytheus::http
