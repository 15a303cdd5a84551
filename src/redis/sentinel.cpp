// The sentinels are asked on every connection open rather than once: a cached address could
// name a server that failed and came back empty as a master (before the sentinels make it a
// replica), and writes sent there would be lost at its resynchronisation. Opens are rare
// (start, fork, after a failure), and one more loopback or LAN round trip is cheap next to the
// connect itself. ROLE then confirms the answer: during a failover a sentinel can still name a
// server that is already a replica.
//
// The +switch-master subscription complements that: a sentinel publishes it on its
// +switch-master channel once it takes the promoted replica as the master ("<name> <old ip>
// <old port> <new ip> <new port>"). Reopening every connection then asks the sentinels again,
// that one first. Without it a manual failover (SENTINEL FAILOVER), where the old master stays
// up until the sentinels make it a replica, would be followed only when a write fails with
// READONLY, and updates meanwhile would go to a server about to throw them away. A message
// lost while no subscription was open (the subscribed sentinel died) is made up for by
// reopening every connection after each resubscription.
#include "sentinel.hpp"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <new>

#include "connection.hpp"

namespace pytheus::detail::redis {
namespace {

Config sentinel_config(const Config& cfg) {
  Config c = cfg;
  c.username = cfg.sentinel_username;
  c.password = cfg.sentinel_password;
  c.db = 0;
  c.unix_socket.reset();
  return c;
}

// How often the subscription is checked for life when nothing arrives: a PING then, and the
// next sentinel when the PING is not answered within another period.
constexpr int kQuietMs = 5000;
// How long the thread sleeps in poll() before it looks whether it must stop.
constexpr int kPollMs = 100;

}  // namespace

Locator::Locator(const Config& cfg) : cfg_(cfg), sentinel_cfg_(sentinel_config(cfg)) {}

bool Locator::ask(std::size_t i, int connect_timeout_ms, std::string& host, int& port,
                  std::string& why) const {
  const Config::SentinelAddress& s = cfg_.sentinels[i];
  const std::string where = "sentinel " + s.host + ":" + std::to_string(s.port);
  Connection c;
  const Connection::Address at{s.host, s.port, false};
  std::string failed = c.open(sentinel_cfg_, connect_timeout_ms, &at);
  if (failed.empty()) {
    const char* argv[3] = {"SENTINEL", "get-master-addr-by-name", cfg_.master_name.c_str()};
    const std::size_t lens[3] = {8, 23, cfg_.master_name.size()};
    c.append(3, argv, lens);
    Reply r;
    if (!c.send() || !(r = c.read())) {
      failed = c.error();
    } else if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
               r->element[0]->type == REDIS_REPLY_STRING &&
               r->element[1]->type == REDIS_REPLY_STRING) {
      double p = 0;
      if (parse_number(r->element[1]->str, r->element[1]->len, p) && p >= 1 && p <= 65535) {
        host.assign(r->element[0]->str, r->element[0]->len);
        port = static_cast<int>(p);
        return true;
      }
      failed = "it named a bad port \"" + reply_text(r->element[1]) + "\"";
    } else if (r->type == REDIS_REPLY_NIL) {
      failed = "it does not monitor a master named \"" + cfg_.master_name + "\"";
    } else {
      failed = "SENTINEL get-master-addr-by-name failed (" + reply_text(r.get()) + ")";
    }
  }
  why = where + ": " + failed;
  return false;
}

std::string Locator::open(Connection& conn, int connect_timeout_ms) {
  if (cfg_.sentinels.empty()) return conn.open(cfg_, connect_timeout_ms);
  const std::size_t n = cfg_.sentinels.size();
  const std::size_t first = first_.load(std::memory_order_relaxed) % n;
  std::string why;
  std::string tried;
  for (std::size_t k = 0; k < n; ++k) {
    const std::size_t i = (first + k) % n;
    std::string host;
    int port = 0;
    std::string failed;
    if (!ask(i, connect_timeout_ms, host, port, failed)) {
      why += (why.empty() ? "" : "; ") + failed;
      continue;
    }
    first_.store(i, std::memory_order_relaxed);
    const std::string addr = host + ":" + std::to_string(port);
    if (addr == tried) continue;  // already refused: ask the next sentinel
    tried = addr;
    const Connection::Address at{host, port, true};
    failed = conn.open(cfg_, connect_timeout_ms, &at);
    if (failed.empty()) return failed;
    why += (why.empty() ? "" : "; ") + std::string("master ") + addr + ": " + failed;
  }
  return why;
}

SwitchWatcher::SwitchWatcher(const Config& cfg, Health& health, Locator& locator)
    : cfg_(cfg),
      health_(health),
      locator_(locator),
      sentinel_cfg_(sentinel_config(cfg)),
      active_(!cfg.sentinels.empty()) {}

void SwitchWatcher::start() {
  std::lock_guard<std::mutex> lock(thread_mu_);
  if (running_.load() || stopped_) return;
  thread_ = new std::thread([this] { main(); });
  running_.store(true, std::memory_order_release);
}

void SwitchWatcher::stop() {
  std::thread* t = nullptr;
  {
    std::lock_guard<std::mutex> lock(thread_mu_);
    stopped_ = true;
    t = thread_;
    thread_ = nullptr;
  }
  cv_.notify_all();
  if (t != nullptr) {
    if (t->get_id() != std::this_thread::get_id()) t->join();
    delete t;
  }
}

