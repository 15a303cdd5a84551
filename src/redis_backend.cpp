// MultiProcessRedisBackend: the backend class, its connections, local deltas and flusher.
//
// Implementation notes (the user-facing contract is in include/pytheus/backends/redis.hpp and
// docs/redis.md):
// - Every series has a Slot of local deltas. In write-behind mode every operation lands
//   there; in write-through mode only while Redis is unreachable or the slot still holds
//   deltas from such a time, so that a series' operations reach Redis in order.
// - One flusher thread per configuration and process drains dirty slots into one MULTI/EXEC
//   transaction, which also sets a per-process sequence key; a transaction whose reply was
//   lost is resolved by reading that key back, so no batch is applied twice or lost.
// - Write-through operations use one connection per thread (hiredis contexts are not
//   thread-safe); flushes, scrapes and reads use one mutex-guarded control connection.
// - pthread_atfork handlers give a child fresh connections, an empty set of deltas (the
//   parent delivers its own) and, lazily, its own flusher.
#include "pytheus/backends/redis.hpp"

// hiredis.h includes sds.h without C linkage; declare it C first.
extern "C" {
#include <hiredis/sds.h>  // sdslen/sdsclear, to write the output buffer ourselves
}
#include <hiredis/hiredis.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <typeindex>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "pytheus/backends.hpp"
#include "pytheus/errors.hpp"
#include "pytheus/metric.hpp"
#include "pytheus/registry.hpp"
#include "redis_labels.hpp"

namespace pytheus::detail::redis {
namespace {

using Clock = std::chrono::steady_clock;
using Labels = std::vector<std::pair<std::string, std::string>>;

constexpr const char* kClass = "MultiProcessRedisBackend";

// ---------------------------------------------------------------------------------------
// Process-wide counters, logging.

struct Counters {
  std::atomic<std::uint64_t> errors{0};
  std::atomic<std::uint64_t> dropped{0};
  std::atomic<std::uint64_t> invalid_fields{0};
  std::atomic<std::uint64_t> flushes{0};
};
Counters& counters() {
  static Counters* c = new Counters();
  return *c;
}

void log_line(const std::string& message) {
  std::string line = "pytheus: " + message + "\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
}

// ---------------------------------------------------------------------------------------
// Configuration.

struct Config {
  std::string host = "localhost";
  int port = 6379;
  long long db = 0;
  std::optional<std::string> username;
  std::optional<std::string> password;
  std::optional<std::string> unix_socket;
  std::optional<std::string> key_prefix;
  long long expire_key_time = 3600;
  int connect_timeout_ms = 1000;
  int command_timeout_ms = 1000;
  bool write_behind = true;
  int flush_interval_ms = 1000;

  std::string endpoint() const {
    return unix_socket ? "unix socket " + *unix_socket : host + ":" + std::to_string(port);
  }
};

const std::vector<std::string>& known_keys() {
  static const std::vector<std::string> k = {"host",
                                             "port",
                                             "db",
                                             "username",
                                             "password",
                                             "unix_socket",
                                             "key_prefix",
                                             "expire_key_time",
                                             "connect_timeout_ms",
                                             "command_timeout_ms",
                                             "write_mode",
                                             "flush_interval_ms"};
  return k;
}

[[noreturn]] void config_error(const std::string& message) {
  throw BackendError(std::string(kClass) + " config: " + message);
}

Config parse_config(const BackendConfig& j) {
  if (!j.is_object()) config_error("must be a JSON object, not " + std::string(j.type_name()));
  std::string unknown;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const auto& k = known_keys();
    if (std::find(k.begin(), k.end(), it.key()) == k.end()) {
      unknown += (unknown.empty() ? "\"" : ", \"") + it.key() + "\"";
    }
  }
  if (!unknown.empty()) {
    std::string known;
    for (const auto& k : known_keys()) known += (known.empty() ? "" : ", ") + k;
    config_error("unknown key " + unknown + " (known keys: " + known + ")");
  }
  // Secrets are never printed, not even when they have the wrong type.
  auto string_of = [&](const char* key, bool secret) -> std::optional<std::string> {
    auto it = j.find(key);
    if (it == j.end()) return std::nullopt;
    if (!it->is_string()) {
      config_error(std::string("\"") + key + "\" must be a string, not " +
                   (secret ? std::string("a ") + it->type_name() : it->dump()));
    }
    return it->get<std::string>();
  };
  auto int_of = [&](const char* key, long long lo, long long hi) -> std::optional<long long> {
    auto it = j.find(key);
    if (it == j.end()) return std::nullopt;
    bool ok = false;
    long long v = 0;
    if (it->is_number_unsigned()) {
      auto u = it->get<std::uint64_t>();
      ok = u <= static_cast<std::uint64_t>(hi);
      v = static_cast<long long>(u);
    } else if (it->is_number_integer()) {
      v = it->get<long long>();
      ok = true;
    }
    if (!ok || v < lo || v > hi) {
      config_error(std::string("\"") + key + "\" must be an integer from " + std::to_string(lo) +
                   " to " + std::to_string(hi) + ", not " + it->dump());
    }
    return v;
  };
  constexpr long long kMaxMs = 24LL * 3600 * 1000;
  Config c;
  if (auto v = string_of("host", false)) {
    if (v->empty()) config_error("\"host\" must not be empty");
    c.host = *v;
  }
  if (auto v = int_of("port", 1, 65535)) c.port = static_cast<int>(*v);
  if (auto v = int_of("db", 0, 1LL << 31)) c.db = *v;
  c.username = string_of("username", true);
  c.password = string_of("password", true);
  c.unix_socket = string_of("unix_socket", false);
  c.key_prefix = string_of("key_prefix", false);
  if (auto v = int_of("expire_key_time", 1, 1LL << 31)) c.expire_key_time = *v;
  if (auto v = int_of("connect_timeout_ms", 1, kMaxMs)) c.connect_timeout_ms = static_cast<int>(*v);
  if (auto v = int_of("command_timeout_ms", 1, kMaxMs)) c.command_timeout_ms = static_cast<int>(*v);
  if (auto v = int_of("flush_interval_ms", 1, kMaxMs)) c.flush_interval_ms = static_cast<int>(*v);
  if (auto v = string_of("write_mode", false)) {
    if (*v == "write_behind") {
      c.write_behind = true;
    } else if (*v == "write_through") {
      c.write_behind = false;
    } else {
      config_error("\"write_mode\" must be \"write_behind\" or \"write_through\", not \"" + *v +
                   "\"");
    }
  }
  if (c.username && !c.password) config_error("\"username\" is given without \"password\"");
  if (c.unix_socket && (j.contains("host") || j.contains("port"))) {
    config_error("\"unix_socket\" and \"host\"/\"port\" exclude each other; give one");
  }
  if (c.unix_socket && c.unix_socket->empty()) config_error("\"unix_socket\" must not be empty");
  return c;
}

// ---------------------------------------------------------------------------------------
// Connections.

struct ReplyFree {
  void operator()(redisReply* r) const {
    if (r) freeReplyObject(r);
  }
};
using Reply = std::unique_ptr<redisReply, ReplyFree>;

timeval to_timeval(int ms) {
  timeval tv;
  tv.tv_sec = ms / 1000;
  tv.tv_usec = static_cast<suseconds_t>((ms % 1000) * 1000);
  return tv;
}

std::string reply_text(const redisReply* r) {
  if (r == nullptr) return "no reply";
  if (r->str != nullptr) return std::string(r->str, r->len);
  return "unexpected reply type " + std::to_string(r->type);
}

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
  void close() {
    if (ctx_ != nullptr) redisFree(ctx_);
    ctx_ = nullptr;
  }

