// Redis Cluster routing on plain hiredis 0.14 (Debian packages no cluster client): the slot
// map from CLUSTER SLOTS, one connection per master, and the redirections a cluster answers
// with while slots move. Only the flusher uses it, under its lock: not thread-safe.
//
// Two ways to send:
// - transact(): each Txn is one MULTI/EXEC on one slot. The transactions bound for one node
//   go out as one pipeline (one round trip per node). A transaction refused with MOVED, ASK,
//   TRYAGAIN or CLUSTERDOWN applied nothing (Redis discards it), so it is simply sent again
//   where the redirection says; only a lost connection leaves a transaction's fate unknown.
// - run(): independent commands, each routed by its first key (argv[1]), for the bookkeeping
//   of per-process gauges; all of them may safely be sent again after a redirection.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config.hpp"
#include "connection.hpp"

namespace pytheus::detail::redis {

class ClusterRouter {
 public:
  explicit ClusterRouter(const Config& cfg);

  // True when a slot map is known and no connection failed since.
  bool ready() const { return ready_; }

  // Reads the slot map from a known node or a seed. Returns an empty string, or why no node
  // answered (never a secret).
  std::string refresh();

  // Closes every connection and forgets the map (a fork's child, a failure).
  void reset();

  struct Txn {
    int slot = 0;
    // Appends the commands between MULTI and EXEC; returns how many.
    std::function<std::size_t(Connection&)> append;
    enum class State { pending, applied, not_applied, unknown };
    State state = State::pending;
    Reply exec;         // EXEC's reply once applied
    std::string error;  // why, when not applied or unknown
    // Not applied because its slot is being migrated and the transaction's keys are not all
    // on one of the two nodes (TRYAGAIN `max_unstable` times): keys split between source and
    // target by a MIGRATE under way, or keys that exist on neither (a transaction naming a
    // key that does not exist is refused on both nodes until the migration ends).
    bool unstable = false;
  };
  // Runs every transaction. True when all were applied; else `why` names the first failure
  // and each Txn's state says what happened to it (unknown: its connection failed after it
  // was sent, so it may have been applied). A transaction answered TRYAGAIN `max_unstable`
  // times is given up (Txn::unstable) rather than retried for the whole migration.
  bool transact(std::vector<Txn>& txns, std::string& why, int max_unstable);

  // Runs `cmds`, each routed by its argv[1]; their replies in order, or an empty vector (and
  // `why`) when a node could not be reached.
  std::vector<Reply> run(const std::vector<std::vector<std::string>>& cmds, std::string& why);

 private:
  struct Node {
    std::string host;
    int port = 0;
    Connection conn;
    std::string addr() const { return host + ":" + std::to_string(port); }
  };
  int node_of(const std::string& host, int port);
  // Parses "MOVED 3999 host:port" / "ASK 3999 host:port" into the node; -1 when malformed.
  int redirect_target(const std::string& error, int& slot);
  Connection* connection(int node, std::string& why);
  void node_failed(int node, const std::string& why);
  bool read_slots(Connection& c, const std::string& asked_host, std::string& why);

  const Config& cfg_;
  std::vector<std::unique_ptr<Node>> nodes_;  // never shrinks: indexes stay valid
  std::array<std::int16_t, 16384> slots_{};   // node index per slot, -1 unknown
  bool ready_ = false;
};

}  // namespace pytheus::detail::redis
