// hiredis contexts are not thread-safe, so each thread has its own connection: writers never
// wait for each other or for a scrape. A connection is tied to the configuration and epoch it
// was opened for, so an outage or a fork (both bump the epoch) makes every thread reconnect.
// `tls_dead` is trivially destructible, so code running after the thread's destructors (a
// metric destroyed in a thread_local) can tell that the connection is gone.
#include "write_through.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>

#include "connection.hpp"
#include "exemplar_codec.hpp"

namespace pytheus::detail::redis {
namespace {

thread_local bool tls_dead = false;
struct ThreadConn {
  const WriteThrough* owner = nullptr;
  std::uint64_t epoch = 0;
  Connection conn;
  ~ThreadConn() { tls_dead = true; }
};
thread_local ThreadConn tls_conn;

}  // namespace

WriteThrough::WriteThrough(const Config& cfg, Health& health, Locator& locator)
    : cfg_(cfg), health_(health), locator_(locator), ttl_(std::to_string(cfg.expire_key_time)) {}

// The created key expires with the values it dates, so it is refreshed with every update.
std::size_t WriteThrough::append_created(Connection& c, const Keys& k, double created) {
  if (k.created_key.empty()) return 0;
  std::size_t cmds = 1;
  if (created != 0) {
    append_set_if_absent(c, k.created_key, k.field, Number(created));
    ++cmds;
  }
  append_expire(c, k.created_key, ttl_);
  return cmds;
}

Sent WriteThrough::send_value(const Keys& k, bool set, double v, double created,
                              const ExemplarData* e) {
  Connection* c = thread_conn();
  if (c == nullptr) return Sent::not_sent;
  const Number n(v);
  if (e != nullptr && !k.exemplar_fields.empty()) {
    char value[kExemplarValueMax];
    const std::size_t size = encode_exemplar_value(*e, value);
    append_multi(*c);
    std::size_t cmds = append_created(*c, k, created);
    append_incr(*c, k.keys[0], k.field, n);
    append_expire(*c, k.keys[0], ttl_);
    append_exemplar(*c, k.exemplar_key, k.exemplar_fields[0], std::string_view(value, size));
    append_expire(*c, k.exemplar_key, ttl_);
    cmds += 4;
    append_exec(*c);
    return finish_round_trip(*c, cmds + 2, cmds + 1);
  }
  const std::size_t extra = append_created(*c, k, created);
  if (set) {
    append_set(*c, k.keys[0], k.field, n);
  } else {
    append_incr(*c, k.keys[0], k.field, n);
  }
  append_expire(*c, k.keys[0], ttl_);
  if (set && k.stamped) {
    const Number now(set_stamp_now());
    append_set(*c, k.keys[1], k.field, now);
    append_expire(*c, k.keys[1], ttl_);
    return finish_round_trip(*c, 4 + extra, 0);
  }
  return finish_round_trip(*c, 2 + extra, 0);
}

Sent WriteThrough::send_observe(const Keys& k, std::size_t bucket, double v, double created,
                                const ExemplarData* e, const NativeDelta* native) {
  Connection* c = thread_conn();
  if (c == nullptr) return Sent::not_sent;
  append_multi(*c);
  std::size_t cmds = append_created(*c, k, created);
  const Number one(1);
  for (std::size_t i = std::min(bucket, k.buckets); i < k.buckets; ++i) {
    append_incr(*c, k.keys[i], k.field, one);
    ++cmds;
  }
  append_incr(*c, k.keys[k.buckets], k.field, one);
  append_incr(*c, k.keys[k.buckets + 1], k.field, Number(v));
  cmds += 2;
  for (const std::string& key : k.keys) {
    append_expire(*c, key, ttl_);
    ++cmds;
  }
  if (e != nullptr && bucket < k.exemplar_fields.size()) {
    char value[kExemplarValueMax];
    const std::size_t size = encode_exemplar_value(*e, value);
    append_exemplar(*c, k.exemplar_key, k.exemplar_fields[bucket], std::string_view(value, size));
    append_expire(*c, k.exemplar_key, ttl_);
    cmds += 2;
  }
  if (native != nullptr && !k.native_key.empty()) {
    append_incr(*c, k.native_key, native_field(*native, k.field), one);
    append_expire(*c, k.native_key, ttl_);
    cmds += 2;
  }
  append_exec(*c);
  return finish_round_trip(*c, cmds + 2, cmds + 1);
}

// This thread's connection, or null when Redis is unreachable. Connections opened before an
// outage or a fork are replaced.
Connection* WriteThrough::thread_conn() {
  if (tls_dead) return nullptr;
  ThreadConn& t = tls_conn;
  const std::uint64_t e = health_.epoch();
  if (t.owner == this && t.epoch == e && t.conn.is_open() && !t.conn.closed_by_peer()) {
    return &t.conn;
  }
  t.conn.close();
  t.owner = nullptr;
  std::string why =
      locator_.open(t.conn, std::min(cfg_.connect_timeout_ms, cfg_.command_timeout_ms));
  if (!why.empty()) {
    health_.mark_down(why);
    return nullptr;
  }
  t.owner = this;
  t.epoch = e;
  return &t.conn;
}

Sent WriteThrough::finish_round_trip(Connection& c, std::size_t replies, std::size_t exec_at) {
  if (!c.send()) {
    const bool ambiguous = c.sent_any();
    failed(c);
    return ambiguous ? Sent::ambiguous : Sent::not_sent;
  }
  bool readonly = false;
  for (std::size_t i = 0; i < replies; ++i) {
    Reply r = c.read();
    if (!r) {
      failed(c);
      return Sent::ambiguous;
    }
    if (r->type == REDIS_REPLY_ERROR && reply_text(r.get()).rfind("READONLY", 0) == 0) {
      readonly = true;
    } else if (r->type == REDIS_REPLY_ERROR) {
      health_.command_error(reply_text(r.get()));
    } else if (exec_at != 0 && i == exec_at && r->type == REDIS_REPLY_ARRAY) {
      for (std::size_t k = 0; k < r->elements; ++k) {
        if (r->element[k]->type == REDIS_REPLY_ERROR) {
          health_.command_error(reply_text(r->element[k]));
        }
      }
    }
  }
  if (readonly) {
    // A replica now (a failover), which applied nothing: kept as a delta, and the next
    // connection asks the sentinels for the new master.
    c.close();
    health_.mark_down("the server is no longer the master (READONLY)");
    return Sent::not_sent;
  }
  return Sent::ok;
}

void WriteThrough::failed(Connection& c) {
  std::string why = c.error();
  c.close();
  health_.mark_down(why);
}

}  // namespace pytheus::detail::redis
