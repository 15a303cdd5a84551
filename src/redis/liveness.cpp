// Why heartbeats are keys with a TTL rather than timestamps: Redis expires them by its own
// clock, so hosts with skewed clocks still agree on who is alive, and a process killed with
// SIGKILL disappears within process_ttl_s without anyone noticing its death.
//
// Garbage collection: every process_ttl_s one live process (whichever takes the lock key)
// reads the known processes (pytheus_procs: id -> last seen), looks up their heartbeats, and
// HDELs the fields of dead ones from every per-process key: at once for keys of live modes,
// after expire_key_time (since last seen) for the others, which keep a dead process's last
// value that long, like any key pytheus lets expire. A dead process leaves pytheus_procs with
// its last field.
#include "liveness.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <new>
#include <set>
#include <string_view>

#include "key_layout.hpp"

namespace pytheus::detail::redis {
namespace {

std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string host_name() {
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  return host;
}

}  // namespace

double wall_ms() {
  return static_cast<double>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count());
}

Liveness::Liveness(const Config& cfg)
    : cfg_(cfg),
      period_ms_(std::max(100, cfg.process_ttl_s * 1000 / 3)),
      host_(host_name()),
      id_(process_id(static_cast<long>(getpid()), host_)) {}

std::string Liveness::id() const {
  std::lock_guard<std::mutex> lock(mu_);
  return id_;
}

void Liveness::note_key(const std::string& key, bool live) {
  std::string member = (live ? "live|" : "keep|") + key;
  std::lock_guard<std::mutex> lock(mu_);
  if (std::find(members_.begin(), members_.end(), member) == members_.end()) {
    members_.push_back(std::move(member));
  }
  active_.store(true, std::memory_order_release);
}

bool Liveness::due() const {
  return active() && steady_ms() - last_beat_.load(std::memory_order_relaxed) >= period_ms_;
}

bool Liveness::beat(const Runner& run) {
  // Every beat names all of this process's per-process keys again: another process's
  // collection drops a key whose hash it finds empty, which it is between this process
  // noting the key and writing its first value; the next beat puts it back.
  std::vector<std::string> members;
  std::string id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    members = members_;
    id = id_;
  }
  const std::string ttl = std::to_string(cfg_.process_ttl_s);
  const std::string expire = std::to_string(cfg_.expire_key_time);
  const std::string procs = processes_key(key_space(cfg_));
  const std::string keys = process_keys_key(key_space(cfg_));
  std::vector<std::vector<std::string>> cmds = {
      {"SET", heartbeat_key(key_space(cfg_), id), "1", "EX", ttl},
      {"HSET", procs, id, std::to_string(static_cast<long long>(wall_ms()))},
      {"EXPIRE", procs, expire}};
  if (!members.empty()) {
    std::vector<std::string> sadd = {"SADD", keys};
    sadd.insert(sadd.end(), members.begin(), members.end());
    cmds.push_back(std::move(sadd));
  }
  cmds.push_back({"EXPIRE", keys, expire});
  const std::int64_t now = steady_ms();
  const bool try_gc = now - last_gc_ >= cfg_.process_ttl_s * 1000LL;
  if (try_gc) {
    cmds.push_back({"SET", gc_lock_key(key_space(cfg_)), id, "NX", "PX",
                    std::to_string(cfg_.process_ttl_s * 1000LL - 100)});
  }
  std::vector<Reply> r = run(cmds);
  if (r.empty()) return false;
  last_beat_.store(now, std::memory_order_release);
  if (!try_gc) return true;
  last_gc_ = now;
  const redisReply* lock = r.back().get();
  if (lock->type != REDIS_REPLY_STATUS) return true;  // another process collects this period
  return collect(run);
}