  // Connects, authenticates, selects the database and pings, in one round trip after the
  // connect. Returns an empty string, or why it failed (never containing the password).
  std::string open(const Config& c, int connect_timeout_ms) {
    close();
    const timeval tv = to_timeval(connect_timeout_ms);
    ctx_ = c.unix_socket ? redisConnectUnixWithTimeout(c.unix_socket->c_str(), tv)
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
    const char* ping[1] = {"PING"};
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
        why = "PING failed (" + text + ")";
      }
    }
    if (!why.empty()) close();
    return why;
  }

  bool append(int argc, const char** argv, const std::size_t* lens) {
    return redisAppendCommandArgv(ctx_, argc, argv, lens) == REDIS_OK;
  }

  // Writes what append() buffered. hiredis would write() it, which raises SIGPIPE when the
  // server has gone; send(MSG_NOSIGNAL) reports EPIPE instead. The buffer keeps its capacity,
  // so steady-state sends allocate nothing.
  bool send() {
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

  // True when the server has closed the connection (a restart, an idle timeout) while it was
  // idle: it is then readable with nothing expected. Checked before reuse, so that an update
  // is not sent into a dead socket, where whether it arrived could not be known.
  bool closed_by_peer() const {
    pollfd p{ctx_->fd, POLLIN | POLLRDHUP, 0};
    return ::poll(&p, 1, 0) != 0;
  }

  // True when the last failed send() had written part of its data.
  bool sent_any() const { return sent_any_; }

  // Reads one reply; null when the connection failed (error() says why).
  Reply read() {
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

 private:
  redisContext* ctx_ = nullptr;
  pid_t pid_ = 0;
  int timeout_ms_ = 0;
  bool sent_any_ = false;
  std::string error_;
};

// ---------------------------------------------------------------------------------------
// Keys and local deltas of one series.

// The Redis keys of a series, computed once when it is bound.
struct Keys {
  // The labels JSON when the metric has labels (keys are hashes), else empty (strings).
  std::string field;
  bool hash = false;
  // A value: its key. A histogram: each bucket key, then count and sum. A summary: count, sum.
  std::vector<std::string> keys;
  std::size_t buckets = 0;
  bool histogram = false;  // histogram or summary
};

int format_number(char* buf, std::size_t size, double v) {
  auto res = std::to_chars(buf, buf + size, v);
  return static_cast<int>(res.ptr - buf);
}

bool parse_number(const char* s, std::size_t len, double& out) {
  auto res = std::from_chars(s, s + len, out);
  return res.ec == std::errc() && res.ptr == s + len && len > 0;
}

// Local deltas of one series, owned by its Instance. The hot path only uses atomics (and
// `set_mu` for Gauge::set); `dirty` marks a slot that is on the dirty stack.
struct Slot {
  Slot(std::shared_ptr<const Keys> k, std::size_t n)
      : keys(std::move(k)), ncounts(n), counts(n ? new std::atomic<std::uint64_t>[n] : nullptr) {
    for (std::size_t i = 0; i < ncounts; ++i) counts[i].store(0, std::memory_order_relaxed);
  }

  const std::shared_ptr<const Keys> keys;
  // A value's delta, or a histogram's sum delta.
  std::atomic<double> value{0};
  // A histogram's observations per bucket (not cumulative); a summary's count.
  const std::size_t ncounts;
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts;
  // A Gauge::set not yet delivered; deltas in `value` apply after it.
  std::mutex set_mu;
  bool has_set = false;
  double set_value = 0;

  std::atomic<bool> dirty{false};
  Slot* next_dirty = nullptr;
  bool retired = false;  // under the instance's slots_mu
  Slot* prev = nullptr;  // the instance's list of slots, under slots_mu
  Slot* next = nullptr;
};

void atomic_add(std::atomic<double>& a, double v) {
  double cur = a.load(std::memory_order_relaxed);
  while (!a.compare_exchange_weak(cur, cur + v, std::memory_order_seq_cst,
                                  std::memory_order_relaxed)) {
  }
}

// A dirty slot's deltas, taken for one flush transaction, or (`erase`) the deletion of a
// removed series' fields or keys.
struct Entry {
  std::shared_ptr<const Keys> keys;
  bool erase = false;
  bool has_set = false;
  double set_value = 0;
  double value = 0;
  std::vector<std::uint64_t> counts;
};

enum class Sent { ok, not_sent, ambiguous };

class Instance;

// This thread's connection for write-through operations. `tls_dead` (trivially destructible)
// tells code running after the thread's destructors that it is gone.
thread_local bool tls_dead = false;
struct ThreadConn {
  const Instance* owner = nullptr;
  std::uint64_t epoch = 0;
  Connection conn;
  ~ThreadConn() { tls_dead = true; }
};
thread_local ThreadConn tls_conn;

// Every configuration loaded in this process. Instances are never destroyed: retired backend
// objects may use theirs until exit.
struct Globals {
  std::mutex mu;
  std::vector<Instance*> instances;
  std::atomic<Instance*> current{nullptr};
  std::vector<std::thread*> abandoned_threads;  // a forked child's copies of parent threads
  std::once_flag hooks_once;
  std::mutex logged_mu;
  std::unordered_set<std::string> logged;  // problems already logged once
};
Globals& globals() {
  static Globals* g = new Globals();
  return *g;
}

// Logs `message` the first time `key` is seen in this process.
void log_once(const std::string& key, const std::string& message) {
  Globals& g = globals();
  {
    std::lock_guard<std::mutex> lock(g.logged_mu);
    if (!g.logged.insert(key).second) return;
  }
  log_line(message);
}

// ---------------------------------------------------------------------------------------
// Instance: one loaded configuration.

class Instance {
 public:
  explicit Instance(Config c)
      : cfg(std::move(c)),
        endpoint(cfg.endpoint()),
        ttl(std::to_string(cfg.expire_key_time)),
        retry_ms(std::clamp(cfg.flush_interval_ms, 100, 1000)) {
    new_identity();
  }

  const Config cfg;
  const std::string endpoint;
  const std::string ttl;
  const int retry_ms;

  std::string key(std::string_view name) const {
    return cfg.key_prefix ? *cfg.key_prefix + "-" + std::string(name) : std::string(name);
  }

  // --- series -------------------------------------------------------------------------

  Slot* new_slot(std::shared_ptr<const Keys> keys, std::size_t ncounts) {
    auto* s = new Slot(std::move(keys), ncounts);
    std::lock_guard<std::mutex> lock(slots_mu_);
    s->next = slots_;
    if (slots_) slots_->prev = s;
    slots_ = s;
    return s;
  }

  // Called when a backend object is destroyed: the flusher delivers the slot's last deltas
  // and then frees it.
  void retire(Slot* s) {
    std::lock_guard<std::mutex> lock(slots_mu_);
    s->retired = true;
    ++retired_count_;
  }

  void mark_dirty(Slot& s) {
    if (s.dirty.load(std::memory_order_seq_cst)) return;
    if (s.dirty.exchange(true, std::memory_order_seq_cst)) return;
    pending_.fetch_add(1, std::memory_order_relaxed);
    Slot* head = dirty_.load(std::memory_order_relaxed);
    do {
      s.next_dirty = head;
    } while (!dirty_.compare_exchange_weak(head, &s, std::memory_order_release,
                                           std::memory_order_relaxed));
    if (!flusher_running_.load(std::memory_order_acquire)) start_flusher();
  }

  void add(Slot& s, double v) {
    atomic_add(s.value, v);
    mark_dirty(s);
  }

  void set(Slot& s, double v) {
    {
      std::lock_guard<std::mutex> lock(s.set_mu);
      s.has_set = true;
      s.set_value = v;
      s.value.store(0, std::memory_order_seq_cst);
    }
    mark_dirty(s);
  }

  void observe(Slot& s, double v, std::size_t bucket) {
    s.counts[std::min(bucket, s.ncounts - 1)].fetch_add(1, std::memory_order_seq_cst);
    atomic_add(s.value, v);
    mark_dirty(s);
  }

  // True when operations must go to the slot (write-behind, an outage, deltas left from one,
  // or a removal not yet delivered) rather than straight to Redis, so that they reach Redis
  // in order.
  bool deferred(const Slot& s) const {
    return cfg.write_behind || s.dirty.load(std::memory_order_seq_cst) ||
           down_.load(std::memory_order_relaxed) || erasing_.load(std::memory_order_relaxed) != 0;
  }

  // The series of `s` was removed: its local deltas, and those taken for a flush but not yet
  // delivered, are dropped (a later flush must not bring it back), and the deletion of its
  // fields or keys is queued behind every earlier update. Write-through sends it at once;
  // write-behind with the next flush. Never throws for Redis errors: while Redis is
  // unreachable the deletion waits, like a delta, and is delivered when it is back.
  void erase(Slot& s) {
    bool left = false;
    {
      std::lock_guard<std::mutex> lock(control_mu_);
      {
        std::lock_guard<std::mutex> set_lock(s.set_mu);
        s.has_set = false;
        s.value.store(0, std::memory_order_seq_cst);
        for (std::size_t i = 0; i < s.ncounts; ++i) s.counts[i].store(0);
      }
      // Changing a batch whose EXEC may have been applied is safe: if it was, the sequence
      // key says so and it is not sent again; if not, it is sent without the series. Either
      // way the deletion follows it.
      batch_.erase(std::remove_if(batch_.begin(), batch_.end(),
                                  [&](const Entry& e) { return !e.erase && e.keys == s.keys; }),
                   batch_.end());
      batch_size_.store(batch_.size(), std::memory_order_relaxed);
      erasures_.push_back(s.keys);
      queued_erasures_.store(erasures_.size(), std::memory_order_relaxed);
      erasing_.fetch_add(1, std::memory_order_relaxed);
      std::string why;
      left = cfg.write_behind || !flush_locked(why);
    }
    if (left && !flusher_running_.load(std::memory_order_acquire)) start_flusher();
  }

  // --- write-through ------------------------------------------------------------------

  // Sends one value operation and its EXPIRE in one round trip on this thread's connection.
  Sent send_value(const Keys& k, bool set, double v) {
    Connection* c = thread_conn();
    if (c == nullptr) return Sent::not_sent;
    char num[32];
    const int n = format_number(num, sizeof num, v);
    const std::string& key = k.keys[0];
    if (k.hash) {
      const char* argv[4] = {set ? "HSET" : "HINCRBYFLOAT", key.data(), k.field.data(), num};
      const std::size_t lens[4] = {set ? 4u : 12u, key.size(), k.field.size(),
                                   static_cast<std::size_t>(n)};
      c->append(4, argv, lens);
    } else {
      const char* argv[3] = {set ? "SET" : "INCRBYFLOAT", key.data(), num};
      const std::size_t lens[3] = {set ? 3u : 11u, key.size(), static_cast<std::size_t>(n)};
      c->append(3, argv, lens);
    }
    append_expire(*c, key);
    return finish_thread_round_trip(*c, 2, 0);
  }

  // Sends one observation as a MULTI/EXEC transaction in one round trip.
  Sent send_observe(const Keys& k, std::size_t bucket, double v) {
    Connection* c = thread_conn();
    if (c == nullptr) return Sent::not_sent;
    append_multi(*c);
    std::size_t cmds = 0;
    char one[] = "1";
    for (std::size_t i = std::min(bucket, k.buckets); i < k.buckets; ++i) {
      append_incr(*c, k, k.keys[i], one, 1);
      ++cmds;
    }
    append_incr(*c, k, k.keys[k.buckets], one, 1);
    char num[32];
    const int n = format_number(num, sizeof num, v);
    append_incr(*c, k, k.keys[k.buckets + 1], num, static_cast<std::size_t>(n));
    cmds += 2;
    for (const std::string& key : k.keys) {
      append_expire(*c, key);
      ++cmds;
    }
    append_exec(*c);
    return finish_thread_round_trip(*c, cmds + 2, cmds + 1);
  }

  // --- flushing -----------------------------------------------------------------------

  // Delivers the pending batch and then every dirty slot, in one transaction each. Returns
  // true when nothing is left pending; else `why` says what failed. control_mu held.
  bool flush_locked(std::string& why) {
    if (!batch_.empty() && !deliver_batch(why)) return false;
    take_dirty();
    if (batch_.empty()) return true;
    batch_seq_ = ++seq_;
    batch_sent_ = false;
    return deliver_batch(why);
  }

  // flush_locked under the lock. A connection that was open and fails is retried once on
  // a new one at once: the server may just have restarted.
  // With `force` (at exit) it connects even while waiting to retry after a failure.
  bool flush(std::string& why, bool force = false) {
    std::lock_guard<std::mutex> lock(control_mu_);
    const bool reused = control_usable();
    if (force && pending() > 0 && !reused && !ensure_control(why, true)) return false;
    if (flush_locked(why)) return true;
    return reused && !control_.is_open() && ensure_control(why, true) && flush_locked(why);
  }

  // Flushes this process's deltas, then returns f(control connection) under the control
  // lock; f returns null when its round trip failed. Throws CollectError when Redis cannot
  // be reached.
  template <class F>
  auto with_fresh_control(F&& f) {
    std::lock_guard<std::mutex> lock(control_mu_);
    std::string why;
    const bool reused = control_usable();
    for (int attempt = 0; attempt < (reused ? 2 : 1); ++attempt) {
      if (!ensure_control(why, attempt > 0)) break;
      if (!flush_locked(why) && !control_.is_open()) continue;
      if (auto r = f(control_)) return r;
      control_failed(why);
    }
    throw CollectError("Redis at " + endpoint + " is unreachable (" + why +
                       "); refusing to answer with stale values");
  }

  // --- state --------------------------------------------------------------------------

  void mark_down(const std::string& why) {
    counters().errors.fetch_add(1, std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lock(last_error_mu_);
      last_error_ = why;
    }
    next_probe_.store(now_ms() + retry_ms, std::memory_order_relaxed);
    if (!down_.exchange(true)) {
      epoch_.fetch_add(1);
      log_line("Redis at " + endpoint + " is unreachable (" + why +
               "); metric updates are kept in this process and sent when it is back");
    }
  }

  void mark_up() {
    if (down_.exchange(false)) log_line("Redis at " + endpoint + " is reachable again");
  }

  bool is_down() const { return down_.load(std::memory_order_relaxed); }
  std::size_t pending() const {
    return pending_.load(std::memory_order_relaxed) + batch_size_.load(std::memory_order_relaxed) +
           queued_erasures_.load(std::memory_order_relaxed);
  }

  // Opens the control connection at load time; throws BackendError when it cannot.
  void connect_or_throw() {
    std::lock_guard<std::mutex> lock(control_mu_);
    std::string why = control_.open(cfg, cfg.connect_timeout_ms);
    if (!why.empty()) {
      throw BackendError(std::string(kClass) + ": cannot use Redis at " + endpoint + ": " + why);
    }
    control_epoch_ = epoch_.load();
  }

  // --- flusher thread -----------------------------------------------------------------

  void start_flusher() {
    std::lock_guard<std::mutex> lock(flusher_mu_);
    if (flusher_running_.load() || stopped_) return;
    flusher_ = new std::thread([this] { flusher_main(); });
    flusher_running_.store(true, std::memory_order_release);
  }

  void stop_flusher() {
    std::thread* t = nullptr;
    {
      std::lock_guard<std::mutex> lock(flusher_mu_);
      stopped_ = true;
      t = flusher_;
      flusher_ = nullptr;
    }
    flusher_cv_.notify_all();
    if (t != nullptr) {
      if (t->get_id() != std::this_thread::get_id()) t->join();
      delete t;
    }
  }

  // --- fork ---------------------------------------------------------------------------

  void lock_for_fork() {
    control_mu_.lock();
    slots_mu_.lock();
    flusher_mu_.lock();
  }
  void unlock_in_parent() {
    flusher_mu_.unlock();
    slots_mu_.unlock();
    control_mu_.unlock();
  }
  // In the child: what was pending belongs to the parent, which delivers it; the parent's
  // sockets and threads are not ours.
  void reset_in_child() {
    epoch_.fetch_add(1);
    new (&last_error_mu_) std::mutex();  // a parent thread may have held it
    control_.close();
    batch_.clear();
    batch_size_.store(0);
    batch_sent_ = false;
    erasures_.clear();
    queued_erasures_.store(0);
    erasing_.store(0);
    new_identity();
    for (Slot* s = slots_; s != nullptr;) {
      Slot* next = s->next;
      if (s->retired) {
        unlink(s);
        delete s;
      } else {
        new (&s->set_mu) std::mutex();  // a parent thread may have held it
        s->has_set = false;
        s->value.store(0);
        for (std::size_t i = 0; i < s->ncounts; ++i) s->counts[i].store(0);
        s->dirty.store(false);
        s->next_dirty = nullptr;
      }
      s = next;
    }
    retired_count_ = 0;
    dirty_.store(nullptr);
    pending_.store(0);
    if (flusher_ != nullptr) globals().abandoned_threads.push_back(flusher_);
    flusher_ = nullptr;
    flusher_running_.store(false);
    new (&flusher_cv_) std::condition_variable();
    flusher_mu_.unlock();
    slots_mu_.unlock();
    control_mu_.unlock();
  }

  // --- reads for scrapes --------------------------------------------------------------

  Samples generate(const Registry& registry);
  std::vector<double> read_series(const Keys& k, const MetricInfo& info);

 private:
  static std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch())
        .count();
  }

  void new_identity() {
    std::random_device rd;
    std::uint64_t nonce = (static_cast<std::uint64_t>(rd()) << 32) ^ rd() ^
                          static_cast<std::uint64_t>(now_ms()) ^
                          (static_cast<std::uint64_t>(getpid()) << 16);
    char host[256] = {0};
    gethostname(host, sizeof host - 1);
    seq_key_ = key(std::string("pytheus_flush_seq:") + host + ":" + std::to_string(getpid()) + ":" +
                   std::to_string(nonce));
    seq_ = 0;
  }

  void unlink(Slot* s) {
    if (s->prev) s->prev->next = s->next;
    if (s->next) s->next->prev = s->prev;
    if (slots_ == s) slots_ = s->next;
  }

  // This thread's connection for write-through operations, or null when Redis is
  // unreachable. Connections opened before an outage or a fork are replaced.
  Connection* thread_conn() {
    if (tls_dead) return nullptr;
    ThreadConn& t = tls_conn;
    const std::uint64_t e = epoch_.load(std::memory_order_acquire);
    if (t.owner == this && t.epoch == e && t.conn.is_open() && !t.conn.closed_by_peer()) {
      return &t.conn;
    }
    t.conn.close();
    t.owner = nullptr;
    std::string why = t.conn.open(cfg, std::min(cfg.connect_timeout_ms, cfg.command_timeout_ms));
    if (!why.empty()) {
      mark_down(why);
      return nullptr;
    }
    t.owner = this;
    t.epoch = e;
    return &t.conn;
  }

  Sent finish_thread_round_trip(Connection& c, std::size_t replies, std::size_t exec_at) {
    if (!c.send()) {
      const bool ambiguous = c.sent_any();
      thread_conn_failed(c);
      return ambiguous ? Sent::ambiguous : Sent::not_sent;
    }
    for (std::size_t i = 0; i < replies; ++i) {
      Reply r = c.read();
      if (!r) {
        thread_conn_failed(c);
        return Sent::ambiguous;
      }
      if (r->type == REDIS_REPLY_ERROR) {
        command_error(reply_text(r.get()));
      } else if (exec_at != 0 && i == exec_at && r->type == REDIS_REPLY_ARRAY) {
        for (std::size_t k = 0; k < r->elements; ++k) {
          if (r->element[k]->type == REDIS_REPLY_ERROR) command_error(reply_text(r->element[k]));
        }
      }
    }
    return Sent::ok;
  }

  void thread_conn_failed(Connection& c) {
    std::string why = c.error();
    c.close();
    mark_down(why);
  }

  // A command Redis refused (a key of the wrong type, say): counted, logged once.
  void command_error(const std::string& text) {
    counters().errors.fetch_add(1, std::memory_order_relaxed);
    log_once("cmd:" + text, "Redis at " + endpoint + " refused a metric update: " + text +
                                " (a key of another type under a metric's name? further errors "
                                "are counted in pytheus_redis_errors_total)");
  }

  static void append_multi(Connection& c) {
    const char* argv[1] = {"MULTI"};
    const std::size_t lens[1] = {5};
    c.append(1, argv, lens);
  }
  static void append_exec(Connection& c) {
    const char* argv[1] = {"EXEC"};
    const std::size_t lens[1] = {4};
    c.append(1, argv, lens);
  }
  void append_expire(Connection& c, const std::string& key) const {
    const char* argv[3] = {"EXPIRE", key.data(), ttl.data()};
    const std::size_t lens[3] = {6, key.size(), ttl.size()};
    c.append(3, argv, lens);
  }
  static void append_incr(Connection& c, const Keys& k, const std::string& key, const char* num,
                          std::size_t n) {
    if (k.hash) {
      const char* argv[4] = {"HINCRBYFLOAT", key.data(), k.field.data(), num};
      const std::size_t lens[4] = {12, key.size(), k.field.size(), n};
      c.append(4, argv, lens);
    } else {
      const char* argv[3] = {"INCRBYFLOAT", key.data(), num};
      const std::size_t lens[3] = {11, key.size(), n};
      c.append(3, argv, lens);
    }
  }
  static void append_delete(Connection& c, const Keys& k, const std::string& key) {
    if (k.hash) {
      const char* argv[3] = {"HDEL", key.data(), k.field.data()};
      const std::size_t lens[3] = {4, key.size(), k.field.size()};
      c.append(3, argv, lens);
    } else {
      const char* argv[2] = {"DEL", key.data()};
      const std::size_t lens[2] = {3, key.size()};
      c.append(2, argv, lens);
    }
  }
  static void append_set(Connection& c, const Keys& k, const std::string& key, const char* num,
                         std::size_t n) {
    if (k.hash) {
      const char* argv[4] = {"HSET", key.data(), k.field.data(), num};
      const std::size_t lens[4] = {4, key.size(), k.field.size(), n};
      c.append(4, argv, lens);
    } else {
      const char* argv[3] = {"SET", key.data(), num};
      const std::size_t lens[3] = {3, key.size(), n};
      c.append(3, argv, lens);
    }
  }

  // True when the control connection is open, from this process and epoch, and not closed by
  // the server.
  bool control_usable() {
    return control_.is_open() && control_epoch_ == epoch_.load() && control_.pid() == getpid() &&
           !control_.closed_by_peer();
  }

  // Opens the control connection if needed; false (with `why`) while Redis is unreachable.
  // With `force`, it tries even while waiting to retry after a failure.
  bool ensure_control(std::string& why, bool force = false) {
    if (control_usable()) return true;
    control_.close();
    if (!force && down_.load() && now_ms() < next_probe_.load()) {
      std::lock_guard<std::mutex> error_lock(last_error_mu_);
      why = last_error_.empty() ? "connection failed" : last_error_;
      return false;
    }
    why = control_.open(cfg, cfg.connect_timeout_ms);
    if (!why.empty()) {
      mark_down(why);
      return false;
    }
    control_epoch_ = epoch_.load();
    mark_up();
    return true;
  }

  void control_failed(std::string& why) {
    why = control_.error();
    control_.close();
    mark_down(why);
  }

  // Moves the queued deletions and then every dirty slot's deltas into batch_, and frees
  // retired slots that are clean.
  void take_dirty() {
    for (std::shared_ptr<const Keys>& k : erasures_) {
      Entry e;
      e.keys = std::move(k);
      e.erase = true;
      batch_.push_back(std::move(e));
    }
    erasures_.clear();
    queued_erasures_.store(0, std::memory_order_relaxed);
    Slot* s = dirty_.exchange(nullptr, std::memory_order_acquire);
    while (s != nullptr) {
      Slot* next = s->next_dirty;
      s->dirty.store(false, std::memory_order_seq_cst);
      pending_.fetch_sub(1, std::memory_order_relaxed);
      Entry e;
      e.keys = s->keys;
      {
        std::lock_guard<std::mutex> lock(s->set_mu);
        e.has_set = s->has_set;
        e.set_value = s->set_value;
        s->has_set = false;
        e.value = s->value.exchange(0, std::memory_order_seq_cst);
      }
      bool any = e.has_set || e.value != 0;
      if (s->ncounts) {
        e.counts.resize(s->ncounts);
        for (std::size_t i = 0; i < s->ncounts; ++i) {
          e.counts[i] = s->counts[i].exchange(0, std::memory_order_seq_cst);
          any = any || e.counts[i] != 0;
        }
      }
      if (any) batch_.push_back(std::move(e));
      s = next;
    }
    batch_size_.store(batch_.size(), std::memory_order_relaxed);
    std::lock_guard<std::mutex> lock(slots_mu_);
    if (retired_count_ == 0) return;
    for (Slot* r = slots_; r != nullptr;) {
      Slot* next = r->next;
      // A retired slot is used by nobody; if it is not dirty it is on no stack either.
      if (r->retired && !r->dirty.load()) {
        unlink(r);
        delete r;
        --retired_count_;
      }
      r = next;
    }
  }

  // Sends batch_ as one MULTI/EXEC that also sets the sequence key. A batch whose EXEC reply
  // was lost is first looked up by that key, so it is applied exactly once.
  bool deliver_batch(std::string& why) {
    if (!ensure_control(why)) return false;
    const std::string seq = std::to_string(batch_seq_);
    if (batch_sent_) {
      const char* argv[2] = {"GET", seq_key_.data()};
      const std::size_t lens[2] = {3, seq_key_.size()};
      control_.append(2, argv, lens);
      Reply r;
      if (!control_.send() || !(r = control_.read())) {
        control_failed(why);
        return false;
      }
      if (r->type == REDIS_REPLY_STRING && reply_text(r.get()) == seq) {
        batch_applied();
        return true;
      }
    }
    append_multi(control_);
    std::size_t cmds = 0;
    char num[32];
    for (const Entry& e : batch_) {
      const Keys& k = *e.keys;
      if (e.erase) {
        for (const std::string& key : k.keys) {
          append_delete(control_, k, key);
          ++cmds;
        }
        continue;
      }
      if (!k.histogram) {
        if (e.has_set) {
          append_set(control_, k, k.keys[0], num,
                     static_cast<std::size_t>(format_number(num, sizeof num, e.set_value)));
          ++cmds;
        }
        if (e.value != 0) {
          append_incr(control_, k, k.keys[0], num,
                      static_cast<std::size_t>(format_number(num, sizeof num, e.value)));
          ++cmds;
        }
      } else {
        std::uint64_t cumulative = 0;
        for (std::size_t i = 0; i < k.buckets; ++i) {
          cumulative += e.counts[i];
          if (cumulative == 0) continue;
          append_incr(control_, k, k.keys[i], num,
                      static_cast<std::size_t>(
                          format_number(num, sizeof num, static_cast<double>(cumulative))));
          ++cmds;
        }
        if (k.buckets == 0) cumulative = e.counts[0];
        if (cumulative != 0) {
          append_incr(control_, k, k.keys[k.buckets], num,
                      static_cast<std::size_t>(
                          format_number(num, sizeof num, static_cast<double>(cumulative))));
          ++cmds;
        }
        if (e.value != 0 || cumulative != 0) {
          append_incr(control_, k, k.keys[k.buckets + 1], num,
                      static_cast<std::size_t>(format_number(num, sizeof num, e.value)));
          ++cmds;
        }
      }
      for (const std::string& key : k.keys) {
        append_expire(control_, key);
        ++cmds;
      }
    }
    {
      const char* argv[5] = {"SET", seq_key_.data(), seq.data(), "EX", ttl.data()};
      const std::size_t lens[5] = {3, seq_key_.size(), seq.size(), 2, ttl.size()};
      control_.append(5, argv, lens);
      ++cmds;
    }
    append_exec(control_);
    if (!control_.send()) {
      batch_sent_ = batch_sent_ || control_.sent_any();
      control_failed(why);
      return false;
    }
    batch_sent_ = true;
    Reply exec;
    std::string multi_error;
    for (std::size_t i = 0; i < cmds + 2; ++i) {
      Reply r = control_.read();
      if (!r) {
        control_failed(why);
        return false;
      }
      if (i == 0 && r->type == REDIS_REPLY_ERROR) multi_error = reply_text(r.get());
      if (i == cmds + 1) exec = std::move(r);
    }
    if (!multi_error.empty()) {
      // MULTI refused (-LOADING, say): the commands after it may have run on their own, so
      // whether the batch applied is unknown; the sequence key tells, next time.
      why = "Redis refused MULTI: " + multi_error;
      counters().errors.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    if (exec->type != REDIS_REPLY_ARRAY) {
      // EXECABORT (out of memory, say): nothing was applied; try again later.
      batch_sent_ = false;
      why = "Redis refused the flush transaction: " + reply_text(exec.get());
      counters().errors.fetch_add(1, std::memory_order_relaxed);
      log_once("exec:" + reply_text(exec.get()), "Redis at " + endpoint + ": " + why);
      return false;
    }
    for (std::size_t i = 0; i < exec->elements; ++i) {
      if (exec->element[i]->type == REDIS_REPLY_ERROR) command_error(reply_text(exec->element[i]));
    }
    batch_applied();
    return true;
  }

  void batch_applied() {
    std::size_t erased = 0;
    for (const Entry& e : batch_) erased += e.erase;
    if (erased != 0) erasing_.fetch_sub(erased, std::memory_order_relaxed);
    batch_.clear();
    batch_size_.store(0, std::memory_order_relaxed);
    batch_sent_ = false;
    counters().flushes.fetch_add(1, std::memory_order_relaxed);
  }

  void flusher_main() {
    std::unique_lock<std::mutex> lock(flusher_mu_);
    while (!stopped_) {
      flusher_cv_.wait_for(lock, std::chrono::milliseconds(cfg.flush_interval_ms),
                           [this] { return stopped_; });
      if (stopped_) break;
      lock.unlock();
      {
        std::lock_guard<std::mutex> control(control_mu_);
        std::string why;
        flush_locked(why);
      }
      lock.lock();
    }
  }

  // Lock order: control_mu_, then slots_mu_, then flusher_mu_.
  std::mutex control_mu_;
  Connection control_;
  std::uint64_t control_epoch_ = 0;
  // Why the last connection or round trip of any thread failed: what a scrape reports while
  // it waits to retry.
  std::mutex last_error_mu_;
  std::string last_error_;
  std::vector<Entry> batch_;
  bool batch_sent_ = false;  // its EXEC may have been applied: look the sequence key up
  std::uint64_t batch_seq_ = 0;
  std::uint64_t seq_ = 0;
  std::string seq_key_;
  std::atomic<std::size_t> batch_size_{0};
  // Removed series whose deletion is not yet in batch_ (control_mu_), their number, and the
  // number of deletions not yet delivered (queued or in batch_).
  std::vector<std::shared_ptr<const Keys>> erasures_;
  std::atomic<std::size_t> queued_erasures_{0};
  std::atomic<std::size_t> erasing_{0};

  std::mutex slots_mu_;
  Slot* slots_ = nullptr;
  std::size_t retired_count_ = 0;

  std::atomic<Slot*> dirty_{nullptr};
  std::atomic<std::size_t> pending_{0};

  std::atomic<bool> down_{false};
  std::atomic<std::int64_t> next_probe_{0};
  // Bumped when every connection must be reopened (an outage began, or a fork).
  std::atomic<std::uint64_t> epoch_{1};

  std::mutex flusher_mu_;
  std::condition_variable flusher_cv_;
  std::thread* flusher_ = nullptr;
  std::atomic<bool> flusher_running_{false};
  bool stopped_ = false;
};

