// Locator: where the master is. Without sentinels it is the configured server; with them
// (Redis Sentinel) the sentinels are asked each time a connection opens, so that every
// reconnection after a failure follows a failover. Thread-safe; holds no lock, so fork is safe.
#pragma once

#include <atomic>
#include <cstddef>
#include <string>

#include "config.hpp"

namespace pytheus::detail::redis {

class Connection;

class Locator {
 public:
  explicit Locator(const Config& cfg);

  // Opens `conn` to the master. With sentinels: asks them in turn (the last one that
  // answered first) with SENTINEL get-master-addr-by-name and connects to the address named,
  // which must answer ROLE with "master". Returns an empty string, or why it failed (never a
  // secret). Takes at most (sentinels + 1) x (connect_timeout_ms + command_timeout_ms).
  std::string open(Connection& conn, int connect_timeout_ms);

 private:
  // The master's address by sentinel `i`, or an empty host and `why`.
  bool ask(std::size_t i, int connect_timeout_ms, std::string& host, int& port,
           std::string& why) const;

  const Config& cfg_;
  Config sentinel_cfg_;  // the sentinels' credentials, no database
  std::atomic<std::size_t> first_{0};
};

}  // namespace pytheus::detail::redis
