// The sentinels are asked on every connection open rather than once: a cached address could
// name a server that failed and came back empty as a master (before the sentinels make it a
// replica), and writes sent there would be lost at its resynchronisation. Opens are rare
// (start, fork, after a failure), and one more loopback or LAN round trip is cheap next to the
// connect itself. ROLE then confirms the answer: during a failover a sentinel can still name a
// server that is already a replica.
#include "sentinel.hpp"

#include "connection.hpp"

namespace pytheus::detail::redis {

Locator::Locator(const Config& cfg) : cfg_(cfg), sentinel_cfg_(cfg) {
  sentinel_cfg_.username = cfg.sentinel_username;
  sentinel_cfg_.password = cfg.sentinel_password;
  sentinel_cfg_.db = 0;
  sentinel_cfg_.unix_socket.reset();
}

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

}  // namespace pytheus::detail::redis