// ---------------------------------------------------------------------------------------
// Backend objects.

std::shared_ptr<const Keys> make_keys(const Instance& inst, const MetricInfo& info,
                                      std::optional<std::string_view> bucket,
                                      const std::vector<std::string>* bucket_keys, bool summary) {
  auto k = std::make_shared<Keys>();
  k->hash = !info.labels.empty();
  if (k->hash) k->field = labels_field(info.labels);
  const std::string base = inst.key(info.name);
  if (bucket_keys != nullptr || summary) {
    k->histogram = true;
    if (bucket_keys != nullptr) {
      for (const std::string& b : *bucket_keys) k->keys.push_back(base + ":" + b);
      k->buckets = bucket_keys->size();
    }
    k->keys.push_back(base + ":count");
    k->keys.push_back(base + ":sum");
  } else {
    k->keys.push_back(bucket ? base + ":" + std::string(*bucket) : base);
  }
  return k;
}

class RedisValue final : public Backend {
 public:
  RedisValue(Instance& inst, const MetricInfo& info, std::optional<std::string_view> bucket)
      : inst_(inst),
        info_(info),
        keys_(make_keys(inst, info, bucket, nullptr, false)),
        slot_(inst.new_slot(keys_, 0)) {}
  ~RedisValue() override { inst_.retire(slot_); }

