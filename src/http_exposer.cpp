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
// - httplib accepts connections, parses requests and routes them; everything between (waiting
//   for bytes, framing, limits, sending) is ours (Connections below). httplib 0.11 gives each
//   connection a thread of a fixed pool for as long as the client keeps it, bounds reads only
//   per recv() call and buffers header lines of any length: a few idle or slow clients would
//   starve the scrapers, and one endless header would fill memory.
#include "pytheus/http/exposer.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <httplib.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <utility>
#include <vector>

#include "http_wire.hpp"

#include "pytheus/backends/atomic.hpp"
#include "pytheus/counter.hpp"
#include "pytheus/exposition.hpp"
#include "pytheus/process_collector.hpp"

namespace pytheus::http {

namespace {

using wire::check_request;
using wire::constant_time_equals;
using wire::RequestCheck;

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

// httplib's server, with access to its listening socket and to its request processing. Each
// accepted socket goes to `on_accept` (in the accepting thread, which must not block) instead
// of to httplib's own connection loop, whose reads are bounded only per recv() call.
class Server final : public httplib::Server {
 public:
  int listening_socket() const { return svr_sock_; }
  // Answers the one request `strm` holds; see httplib's process_request.
  bool serve(httplib::Stream& strm, bool close_connection, bool& connection_closed) {
    return process_request(strm, close_connection, connection_closed, nullptr);
  }
  std::function<void(int)> on_accept;

