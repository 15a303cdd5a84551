// The HTTP exposer on cpp-httplib 0.11 (Debian's libcpp-httplib-dev) and zlib.
//
// Implementation notes:
// - One catch-all handler per method looks paths up in our own table, so paths can be added
//   while serving and are matched exactly (httplib's patterns are regular expressions).
// - Bodies go out through a content provider with a known length: httplib then sends them as
//   they are, so gzip is our decision alone (httplib would compress text/plain by itself,
//   prefer brotli, and leave OpenMetrics alone).
// - httplib sets SO_REUSEPORT on the listening socket, which lets a second server bind a port
//   in use and steal half its connections; we set our own socket options instead.
#include "pytheus/http/exposer.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <httplib.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <utility>

#include "pytheus/backends/atomic.hpp"
#include "pytheus/counter.hpp"
#include "pytheus/exposition.hpp"
#include "pytheus/process_collector.hpp"

namespace pytheus::http {

namespace {

constexpr const char* kTextPlain = "text/plain; charset=utf-8";

std::string_view format_name(Format format) {
  return format == Format::openmetrics ? "openmetrics" : "prometheus";
}

// Whether an Accept-Encoding header (RFC 9110 12.5.3) allows gzip.
bool accepts_gzip(std::string_view header) {
  std::optional<double> gzip_q, any_q;
  while (!header.empty()) {
    const std::size_t comma = header.find(',');
    std::string_view item = header.substr(0, comma);
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    const std::size_t semi = item.find(';');
    const std::string_view coding = detail::trim(item.substr(0, semi));
    double q = 1;
    if (semi != std::string_view::npos) {
      std::string_view param = detail::trim(item.substr(semi + 1));
      if (param.size() > 2 && (param[0] == 'q' || param[0] == 'Q') && param[1] == '=') {
        q = std::strtod(std::string(param.substr(2)).c_str(), nullptr);
      }
    }
    if (detail::iequals(coding, "gzip") || detail::iequals(coding, "x-gzip")) {
      gzip_q = q;
    } else if (coding == "*") {
      any_q = q;
    }
  }
  if (gzip_q) return *gzip_q > 0;
  return any_q && *any_q > 0;
}

// Returns `in` as a gzip member, or nullopt if zlib fails. Level 1: scrapes come often, and
// exposition text is so repetitive that the fastest level gets most of the gain.
std::optional<std::string> gzip_compress(std::string_view in) {
  if (in.size() > UINT_MAX / 2) return std::nullopt;
  z_stream zs{};
  if (deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return std::nullopt;
  }
  std::string out(deflateBound(&zs, static_cast<uLong>(in.size())), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) return std::nullopt;
  return out;
}

std::optional<std::string> base64_decode(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (char c : in) {
    const int v = value(c);
    if (v < 0) return std::nullopt;
    buffer = (buffer << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xFF);
    }
  }
  return out;
}

// Compares without stopping at the first difference, so the time taken does not tell an
// attacker how much of a guess was right.
bool constant_time_equals(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const std::size_t n = std::max(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
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

std::string host_port(const std::string& host, std::uint16_t port) {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

// Sends `body` with its length known up front, as it is (see the notes at the top).
void reply(httplib::Response& res, int status, const char* content_type, std::string body) {
  res.status = status;
  if (body.empty()) {
    res.set_content("", content_type);
    return;
  }
  auto shared = std::make_shared<const std::string>(std::move(body));
  res.set_content_provider(
      shared->size(), content_type,
      [shared](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
        return sink.write(shared->data() + offset, length);
      });
}

bool same_address(const sockaddr_storage& a, const sockaddr_storage& b) {
  if (a.ss_family != b.ss_family) return false;
  if (a.ss_family == AF_INET) {
    const auto& x = reinterpret_cast<const sockaddr_in&>(a);
    const auto& y = reinterpret_cast<const sockaddr_in&>(b);
    return x.sin_port == y.sin_port &&
           (y.sin_addr.s_addr == htonl(INADDR_ANY) || x.sin_addr.s_addr == y.sin_addr.s_addr);
  }
  if (a.ss_family == AF_INET6) {
    const auto& x = reinterpret_cast<const sockaddr_in6&>(a);
    const auto& y = reinterpret_cast<const sockaddr_in6&>(b);
    return x.sin6_port == y.sin6_port &&
           (IN6_IS_ADDR_UNSPECIFIED(&y.sin6_addr) ||
            std::memcmp(&x.sin6_addr, &y.sin6_addr, sizeof x.sin6_addr) == 0);
  }
  return false;
}

// Shuts the read side of every connection accepted on `listener` (its address, the listening
// socket being closed already). httplib gives no handle on its connections, and its stop()
// waits for idle keep-alive connections to time out; after this, each worker sees the end of
// its connection at once, while a response being written still goes out whole. Each fd is
// checked and shut through a duplicate, so a number reused meanwhile is never touched.
void close_idle_connections(const sockaddr_storage& listener) {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return;  // not Linux: idle connections time out by themselves
  const int own = dirfd(dir);
  while (const dirent* e = readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || fd == own) continue;
    const int dup = fcntl(static_cast<int>(fd), F_DUPFD_CLOEXEC, 0);
    if (dup < 0) continue;
    sockaddr_storage local{}, peer{};
    socklen_t local_len = sizeof local, peer_len = sizeof peer;
    if (getsockname(dup, reinterpret_cast<sockaddr*>(&local), &local_len) == 0 &&
        same_address(local, listener) &&
        getpeername(dup, reinterpret_cast<sockaddr*>(&peer), &peer_len) == 0) {
      shutdown(dup, SHUT_RD);
    }
    close(dup);
  }
  closedir(dir);
}

// Why binding failed: httplib reports only that it did, so we try the same bind ourselves.
std::string bind_error(const std::string& address, std::uint16_t port) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* list = nullptr;
  const std::string service = std::to_string(port);
  if (const int rc = getaddrinfo(address.c_str(), service.c_str(), &hints, &list); rc != 0) {
    return std::string("invalid bind address ") + quote(address) + ": " + gai_strerror(rc);
  }
  std::string reason = "unknown error";
  for (addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
    const int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      reason = std::strerror(errno);
      continue;
    }
    const int yes = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    const bool bound = bind(fd, ai->ai_addr, ai->ai_addrlen) == 0;
    if (!bound) reason = std::strerror(errno);
    close(fd);
    if (bound) break;
  }
  freeaddrinfo(list);
  return "cannot listen on " + host_port(address, port) + ": " + reason;
}

// httplib's server, with access to its listening socket.
class Server final : public httplib::Server {
 public:
  int listening_socket() const { return svr_sock_; }
};

}  // namespace

