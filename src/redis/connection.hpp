// One hiredis connection and the commands the backend sends on it. Every command is built
// here, so MULTI/EXEC/EXPIRE and the value commands are written out once.
#pragma once

// hiredis.h includes sds.h without C linkage; declare it C first (connection.cpp uses
// sdslen/sdsclear to write the output buffer itself).
extern "C" {
#include <hiredis/sds.h>
}
#include <hiredis/hiredis.h>
#include <sys/types.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config.hpp"

namespace pytheus::detail::redis {

struct ReplyFree {
  void operator()(redisReply* r) const {
    if (r) freeReplyObject(r);
  }
};
using Reply = std::unique_ptr<redisReply, ReplyFree>;

// A reply's text for messages: the string or error it holds, else its type.
std::string reply_text(const redisReply* r);

// Parses a number as Redis returns it (INCRBYFLOAT's text); false for anything else.
bool parse_number(const char* s, std::size_t len, double& out);

// A double as a command argument, shortest round trip, without allocating.
struct Number {
  explicit Number(double v);
  char text[32];
  std::size_t size;
};

// One hiredis context. Not thread-safe: each is owned by one thread or guarded by a mutex.
class Connection {
 public:
  Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() { close(); }

  bool is_open() const { return ctx_ != nullptr; }
  pid_t pid() const { return pid_; }
  const std::string& error() const { return error_; }

  // Frees the context and closes its socket; nothing is sent, so this is also how a forked
  // child lets go of its parent's connections.
  void close();

  // Connects, authenticates, selects the database and pings, in one round trip after the
  // connect. Returns an empty string, or why it failed (never containing the password).
  // With `at`, connects to that address instead of the config's; with `at->master`, ROLE
  // replaces PING and a server that is not a master is refused.
  struct Address {
    std::string host;
    int port = 0;
    bool master = false;
  };
  std::string open(const Config& c, int connect_timeout_ms, const Address* at = nullptr);

  // Buffers one command; nothing is sent before send().
  bool append(int argc, const char** argv, const std::size_t* lens);

  // Writes what append() buffered; false (error() says why) when it could not.
  bool send();

  // True when the server has closed the connection while it was idle.
  bool closed_by_peer() const;

  // True when the last failed send() had written part of its data.
  bool sent_any() const { return sent_any_; }

  // Reads one reply; null when the connection failed (error() says why).
  Reply read();
  // A reply already read off the socket and buffered, without any I/O; null when none.
  Reply read_buffered();
  // The socket (to wait for it to become readable); -1 when closed.
  int fd() const { return ctx_ != nullptr ? ctx_->fd : -1; }

 private:
  redisContext* ctx_ = nullptr;
  pid_t pid_ = 0;
  int timeout_ms_ = 0;
  bool sent_any_ = false;
  std::string error_;
};

// Command builders. `field` empty: the key is a string (an unlabelled metric), else a hash
// and `field` its labels JSON.
void append_multi(Connection& c);
void append_exec(Connection& c);
void append_expire(Connection& c, std::string_view key, std::string_view ttl);
void append_incr(Connection& c, std::string_view key, std::string_view field, const Number& n);
void append_set(Connection& c, std::string_view key, std::string_view field, const Number& n);
void append_delete(Connection& c, std::string_view key, std::string_view field);
// SETNX/HSETNX: the first writer's value stays.
void append_set_if_absent(Connection& c, std::string_view key, std::string_view field,
                          const Number& n);
// Sets hash field `field` of `key` to exemplar value `value` (exemplar_codec.hpp) unless the
// field holds one with a later timestamp: the most recent exemplar wins across processes,
// whatever order their writes reach Redis in. One EVAL (a script, so compare and set are
// one step); it may go inside MULTI.
void append_exemplar(Connection& c, std::string_view key, std::string_view field,
                     std::string_view value);
// Deletes from native hash `key` (native.hpp) every bucket field of the series whose labels
// field is `labels` ("" unlabelled): the fields `<bucket>|<labels>`, whatever schema, index or
// zero threshold wrote them, in any process. One EVAL; it may go inside MULTI.
void append_delete_native(Connection& c, std::string_view key, std::string_view labels);

// A key a read fetches: GET for a string, HGETALL for a hash.
struct KeyToRead {
  const std::string* key;
  bool hash;
};

// Reads `keys` in one transaction that also refreshes their expiry: MULTI, (GET|HGETALL key,
// EXPIRE key ttl) for each, EXEC. Returns the EXEC reply (the read replies at even indexes),
// or null when the connection failed.
Reply read_keys(Connection& c, const std::vector<KeyToRead>& keys, std::string_view ttl);

// Sends `cmds` (each an argument list) as one pipeline and returns their replies, or an empty
// vector when the connection failed (c.error() says why).
std::vector<Reply> run_pipeline(Connection& c, const std::vector<std::vector<std::string>>& cmds);

}  // namespace pytheus::detail::redis
