// The exposer's HTTP/1.1 server on poll(2) and the wire parser.
//
// Why our own server (docs/http.md has the measurements): the limits the exposer promises
// (a request refused with its status once max_request_bytes is reached, 408 for a request too
// slow to arrive, the oldest idle connection evicted at max_connections, counted drops) are
// the server's connection handling itself; a library decides those its own way. A scrape
// server needs little of HTTP: GET and HEAD, Content-Length bodies, keep-alive, pipelining.
//
// Implementation notes:
// - One poller thread owns every connection that is not being answered: it accepts, reads,
//   frames requests with wire::check_request (which refuses a request as soon as it is
//   malformed or too large, so at most max_request_bytes + 1 bytes are ever kept), sends
//   responses and enforces deadlines. A complete request goes to one of a fixed set of
//   workers with its connection, and comes back with the whole response in memory; so a
//   client that never reads costs a buffer, not a thread.
// - A connection closed after an error lingers: it reads and drops what the client still
//   sends for a moment, so that the error response is not destroyed by a reset.
// - The listening socket has SO_REUSEADDR, never SO_REUSEPORT (which would let a second server
//   bind the port in use and steal half its connections).
#include "server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "wire.hpp"

#include "pytheus/errors.hpp"

namespace pytheus::http {

namespace {

using Clock = std::chrono::steady_clock;
using wire::RequestCheck;

// How long, and how much, a connection closing after an error keeps reading (and discarding)
// of what the client still sends.
constexpr std::chrono::milliseconds kLinger{1000};
constexpr std::size_t kLingerBytes = 1 << 20;
// How long stop() lets responses already made go out.
constexpr std::chrono::seconds kStopGrace{2};
// How long accepting pauses when the process is out of file descriptors.
constexpr std::chrono::milliseconds kAcceptPause{100};

const char* reason_phrase(int code) {
  switch (code) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

// The bytes of `response`: `send_body` false for HEAD; `keep_alive_seconds` < 0 closes.
std::string serialize(const ScrapeResponse& response, bool send_body, long keep_alive_seconds) {
  std::string out;
  out.reserve(256 + (send_body ? response.body.size() : 0));
  out +=
      "HTTP/1.1 " + std::to_string(response.status) + " " + reason_phrase(response.status) + "\r\n";
  for (const auto& [name, value] : response.headers) out += name + ": " + value + "\r\n";
  out += "Content-Length: " + std::to_string(response.body.size()) + "\r\n";
  if (keep_alive_seconds < 0) {
    out += "Connection: close\r\n";
  } else {
    out += "Keep-Alive: timeout=" + std::to_string(keep_alive_seconds) + "\r\n";
  }
  out += "\r\n";
  if (send_body) out += response.body;
  return out;
}

// A short response of our own, for requests refused before they are parsed.
std::string refusal(int code, std::string_view reason) {
  ScrapeResponse r;
  r.status = code;
  r.headers.emplace_back("Content-Type", "text/plain; charset=utf-8");
  r.body = std::to_string(code) + " " + std::string(reason) + "\n";
  return serialize(r, true, -1);
}

std::string quote(std::string_view s) {
  return "\"" + std::string(s) + "\"";
}

// Binds and listens on the first address of `host` that works; throws naming it.
int listen_on(const std::string& host, std::uint16_t port, int backlog) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* list = nullptr;
  const std::string service = std::to_string(port);
  if (const int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &list); rc != 0) {
    throw Error("invalid bind address " + quote(host) + ": " + gai_strerror(rc));
  }
  std::string reason = "no address";
  int fd = -1;
  for (addrinfo* ai = list; ai != nullptr && fd < 0; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0) {
      reason = std::strerror(errno);
      continue;
    }
    const int yes = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd, backlog) != 0) {
      reason = std::strerror(errno);
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(list);
  if (fd < 0) throw Error("cannot listen on " + host_port(host, port) + ": " + reason);
  return fd;
}

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
  std::size_t discarded = 0;     // lingering: bytes read and dropped
  bool receiving = false;        // a request has begun to arrive
  bool close_after_send = false;
  bool refused = false;  // sending our own error response
  bool peer_closed = false;
  Clock::time_point deadline;
};

}  // namespace