struct Exposer::Impl {
  Impl(std::string address, std::uint16_t port, ExposerOptions options)
      : bind_address_(std::move(address)), requested_port_(port), options_(std::move(options)) {
    if (options_.process_collector) {
      self_.register_collector(std::make_shared<ProcessCollector>());
    }
  }

  const std::string bind_address_;
  const std::uint16_t requested_port_;
  const ExposerOptions options_;

  CollectorRegistry self_;
  BasicCounter<AtomicBackend> scrapes_{
      "pytheus_http_scrapes_total",
      "Scrapes answered by the exposer, by path, exposition format and HTTP status.",
      {"path", "format", "status"},
      {},
      &self_};
  BasicCounter<AtomicBackend> scrape_errors_{
      "pytheus_http_scrape_errors_total",
      "Scrapes answered with 503, by path and reason: collect (the registry could not be "
      "read) or limit (too many concurrent scrapes).",
      {"path", "reason"},
      {},
      &self_};

  mutable std::shared_mutex paths_mu_;
  std::map<std::string, std::shared_ptr<Registry>, std::less<>> paths_;

  std::atomic<std::size_t> in_flight_{0};

  std::mutex lifecycle_mu_;  // start() and stop()
  std::unique_ptr<Server> server_;
  std::thread thread_;
  sockaddr_storage bound_{};
  std::atomic<std::uint16_t> port_{0};

  std::shared_ptr<Registry> find(std::string_view path) const {
    std::shared_lock<std::shared_mutex> lock(paths_mu_);
    auto it = paths_.find(path);
    return it == paths_.end() ? nullptr : it->second;
  }