 private:
  bool process_and_close_socket(socket_t sock) override {
    on_accept(sock);
    return true;
  }
};

// Runs each task in the thread that enqueues it: accepted sockets are only handed over.
class InlineQueue final : public httplib::TaskQueue {
 public:
  void enqueue(std::function<void()> fn) override { fn(); }
  void shutdown() override {}
};

using Clock = std::chrono::steady_clock;

// How long, and how much, a connection closing after an error keeps reading (and discarding)
// of what the client still sends, so that the error response is not lost to a reset.
constexpr std::chrono::milliseconds kLinger{1000};
constexpr std::size_t kLingerBytes = 1 << 20;
// How long stop() lets responses already made go out.
constexpr std::chrono::seconds kStopGrace{2};

// One client connection: owned by the poller while it waits for bytes or sends a response, by
// one worker while its request is answered.
struct Connection {
  enum class State { waiting, sending, lingering };
  int fd = -1;
  std::uint64_t seq = 0;  // acceptance order: the oldest is dropped first at the limit
  State state = State::waiting;
  std::string in;   // received, not yet answered
  std::string out;  // response bytes, sent from out_sent on
  std::size_t out_sent = 0;
  std::size_t request_size = 0;  // the complete request at the start of `in`
  std::size_t served = 0;        // requests answered
  std::size_t discarded = 0;     // lingering: bytes read and dropped
  bool receiving = false;        // a request has begun to arrive
  bool close_after_send = false;
  bool refused = false;  // sending our own error response
  bool peer_closed = false;
  Clock::time_point deadline;
};

// What httplib reads and writes while answering one request: the request's bytes, exactly (so
// it can never read into the next request, nor wait for a client), and a buffer for the
// response, which the poller then sends without holding a thread.
class BufferedStream final : public httplib::Stream {
 public:
  explicit BufferedStream(Connection& c) : c_(c) {}
  bool is_readable() const override { return pos_ < c_.request_size; }
  bool is_writable() const override { return true; }
  ssize_t read(char* ptr, size_t size) override {
    const std::size_t n = std::min(size, c_.request_size - pos_);
    std::memcpy(ptr, c_.in.data() + pos_, n);
    pos_ += n;
    return static_cast<ssize_t>(n);
  }
  ssize_t write(const char* ptr, size_t size) override {
    c_.out.append(ptr, size);
    return static_cast<ssize_t>(size);
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    address_of(getpeername, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    address_of(getsockname, ip, port);
  }
  socket_t socket() const override { return c_.fd; }

 private:
  template <class F>
  void address_of(F f, std::string& ip, int& port) const {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    if (f(c_.fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return;
    char host[INET6_ADDRSTRLEN] = "";
    if (addr.ss_family == AF_INET) {
      const auto& a = reinterpret_cast<const sockaddr_in&>(addr);
      inet_ntop(AF_INET, &a.sin_addr, host, sizeof host);
      port = ntohs(a.sin_port);
    } else if (addr.ss_family == AF_INET6) {
      const auto& a = reinterpret_cast<const sockaddr_in6&>(addr);
      inet_ntop(AF_INET6, &a.sin6_addr, host, sizeof host);
      port = ntohs(a.sin6_port);
    }
    ip = host;
  }
  Connection& c_;
  std::size_t pos_ = 0;
};

// A short response of our own, for requests refused before httplib sees them.
std::string canned_response(int code, std::string_view reason) {
  const char* phrase = code == 400   ? "Bad Request"
                       : code == 408 ? "Request Timeout"
                       : code == 413 ? "Content Too Large"
                       : code == 414 ? "URI Too Long"
                       : code == 431 ? "Request Header Fields Too Large"
                       : code == 501 ? "Not Implemented"
                       : code == 505 ? "HTTP Version Not Supported"
                                     : "Error";
  const std::string body = std::to_string(code) + " " + std::string(reason) + "\n";
  return "HTTP/1.1 " + std::to_string(code) + " " + phrase + "\r\nContent-Type: " + kTextPlain +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" +
         body;
}

// The connections of a running exposer. One poller thread waits for every connection at once
// (poll(2)), reads requests and sends responses without blocking; a complete request goes to
// one of a fixed set of workers, which answers it into memory through httplib. So idle, slow
// or stuck clients cost a socket and a buffer each, never a thread, and every limit
// (ExposerOptions: max_connections, max_request_bytes, request_timeout) is enforced in one
// place.
class Connections {
 public:
  // Why a connection was dropped (pytheus_http_dropped_connections_total{reason}).
  using OnDrop = std::function<void(const char* reason)>;

  Connections(Server& server, const ExposerOptions& options, std::size_t workers, OnDrop on_drop)
      : server_(server),
        options_(options),
        keep_alive_max_(options.keep_alive_timeout.count() > 0 ? 5 : 1),  // httplib's default
        on_drop_(std::move(on_drop)) {
    if (pipe2(wake_, O_NONBLOCK | O_CLOEXEC) != 0) {
      throw Error(std::string("exposer: cannot create a pipe: ") + std::strerror(errno));
    }
    poller_ = std::thread([this] { poll_loop(); });
    for (std::size_t i = 0; i < workers; ++i) workers_.emplace_back([this] { work_loop(); });
  }
  ~Connections() { stop(); }
  Connections(const Connections&) = delete;
  Connections& operator=(const Connections&) = delete;

  // Takes an accepted socket (from the accepting thread).
  void adopt(int fd) {
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    auto c = std::make_unique<Connection>();
    c->fd = fd;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) {
        close(fd);
        return;
      }
      arrivals_.push_back(std::move(c));
    }
    wake();
  }

  // Closes idle connections and partial requests at once, lets requests being answered finish
  // and their responses go out (within kStopGrace), then joins the threads. Call once nothing
  // is accepted any more.
  void stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_ && !poller_.joinable()) return;
      stopping_ = true;
    }
    wake();
    if (poller_.joinable()) poller_.join();
    {
      std::lock_guard<std::mutex> lock(mu_);
      workers_exit_ = true;
    }
    jobs_cv_.notify_all();
    for (std::thread& t : workers_) t.join();
    workers_.clear();
    close(wake_[0]);
    close(wake_[1]);
  }

 private:
  void wake() {
    const char byte = 1;
    [[maybe_unused]] const ssize_t n = ::write(wake_[1], &byte, 1);  // full: already woken
  }

  // --- workers ------------------------------------------------------------------------

  void work_loop() {
    while (true) {
      std::unique_ptr<Connection> c;
      {
        std::unique_lock<std::mutex> lock(mu_);
        jobs_cv_.wait(lock, [&] { return !jobs_.empty() || workers_exit_; });
        if (jobs_.empty()) return;
        c = std::move(jobs_.front());
        jobs_.pop_front();
      }
      answer(*c);
      {
        std::lock_guard<std::mutex> lock(mu_);
        arrivals_.push_back(std::move(c));
      }
      wake();
    }
  }

