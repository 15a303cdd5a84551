// A real redis-server for integration tests: started on a free 127.0.0.1 port in a temporary
// directory, without persistence unless asked, and killed when the object goes. Also a tiny
// raw hiredis client, to look at keys exactly as they are in Redis.
#pragma once

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace pytheus_test {

struct RedisReplyFree {
  void operator()(redisReply* r) const {
    if (r) freeReplyObject(r);
  }
};
using RedisReply = std::unique_ptr<redisReply, RedisReplyFree>;

// A blocking hiredis connection for looking at (and tampering with) keys.
class RawRedis {
 public:
  explicit RawRedis(int port, const std::string& password = "") {
    timeval tv{2, 0};
    ctx_ = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (ctx_ == nullptr || ctx_->err) {
      std::string why = ctx_ ? ctx_->errstr : "no memory";
      if (ctx_) redisFree(ctx_);
      ctx_ = nullptr;
      throw std::runtime_error("RawRedis: cannot connect to port " + std::to_string(port) + ": " +
                               why);
    }
    redisSetTimeout(ctx_, tv);
    if (!password.empty()) run({"AUTH", password});
  }
  RawRedis(const RawRedis&) = delete;
  RawRedis& operator=(const RawRedis&) = delete;
  ~RawRedis() {
    if (ctx_) redisFree(ctx_);
  }

  RedisReply run(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    auto* r = static_cast<redisReply*>(
        redisCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), lens.data()));
    if (r == nullptr) throw std::runtime_error(std::string("RawRedis: ") + ctx_->errstr);
    return RedisReply(r);
  }

  // The string value of a command's reply ("" for nil).
  std::string str(const std::vector<std::string>& args) {
    RedisReply r = run(args);
    return r->str ? std::string(r->str, r->len) : std::string();
  }

  long long integer(const std::vector<std::string>& args) { return run(args)->integer; }

  // All keys, sorted.
  std::vector<std::string> keys() {
    RedisReply r = run({"KEYS", "*"});
    std::vector<std::string> out;
    for (size_t i = 0; i < r->elements; ++i)
      out.emplace_back(r->element[i]->str, r->element[i]->len);
    std::sort(out.begin(), out.end());
    return out;
  }

  // A hash as field -> value.
  std::map<std::string, std::string> hash(const std::string& key) {
    RedisReply r = run({"HGETALL", key});
    std::map<std::string, std::string> out;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
      out[std::string(r->element[i]->str, r->element[i]->len)] =
          std::string(r->element[i + 1]->str, r->element[i + 1]->len);
    }
    return out;
  }

 private:
  redisContext* ctx_ = nullptr;
};

// Returns a TCP port on 127.0.0.1 that nothing listens on right now.
inline int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

class RedisServer {
 public:
  struct Options {
    // Append-only file with fsync on every write, so that data survives a SIGKILL + restart.
    bool aof = false;
    std::string password;
    bool unix_socket = false;
    // More redis-server arguments, e.g. {"--maxclients", "8"}.
    std::vector<std::string> extra_args;
  };

  RedisServer() : RedisServer(Options{}) {}
  explicit RedisServer(Options options) : options_(std::move(options)) {
    binary_ = find_binary();
    char tmpl[] = "/tmp/pytheus-redis-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    for (int attempt = 0; attempt < 5; ++attempt) {
      port_ = free_port();
      if (start_once()) return;
    }
    throw std::runtime_error("redis-server did not start; see " + dir_ + "/redis.log");
  }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;
  ~RedisServer() {
    kill();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  std::string socket_path() const { return dir_ + "/redis.sock"; }

  // The backend configuration for this server, plus `extra`.
  nlohmann::json config(nlohmann::json extra = nlohmann::json::object()) const {
    nlohmann::json c = {{"host", "127.0.0.1"}, {"port", port_}};
    if (!options_.password.empty()) c["password"] = options_.password;
    for (auto it = extra.begin(); it != extra.end(); ++it) c[it.key()] = it.value();
    return c;
  }

  // Kills the server at once (SIGKILL), as a crash would.
  void kill() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status;
      waitpid(pid_, &status, 0);
      pid_ = -1;
    }
  }

  // Freezes the server (SIGSTOP): connections stay open but nothing answers, as with a hung
  // or unreachable host. resume() lets it go on.
  void pause() { ::kill(pid_, SIGSTOP); }
  void resume() { ::kill(pid_, SIGCONT); }

  // Starts it again on the same port and directory.
  void restart() {
    for (int attempt = 0; attempt < 50; ++attempt) {
      if (start_once()) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    throw std::runtime_error("redis-server did not restart on port " + std::to_string(port_));
  }

 private:
  static std::string find_binary() {
    for (const char* p :
         {"/usr/bin/redis-server", "/usr/local/bin/redis-server", "/usr/sbin/redis-server"}) {
      if (access(p, X_OK) == 0) return p;
    }
    throw std::runtime_error(
        "redis-server not found: the Redis integration tests need it (Debian package "
        "redis-server; scripts/install-deps.sh installs it)");
  }

  bool start_once() {
    std::vector<std::string> args = {binary_,
                                     "--port",
                                     std::to_string(port_),
                                     "--bind",
                                     "127.0.0.1",
                                     "--dir",
                                     dir_,
                                     "--logfile",
                                     dir_ + "/redis.log",
                                     "--daemonize",
                                     "no",
                                     "--save",
                                     "",
                                     "--protected-mode",
                                     "no"};
    if (options_.aof) {
      for (const char* a : {"--appendonly", "yes", "--appendfsync", "always"}) args.push_back(a);
    } else {
      for (const char* a : {"--appendonly", "no"}) args.push_back(a);
    }
    if (!options_.password.empty()) {
      args.push_back("--requirepass");
      args.push_back(options_.password);
    }
    if (options_.unix_socket) {
      args.push_back("--unixsocket");
      args.push_back(socket_path());
    }
    for (const std::string& a : options_.extra_args) args.push_back(a);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = -1;
    if (posix_spawn(&pid, binary_.c_str(), nullptr, nullptr, argv.data(), environ) != 0) {
      throw std::runtime_error("cannot run " + binary_);
    }
    pid_ = pid;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      int status;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {  // exited: the port was taken, say
        pid_ = -1;
        return false;
      }
      timeval tv{0, 200000};
      redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, tv);
      if (c != nullptr && c->err == 0) {
        redisSetTimeout(c, tv);
        auto* r = static_cast<redisReply*>(redisCommand(c, "PING"));
        const bool ok =
            r != nullptr &&
            (r->type == REDIS_REPLY_STATUS ||
             (r->type == REDIS_REPLY_ERROR && std::string(r->str).rfind("NOAUTH", 0) == 0));
        // Loading the AOF answers -LOADING until done.
        if (r) freeReplyObject(r);
        redisFree(c);
        if (ok) return true;
      } else if (c != nullptr) {
        redisFree(c);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    kill();
    return false;
  }

  Options options_;
  std::string binary_;
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace pytheus_test