  void inc(double v) override { change(false, v); }
  void dec(double v) override { change(false, -v); }
  void set(double v) override { change(true, v); }
  double get() override { return inst_.read_series(*keys_, info_)[0]; }
  void erase() override { inst_.erase(*slot_); }

 private:
  void change(bool set, double v) {
    if (!inst_.deferred(*slot_)) {
      const Sent s = inst_.send_value(*keys_, set, v);
      if (s == Sent::ok) return;
      if (s == Sent::ambiguous) {
        counters().dropped.fetch_add(1, std::memory_order_relaxed);
        return;
      }
    }
    if (set) {
      inst_.set(*slot_, v);
    } else {
      inst_.add(*slot_, v);
    }
  }

  Instance& inst_;
  const MetricInfo info_;
  const std::shared_ptr<const Keys> keys_;
  Slot* const slot_;
};

class RedisHistogram final : public HistogramBackend {
 public:
  RedisHistogram(Instance& inst, const MetricInfo& info, const std::vector<std::string>& buckets)
      : inst_(inst),
        info_(info),
        keys_(make_keys(inst, info, std::nullopt, buckets.empty() ? nullptr : &buckets,
                        buckets.empty())),
        slot_(inst.new_slot(keys_, buckets.empty() ? 1 : buckets.size())) {}
  ~RedisHistogram() override { inst_.retire(slot_); }