bool Liveness::collect(const Runner& run) {
  const std::string procs = processes_key(key_space(cfg_));
  const std::string keys = process_keys_key(key_space(cfg_));
  std::vector<Reply> r = run({{"HGETALL", procs}, {"SMEMBERS", keys}});
  if (r.empty()) return false;
  std::map<std::string, double> seen;  // id -> wall ms
  for (std::size_t i = 0; r[0]->type == REDIS_REPLY_ARRAY && i + 1 < r[0]->elements; i += 2) {
    double v = 0;
    const redisReply* val = r[0]->element[i + 1];
    parse_number(val->str ? val->str : "", val->len, v);
    seen[reply_text(r[0]->element[i])] = v;
  }
  std::vector<std::string> members;
  for (std::size_t i = 0; r[1]->type == REDIS_REPLY_ARRAY && i < r[1]->elements; ++i) {
    members.push_back(reply_text(r[1]->element[i]));
  }
  std::vector<std::string> ids;
  std::vector<std::string> mget = {"MGET"};
  for (const auto& [id, at] : seen) {
    ids.push_back(id);
    mget.push_back(heartbeat_key(key_space(cfg_), id));
  }
  std::vector<std::vector<std::string>> reads;
  if (!ids.empty()) reads.push_back(mget);
  for (const std::string& m : members) reads.push_back({"HKEYS", m.substr(5)});
  std::vector<Reply> r2 = run(reads);
  if (!reads.empty() && r2.empty()) return false;
  // Dead: no heartbeat. Expired: dead and last seen longer ago than expire_key_time.
  std::set<std::string> dead, expired;
  const double now = wall_ms();
  if (!ids.empty()) {
    const redisReply* hb = r2[0].get();
    for (std::size_t i = 0; hb->type == REDIS_REPLY_ARRAY && i < hb->elements; ++i) {
      if (hb->element[i]->type != REDIS_REPLY_NIL) continue;
      dead.insert(ids[i]);
      if (now - seen[ids[i]] > static_cast<double>(cfg_.expire_key_time) * 1000.0)
        expired.insert(ids[i]);
    }
  }
  bool any_keep = false;
  std::vector<std::vector<std::string>> writes;
  for (std::size_t m = 0; m < members.size(); ++m) {
    const bool live = members[m].compare(0, 5, "live|") == 0;
    any_keep = any_keep || !live;
    const std::string key = members[m].substr(5);
    const redisReply* fields = r2[(ids.empty() ? 0 : 1) + m].get();
    if (fields->type != REDIS_REPLY_ARRAY || fields->elements == 0) {
      writes.push_back({"SREM", keys, members[m]});  // the key expired or was deleted
      continue;
    }
    std::vector<std::string> hdel = {"HDEL", key};
    std::vector<std::string> hdel_ts = {"HDEL", stamp_key_of(key)};
    for (std::size_t i = 0; i < fields->elements; ++i) {
      const std::string field = reply_text(fields->element[i]);
      std::string_view proc, labels;
      if (!split_process_field(field, proc, labels)) continue;
      const std::string p(proc);
      if ((live && dead.count(p)) || expired.count(p)) {
        hdel.push_back(field);
        hdel_ts.push_back(field);
      }
    }
    if (hdel.size() > 2) {
      writes.push_back(std::move(hdel));
      writes.push_back(std::move(hdel_ts));
    }
  }
  std::vector<std::string> forget = {"HDEL", procs};
  for (const std::string& id : dead) {
    if (expired.count(id) || !any_keep) forget.push_back(id);
  }
  if (forget.size() > 2) writes.push_back(std::move(forget));
  return writes.empty() || !run(writes).empty();
}

void Liveness::leave(const Runner& run) {
  if (!active()) return;
  run({{"DEL", heartbeat_key(key_space(cfg_), id())}});
}

void Liveness::reset_in_child() {
  new (&mu_) std::mutex();  // a parent thread may have held it
  id_ = process_id(static_cast<long>(getpid()), host_);
  last_beat_.store(0);
  last_gc_ = 0;
}

}  // namespace pytheus::detail::redis
