// The scrape handler: request in, response out, no sockets.
//
// Implementation notes:
// - The whole exposition is generated before anything is answered, so a scrape that fails part
//   way is a 503, never part of a body.
// - The concurrent-scrape limit is a counter taken before generating and given back after: a
//   scrape over the limit is refused at once rather than queued, so a slow backend cannot
//   pile up scrapes (Prometheus retries at its next interval; Retry-After says so).
// - Self-metrics use AtomicBackend whatever backend is loaded: counting a scrape must not need
//   the store that a failing scrape could not reach.
#include "pytheus/http/scrape_handler.hpp"

#include <atomic>
#include <exception>
#include <map>
#include <shared_mutex>

#include "basic_auth.hpp"
#include "gzip.hpp"

#include "pytheus/backends/atomic.hpp"
#include "pytheus/counter.hpp"
#include "pytheus/detail/strings.hpp"
#include "pytheus/exposition.hpp"
#include "pytheus/process_collector.hpp"

namespace pytheus::http {

namespace {

constexpr const char* kTextPlain = "text/plain; charset=utf-8";

std::string_view format_name(Format format) {
  switch (format) {
    case Format::openmetrics:
      return "openmetrics";
    case Format::protobuf:
      return "protobuf";
    case Format::prometheus:
      break;
  }
  return "prometheus";
}

// The first line of an error message, at most 200 bytes, cut on a UTF-8 boundary.
std::string short_reason(std::string_view what) {
  what = what.substr(0, what.find('\n'));
  if (what.size() > 200) {
    std::size_t cut = 200;
    while (cut > 0 && (static_cast<unsigned char>(what[cut]) & 0xC0) == 0x80) --cut;
    return std::string(what.substr(0, cut)) + "...";
  }
  return std::string(what);
}

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + '"';
}

ScrapeResponse text_response(int status, std::string body) {
  ScrapeResponse r;
  r.status = status;
  r.headers.emplace_back("Content-Type", kTextPlain);
  r.body = std::move(body);
  return r;
}

std::string_view header_or_empty(const Headers& headers, std::string_view name) {
  return find_header(headers, name).value_or(std::string_view());
}

}  // namespace

std::optional<std::string_view> find_header(const Headers& headers, std::string_view name) {
  for (const auto& [key, value] : headers) {
    if (detail::iequals(key, name)) return std::string_view(value);
  }
  return std::nullopt;
}

struct ScrapeHandler::Impl {
  explicit Impl(ScrapeHandlerOptions o) : options(std::move(o)) {
    if (options.process_collector) self.register_collector(std::make_shared<ProcessCollector>());
  }

  const ScrapeHandlerOptions options;
  CollectorRegistry self;
  BasicCounter<AtomicBackend> scrapes{
      "pytheus_http_scrapes_total",
      "Scrapes answered by the exposer, by path, exposition format and HTTP status.",
      {"path", "format", "status"},
      {},
      &self};
  BasicCounter<AtomicBackend> scrape_errors{
      "pytheus_http_scrape_errors_total",
      "Scrapes answered with 503, by path and reason: collect (the registry could not be "
      "read) or limit (too many concurrent scrapes).",
      {"path", "reason"},
      {},
      &self};

  mutable std::shared_mutex paths_mu;
  std::map<std::string, std::shared_ptr<Registry>, std::less<>> paths;
  std::atomic<std::size_t> in_flight{0};

  std::shared_ptr<Registry> find(std::string_view path) const {
    std::shared_lock<std::shared_mutex> lock(paths_mu);
    auto it = paths.find(path);
    return it == paths.end() ? nullptr : it->second;
  }

  void count(const std::string& path, Format format, int status) {
    scrapes
        .labels({{"path", path},
                 {"format", std::string(format_name(format))},
                 {"status", std::to_string(status)}})
        .inc();
  }

