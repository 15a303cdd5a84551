// A real Redis Cluster for integration tests: three masters (redis-server --cluster-enabled
// yes) on free loopback ports, joined with `redis-cli --cluster create`, and the slot
// migration steps an operator's resharding performs, one at a time, so that a test can run a
// load between them.
#pragma once

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "redis_server.hpp"

namespace pytheus_test {

class RedisCluster {
 public:
  explicit RedisCluster(int masters = 3) {
    RedisServer::Options o;
    o.extra_args = {"--cluster-enabled",      "yes", "--cluster-config-file", "nodes.conf",
                    "--cluster-node-timeout", "5000"};
    for (int i = 0; i < masters; ++i) nodes_.push_back(std::make_unique<RedisServer>(o));
    std::vector<std::string> args = {"/usr/bin/redis-cli", "--cluster", "create"};
    for (const auto& n : nodes_) args.push_back("127.0.0.1:" + std::to_string(n->port()));
    args.push_back("--cluster-yes");
    if (run(args) != 0) throw std::runtime_error("redis-cli --cluster create failed");
    wait_until_ok();
  }

  std::size_t size() const { return nodes_.size(); }
  int port(std::size_t i) const { return nodes_[i]->port(); }

  // The backend configuration: one seed (the others are discovered), plus `extra`.
  nlohmann::json config(nlohmann::json extra = nlohmann::json::object()) const {
    nlohmann::json c = {{"cluster", {{"seeds", {{{"host", "127.0.0.1"}, {"port", port(0)}}}}}}};
    for (auto it = extra.begin(); it != extra.end(); ++it) c[it.key()] = it.value();
    return c;
  }

  int slot_of(const std::string& key) {
    RawRedis r(port(0));
    return static_cast<int>(r.integer({"CLUSTER", "KEYSLOT", key}));
  }

  // The index of the node that owns `slot`, by node 0's view.
  std::size_t owner(int slot) {
    RawRedis r(port(0));
    RedisReply slots = r.run({"CLUSTER", "SLOTS"});
    for (std::size_t i = 0; i < slots->elements; ++i) {
      const redisReply* range = slots->element[i];
      if (slot < range->element[0]->integer || slot > range->element[1]->integer) continue;
      const long long p = range->element[2]->element[1]->integer;
      for (std::size_t n = 0; n < nodes_.size(); ++n) {
        if (port(n) == p) return n;
      }
    }
    throw std::runtime_error("no owner of slot " + std::to_string(slot));
  }

  std::string id(std::size_t i) {
    RawRedis r(port(i));
    return r.str({"CLUSTER", "MYID"});
  }

  // The three steps of moving `slot` from its owner to node `to`.
  // 1: the owner MIGRATING, `to` IMPORTING (keys still on the owner; new ones go to `to`).
  void begin_migration(int slot, std::size_t to) {
    from_ = owner(slot);
    to_ = to;
    RawRedis dst(port(to));
    RawRedis src(port(from_));
    expect_ok(dst.run({"CLUSTER", "SETSLOT", std::to_string(slot), "IMPORTING", id(from_)}));
    expect_ok(src.run({"CLUSTER", "SETSLOT", std::to_string(slot), "MIGRATING", id(to)}));
  }
  // 2: every key of the slot moved (MIGRATE ... KEYS); clients are now sent ASK.
  void move_keys(int slot) {
    RawRedis src(port(from_));
    for (;;) {
      RedisReply keys = src.run({"CLUSTER", "GETKEYSINSLOT", std::to_string(slot), "1000"});
      if (keys->elements == 0) break;
      std::vector<std::string> args = {"MIGRATE", "127.0.0.1", std::to_string(port(to_)), "", "0",
                                       "5000",    "KEYS"};
      for (std::size_t i = 0; i < keys->elements; ++i) {
        args.emplace_back(keys->element[i]->str, keys->element[i]->len);
      }
      RedisReply r = src.run(args);
      if (r->type == REDIS_REPLY_ERROR) {
        throw std::runtime_error("MIGRATE failed: " + std::string(r->str, r->len));
      }
    }
  }
  // 3: the slot belongs to `to` on every node; clients are now sent MOVED.
  void finish_migration(int slot) {
    const std::string to_id = id(to_);
    for (std::size_t n : {to_, from_}) {
      RawRedis r(port(n));
      expect_ok(r.run({"CLUSTER", "SETSLOT", std::to_string(slot), "NODE", to_id}));
    }
    for (std::size_t n = 0; n < nodes_.size(); ++n) {
      if (n == to_ || n == from_) continue;
      RawRedis r(port(n));
      expect_ok(r.run({"CLUSTER", "SETSLOT", std::to_string(slot), "NODE", to_id}));
    }
  }
  void migrate(int slot, std::size_t to) {
    begin_migration(slot, to);
    move_keys(slot);
    finish_migration(slot);
  }

  // Keys on node `i`, sorted.
  std::vector<std::string> keys(std::size_t i) {
    RawRedis r(port(i));
    return r.keys();
  }

 private:
  static void expect_ok(const RedisReply& r) {
    if (r->type == REDIS_REPLY_ERROR) {
      throw std::runtime_error("CLUSTER SETSLOT failed: " + std::string(r->str, r->len));
    }
  }

  static int run(const std::vector<std::string>& args) {
    std::vector<std::string> copy = args;
    std::vector<char*> argv;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    pid_t pid = -1;
    const int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) throw std::runtime_error("cannot run redis-cli");
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  }

  // Every node says cluster_state:ok and maps all slots the same way.
  void wait_until_ok() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      bool ok = true;
      for (std::size_t i = 0; i < nodes_.size() && ok; ++i) {
        RawRedis r(port(i));
        ok = r.str({"CLUSTER", "INFO"}).find("cluster_state:ok") != std::string::npos &&
             r.run({"CLUSTER", "SLOTS"})->elements == nodes_.size();
      }
      if (ok) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    throw std::runtime_error("the cluster did not reach cluster_state:ok");
  }

  std::vector<std::unique_ptr<RedisServer>> nodes_;
  std::size_t from_ = 0;
  std::size_t to_ = 0;
};

}  // namespace pytheus_test