  void observe(double value, std::size_t bucket) override {
    if (!inst_.deferred(*slot_)) {
      const Sent s = inst_.send_observe(*keys_, bucket, value);
      if (s == Sent::ok) return;
      if (s == Sent::ambiguous) {
        counters().dropped.fetch_add(1, std::memory_order_relaxed);
        return;
      }
    }
    inst_.observe(*slot_, value, keys_->buckets ? bucket : 0);
  }

  HistogramSnapshot snapshot() override {
    std::vector<double> v = inst_.read_series(*keys_, info_);
    HistogramSnapshot s;
    s.buckets.assign(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(keys_->buckets));
    s.count = v[keys_->buckets];
    s.sum = v[keys_->buckets + 1];
    return s;
  }

  void erase() override { inst_.erase(*slot_); }

  void merge(const HistogramSnapshot& other) override {
    // Carried from an in-process backend: delivered with the next flush.
    double previous = 0;
    for (std::size_t i = 0; i < keys_->buckets && i < other.buckets.size(); ++i) {
      const double n = other.buckets[i] - previous;
      previous = other.buckets[i];
      if (n > 0) slot_->counts[i].fetch_add(static_cast<std::uint64_t>(n));
    }
    if (keys_->buckets == 0 && other.count > 0) {
      slot_->counts[0].fetch_add(static_cast<std::uint64_t>(other.count));
    }
    inst_.add(*slot_, other.sum);
  }