  ScrapeResponse handle(const ScrapeRequest& req) {
    const Format format = negotiate_format(header_or_empty(req.headers, "Accept"));
    std::shared_ptr<Registry> registry = find(req.path);

    // Before anything else, for every path: nothing is revealed without the credentials.
    if (options.basic_auth &&
        !auth::authorized(header_or_empty(req.headers, "Authorization"),
                          options.basic_auth->username, options.basic_auth->password)) {
      if (registry) count(req.path, format, 401);
      ScrapeResponse r = text_response(401, "401 unauthorized\n");
      r.headers.emplace_back("WWW-Authenticate", "Basic realm=" + quote(options.basic_auth->realm) +
                                                     ", charset=\"UTF-8\"");
      return r;
    }
    if (!registry) return text_response(404, "404 page not found\n");
    if (req.method != "GET" && req.method != "HEAD") {
      ScrapeResponse r = text_response(405, "405 method not allowed: use GET or HEAD\n");
      r.headers.emplace_back("Allow", "GET, HEAD");
      return r;
    }

    const std::size_t busy = in_flight.fetch_add(1, std::memory_order_acq_rel);
    struct Slot {
      std::atomic<std::size_t>& n;
      ~Slot() { n.fetch_sub(1, std::memory_order_acq_rel); }
    } slot{in_flight};
    if (busy >= options.max_concurrent_scrapes) {
      scrape_errors.labels({{"path", req.path}, {"reason", "limit"}}).inc();
      count(req.path, format, 503);
      ScrapeResponse r = text_response(503, "503 too many concurrent scrapes (limit " +
                                                std::to_string(options.max_concurrent_scrapes) +
                                                "); retry later\n");
      r.headers.emplace_back("Retry-After", "1");
      return r;
    }

    std::string body, failure;
    try {
      body = generate_metrics({registry.get(), &self}, format);
    } catch (const std::exception& e) {
      failure = e.what();
      if (failure.empty()) failure = "unknown error";
    } catch (...) {
      failure = "unknown error";
    }
    if (!failure.empty()) {
      scrape_errors.labels({{"path", req.path}, {"reason", "collect"}}).inc();
      count(req.path, format, 503);
      return text_response(503, "503 scrape failed: " + short_reason(failure) + "\n");
    }
    count(req.path, format, 200);

    ScrapeResponse r;
    r.headers.emplace_back("Content-Type", std::string(content_type(format)));
    if (options.gzip) {
      r.headers.emplace_back("Vary", "Accept, Accept-Encoding");
      if (gzip::accepted(header_or_empty(req.headers, "Accept-Encoding"))) {
        if (std::optional<std::string> gz = gzip::compress(body)) {
          body = std::move(*gz);
          r.headers.emplace_back("Content-Encoding", "gzip");
        }
      }
    } else {
      r.headers.emplace_back("Vary", "Accept");
    }
    r.body = std::move(body);
    return r;
  }
};

ScrapeHandler::ScrapeHandler(ScrapeHandlerOptions options) {
  if (options.max_concurrent_scrapes == 0) {
    throw Error("max_concurrent_scrapes must be at least 1");
  }
  if (options.basic_auth && options.basic_auth->username.find(':') != std::string::npos) {
    throw Error("BasicAuth username " + quote(options.basic_auth->username) +
                " may not contain ':'");
  }
  impl_ = std::make_unique<Impl>(std::move(options));
}

ScrapeHandler::~ScrapeHandler() = default;

void ScrapeHandler::add(std::string path, Registry& registry) {
  add(std::move(path), std::shared_ptr<Registry>(std::shared_ptr<Registry>(), &registry));
}

void ScrapeHandler::add(std::string path, std::shared_ptr<Registry> registry) {
  if (path.empty() || path[0] != '/') {
    throw Error("scrape path " + quote(path) + " must start with '/'");
  }
  if (!registry) throw Error("scrape path " + quote(path) + ": null registry");
  std::unique_lock<std::shared_mutex> lock(impl_->paths_mu);
  if (!impl_->paths.emplace(path, std::move(registry)).second) {
    throw Error("scrape path " + quote(path) + " is already served");
  }
}

bool ScrapeHandler::remove(std::string_view path) {
  std::unique_lock<std::shared_mutex> lock(impl_->paths_mu);
  auto it = impl_->paths.find(path);
  if (it == impl_->paths.end()) return false;
  impl_->paths.erase(it);
  return true;
}

void ScrapeHandler::add_default_if_empty() {
  std::unique_lock<std::shared_mutex> lock(impl_->paths_mu);
  if (impl_->paths.empty()) {
    impl_->paths.emplace(
        "/metrics", std::shared_ptr<Registry>(std::shared_ptr<Registry>(), &default_registry()));
  }
}

ScrapeResponse ScrapeHandler::handle(const ScrapeRequest& request) {
  try {
    return impl_->handle(request);
  } catch (const std::exception& e) {
    return text_response(500, "500 internal error: " + short_reason(e.what()) + "\n");
  } catch (...) {
    return text_response(500, "500 internal error\n");
  }
}

CollectorRegistry& ScrapeHandler::self_registry() {
  return impl_->self;
}

}  // namespace pytheus::http