  void add(std::string path, std::shared_ptr<Registry> registry) {
    if (path.empty() || path[0] != '/') {
      throw Error("exposer path " + quote(path) + " must start with '/'");
    }
    if (!registry) throw Error("exposer path " + quote(path) + ": null registry");
    std::unique_lock<std::shared_mutex> lock(paths_mu_);
    if (!paths_.emplace(path, std::move(registry)).second) {
      throw Error("exposer path " + quote(path) + " is already served");
    }
  }

  bool authorized(const httplib::Request& req) const {
    const BasicAuth& auth = *options_.basic_auth;
    const std::string header = req.get_header_value("Authorization");
    std::string_view h = header;
    if (h.size() < 6 || !detail::iequals(h.substr(0, 6), "basic ")) return false;
    std::optional<std::string> decoded = base64_decode(detail::trim(h.substr(6)));
    if (!decoded) return false;
    const std::size_t colon = decoded->find(':');
    if (colon == std::string::npos) return false;
    const std::string_view credentials = *decoded;
    const bool user_ok = constant_time_equals(credentials.substr(0, colon), auth.username);
    const bool password_ok = constant_time_equals(credentials.substr(colon + 1), auth.password);
    return user_ok && password_ok;
  }

  // Runs before routing, for every path: nothing is revealed without the credentials.
  httplib::Server::HandlerResponse check_auth(const httplib::Request& req, httplib::Response& res) {
    if (!options_.basic_auth || authorized(req)) return httplib::Server::HandlerResponse::Unhandled;
    if (find(req.path)) {
      const Format format = negotiate_format(req.get_header_value("Accept"));
      count(req.path, format, 401);
    }
    res.set_header("WWW-Authenticate",
                   "Basic realm=" + quote(options_.basic_auth->realm) + ", charset=\"UTF-8\"");
    reply(res, 401, kTextPlain, "401 unauthorized\n");
    return httplib::Server::HandlerResponse::Handled;
  }

  void count(const std::string& path, Format format, int status) {
    scrapes_
        .labels({{"path", path},
                 {"format", std::string(format_name(format))},
                 {"status", std::to_string(status)}})
        .inc();
  }

  void handle(const httplib::Request& req, httplib::Response& res) {
    try {
      serve(req, res);
    } catch (const std::exception& e) {
      res = httplib::Response();
      reply(res, 500, kTextPlain, "500 internal error: " + short_reason(e.what()) + "\n");
    }
  }

  void serve(const httplib::Request& req, httplib::Response& res) {
    std::shared_ptr<Registry> registry = find(req.path);
    if (!registry) return reply(res, 404, kTextPlain, "404 page not found\n");
    if (req.method != "GET" && req.method != "HEAD") {
      res.set_header("Allow", "GET, HEAD");
      return reply(res, 405, kTextPlain, "405 method not allowed: use GET or HEAD\n");
    }
    const Format format = negotiate_format(req.get_header_value("Accept"));

    const std::size_t busy = in_flight_.fetch_add(1, std::memory_order_acq_rel);
    struct Slot {
      std::atomic<std::size_t>& n;
      ~Slot() { n.fetch_sub(1, std::memory_order_acq_rel); }
    } slot{in_flight_};
    if (busy >= options_.max_concurrent_scrapes) {
      scrape_errors_.labels({{"path", req.path}, {"reason", "limit"}}).inc();
      count(req.path, format, 503);
      res.set_header("Retry-After", "1");
      return reply(res, 503, kTextPlain,
                   "503 too many concurrent scrapes (limit " +
                       std::to_string(options_.max_concurrent_scrapes) + "); retry later\n");
    }

    // The whole text first: a scrape that fails part way gets 503, never part of a body.
    std::string body, failure;
    try {
      body = generate_metrics({registry.get(), &self_}, format);
    } catch (const std::exception& e) {
      failure = e.what();
    } catch (...) {
      failure = "unknown error";
    }
    if (!failure.empty()) {
      scrape_errors_.labels({{"path", req.path}, {"reason", "collect"}}).inc();
      count(req.path, format, 503);
      return reply(res, 503, kTextPlain, "503 scrape failed: " + short_reason(failure) + "\n");
    }
    count(req.path, format, 200);

    if (options_.gzip) {
      res.set_header("Vary", "Accept, Accept-Encoding");
      if (accepts_gzip(req.get_header_value("Accept-Encoding"))) {
        if (std::optional<std::string> gz = gzip_compress(body)) {
          body = std::move(*gz);
          res.set_header("Content-Encoding", "gzip");
        }
      }
    } else {
      res.set_header("Vary", "Accept");
    }
    reply(res, 200, content_type(format).data(), std::move(body));
  }