 private:
  Instance& inst_;
  const MetricInfo info_;
  const std::shared_ptr<const Keys> keys_;
  Slot* const slot_;
};

// ---------------------------------------------------------------------------------------
// Reads.

void invalid_field(const std::string& key, std::string_view field, const std::string& problem) {
  counters().invalid_fields.fetch_add(1, std::memory_order_relaxed);
  log_once("field", "skipping Redis hash field " + std::string(field.substr(0, 200)) +
                        " of key \"" + key + "\": " + problem +
                        " (further ones are only counted in pytheus_redis_invalid_fields_total)");
}

// Accumulates the series of one metric from the replies of its keys.
struct SeriesAcc {
  std::vector<std::string> values;  // label_names order
  std::vector<double> v;            // one per key
};

class MetricReader {
 public:
  MetricReader(const MetricDescriptor& d, std::size_t nkeys) : d_(d), nkeys_(nkeys) {
    sorted_names_ = d.label_names;
    std::sort(sorted_names_.begin(), sorted_names_.end());
  }

  // Series this process created come first, in creation order, and read 0 if Redis lacks them.
  void add_local(const std::vector<std::string>& values) {
    Labels sorted;
    for (std::size_t i = 0; i < values.size(); ++i)
      sorted.emplace_back(d_.label_names[i], values[i]);
    std::sort(sorted.begin(), sorted.end());
    std::string canonical = labels_field(sorted);
    if (by_field_.count(canonical)) return;
    by_field_.emplace(canonical, order_.size());
    order_.push_back({values, std::vector<double>(nkeys_, 0)});
    local_ = order_.size();
  }