  void answer(Connection& c) {
    bool last = c.served + 1 >= keep_alive_max_;
    {
      std::lock_guard<std::mutex> lock(mu_);
      last = last || stopping_;
    }
    bool closed = false;
    BufferedStream strm(c);
    bool ok = false;
    try {
      ok = server_.serve(strm, last, closed);
    } catch (...) {  // our handlers catch everything; this is httplib's own failure
      ok = false;
    }
    c.in.erase(0, c.request_size);
    c.request_size = 0;
    ++c.served;
    c.close_after_send = !ok || closed || last;
    c.receiving = false;
    c.state = Connection::State::sending;
    c.deadline = Clock::now() + options_.request_timeout;
  }

  // --- poller -------------------------------------------------------------------------

  void poll_loop() {
    std::vector<pollfd> fds;
    while (true) {
      std::vector<std::unique_ptr<Connection>> arrivals;
      bool stopping = false;
      {
        std::lock_guard<std::mutex> lock(mu_);
        arrivals.swap(arrivals_);
        stopping = stopping_;
      }
      const Clock::time_point now = Clock::now();
      for (auto& c : arrivals) {
        if (c->seq == 0) {
          admit(std::move(c), now);
        } else {
          --busy_;
          park(std::move(c), now);
        }
      }
      if (stopping) {
        if (stop_deadline_ == Clock::time_point()) stop_deadline_ = now + kStopGrace;
        for (auto& c : parked_) {
          if (c && c->state != Connection::State::sending) {
            close_connection(c);
          } else if (c) {
            c->deadline = std::min(c->deadline, stop_deadline_);
          }
        }
      }
      sweep();
      if (stopping && parked_.empty() && busy_ == 0) return;

      fds.clear();
      fds.push_back({wake_[0], POLLIN, 0});
      Clock::time_point next = now + std::chrono::seconds(1);
      for (auto& c : parked_) {
        fds.push_back(
            {c->fd, static_cast<short>(c->state == Connection::State::sending ? POLLOUT : POLLIN),
             0});
        next = std::min(next, c->deadline);
      }
      const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next - Clock::now());
      const int rc =
          poll(fds.data(), fds.size(), static_cast<int>(std::max<long long>(wait.count() + 1, 0)));
      if (rc < 0 && errno != EINTR) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      if (fds[0].revents != 0) {
        char drain[64];
        while (::read(wake_[0], drain, sizeof drain) > 0) {
        }
      }
      const Clock::time_point after = Clock::now();
      for (std::size_t i = 1; i < fds.size() && rc > 0; ++i) {
        std::unique_ptr<Connection>& c = parked_[i - 1];
        if (!c || fds[i].revents == 0) continue;
        if (c->state == Connection::State::sending) {
          send_some(c, after);
        } else {
          receive(c, after);
        }
      }
      for (auto& c : parked_) {
        if (c && after >= c->deadline) expire(c);
      }
      sweep();
    }
  }

  // A new connection. What came with it is read at once: a client that already closed goes
  // without counting, a whole request goes to a worker. Beyond max_connections, the oldest
  // connection not being answered is closed (the new one only if it is the only one).
  void admit(std::unique_ptr<Connection> c, Clock::time_point now) {
    c->seq = ++seq_;
    c->deadline = now + options_.request_timeout;
    sweep();
    parked_.push_back(std::move(c));
    receive(parked_.back(), now);
    if (!parked_.back()) parked_.pop_back();
    if (parked_.size() + busy_ <= options_.max_connections) return;
    std::unique_ptr<Connection>* oldest = nullptr;
    for (auto& p : parked_) {
      if (p->state != Connection::State::sending && (!oldest || p->seq < (*oldest)->seq)) {
        oldest = &p;
      }
    }
    if (oldest == nullptr) return;  // every one is being answered
    on_drop_("limit");
    close_connection(*oldest);
    sweep();
  }

  // A connection back from a worker, with its response to send.
  void park(std::unique_ptr<Connection> c, Clock::time_point now) {
    if (c->out.empty()) {
      if (c->close_after_send) {
        close(c->fd);
        return;
      }
      c->state = Connection::State::waiting;
      c->deadline = now + options_.keep_alive_timeout;
    }
    parked_.push_back(std::move(c));
    if (parked_.back()->state == Connection::State::waiting) {
      examine(parked_.back(), now);
    } else {
      send_some(parked_.back(), now);  // most responses fit in the socket buffer at once
    }
  }

  void receive(std::unique_ptr<Connection>& c, Clock::time_point now) {
    char buffer[16384];
    while (c) {
      std::size_t room = sizeof buffer;
      if (c->state == Connection::State::waiting) {
        // Never more than one request too many: what is beyond is refused unread.
        const std::size_t cap = options_.max_request_bytes + 1;
        if (c->in.size() >= cap) break;
        room = std::min(room, cap - c->in.size());
      }
      const ssize_t n = recv(c->fd, buffer, room, 0);
      if (n > 0) {
        if (c->state == Connection::State::waiting) {
          c->in.append(buffer, static_cast<std::size_t>(n));
        } else if ((c->discarded += static_cast<std::size_t>(n)) > kLingerBytes) {
          close_connection(c);
        }
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (n < 0 && errno == EINTR) continue;
      c->peer_closed = true;  // end of stream, or an error
      break;
    }
    if (!c) return;
    if (c->state == Connection::State::lingering) {
      if (c->peer_closed) close_connection(c);
      return;
    }
    examine(c, now);
  }

  // Looks at what a waiting connection has received: hands a complete request to a worker,
  // refuses a bad one.
  void examine(std::unique_ptr<Connection>& c, Clock::time_point now) {
    if (!c->receiving) {
      std::size_t skip = 0;  // RFC 9112 2.2: empty lines before a request are ignored
      while (c->in.compare(skip, 2, "\r\n") == 0) skip += 2;
      c->in.erase(0, skip);
      if (!c->in.empty()) {
        c->receiving = true;
        c->deadline = now + options_.request_timeout;
      }
    }
    if (c->in.empty()) {
      if (c->peer_closed) close_connection(c);
      return;
    }
    const RequestCheck check = check_request(c->in, options_.max_request_bytes);
    if (check.status == RequestCheck::Status::reject) {
      on_drop_(check.code == 413 || check.code == 414 || check.code == 431 ? "too_large"
                                                                           : "malformed");
      refuse(c, check.code, check.reason, now);
      return;
    }
    if (check.status == RequestCheck::Status::incomplete) {
      if (c->peer_closed) close_connection(c);
      return;
    }
    c->request_size = check.size;
    {
      std::lock_guard<std::mutex> lock(mu_);
      jobs_.push_back(std::move(c));
    }
    ++busy_;
    jobs_cv_.notify_one();
  }

  // Sends `code` and closes the connection.
  void refuse(std::unique_ptr<Connection>& c, int code, const char* reason, Clock::time_point now) {
    c->in.clear();
    c->out = canned_response(code, reason);
    c->out_sent = 0;
    c->close_after_send = true;
    c->refused = true;
    c->state = Connection::State::sending;
    c->deadline = now + std::min<Clock::duration>(options_.request_timeout, kLinger);
    send_some(c, now);
  }

  void send_some(std::unique_ptr<Connection>& c, Clock::time_point now) {
    while (c->out_sent < c->out.size()) {
      const ssize_t n =
          ::send(c->fd, c->out.data() + c->out_sent, c->out.size() - c->out_sent, MSG_NOSIGNAL);
      if (n > 0) {
        c->out_sent += static_cast<std::size_t>(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        return;  // the poller waits until it can go on
      } else {
        close_connection(c);
        return;
      }
    }
    std::string().swap(c->out);
    c->out_sent = 0;
    if (c->close_after_send) {
      // Lingers: reads and discards what the client still sends for a moment, so that the
      // response is not destroyed by a reset when the socket closes with unread input.
      shutdown(c->fd, SHUT_WR);
      c->state = Connection::State::lingering;
      c->in.clear();
      c->deadline = now + std::min<Clock::duration>(options_.request_timeout, kLinger);
      return;
    }
    c->state = Connection::State::waiting;
    c->deadline = now + options_.keep_alive_timeout;
    examine(c, now);  // a pipelined request may be complete already
  }

  // The deadline of `c` passed.
  void expire(std::unique_ptr<Connection>& c) {
    if (c->state == Connection::State::sending) {
      if (!c->refused) on_drop_("timeout");  // a client not reading its response
      close_connection(c);
    } else if (c->state == Connection::State::lingering || !c->receiving) {
      close_connection(c);  // done lingering, or idle: nothing to say
    } else {
      on_drop_("timeout");  // a request too slow to arrive
      refuse(c, 408, "request not received in time", Clock::now());
    }
  }

  void close_connection(std::unique_ptr<Connection>& c) {
    close(c->fd);
    c.reset();
  }

  // Drops the closed connections from parked_.
  void sweep() {
    parked_.erase(std::remove(parked_.begin(), parked_.end(), nullptr), parked_.end());
  }

  Server& server_;
  const ExposerOptions& options_;
  const std::size_t keep_alive_max_;
  const OnDrop on_drop_;
  int wake_[2] = {-1, -1};

  std::mutex mu_;
  std::condition_variable jobs_cv_;
  std::deque<std::unique_ptr<Connection>> jobs_;       // complete requests
  std::vector<std::unique_ptr<Connection>> arrivals_;  // new, or answered
  bool stopping_ = false;
  bool workers_exit_ = false;

  // The poller's own.
  std::vector<std::unique_ptr<Connection>> parked_;
  std::size_t busy_ = 0;  // handed to workers
  std::uint64_t seq_ = 0;
  Clock::time_point stop_deadline_;

  std::thread poller_;
  std::vector<std::thread> workers_;
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
  BasicCounter<AtomicBackend> dropped_{
      "pytheus_http_dropped_connections_total",
      "Connections the exposer closed on a client, by reason: malformed (a request it refused "
      "to parse), too_large (over max_request_bytes), timeout (a request or response slower "
      "than request_timeout) or limit (max_connections reached).",
      {"reason"},
      {},
      &self_};

  mutable std::shared_mutex paths_mu_;
  std::map<std::string, std::shared_ptr<Registry>, std::less<>> paths_;

  std::atomic<std::size_t> in_flight_{0};

  std::mutex lifecycle_mu_;  // start() and stop()
  std::unique_ptr<Server> server_;
  std::unique_ptr<Connections> connections_;
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
    s->new_task_queue = [] { return new InlineQueue(); };
    // What httplib says in its Keep-Alive header; Connections enforces it.
    const auto keep_alive = options_.keep_alive_timeout.count();
    if (keep_alive > 0) {
      s->set_keep_alive_timeout(static_cast<time_t>(keep_alive));
    } else {
      s->set_keep_alive_max_count(1);
    }
    s->set_payload_max_length(options_.max_request_bytes);
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
    // httplib listens with a backlog of 5: a burst of connections (scrapers, or a flood)
    // would wait for SYN retransmissions, seconds. Listening again raises it.
    ::listen(s->listening_socket(),
             static_cast<int>(std::clamp<std::size_t>(options_.max_connections, 128, SOMAXCONN)));
    socklen_t len = sizeof bound_;
    getsockname(s->listening_socket(), reinterpret_cast<sockaddr*>(&bound_), &len);
    port_ = ntohs(bound_.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6&>(bound_).sin6_port
                                               : reinterpret_cast<sockaddr_in&>(bound_).sin_port);
    const std::size_t workers = options_.max_concurrent_scrapes + 4;  // room to say 503/404
    auto connections = std::make_unique<Connections>(
        *s, options_, workers, [this](const char* reason) { dropped(reason); });
    s->on_accept = [raw = connections.get()](int fd) { raw->adopt(fd); };
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
    connections_ = std::move(connections);
  }

  void stop() {
    std::lock_guard<std::mutex> lock(lifecycle_mu_);
    if (!server_) return;
    server_->stop();
    thread_.join();  // nothing is accepted any more
    connections_->stop();
    connections_.reset();
    server_.reset();
  }

  void dropped(const char* reason) {
    try {
      dropped_.labels({{"reason", reason}}).inc();
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
