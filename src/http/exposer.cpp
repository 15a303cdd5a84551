// The exposer: a ScrapeHandler answering every request that a Server frames. It adds only the
// lifecycle (start, stop, start again) and the connection self-metric.
#include "pytheus/http/exposer.hpp"

#include <atomic>
#include <mutex>

#include "server.hpp"

#include "pytheus/backends/atomic.hpp"
#include "pytheus/counter.hpp"

namespace pytheus::http {

namespace {

ScrapeHandlerOptions handler_options(const ExposerOptions& o) {
  ScrapeHandlerOptions h;
  h.basic_auth = o.basic_auth;
  h.max_concurrent_scrapes = o.max_concurrent_scrapes;
  h.gzip = o.gzip;
  h.process_collector = o.process_collector;
  return h;
}

}  // namespace

struct Exposer::Impl {
  Impl(std::string address, std::uint16_t port, ExposerOptions o)
      : bind_address(std::move(address)),
        requested_port(port),
        options(std::move(o)),
        handler(handler_options(options)) {}

  const std::string bind_address;
  const std::uint16_t requested_port;
  const ExposerOptions options;
  ScrapeHandler handler;
  BasicCounter<AtomicBackend> dropped{
      "pytheus_http_dropped_connections_total",
      "Connections the exposer closed on a client, by reason: malformed (a request it refused "
      "to parse), too_large (over max_request_bytes), timeout (a request or response slower "
      "than request_timeout) or limit (max_connections reached).",
      {"reason"},
      {},
      &handler.self_registry()};

  mutable std::mutex lifecycle_mu;  // start() and stop()
  std::unique_ptr<Server> server;
  std::atomic<std::uint16_t> bound_port{0};

  void start() {
    std::lock_guard<std::mutex> lock(lifecycle_mu);
    if (server) return;
    handler.add_default_if_empty();
    ServerLimits limits;
    limits.keep_alive_timeout = options.keep_alive_timeout;
    limits.request_timeout = options.request_timeout;
    limits.max_connections = options.max_connections;
    limits.max_request_bytes = options.max_request_bytes;
    limits.workers = options.max_concurrent_scrapes + 4;  // room to say 503, 404, 401
    server = std::make_unique<Server>(
        bind_address, requested_port, limits,
        [this](const ScrapeRequest& request) { return handler.handle(request); },
        [this](const char* reason) { count_drop(reason); });
    bound_port = server->port();
  }

  void stop() {
    std::lock_guard<std::mutex> lock(lifecycle_mu);
    if (!server) return;
    server->stop();
    server.reset();
  }

  void count_drop(const char* reason) {
    try {
      dropped.labels({{"reason", reason}}).inc();
    } catch (...) {  // counting must never take the connection handling down
    }
  }
};

Exposer::Exposer(std::string bind_address, std::uint16_t port, ExposerOptions options) {
  if (bind_address.empty()) {
    throw Error(
        "Exposer needs a bind address: \"127.0.0.1\" for this host only, \"0.0.0.0\" for "
        "every interface");
  }
  if (options.max_concurrent_scrapes == 0) {
    throw Error("ExposerOptions::max_concurrent_scrapes must be at least 1");
  }
  if (options.request_timeout.count() < 1) {
    throw Error("ExposerOptions::request_timeout must be at least 1 s");
  }
  if (options.keep_alive_timeout.count() < 0) {
    throw Error("ExposerOptions::keep_alive_timeout may not be negative");
  }
  if (options.max_connections == 0) {
    throw Error("ExposerOptions::max_connections must be at least 1");
  }
  if (options.max_request_bytes < 1024) {
    throw Error("ExposerOptions::max_request_bytes must be at least 1024");
  }
  impl_ = std::make_unique<Impl>(std::move(bind_address), port, std::move(options));
}

Exposer::~Exposer() {
  impl_->stop();
}

void Exposer::add(std::string path, Registry& registry) {
  impl_->handler.add(std::move(path), registry);
}

void Exposer::add(std::string path, std::shared_ptr<Registry> registry) {
  impl_->handler.add(std::move(path), std::move(registry));
}

bool Exposer::remove(std::string_view path) {
  return impl_->handler.remove(path);
}

void Exposer::start() {
  impl_->start();
}

void Exposer::stop() {
  impl_->stop();
}

bool Exposer::running() const {
  std::lock_guard<std::mutex> lock(impl_->lifecycle_mu);
  return impl_->server != nullptr;
}

std::uint16_t Exposer::port() const {
  const std::uint16_t bound = impl_->bound_port.load();
  return bound != 0 ? bound : impl_->requested_port;
}

const std::string& Exposer::bind_address() const {
  return impl_->bind_address;
}

std::string Exposer::url(std::string_view path) const {
  return "http://" + host_port(impl_->bind_address, port()) + std::string(path);
}

Registry& Exposer::self_registry() {
  return impl_->handler.self_registry();
}

ScrapeHandler& Exposer::handler() {
  return impl_->handler;
}

}  // namespace pytheus::http
