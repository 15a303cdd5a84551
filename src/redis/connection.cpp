// The connection writes its own output buffer instead of letting hiredis write() it, because
// hiredis would raise SIGPIPE in the application when the server has gone; send(MSG_NOSIGNAL)
// reports EPIPE instead. Commands are built with redisAppendCommandArgv from caller-owned
// buffers, so that a steady-state operation allocates nothing.
#include "connection.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <system_error>

namespace pytheus::detail::redis {
namespace {

timeval to_timeval(int ms) {
  timeval tv;
  tv.tv_sec = ms / 1000;
  tv.tv_usec = static_cast<suseconds_t>((ms % 1000) * 1000);
  return tv;
}

// Appends `name key [field] [arg]`: the field only for a hash, the argument when given.
void append_key_command(Connection& c, std::string_view string_name, std::string_view hash_name,
                        std::string_view key, std::string_view field, const Number* n) {
  const char* argv[4];
  std::size_t lens[4];
  int argc = 0;
  const std::string_view name = field.empty() ? string_name : hash_name;
  argv[argc] = name.data();
  lens[argc++] = name.size();
  argv[argc] = key.data();
  lens[argc++] = key.size();
  if (!field.empty()) {
    argv[argc] = field.data();
    lens[argc++] = field.size();
  }
  if (n != nullptr) {
    argv[argc] = n->text;
    lens[argc++] = n->size;
  }
  c.append(argc, argv, lens);
}

}  // namespace

std::string reply_text(const redisReply* r) {
  if (r == nullptr) return "no reply";
  if (r->str != nullptr) return std::string(r->str, r->len);
  return "unexpected reply type " + std::to_string(r->type);
}

bool parse_number(const char* s, std::size_t len, double& out) {
  auto res = std::from_chars(s, s + len, out);
  return res.ec == std::errc() && res.ptr == s + len && len > 0;
}

Number::Number(double v) {
  auto res = std::to_chars(text, text + sizeof text, v);
  size = static_cast<std::size_t>(res.ptr - text);
}

void Connection::close() {
  if (ctx_ != nullptr) redisFree(ctx_);
  ctx_ = nullptr;
}

std::string Connection::open(const Config& c, int connect_timeout_ms, const Address* at) {
  close();
  const timeval tv = to_timeval(connect_timeout_ms);
  ctx_ = at != nullptr   ? redisConnectWithTimeout(at->host.c_str(), at->port, tv)
         : c.unix_socket ? redisConnectUnixWithTimeout(c.unix_socket->c_str(), tv)
                         : redisConnectWithTimeout(c.host.c_str(), c.port, tv);
  if (ctx_ == nullptr) return "cannot allocate a connection";
  if (ctx_->err != 0) {
    std::string why = std::string("cannot connect: ") + ctx_->errstr;
    close();
    return why;
  }
  pid_ = getpid();
  redisSetTimeout(ctx_, to_timeval(c.command_timeout_ms));
  timeout_ms_ = c.command_timeout_ms;
  int expected = 1;
  if (c.password) {
    const char* argv[3];
    std::size_t lens[3];
    int argc = 0;
    argv[argc] = "AUTH";
    lens[argc++] = 4;
    if (c.username) {
      argv[argc] = c.username->data();
      lens[argc++] = c.username->size();
    }
    argv[argc] = c.password->data();
    lens[argc++] = c.password->size();
    append(argc, argv, lens);
    ++expected;
  }
  std::string db = std::to_string(c.db);
  if (c.db != 0) {
    const char* argv[2] = {"SELECT", db.c_str()};
    const std::size_t lens[2] = {6, db.size()};
    append(2, argv, lens);
    ++expected;
  }
  const bool role = at != nullptr && at->master;
  const char* ping[1] = {role ? "ROLE" : "PING"};
  const std::size_t ping_len[1] = {4};
  append(1, ping, ping_len);
  if (!send()) {
    std::string why = error_;
    close();
    return why;
  }
  std::string why;
  for (int i = 0; i < expected; ++i) {
    Reply r = read();
    if (!r) {
      why = error_;
      break;
    }
    if (role && i == expected - 1 && r->type == REDIS_REPLY_ARRAY && why.empty()) {
      // ROLE: ["master", offset, replicas] on a master, ["slave", ...] on a replica.
      const std::string name = r->elements > 0 ? reply_text(r->element[0]) : "";
      if (name != "master") {
        why = "the server at " + at->host + ":" + std::to_string(at->port) +
              " is not a master (ROLE says \"" + name + "\")";
      }
      continue;
    }
    if (r->type != REDIS_REPLY_ERROR || !why.empty()) continue;
    const std::string text = reply_text(r.get());
    const bool is_auth = c.password && i == 0;
    const bool is_select = c.db != 0 && i == (c.password ? 1 : 0);
    if (is_auth) {
      why = "authentication failed (" + text + ")";
    } else if (text.rfind("NOAUTH", 0) == 0) {
      why = "authentication required: the server wants a password (config key \"password\")";
    } else if (is_select) {
      why = "cannot select db " + db + " (" + text + ")";
    } else {
      why = std::string(role ? "ROLE" : "PING") + " failed (" + text + ")";
    }
  }
  if (!why.empty()) close();
  return why;
}

bool Connection::append(int argc, const char** argv, const std::size_t* lens) {
  return redisAppendCommandArgv(ctx_, argc, argv, lens) == REDIS_OK;
}

// The buffer keeps its capacity (sdsclear), so steady-state sends allocate nothing.
bool Connection::send() {
  const char* buf = ctx_->obuf;
  const std::size_t len = sdslen(ctx_->obuf);
  std::size_t off = 0;
  while (off < len) {
    const ssize_t n = ::send(ctx_->fd, buf + off, len - off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      error_ = errno == EAGAIN || errno == EWOULDBLOCK
                   ? "timed out after " + std::to_string(timeout_ms_) + " ms writing"
                   : std::string("write failed: ") + std::strerror(errno);
      sent_any_ = off > 0;
      return false;
    }
    off += static_cast<std::size_t>(n);
  }
  sdsclear(ctx_->obuf);
  sent_any_ = true;
  return true;
}

// The socket is then readable with nothing expected (a restart, an idle timeout). Checked
// before reuse, so that an update is not sent into a dead socket, where whether it arrived
// could not be known.
bool Connection::closed_by_peer() const {
  pollfd p{ctx_->fd, POLLIN | POLLRDHUP, 0};
  return ::poll(&p, 1, 0) != 0;
}

Reply Connection::read_buffered() {
  void* r = nullptr;
  if (redisGetReplyFromReader(ctx_, &r) != REDIS_OK) return nullptr;
  return Reply(static_cast<redisReply*>(r));
}

Reply Connection::read() {
  void* r = nullptr;
  if (redisGetReply(ctx_, &r) != REDIS_OK || r == nullptr) {
    if (ctx_->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      error_ = "timed out after " + std::to_string(timeout_ms_) + " ms waiting for a reply";
    } else if (ctx_->err == REDIS_ERR_EOF) {
      error_ = "the server closed the connection";
    } else {
      error_ = ctx_->errstr;
    }
    return nullptr;
  }
  return Reply(static_cast<redisReply*>(r));
}

void append_multi(Connection& c) {
  const char* argv[1] = {"MULTI"};
  const std::size_t lens[1] = {5};
  c.append(1, argv, lens);
}

void append_exec(Connection& c) {
  const char* argv[1] = {"EXEC"};
  const std::size_t lens[1] = {4};
  c.append(1, argv, lens);
}

void append_expire(Connection& c, std::string_view key, std::string_view ttl) {
  const char* argv[3] = {"EXPIRE", key.data(), ttl.data()};
  const std::size_t lens[3] = {6, key.size(), ttl.size()};
  c.append(3, argv, lens);
}

void append_incr(Connection& c, std::string_view key, std::string_view field, const Number& n) {
  append_key_command(c, "INCRBYFLOAT", "HINCRBYFLOAT", key, field, &n);
}

void append_set(Connection& c, std::string_view key, std::string_view field, const Number& n) {
  append_key_command(c, "SET", "HSET", key, field, &n);
}

void append_delete(Connection& c, std::string_view key, std::string_view field) {
  append_key_command(c, "DEL", "HDEL", key, field, nullptr);
}

void append_set_if_absent(Connection& c, std::string_view key, std::string_view field,
                          const Number& n) {
  append_key_command(c, "SETNX", "HSETNX", key, field, &n);
}

namespace {

constexpr std::string_view kLatestExemplarScript =
    "local old = redis.call('HGET', KEYS[1], ARGV[1]) "
    "if old then "
    "local o = tonumber(string.match(old, '^(%S+)')) "
    "local n = tonumber(string.match(ARGV[2], '^(%S+)')) "
    "if o and n and o > n then return 0 end "
    "end "
    "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) "
    "return 1";

// A field is `<bucket>|<labels JSON>` and `<bucket>` never holds a '|' (p3_-12, z1e-128):
// everything after the first '|' is the labels, compared whole. A suffix match would be wrong
// (every field ends with "|" + "" of the unlabelled series; a label value may end like
// another series' JSON). HGETALL rather than HKEYS: the ACL of docs/security.md already
// allows it, and commands a script runs are checked against the caller's ACL. The hash holds
// one metric's series; remove() is rare, so a walk of it is cheap enough.
constexpr std::string_view kDeleteNativeScript =
    "local all = redis.call('HGETALL', KEYS[1]) "
    "local n = 0 "
    "for i = 1, #all, 2 do "
    "local f = all[i] "
    "local bar = string.find(f, '|', 1, true) "
    "if bar and string.sub(f, bar + 1) == ARGV[1] then "
    "redis.call('HDEL', KEYS[1], f) "
    "n = n + 1 "
    "end "
    "end "
    "return n";

}  // namespace

void append_delete_native(Connection& c, std::string_view key, std::string_view labels) {
  const char* argv[5] = {"EVAL", kDeleteNativeScript.data(), "1", key.data(), labels.data()};
  const std::size_t lens[5] = {4, kDeleteNativeScript.size(), 1, key.size(), labels.size()};
  c.append(5, argv, lens);
}

void append_exemplar(Connection& c, std::string_view key, std::string_view field,
                     std::string_view value) {
  const char* argv[6] = {"EVAL",      kLatestExemplarScript.data(), "1", key.data(), field.data(),
                         value.data()};
  const std::size_t lens[6] = {
      4, kLatestExemplarScript.size(), 1, key.size(), field.size(), value.size()};
  c.append(6, argv, lens);
}

Reply read_keys(Connection& c, const std::vector<KeyToRead>& keys, std::string_view ttl) {
  append_multi(c);
  for (const KeyToRead& k : keys) {
    const char* argv[2] = {k.hash ? "HGETALL" : "GET", k.key->data()};
    const std::size_t lens[2] = {k.hash ? 7u : 3u, k.key->size()};
    c.append(2, argv, lens);
    append_expire(c, *k.key, ttl);
  }
  append_exec(c);
  if (!c.send()) return nullptr;
  Reply result;
  for (std::size_t i = 0; i < 2 * keys.size() + 2; ++i) {
    Reply r = c.read();
    if (!r) return nullptr;
    if (i == 2 * keys.size() + 1) result = std::move(r);
  }
  return result;
}

std::vector<Reply> run_pipeline(Connection& c, const std::vector<std::vector<std::string>>& cmds) {
  for (const auto& cmd : cmds) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (const std::string& a : cmd) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    c.append(static_cast<int>(argv.size()), argv.data(), lens.data());
  }
  std::vector<Reply> replies;
  if (cmds.empty()) return replies;
  if (!c.send()) return {};
  for (std::size_t i = 0; i < cmds.size(); ++i) {
    Reply r = c.read();
    if (!r) return {};
    replies.push_back(std::move(r));
  }
  return replies;
}

}  // namespace pytheus::detail::redis