  void start() {
    std::lock_guard<std::mutex> lock(lifecycle_mu_);
    if (server_) return;
    {
      std::unique_lock<std::shared_mutex> paths_lock(paths_mu_);
      if (paths_.empty()) {
        paths_.emplace("/metrics",
                       std::shared_ptr<Registry>(std::shared_ptr<Registry>(), &default_registry()));
      }
    }
    auto s = std::make_unique<Server>();
    s->set_socket_options([](socket_t sock) {
      const int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
      fcntl(sock, F_SETFD, FD_CLOEXEC);
    });
    const std::size_t threads = options_.max_concurrent_scrapes + 4;  // room to say 503/404
    s->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    const auto keep_alive = options_.keep_alive_timeout.count();
    if (keep_alive > 0) {
      s->set_keep_alive_timeout(static_cast<time_t>(keep_alive));
    } else {
      s->set_keep_alive_max_count(1);
    }
    s->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      return check_auth(req, res);
    });
    auto handler = [this](const httplib::Request& req, httplib::Response& res) {
      handle(req, res);
    };
    s->Get(".*", handler);
    s->Post(".*", handler);
    s->Put(".*", handler);
    s->Patch(".*", handler);
    s->Delete(".*", handler);
    s->Options(".*", handler);

    if (!s->bind_to_port(bind_address_, requested_port_)) {
      throw Error(bind_error(bind_address_, requested_port_));
    }
    socklen_t len = sizeof bound_;
    getsockname(s->listening_socket(), reinterpret_cast<sockaddr*>(&bound_), &len);
    port_ = ntohs(bound_.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6&>(bound_).sin6_port
                                               : reinterpret_cast<sockaddr_in&>(bound_).sin_port);
    auto done = std::make_shared<std::atomic<bool>>(false);
    thread_ = std::thread([raw = s.get(), done] {
      raw->listen_after_bind();
      done->store(true);
    });
    // httplib's stop() does nothing until its loop has started, so wait for that.
    while (!s->is_running() && !done->load()) std::this_thread::yield();
    if (!s->is_running()) {
      thread_.join();
      throw Error("cannot serve on " + host_port(bind_address_, port_.load()));
    }
    server_ = std::move(s);
  }

  void stop() {
    std::lock_guard<std::mutex> lock(lifecycle_mu_);
    if (!server_) return;
    server_->stop();
    close_idle_connections(bound_);
    thread_.join();
    server_.reset();
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
  if (options.basic_auth && options.basic_auth->username.find(':') != std::string::npos) {
    throw Error("BasicAuth username " + quote(options.basic_auth->username) +
                " may not contain ':'");
  }
  impl_ = std::make_unique<Impl>(std::move(bind_address), port, std::move(options));
}

Exposer::~Exposer() {
  impl_->stop();
}

void Exposer::add(std::string path, Registry& registry) {
  impl_->add(std::move(path), std::shared_ptr<Registry>(std::shared_ptr<Registry>(), &registry));
}

void Exposer::add(std::string path, std::shared_ptr<Registry> registry) {
  impl_->add(std::move(path), std::move(registry));
}

bool Exposer::remove(std::string_view path) {
  std::unique_lock<std::shared_mutex> lock(impl_->paths_mu_);
  auto it = impl_->paths_.find(path);
  if (it == impl_->paths_.end()) return false;
  impl_->paths_.erase(it);
  return true;
}

void Exposer::start() {
  impl_->start();
}

void Exposer::stop() {
  impl_->stop();
}

bool Exposer::running() const {
  std::lock_guard<std::mutex> lock(impl_->lifecycle_mu_);
  return impl_->server_ != nullptr;
}

std::uint16_t Exposer::port() const {
  const std::uint16_t bound = impl_->port_.load();
  return bound != 0 ? bound : impl_->requested_port_;
}

const std::string& Exposer::bind_address() const {
  return impl_->bind_address_;
}

std::string Exposer::url(std::string_view path) const {
  return "http://" + host_port(impl_->bind_address_, port()) + std::string(path);
}

Registry& Exposer::self_registry() {
  return impl_->self_;
}

}  // namespace pytheus::http