std::string host_port(const std::string& host, std::uint16_t port) {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

class Server::Loop {
 public:
  Loop(int listen_fd, ServerLimits limits, Handler handler, OnDrop on_drop)
      : limits_(limits),
        handler_(std::move(handler)),
        on_drop_(std::move(on_drop)),
        listen_fd_(listen_fd) {
    if (pipe2(wake_, O_NONBLOCK | O_CLOEXEC) != 0) {
      close(listen_fd_);
      throw Error(std::string("exposer: cannot create a pipe: ") + std::strerror(errno));
    }
    poller_ = std::thread([this] { poll_loop(); });
    for (std::size_t i = 0; i < limits_.workers; ++i) {
      workers_.emplace_back([this] { work_loop(); });
    }
  }
  ~Loop() { stop(); }

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
        answered_.push_back(std::move(c));
      }
      wake();
    }
  }

  void answer(Connection& c) {
    bool stopping = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping = stopping_;
    }
    const wire::Request parsed =
        wire::parse_request(std::string_view(c.in).substr(0, c.request_size));
    ScrapeRequest request;
    request.method = std::string(parsed.method);
    request.path = std::string(parsed.path());
    request.headers.reserve(parsed.headers.size());
    for (const auto& [name, value] : parsed.headers) {
      request.headers.emplace_back(std::string(name), std::string(value));
    }
    const bool keep = parsed.keep_alive() && !stopping && limits_.keep_alive_timeout.count() > 0;
    c.out = serialize(handler_(request), request.method != "HEAD",
                      keep ? static_cast<long>(limits_.keep_alive_timeout.count()) : -1);
    c.in.erase(0, c.request_size);
    c.request_size = 0;
    c.close_after_send = !keep;
    c.receiving = false;
    c.state = Connection::State::sending;
    c.deadline = Clock::now() + limits_.request_timeout;
  }

  // --- poller -------------------------------------------------------------------------

  void poll_loop() {
    std::vector<pollfd> fds;
    Clock::time_point accept_paused_until;
    while (true) {
      std::vector<std::unique_ptr<Connection>> answered;
      bool stopping = false;
      {
        std::lock_guard<std::mutex> lock(mu_);
        answered.swap(answered_);
        stopping = stopping_;
      }
      const Clock::time_point now = Clock::now();
      for (auto& c : answered) {
        --busy_;
        park(std::move(c), now);
      }
      if (stopping) {
        if (listen_fd_ >= 0) {
          close(listen_fd_);  // new connections are refused from now on
          listen_fd_ = -1;
        }
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
      const bool accepting = listen_fd_ >= 0 && now >= accept_paused_until;
      fds.push_back({accepting ? listen_fd_ : -1, POLLIN, 0});  // -1: not polled
      Clock::time_point next = now + std::chrono::seconds(1);
      if (!accepting && listen_fd_ >= 0) next = std::min(next, accept_paused_until);
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
      // Connections first: admitting new ones may evict (and so reorder) parked ones.
      for (std::size_t i = 2; i < fds.size() && rc > 0; ++i) {
        std::unique_ptr<Connection>& c = parked_[i - 2];
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
      if (rc > 0 && fds[1].fd >= 0 && fds[1].revents != 0 && !accept_all(after)) {
        accept_paused_until = after + kAcceptPause;
      }
    }
  }

  // Accepts every pending connection; false when out of file descriptors (or another error
  // that retrying at once would only repeat).
  bool accept_all(Clock::time_point now) {
    while (true) {
      const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd >= 0) {
        auto c = std::make_unique<Connection>();
        c->fd = fd;
        admit(std::move(c), now);
        continue;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return false;
    }
  }

  // A new connection. What came with it is read at once: a client that already closed goes
  // without counting, a whole request goes to a worker. Beyond max_connections, the oldest
  // connection not being answered is closed (the new one only if it is the only one).
  void admit(std::unique_ptr<Connection> c, Clock::time_point now) {
    c->seq = ++seq_;
    c->deadline = now + limits_.request_timeout;
    sweep();
    parked_.push_back(std::move(c));
    receive(parked_.back(), now);
    if (!parked_.back()) parked_.pop_back();
    if (parked_.size() + busy_ <= limits_.max_connections) return;
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
    parked_.push_back(std::move(c));
    send_some(parked_.back(), now);  // most responses fit in the socket buffer at once
  }

  void receive(std::unique_ptr<Connection>& c, Clock::time_point now) {
    char buffer[16384];
    while (c) {
      std::size_t room = sizeof buffer;
      if (c->state == Connection::State::waiting) {
        // Never more than one request too many: what is beyond is refused unread.
        const std::size_t cap = limits_.max_request_bytes + 1;
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
        c->deadline = now + limits_.request_timeout;
      }
    }
    if (c->in.empty()) {
      if (c->peer_closed) close_connection(c);
      return;
    }
    const RequestCheck check = wire::check_request(c->in, limits_.max_request_bytes);
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
    c->out = refusal(code, reason);
    c->out_sent = 0;
    c->close_after_send = true;
    c->refused = true;
    c->state = Connection::State::sending;
    c->deadline = now + std::min<Clock::duration>(limits_.request_timeout, kLinger);
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
      c->deadline = now + std::min<Clock::duration>(limits_.request_timeout, kLinger);
      return;
    }
    c->state = Connection::State::waiting;
    c->deadline = now + limits_.keep_alive_timeout;
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

  const ServerLimits limits_;
  const Handler handler_;
  const OnDrop on_drop_;
  int wake_[2] = {-1, -1};

  std::mutex mu_;
  std::condition_variable jobs_cv_;
  std::deque<std::unique_ptr<Connection>> jobs_;       // complete requests
  std::vector<std::unique_ptr<Connection>> answered_;  // back from the workers
  bool stopping_ = false;
  bool workers_exit_ = false;

  // The poller's own.
  int listen_fd_;
  std::vector<std::unique_ptr<Connection>> parked_;
  std::size_t busy_ = 0;  // handed to workers
  std::uint64_t seq_ = 0;
  Clock::time_point stop_deadline_;

  std::thread poller_;
  std::vector<std::thread> workers_;
};

Server::Server(const std::string& address, std::uint16_t port, ServerLimits limits, Handler handler,
               OnDrop on_drop) {
  // A burst of connections (scrapers, or a flood) must not wait for SYN retransmissions.
  const int backlog =
      static_cast<int>(std::clamp<std::size_t>(limits.max_connections, 128, SOMAXCONN));
  const int fd = listen_on(address, port, backlog);
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
  port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6&>(bound).sin6_port
                                            : reinterpret_cast<sockaddr_in&>(bound).sin_port);
  loop_ = std::make_unique<Loop>(fd, limits, std::move(handler), std::move(on_drop));
}

Server::~Server() {
  stop();
}

std::uint16_t Server::port() const {
  return port_;
}

void Server::stop() {
  if (loop_) loop_->stop();
}

}  // namespace pytheus::http