bool SwitchWatcher::stopping() {
  std::lock_guard<std::mutex> lock(thread_mu_);
  return stopped_;
}

void SwitchWatcher::pause(int ms) {
  std::unique_lock<std::mutex> lock(thread_mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(ms), [this] { return stopped_; });
}

void SwitchWatcher::reset_in_child(std::vector<std::thread*>& abandoned_threads) {
  // The parent's thread owns the connection object; only its socket is ours to close.
  const int fd = fd_.exchange(-1);
  if (fd >= 0) ::close(fd);
  if (thread_ != nullptr) abandoned_threads.push_back(thread_);
  thread_ = nullptr;
  running_.store(false);
  new (&cv_) std::condition_variable();
  thread_mu_.unlock();
}

bool SwitchWatcher::subscribe(Connection& c, std::size_t i, std::string& why) {
  const Config::SentinelAddress& s = cfg_.sentinels[i];
  const Connection::Address at{s.host, s.port, false};
  why = c.open(sentinel_cfg_, cfg_.connect_timeout_ms, &at);
  if (why.empty()) {
    const char* argv[2] = {"SUBSCRIBE", "+switch-master"};
    const std::size_t lens[2] = {9, 14};
    c.append(2, argv, lens);
    Reply r;
    if (!c.send() || !(r = c.read())) {
      why = c.error();
    } else if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
               reply_text(r->element[0]) != "subscribe") {
      why = "SUBSCRIBE +switch-master failed (" + reply_text(r.get()) + ")";
    } else {
      return true;
    }
  }
  why = "sentinel " + s.host + ":" + std::to_string(s.port) + ": " + why;
  c.close();
  return false;
}

// ["message", "+switch-master", "<name> <old ip> <old port> <new ip> <new port>"]; anything
// else (PING's ["pong", ""]) is ignored.
void SwitchWatcher::handle(const redisReply* r, std::size_t sentinel) {
  if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 || reply_text(r->element[0]) != "message" ||
      r->element[2]->type != REDIS_REPLY_STRING) {
    return;
  }
  const std::string text = reply_text(r->element[2]);
  const std::size_t space = text.find(' ');
  if (text.substr(0, space) != cfg_.master_name) return;
  std::string to = "?";
  const std::size_t new_ip = text.find(' ', text.find(' ', space + 1) + 1);
  if (new_ip != std::string::npos) {
    to = text.substr(new_ip + 1);
    const std::size_t sep = to.find(' ');
    if (sep != std::string::npos) to[sep] = ':';
  }
  const Config::SentinelAddress& s = cfg_.sentinels[sentinel];
  log_line("sentinel " + s.host + ":" + std::to_string(s.port) + " announced " + to +
           " as the master of \"" + cfg_.master_name + "\"; reconnecting");
  locator_.prefer(sentinel);
  switches_.fetch_add(1, std::memory_order_relaxed);
  health_.reconnect();
}

void SwitchWatcher::main() {
  const std::size_t n = cfg_.sentinels.size();
  std::size_t at = 0;
  bool subscribed_before = false;
  Connection c;
  auto quiet_since = std::chrono::steady_clock::now();
  bool pinged = false;
  auto drop = [&] {
    fd_.store(-1);
    c.close();
    at = (at + 1) % n;
  };
  while (!stopping()) {
    if (!c.is_open()) {
      std::string why;
      std::string all;
      bool ok = false;
      // Checking for a stop between sentinels keeps exit waiting for one attempt at most.
      for (std::size_t k = 0; k < n && !ok && !stopping(); ++k) {
        const std::size_t i = (at + k) % n;
        if (subscribe(c, i, why)) {
          at = i;
          ok = true;
        } else if (all.size() < 1000) {
          all += (all.empty() ? "" : "; ") + why;
        }
      }
      if (!ok) {
        if (stopping()) break;
        log_once("switch-master", "cannot subscribe to +switch-master on any sentinel (" + all +
                                      "); a failover is followed when a connection fails");
        pause(health_.retry_ms());
        continue;
      }
      fd_.store(c.fd());
      // An announcement may have gone by while no subscription was open.
      if (subscribed_before) health_.reconnect();
      subscribed_before = true;
      quiet_since = std::chrono::steady_clock::now();
      pinged = false;
    }
    pollfd p{c.fd(), POLLIN, 0};
    const int rc = ::poll(&p, 1, kPollMs);
    if (rc < 0 && errno != EINTR) {
      drop();
      continue;
    }
    const auto now = std::chrono::steady_clock::now();
    if (rc > 0) {
      Reply r = c.read();
      if (!r) {
        drop();
        continue;
      }
      handle(r.get(), at);
      while ((r = c.read_buffered())) handle(r.get(), at);
      quiet_since = now;
      pinged = false;
      continue;
    }
    if (now - quiet_since < std::chrono::milliseconds(kQuietMs)) continue;
    if (pinged) {  // the PING went unanswered for a whole period: a hung sentinel
      drop();
      continue;
    }
    const char* argv[1] = {"PING"};
    const std::size_t lens[1] = {4};
    c.append(1, argv, lens);
    if (!c.send()) {
      drop();
      continue;
    }
    pinged = true;
    quiet_since = now;
  }
  fd_.store(-1);
}

}  // namespace pytheus::detail::redis