  // Adds key number `index`'s reply (a string for unlabelled metrics, else a hash).
  void add_reply(std::size_t index, const std::string& key, const redisReply* r) {
    if (r->type == REDIS_REPLY_ERROR) {
      throw CollectError("Redis key \"" + key + "\" of metric \"" + d_.name +
                         "\" holds the wrong type (" +
                         (d_.label_names.empty() ? "expected a string" : "expected a hash") +
                         " as pytheus writes them): " + reply_text(r));
    }
    if (d_.label_names.empty()) {
      if (order_.empty()) order_.push_back({{}, std::vector<double>(nkeys_, 0)});
      if (r->type == REDIS_REPLY_NIL) return;
      double v = 0;
      if (r->type != REDIS_REPLY_STRING || !parse_number(r->str, r->len, v)) {
        throw CollectError("Redis key \"" + key + "\" of metric \"" + d_.name +
                           "\" holds no number: " + reply_text(r));
      }
      order_[0].v[index] += v;
      return;
    }
    if (r->type != REDIS_REPLY_ARRAY) return;  // missing key: empty array
    for (std::size_t i = 0; i + 1 < r->elements; i += 2) {
      const redisReply* f = r->element[i];
      const redisReply* val = r->element[i + 1];
      std::string_view field(f->str ? f->str : "", f->len);
      auto cached = cache_.find(std::string(field));
      if (cached == cache_.end()) {
        ParsedField p = parse_field(field, sorted_names_);
        if (!p.valid) invalid_field(key, field, "not a JSON object of the labels " + names());
        cached = cache_.emplace(std::string(field), std::move(p)).first;
      }
      const ParsedField& p = cached->second;
      if (!p.valid) continue;
      double v = 0;
      if (!parse_number(val->str ? val->str : "", val->len, v)) {
        invalid_field(key, field, "its value \"" + reply_text(val) + "\" is no number");
        continue;
      }
      auto it = by_field_.find(p.canonical);
      if (it == by_field_.end()) {
        std::vector<std::string> values(d_.label_names.size());
        for (std::size_t n = 0; n < d_.label_names.size(); ++n) {
          for (const auto& [name, value] : p.labels) {
            if (name == d_.label_names[n]) values[n] = value;
          }
        }
        it = by_field_.emplace(p.canonical, order_.size()).first;
        order_.push_back({std::move(values), std::vector<double>(nkeys_, 0)});
      }
      order_[it->second].v[index] += v;  // same label set in another key order: merged
    }
  }

  // The series: local ones in creation order, then the others sorted by labels.
  std::vector<SeriesAcc> take() {
    std::sort(order_.begin() + static_cast<std::ptrdiff_t>(local_), order_.end(),
              [](const SeriesAcc& a, const SeriesAcc& b) { return a.values < b.values; });
    return std::move(order_);
  }

 private:
  std::string names() const {
    std::string s = "(";
    for (const auto& n : sorted_names_) s += (s.size() > 1 ? ", " : "") + n;
    return s + ")";
  }

  const MetricDescriptor& d_;
  const std::size_t nkeys_;
  std::vector<std::string> sorted_names_;
  std::unordered_map<std::string, ParsedField> cache_;
  std::unordered_map<std::string, std::size_t> by_field_;
  std::vector<SeriesAcc> order_;
  std::size_t local_ = 0;
};

struct Target {
  const Collector* collector;
  const MetricCollector* metric;
  std::vector<std::string> keys;
  std::size_t buckets = 0;
};

// Sends MULTI, (GET|HGETALL key, EXPIRE key) for every key, EXEC; returns the EXEC reply.
template <class IsHash>
Reply read_keys(Instance& inst, Connection& c, const std::vector<const std::string*>& keys,
                IsHash is_hash) {
  const char* multi[1] = {"MULTI"};
  const std::size_t multi_len[1] = {5};
  c.append(1, multi, multi_len);
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const std::string& key = *keys[i];
    const bool hash = is_hash(i);
    const char* argv[2] = {hash ? "HGETALL" : "GET", key.data()};
    const std::size_t lens[2] = {hash ? 7u : 3u, key.size()};
    c.append(2, argv, lens);
    const char* exp[3] = {"EXPIRE", key.data(), inst.ttl.data()};
    const std::size_t exp_lens[3] = {6, key.size(), inst.ttl.size()};
    c.append(3, exp, exp_lens);
  }
  const char* exec[1] = {"EXEC"};
  const std::size_t exec_len[1] = {4};
  c.append(1, exec, exec_len);
  if (!c.send()) return nullptr;
  Reply result;
  for (std::size_t i = 0; i < 2 * keys.size() + 2; ++i) {
    Reply r = c.read();
    if (!r) return nullptr;
    if (i == 2 * keys.size() + 1) result = std::move(r);
  }
  return result;
}

Samples Instance::generate(const Registry& registry) {
  std::vector<Target> targets;
  std::vector<std::shared_ptr<Collector>> held = registry.collectors();
  for (const auto& c : held) {
    const auto* mc = dynamic_cast<const MetricCollector*>(c.get());
    if (mc == nullptr || !mc->on_loaded_backend()) continue;
    const MetricDescriptor& d = mc->descriptor();
    Target t{c.get(), mc, {}, 0};
    const std::string base = key(d.name);
    if (d.type == MetricType::histogram) {
      for (const std::string& b : d.bucket_keys) t.keys.push_back(base + ":" + b);
      t.buckets = d.bucket_keys.size();
    }
    if (d.type == MetricType::histogram || d.type == MetricType::summary) {
      t.keys.push_back(base + ":count");
      t.keys.push_back(base + ":sum");
    } else {
      t.keys.push_back(base);
    }
    targets.push_back(std::move(t));
  }
  if (targets.empty()) return {};
  std::vector<const std::string*> keys;
  std::vector<bool> hash;
  for (const Target& t : targets) {
    for (const std::string& k : t.keys) {
      keys.push_back(&k);
      hash.push_back(!t.metric->descriptor().label_names.empty());
    }
  }
  Reply exec = with_fresh_control([&](Connection& c) {
    Reply r = read_keys(*this, c, keys, [&](std::size_t i) { return hash[i]; });
    return r;
  });
  if (exec->type != REDIS_REPLY_ARRAY || exec->elements != 2 * keys.size()) {
    throw CollectError("Redis at " + endpoint +
                       " refused the scrape transaction: " + reply_text(exec.get()));
  }
  Samples out;
  std::size_t at = 0;
  for (const Target& t : targets) {
    const MetricDescriptor& d = t.metric->descriptor();
    MetricReader reader(d, t.keys.size());
    for (const auto& values : t.metric->label_sets()) reader.add_local(values);
    for (std::size_t i = 0; i < t.keys.size(); ++i, ++at) {
      reader.add_reply(i, t.keys[i], exec->element[2 * at]);
    }
    MetricFamily f{d.name, d.help, d.type, d.unit, {}};
    for (SeriesAcc& s : reader.take()) {
      Labels labels;
      for (std::size_t n = 0; n < d.label_names.size(); ++n) {
        labels.emplace_back(d.label_names[n], s.values[n]);
      }
      if (d.type == MetricType::histogram || d.type == MetricType::summary) {
        for (std::size_t b = 0; b < t.buckets; ++b) {
          Labels with_le = labels;
          with_le.emplace_back("le", d.bucket_keys[b]);
          f.samples.push_back({"_bucket", std::move(with_le), s.v[b]});
        }
        f.samples.push_back({"_count", labels, s.v[t.buckets]});
        f.samples.push_back({"_sum", std::move(labels), s.v[t.buckets + 1]});
      } else {
        f.samples.push_back({"", std::move(labels), s.v[0]});
      }
    }
    out[t.collector].push_back(std::move(f));
  }
  return out;
}

