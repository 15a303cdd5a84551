// Why a redirected transaction is simply sent again: Redis checks a transaction's keys
// against the slot map both as each command is queued (a redirection there flags the
// transaction, and EXEC answers EXECABORT) and at EXEC (which then discards it and answers the
// redirection itself). Either way nothing of it ran, so sending it again where the
// redirection says cannot apply it twice. During a slot migration ASKING + MULTI ... EXEC on
// the importing node is one unit: Redis keeps a client's ASKING flag until EXEC inside MULTI.
#include "cluster_router.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <thread>

#include "cluster_slots.hpp"
#include "health.hpp"

namespace pytheus::detail::redis {
namespace {

// Rounds of redirections and retries one call follows before it gives up (what is not
// applied stays pending in the flusher and is tried again at the next flush).
constexpr int kMaxRounds = 16;

bool starts_with(const std::string& s, const char* prefix) {
  return s.rfind(prefix, 0) == 0;
}

// A refusal that says "not now, try again": the cluster is changing its map.
bool transient(const std::string& error) {
  return starts_with(error, "TRYAGAIN") || starts_with(error, "CLUSTERDOWN") ||
         starts_with(error, "LOADING");
}

void append_args(Connection& c, const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  argv.reserve(args.size());
  lens.reserve(args.size());
  for (const std::string& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  c.append(static_cast<int>(argv.size()), argv.data(), lens.data());
}

void append_asking(Connection& c) {
  const char* argv[1] = {"ASKING"};
  const std::size_t lens[1] = {6};
  c.append(1, argv, lens);
}

void backoff(int round) {
  std::this_thread::sleep_for(std::chrono::milliseconds(10 * std::min(round + 1, 10)));
}

}  // namespace

ClusterRouter::ClusterRouter(const Config& cfg) : cfg_(cfg) {
  slots_.fill(-1);
}

int ClusterRouter::node_of(const std::string& host, int port) {
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    if (nodes_[i]->host == host && nodes_[i]->port == port) return static_cast<int>(i);
  }
  auto n = std::make_unique<Node>();
  n->host = host;
  n->port = port;
  nodes_.push_back(std::move(n));
  return static_cast<int>(nodes_.size() - 1);
}

int ClusterRouter::redirect_target(const std::string& error, int& slot) {
  // "MOVED 3999 127.0.0.1:6381"; the host may be empty (":6381") when the node does not
  // know its own address: then it is the seed's host.
  const std::size_t a = error.find(' ');
  const std::size_t b = a == std::string::npos ? a : error.find(' ', a + 1);
  if (b == std::string::npos) return -1;
  const std::string addr = error.substr(b + 1);
  const std::size_t colon = addr.rfind(':');
  double s = 0;
  double p = 0;
  const std::string slot_text = error.substr(a + 1, b - a - 1);
  if (colon == std::string::npos || !parse_number(slot_text.data(), slot_text.size(), s) ||
      !parse_number(addr.data() + colon + 1, addr.size() - colon - 1, p) || s < 0 ||
      s >= kClusterSlots || p < 1 || p > 65535) {
    return -1;
  }
  slot = static_cast<int>(s);
  std::string host = addr.substr(0, colon);
  if (host.empty()) host = cfg_.cluster_seeds[0].host;
  return node_of(host, static_cast<int>(p));
}

Connection* ClusterRouter::connection(int node, std::string& why) {
  Node& n = *nodes_[static_cast<std::size_t>(node)];
  if (n.conn.is_open() && n.conn.pid() == getpid() && !n.conn.closed_by_peer()) return &n.conn;
  n.conn.close();
  const Connection::Address at{n.host, n.port, false};
  const std::string failed = n.conn.open(cfg_, cfg_.connect_timeout_ms, &at);
  if (failed.empty()) return &n.conn;
  why = "node " + n.addr() + ": " + failed;
  return nullptr;
}

void ClusterRouter::node_failed(int node, const std::string& why) {
  nodes_[static_cast<std::size_t>(node)]->conn.close();
  (void)why;
  ready_ = false;  // the node may have failed over: read the map again before the next use
}

bool ClusterRouter::read_slots(Connection& c, const std::string& asked_host, std::string& why) {
  const char* argv[2] = {"CLUSTER", "SLOTS"};
  const std::size_t lens[2] = {7, 5};
  c.append(2, argv, lens);
  Reply r;
  if (!c.send() || !(r = c.read())) {
    why = c.error();
    c.close();
    return false;
  }
  if (r->type != REDIS_REPLY_ARRAY) {
    why = "CLUSTER SLOTS failed (" + reply_text(r.get()) + ")";
    return false;
  }
  std::array<std::int16_t, kClusterSlots> map;
  map.fill(-1);
  std::size_t covered = 0;
  for (std::size_t i = 0; i < r->elements; ++i) {
    const redisReply* range = r->element[i];
    if (range->type != REDIS_REPLY_ARRAY || range->elements < 3 ||
        range->element[0]->type != REDIS_REPLY_INTEGER ||
        range->element[1]->type != REDIS_REPLY_INTEGER ||
        range->element[2]->type != REDIS_REPLY_ARRAY || range->element[2]->elements < 2 ||
        range->element[2]->element[1]->type != REDIS_REPLY_INTEGER) {
      continue;
    }
    const long long first = range->element[0]->integer;
    const long long last = range->element[1]->integer;
    const redisReply* master = range->element[2];
    std::string host = reply_text(master->element[0]);
    if (master->element[0]->type != REDIS_REPLY_STRING || host.empty() || host == "?") {
      host = asked_host;
    }
    const int node = node_of(host, static_cast<int>(master->element[1]->integer));
    for (long long s = std::max(0LL, first); s <= last && s < kClusterSlots; ++s) {
      map[static_cast<std::size_t>(s)] = static_cast<std::int16_t>(node);
      ++covered;
    }
  }
  if (covered == 0) {
    why = "CLUSTER SLOTS names no master (is the cluster created?)";
    return false;
  }
  slots_ = map;
  return true;
}

std::string ClusterRouter::refresh() {
  // Known nodes first (the map may only have moved), then the configured seeds.
  std::vector<int> candidates;
  for (std::size_t i = 0; i < nodes_.size(); ++i) candidates.push_back(static_cast<int>(i));
  for (const Config::ClusterSeed& s : cfg_.cluster_seeds) {
    const int n = node_of(s.host, s.port);
    if (std::find(candidates.begin(), candidates.end(), n) == candidates.end()) {
      candidates.push_back(n);
    }
  }
  std::string why;
  for (int n : candidates) {
    std::string failed;
    Connection* c = connection(n, failed);
    if (c != nullptr && read_slots(*c, nodes_[static_cast<std::size_t>(n)]->host, failed)) {
      ready_ = true;
      return "";
    }
    if (why.size() < 1000) {
      why += (why.empty() ? "" : "; ") +
             (c == nullptr ? failed
                           : "node " + nodes_[static_cast<std::size_t>(n)]->addr() + ": " + failed);
    }
  }
  return why.empty() ? "no cluster node known" : why;
}

void ClusterRouter::reset() {
  for (auto& n : nodes_) n->conn.close();
  slots_.fill(-1);
  ready_ = false;
}

bool ClusterRouter::transact(std::vector<Txn>& txns, std::string& why, int max_unstable) {
  for (Txn& t : txns) {
    t.state = Txn::State::pending;
    t.exec.reset();
    t.error.clear();
    t.unstable = false;
  }
  std::vector<int> ask(txns.size(), -1);
  std::vector<int> unstable(txns.size(), 0);  // TRYAGAIN answers per transaction
  for (int round = 0;; ++round) {
    std::map<int, std::vector<std::size_t>> by_node;
    for (std::size_t i = 0; i < txns.size(); ++i) {
      Txn& t = txns[i];
      if (t.state != Txn::State::pending) continue;
      const int n = ask[i] >= 0 ? ask[i] : slots_[static_cast<std::size_t>(t.slot)];
      if (n < 0 || round == kMaxRounds) {
        t.state = Txn::State::not_applied;
        t.error = n < 0 ? "slot " + std::to_string(t.slot) + " has no master in the cluster map"
                        : "slot " + std::to_string(t.slot) + " still redirected after " +
                              std::to_string(kMaxRounds) + " attempts";
        ready_ = ready_ && n >= 0;
        continue;
      }
      by_node[n].push_back(i);
    }
    if (by_node.empty()) break;
    bool refresh_map = false;
    bool wait = false;
    // Every node's pipeline is written before any reply is read, so that the nodes work at
    // the same time: one round trip for the whole flush, not one after another.
    struct InFlight {
      int node;
      Connection* c;
      const std::vector<std::size_t>* list;
      std::vector<std::size_t> counts;
      std::vector<bool> asking;
    };
    std::vector<InFlight> in_flight;
    for (auto& [node, list] : by_node) {
      std::string failed;
      Connection* c = connection(node, failed);
      if (c == nullptr) {
        for (std::size_t i : list) {
          txns[i].state = Txn::State::not_applied;
          txns[i].error = failed;
        }
        node_failed(node, failed);
        continue;
      }
      InFlight f{node, c, &list, {}, {}};
      for (std::size_t i : list) {
        f.asking.push_back(ask[i] >= 0);
        if (ask[i] >= 0) append_asking(*c);
        ask[i] = -1;
        append_multi(*c);
        f.counts.push_back(txns[i].append(*c));
        append_exec(*c);
      }
      if (!c->send()) {
        const Txn::State st = c->sent_any() ? Txn::State::unknown : Txn::State::not_applied;
        failed = "node " + nodes_[static_cast<std::size_t>(node)]->addr() + ": " + c->error();
        for (std::size_t i : list) {
          txns[i].state = st;
          txns[i].error = failed;
        }
        node_failed(node, failed);
        continue;
      }
      in_flight.push_back(std::move(f));
    }
    for (InFlight& f : in_flight) {
      const int node = f.node;
      Connection* c = f.c;
      const std::vector<std::size_t>& list = *f.list;
      const std::vector<std::size_t>& counts = f.counts;
      const std::vector<bool>& asking = f.asking;
      std::string failed;
      for (std::size_t k = 0; k < list.size(); ++k) {
        Txn& t = txns[list[k]];
        const std::size_t total = (asking[k] ? 1 : 0) + counts[k] + 2;
        std::string redirect;
        Reply exec;
        for (std::size_t j = 0; j < total; ++j) {
          Reply r = c->read();
          if (!r) break;
          if (r->type == REDIS_REPLY_ERROR && redirect.empty()) {
            const std::string text = reply_text(r.get());
            if (starts_with(text, "MOVED ") || starts_with(text, "ASK ") || transient(text)) {
              redirect = text;
            }
          }
          if (j + 1 == total) exec = std::move(r);
        }
        if (!exec) {
          // The connection failed after these were sent: they may have been applied.
          failed = "node " + nodes_[static_cast<std::size_t>(node)]->addr() + ": " + c->error();
          for (std::size_t rest = k; rest < list.size(); ++rest) {
            txns[list[rest]].state = Txn::State::unknown;
            txns[list[rest]].error = failed;
          }
          node_failed(node, failed);
          break;
        }
        if (exec->type == REDIS_REPLY_ARRAY) {
          t.state = Txn::State::applied;
          t.exec = std::move(exec);
          continue;
        }
        const std::string text = redirect.empty() ? reply_text(exec.get()) : redirect;
        int slot = 0;
        if (starts_with(text, "MOVED ")) {
          counters().redirections.fetch_add(1, std::memory_order_relaxed);
          const int target = redirect_target(text, slot);
          if (target >= 0)
            slots_[static_cast<std::size_t>(slot)] = static_cast<std::int16_t>(target);
          refresh_map = true;
        } else if (starts_with(text, "ASK ")) {
          counters().redirections.fetch_add(1, std::memory_order_relaxed);
          ask[list[k]] = redirect_target(text, slot);
        } else if (starts_with(text, "TRYAGAIN") && ++unstable[list[k]] >= max_unstable) {
          counters().redirections.fetch_add(1, std::memory_order_relaxed);
          t.state = Txn::State::not_applied;
          t.unstable = true;
          t.error = "slot " + std::to_string(t.slot) +
                    " is being migrated and this transaction's keys are not all on one node (some "
                    "may exist on neither yet: " +
                    text + ")";
        } else if (transient(text)) {
          counters().redirections.fetch_add(1, std::memory_order_relaxed);
          wait = true;
        } else {
          t.state = Txn::State::not_applied;  // EXECABORT for another reason (OOM, say)
          t.error = text;
        }
      }
    }
    if (refresh_map) refresh();  // on failure the patched map still routes what moved
    if (wait) backoff(round);
  }
  bool all = true;
  for (const Txn& t : txns) {
    if (t.state == Txn::State::applied) continue;
    if (all) why = t.error;
    all = false;
  }
  return all;
}

std::vector<Reply> ClusterRouter::run(const std::vector<std::vector<std::string>>& cmds,
                                      std::string& why) {
  std::vector<Reply> out(cmds.size());
  std::vector<int> ask(cmds.size(), -1);
  for (int round = 0; round <= kMaxRounds; ++round) {
    std::map<int, std::vector<std::size_t>> by_node;
    for (std::size_t i = 0; i < cmds.size(); ++i) {
      if (out[i]) continue;
      const int slot = cmds[i].size() > 1 ? key_slot(cmds[i][1]) : 0;
      const int n = ask[i] >= 0 ? ask[i] : slots_[static_cast<std::size_t>(slot)];
      if (n < 0) {
        why = "slot " + std::to_string(slot) + " has no master in the cluster map";
        ready_ = false;
        return {};
      }
      by_node[n].push_back(i);
    }
    if (by_node.empty()) return out;
    if (round == kMaxRounds) break;
    bool refresh_map = false;
    bool wait = false;
    for (auto& [node, list] : by_node) {
      Connection* c = connection(node, why);
      if (c == nullptr) {
        node_failed(node, why);
        return {};
      }
      std::vector<bool> asking;
      for (std::size_t i : list) {
        asking.push_back(ask[i] >= 0);
        if (ask[i] >= 0) append_asking(*c);
        ask[i] = -1;
        append_args(*c, cmds[i]);
      }
      if (!c->send()) {
        why = "node " + nodes_[static_cast<std::size_t>(node)]->addr() + ": " + c->error();
        node_failed(node, why);
        return {};
      }
      for (std::size_t k = 0; k < list.size(); ++k) {
        Reply r;
        for (int j = 0; j < (asking[k] ? 2 : 1); ++j) {
          if (!(r = c->read())) {
            why = "node " + nodes_[static_cast<std::size_t>(node)]->addr() + ": " + c->error();
            node_failed(node, why);
            return {};
          }
        }
        const std::string text = r->type == REDIS_REPLY_ERROR ? reply_text(r.get()) : "";
        int slot = 0;
        if (starts_with(text, "MOVED ")) {
          counters().redirections.fetch_add(1, std::memory_order_relaxed);
          const int target = redirect_target(text, slot);
          if (target >= 0)
            slots_[static_cast<std::size_t>(slot)] = static_cast<std::int16_t>(target);
          refresh_map = true;
        } else if (starts_with(text, "ASK ")) {
          counters().redirections.fetch_add(1, std::memory_order_relaxed);
          ask[list[k]] = redirect_target(text, slot);
        } else if (transient(text)) {
          counters().redirections.fetch_add(1, std::memory_order_relaxed);
          wait = true;
        } else {
          out[list[k]] = std::move(r);
        }
      }
    }
    if (refresh_map) refresh();
    if (wait) backoff(round);
  }
  why = "still redirected after " + std::to_string(kMaxRounds) + " attempts";
  return {};
}

}  // namespace pytheus::detail::redis