std::vector<double> Instance::read_series(const Keys& k, const MetricInfo& info) {
  std::vector<const std::string*> keys;
  for (const std::string& key : k.keys) keys.push_back(&key);
  Reply exec = with_fresh_control([&](Connection& c) {
    Reply r = read_keys(*this, c, keys, [&](std::size_t) { return k.hash; });
    return r;
  });
  if (exec->type != REDIS_REPLY_ARRAY || exec->elements != 2 * keys.size()) {
    throw CollectError("Redis at " + endpoint + " refused a read: " + reply_text(exec.get()));
  }
  MetricDescriptor d;
  d.name = info.name;
  for (const auto& [name, value] : info.labels) d.label_names.push_back(name);
  MetricReader reader(d, keys.size());
  std::vector<std::string> values;
  for (const auto& [name, value] : info.labels) values.push_back(value);
  if (k.hash) reader.add_local(values);
  for (std::size_t i = 0; i < keys.size(); ++i) reader.add_reply(i, *keys[i], exec->element[2 * i]);
  std::vector<SeriesAcc> series = reader.take();
  return series.empty() ? std::vector<double>(keys.size(), 0) : series[0].v;
}

// ---------------------------------------------------------------------------------------
// Self-metrics, process hooks, the class.

class SelfMetrics final : public Collector {
 public:
  std::vector<std::string> describe() const override {
    return {"pytheus_redis_errors_total", "pytheus_redis_dropped_total",
            "pytheus_redis_invalid_fields_total", "pytheus_redis_pending_series",
            "pytheus_redis_up"};
  }
  std::vector<MetricFamily> collect() const override {
    const RedisBackendStats s = MultiProcessRedisBackend::stats();
    auto one = [](const char* name, const char* help, MetricType type, double v) {
      return MetricFamily{name, help, type, "", {{"", {}, v}}};
    };
    return {
        one("pytheus_redis_errors_total",
            "Failed Redis connections, round trips and refused commands in this process.",
            MetricType::counter, static_cast<double>(s.errors)),
        one("pytheus_redis_dropped_total", "Metric operations this process lost to Redis failures.",
            MetricType::counter, static_cast<double>(s.dropped)),
        one("pytheus_redis_invalid_fields_total",
            "Redis hash fields skipped at scrapes because they are no label set.",
            MetricType::counter, static_cast<double>(s.invalid_fields)),
        one("pytheus_redis_pending_series",
            "Series with updates of this process not yet delivered to Redis.", MetricType::gauge,
            static_cast<double>(s.pending_series)),
        one("pytheus_redis_up", "1 when Redis was reachable at the last attempt, else 0.",
            MetricType::gauge, s.connected ? 1 : 0),
    };
  }
};

void fork_prepare() {
  Globals& g = globals();
  g.mu.lock();
  for (Instance* i : g.instances) i->lock_for_fork();
}
void fork_parent() {
  Globals& g = globals();
  for (Instance* i : g.instances) i->unlock_in_parent();
  g.mu.unlock();
}
void fork_child() {
  Globals& g = globals();
  for (Instance* i : g.instances) i->reset_in_child();
  new (&g.logged_mu) std::mutex();
  Counters& c = counters();
  c.errors.store(0);
  c.dropped.store(0);
  c.invalid_fields.store(0);
  c.flushes.store(0);
  g.mu.unlock();
}

void flush_at_exit() {
  std::vector<Instance*> all;
  {
    std::lock_guard<std::mutex> lock(globals().mu);
    all = globals().instances;
  }
  for (Instance* i : all) i->stop_flusher();
  for (Instance* i : all) {
    std::string why;
    if (!i->flush(why, true)) {
      const std::size_t lost = i->pending();
      counters().dropped.fetch_add(lost, std::memory_order_relaxed);
      log_line("at exit, " + std::to_string(lost) +
               " series with updates could not be sent to Redis at " + i->endpoint + " (" + why +
               ")");
    }
  }
}

Instance& current_instance() {
  Instance* i = globals().current.load(std::memory_order_acquire);
  if (i == nullptr) {
    throw BackendError(std::string(kClass) + " is used before load_backend initialised it");
  }
  return *i;
}

void initialize(const BackendConfig& config) {
  auto inst = std::make_unique<Instance>(parse_config(config));
  inst->connect_or_throw();
  Globals& g = globals();
  std::call_once(g.hooks_once, [] {
    pthread_atfork(fork_prepare, fork_parent, fork_child);
    std::atexit(flush_at_exit);
    try {
      default_registry().register_collector(std::make_shared<SelfMetrics>());
    } catch (const RegistrationError& e) {
      log_line(std::string("Redis backend self-metrics not registered: ") + e.what());
    }
  });
  Instance* raw = inst.release();
  {
    std::lock_guard<std::mutex> lock(g.mu);
    g.instances.push_back(raw);
  }
  g.current.store(raw, std::memory_order_release);
}

BackendClass make_class() {
  BackendClass c;
  c.name = std::string(MultiProcessRedisBackend::name);
  c.aliases = {std::string(MultiProcessRedisBackend::pytheus_path)};
  c.process_local = false;
  c.initialize = &initialize;
  c.make_value = [](const BackendConfig&, const MetricInfo& info,
                    std::optional<std::string_view> bucket) -> std::unique_ptr<Backend> {
    return std::make_unique<RedisValue>(current_instance(), info, bucket);
  };
  c.make_histogram =
      [](const BackendConfig&, const MetricInfo& info,
         const std::vector<std::string>& buckets) -> std::unique_ptr<HistogramBackend> {
    return std::make_unique<RedisHistogram>(current_instance(), info, buckets);
  };
  c.generate_samples = [](const Registry& registry) {
    return current_instance().generate(registry);
  };
  return c;
}

}  // namespace
}  // namespace pytheus::detail::redis

namespace pytheus {

bool MultiProcessRedisBackend::flush() {
  using namespace detail::redis;
  std::vector<Instance*> all;
  {
    std::lock_guard<std::mutex> lock(globals().mu);
    all = globals().instances;
  }
  bool done = true;
  for (Instance* i : all) {
    std::string why;
    done = i->flush(why) && done;
  }
  return done;
}

RedisBackendStats MultiProcessRedisBackend::stats() {
  using namespace detail::redis;
  RedisBackendStats s;
  Counters& c = counters();
  s.errors = c.errors.load();
  s.dropped = c.dropped.load();
  s.invalid_fields = c.invalid_fields.load();
  s.flushes = c.flushes.load();
  std::lock_guard<std::mutex> lock(globals().mu);
  for (Instance* i : globals().instances) {
    s.pending_series += i->pending();
    if (i == globals().current.load() && i->is_down()) s.connected = false;
  }
  return s;
}

BackendClass MultiProcessRedisBackend::backend_class() {
  return detail::redis::make_class();
}

}  // namespace pytheus

// Registration at static-initialisation time. The CMake target adds
// `-Wl,--undefined=pytheus_redis_backend_anchor` to whatever links it, so the linker keeps
// this object file (and so this registration) even when nothing else refers to it.
extern "C" {
extern const int pytheus_redis_backend_anchor;
const int pytheus_redis_backend_anchor = [] {
  pytheus::detail::BackendRegistry::instance().add(
      pytheus::detail::redis::make_class(),
      std::type_index(typeid(pytheus::MultiProcessRedisBackend)));
  return 1;
}();
}
