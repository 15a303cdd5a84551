// Exactly-once delivery. Each batch goes out as one MULTI/EXEC that also sets this process's
// sequence key to the batch's number. When the EXEC reply is lost (a timeout, a dropped
// connection), whether Redis applied the batch is unknown; before sending it again the
// flusher GETs the sequence key: if it holds the batch's number the batch was applied and is
// dropped, else it is sent again. So no batch is applied twice or lost while the process
// lives. The key carries host, pid and a random nonce, so processes (and a forked child)
// never share one.
//
// With wait_replicas, WAIT follows EXEC in the same round trip and the batch stays pending
// until enough replicas have it (a failover then cannot lose it). When too few acknowledged,
// the batch was applied on the master but is kept: the next attempt looks the sequence key up
// as above (on the new master after a failover, which only has the key if it had the batch),
// and either sends it again or re-sets the key and WAITs again. Re-setting it gives this
// connection a write to wait for: WAIT on a connection that wrote nothing returns at once.
//
// A READONLY reply means the server was demoted to a replica (a failover): treated like a lost
// connection, so that the next attempt asks the sentinels (sentinel.hpp) for the new master.
//
// A batch is taken from the store only once the previous one is resolved; deltas that arrive
// meanwhile wait in their slots, so a series' updates reach Redis in order.
#include "flusher.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <map>
#include <new>
#include <random>
#include <utility>

#include "cluster_slots.hpp"
#include "exemplar_codec.hpp"
#include "key_layout.hpp"
#include "pytheus/errors.hpp"

namespace pytheus::detail::redis {

Flusher::Flusher(const Config& cfg, Health& health, DeltaStore& store, Locator& locator,
                 Liveness& liveness)
    : cfg_(cfg),
      health_(health),
      store_(store),
      locator_(locator),
      liveness_(liveness),
      ttl_(std::to_string(cfg.expire_key_time)),
      wait_replicas_(std::to_string(cfg.wait_replicas)),
      wait_timeout_(std::to_string(cfg.wait_timeout_ms)) {
  if (cfg.cluster()) router_ = std::make_unique<ClusterRouter>(cfg);
  new_identity();
}

void Flusher::connect_or_throw() {
  std::lock_guard<std::mutex> lock(control_mu_);
  std::string why = router_ ? router_->refresh() : locator_.open(control_, cfg_.connect_timeout_ms);
  if (!why.empty()) {
    throw BackendError(std::string(kClass) + ": cannot use Redis at " + health_.endpoint() + ": " +
                       why);
  }
  control_epoch_ = health_.epoch();
}

void Flusher::try_connect() {
  std::lock_guard<std::mutex> lock(control_mu_);
  std::string why;
  ensure_control(why, true);
}

namespace {

// A round trip that timed out means a hung server, not a stale connection: trying again on a
// new connection would only wait a second timeout (a connect to a stopped server succeeds,
// its PING does not answer).
bool timed_out(const std::string& why) {
  return why.rfind("timed out", 0) == 0;
}

// TRYAGAIN answers a cluster transaction gets before it is given up for now (see
// ClusterRouter::Txn::unstable): about 60 ms of backoff.
constexpr int kUnstableRounds = 3;

// A reply made here for a key known not to exist: what HGETALL (an empty array), GET (nil) or
// EXPIRE (0) would have answered. Allocated as hiredis 0.14 allocates its own (malloc), so
// that freeReplyObject frees it.
redisReply* absent_reply(int type) {
  auto* r = static_cast<redisReply*>(std::calloc(1, sizeof(redisReply)));
  if (r == nullptr) throw std::bad_alloc();
  r->type = type;
  return r;
}

}  // namespace

bool Flusher::flush(std::string& why, bool force) {
  std::lock_guard<std::mutex> lock(control_mu_);
  const bool reused = control_usable();
  if (force && pending() > 0 && !reused && !ensure_control(why, true)) return false;
  beat_if_due();  // before per-process values, so that no value is from an unknown process
  const bool done = flush_locked(why) || (reused && !control_.is_open() && !timed_out(why) &&
                                          ensure_control(why, true) && flush_locked(why));
  return done;
}

// The heartbeat (and now and then the garbage collection) of per-process gauges. control_mu_
// held.
void Flusher::beat_if_due() {
  if (!liveness_.due()) return;
  std::string why;
  if (!ensure_control(why)) return;
  if (!liveness_.beat(runner(why))) control_failed(why);
}

// Commands for the liveness bookkeeping: one pipeline on the control connection, or routed
// key by key on a cluster. control_mu_ held.
std::vector<Reply> Flusher::run_commands(const std::vector<std::vector<std::string>>& cmds,
                                         std::string& why) {
  if (router_) return router_->run(cmds, why);
  std::vector<Reply> r = run_pipeline(control_, cmds);
  if (r.empty() && !cmds.empty()) why = control_.error();
  return r;
}

Runner Flusher::runner(std::string& why) {
  return [this, &why](const std::vector<std::vector<std::string>>& cmds) {
    return run_commands(cmds, why);
  };
}

Reply Flusher::run(const std::vector<std::string>& args) {
  std::lock_guard<std::mutex> lock(control_mu_);
  std::string why;
  if (router_ && ensure_control(why)) {
    std::vector<Reply> r = router_->run({args}, why);
    if (!r.empty()) return std::move(r[0]);
    control_failed(why);
  } else if (!router_ && ensure_control(why)) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (const std::string& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    control_.append(static_cast<int>(argv.size()), argv.data(), lens.data());
    Reply r;
    if (control_.send() && (r = control_.read())) return r;
    control_failed(why);
  }
  throw CollectError("Redis at " + health_.endpoint() + " is unreachable (" + why +
                     "); refusing to answer with stale values");
}

void Flusher::leave() {
  std::lock_guard<std::mutex> lock(control_mu_);
  if (!control_usable() || pending() > 0) return;
  std::string why;
  liveness_.leave(runner(why));
  if (router_) {
    std::vector<std::vector<std::string>> del;
    for (const std::string& tag : seq_tags_) {
      del.push_back({"DEL", cluster_sequence_key(tag, seq_key_)});
    }
    router_->run(del, why);
    return;
  }
  const char* argv[2] = {"DEL", seq_key_.data()};
  const std::size_t lens[2] = {3, seq_key_.size()};
  control_.append(2, argv, lens);
  if (control_.send()) control_.read();
}

Reply Flusher::flush_and_read(const std::vector<KeyToRead>& keys) {
  std::lock_guard<std::mutex> lock(control_mu_);
  std::string why;
  if (router_) {
    // What this process counted goes first; a flush that fails on one node still lets the
    // others' values be read (the failing ones' deltas stay pending).
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (!ensure_control(why, attempt > 0)) continue;
      beat_if_due();
      flush_locked(why);
      if (!router_->ready() && !ensure_control(why, true)) continue;
      if (Reply r = read_cluster(keys, why)) return r;
      if (router_->ready()) break;  // refused, not unreachable: retrying will not help
    }
    throw CollectError("Redis at " + health_.endpoint() + " cannot be read (" + why +
                       "); refusing to answer with stale values");
  }
  const bool reused = control_usable();
  for (int attempt = 0; attempt < (reused ? 2 : 1); ++attempt) {
    if (attempt > 0 && timed_out(why)) break;
    if (!ensure_control(why, attempt > 0)) break;
    beat_if_due();
    if (!flush_locked(why) && !control_.is_open()) continue;
    if (Reply r = read_keys(control_, keys, ttl_)) return r;
    control_failed(why);
  }
  throw CollectError("Redis at " + health_.endpoint() + " is unreachable (" + why +
                     "); refusing to answer with stale values");
}

bool Flusher::erase(Slot& s, bool now) {
  std::lock_guard<std::mutex> lock(control_mu_);
  DeltaStore::clear(s);
  // Changing a batch whose EXEC may have been applied is safe: if it was, the sequence key
  // says so and it is not sent again; if not, it is sent without the series. Either way the
  // deletion follows it.
  batch_.erase(std::remove_if(batch_.begin(), batch_.end(),
                              [&](const Entry& e) { return !e.erase && e.keys == s.keys; }),
               batch_.end());
  batch_size_.store(batch_.size(), std::memory_order_relaxed);
  erasures_.push_back(s.keys);
  queued_erasures_.store(erasures_.size(), std::memory_order_relaxed);
  erasing_.fetch_add(1, std::memory_order_relaxed);
  std::string why;
  return !now || !flush_locked(why);
}

std::size_t Flusher::pending() const {
  return store_.dirty_count() + batch_size_.load(std::memory_order_relaxed) +
         queued_erasures_.load(std::memory_order_relaxed);
}

// Delivers the pending batch and then everything new, in one transaction each. control_mu_
// held.
bool Flusher::flush_locked(std::string& why) {
  if (!batch_.empty() && !deliver_batch(why)) return false;
  take_pending();
  if (batch_.empty()) return true;
  batch_seq_ = ++seq_;
  batch_sent_ = false;
  return deliver_batch(why);
}

// True when the control connection is open, from this process and epoch, and not closed by
// the server.
bool Flusher::control_usable() {
  if (router_) return router_->ready();
  return control_.is_open() && control_epoch_ == health_.epoch() && control_.pid() == getpid() &&
         !control_.closed_by_peer();
}

// Opens the control connection if needed; false (with `why`) while Redis is unreachable.
// With `force`, it tries even while waiting to retry after a failure.
bool Flusher::ensure_control(std::string& why, bool force) {
  if (control_usable()) return true;
  control_.close();
  if (!force && health_.waiting_to_retry()) {
    why = health_.last_error();
    return false;
  }
  why = router_ ? router_->refresh() : locator_.open(control_, cfg_.connect_timeout_ms);
  if (!why.empty()) {
    health_.mark_down(why);
    return false;
  }
  control_epoch_ = health_.epoch();
  health_.mark_up();
  return true;
}

void Flusher::control_failed(std::string& why) {
  if (!router_) why = control_.error();  // the router names the node itself
  control_.close();
  health_.mark_down(why);
}

// Moves the queued deletions and then every dirty slot's deltas into batch_.
void Flusher::take_pending() {
  for (std::shared_ptr<const Keys>& k : erasures_) {
    Entry e;
    e.keys = std::move(k);
    e.erase = true;
    batch_.push_back(std::move(e));
  }
  erasures_.clear();
  queued_erasures_.store(0, std::memory_order_relaxed);
  store_.take_dirty(batch_);
  batch_size_.store(batch_.size(), std::memory_order_relaxed);
}

// Whether a batch whose EXEC reply was lost was applied, by the sequence key.
bool Flusher::sequence_applied(std::string& why, bool& applied) {
  const char* argv[2] = {"GET", seq_key_.data()};
  const std::size_t lens[2] = {3, seq_key_.size()};
  control_.append(2, argv, lens);
  Reply r;
  if (!control_.send() || !(r = control_.read())) {
    control_failed(why);
    return false;
  }
  applied = r->type == REDIS_REPLY_STRING && reply_text(r.get()) == std::to_string(batch_seq_);
  return true;
}

void Flusher::append_sequence_set(const std::string& seq) {
  const char* argv[5] = {"SET", seq_key_.data(), seq.data(), "EX", ttl_.data()};
  const std::size_t lens[5] = {3, seq_key_.size(), seq.size(), 2, ttl_.size()};
  control_.append(5, argv, lens);
}

void Flusher::append_wait() {
  const char* argv[3] = {"WAIT", wait_replicas_.data(), wait_timeout_.data()};
  const std::size_t lens[3] = {4, wait_replicas_.size(), wait_timeout_.size()};
  control_.append(3, argv, lens);
}

// True when WAIT's reply says enough replicas have the batch; else `why` says how many did.
bool Flusher::replicated(const redisReply* wait, std::string& why) {
  if (wait->type == REDIS_REPLY_INTEGER && wait->integer >= cfg_.wait_replicas) return true;
  why = wait->type == REDIS_REPLY_INTEGER
            ? std::to_string(wait->integer) + " of " + wait_replicas_ +
                  " replicas acknowledged the flush within " + wait_timeout_ +
                  " ms; its deltas are kept and confirmed again"
            : "WAIT failed (" + reply_text(wait) + ")";
  counters().errors.fetch_add(1, std::memory_order_relaxed);
  log_once("wait", "Redis at " + health_.endpoint() + ": " + why);
  return false;
}

// The batch is applied on the master but was not yet confirmed by enough replicas.
bool Flusher::confirm_replicated(std::string& why) {
  append_sequence_set(std::to_string(batch_seq_));
  append_wait();
  Reply set;
  Reply wait;
  if (!control_.send() || !(set = control_.read()) || !(wait = control_.read())) {
    control_failed(why);
    return false;
  }
  if (set->type == REDIS_REPLY_ERROR) {
    why = "cannot confirm the flush: " + reply_text(set.get());
    if (why.find("READONLY") != std::string::npos) {
      control_.close();
      health_.mark_down(why);
    }
    return false;
  }
  if (!replicated(wait.get(), why)) return false;
  batch_applied();
  return true;
}

// One entry's commands: deletions, or SET then INCRBYFLOAT of a value, or the histogram's
// cumulative bucket increments, count and sum; then EXPIRE of each key.
void Flusher::append_entry(Connection& c, const Entry& e, std::size_t& cmds) {
  const Keys& k = *e.keys;
  if (e.erase) {
    for (const std::string& key : k.keys) {
      append_delete(c, key, k.field);
      ++cmds;
    }
    if (!k.created_key.empty()) {  // a series created again gets a new time
      append_delete(c, k.created_key, k.field);
      ++cmds;
    }
    for (const std::string& field : k.exemplar_fields) {
      append_delete(c, k.exemplar_key, field);
      ++cmds;
    }
    if (!k.native_key.empty()) {  // every process's buckets of the series, at any schema
      append_delete_native(control_, k.native_key, k.field);
      ++cmds;
    }
    return;
  }
  if (e.created != 0) {
    append_set_if_absent(c, k.created_key, k.field, Number(e.created));
    ++cmds;
  }
  if (!k.created_key.empty()) {
    append_expire(c, k.created_key, ttl_);
    ++cmds;
  }
  for (const auto& [i, x] : e.exemplars) {
    char value[kExemplarValueMax];
    const std::size_t size = encode_exemplar_value(x, value);
    append_exemplar(c, k.exemplar_key, k.exemplar_fields[i], std::string_view(value, size));
    ++cmds;
  }
  if (!e.exemplars.empty()) {
    append_expire(c, k.exemplar_key, ttl_);
    ++cmds;
  }
  if (!k.histogram) {
    if (e.has_set) {
      append_set(c, k.keys[0], k.field, Number(e.set_value));
      ++cmds;
      if (k.stamped) {
        append_set(c, k.keys[1], k.field, Number(e.set_stamp));
        ++cmds;
      }
    }
    if (e.value != 0) {
      append_incr(c, k.keys[0], k.field, Number(e.value));
      ++cmds;
    }
  } else {
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < k.buckets; ++i) {
      cumulative += e.counts[i];
      if (cumulative == 0) continue;
      append_incr(c, k.keys[i], k.field, Number(static_cast<double>(cumulative)));
      ++cmds;
    }
    if (k.buckets == 0) cumulative = e.counts[0];
    if (cumulative != 0) {
      append_incr(c, k.keys[k.buckets], k.field, Number(static_cast<double>(cumulative)));
      ++cmds;
    }
    if (e.value != 0 || cumulative != 0) {
      append_incr(c, k.keys[k.buckets + 1], k.field, Number(e.value));
      ++cmds;
    }
    if (!e.native.empty() && !k.native_key.empty()) {
      for (const NativeDelta& d : e.native) {
        append_incr(c, k.native_key, native_field(d, k.field), Number(static_cast<double>(d.n)));
        ++cmds;
      }
      append_expire(c, k.native_key, ttl_);
      ++cmds;
    }
  }
  for (const std::string& key : k.keys) {
    append_expire(c, key, ttl_);
    ++cmds;
  }
}

// Sends batch_ as one MULTI/EXEC that also sets the sequence key.
bool Flusher::deliver_batch(std::string& why) {
  if (router_) return deliver_cluster(why);
  if (!ensure_control(why)) return false;
  if (batch_sent_) {
    bool applied = false;
    if (!sequence_applied(why, applied)) return false;
    if (applied) {
      if (cfg_.wait_replicas > 0) return confirm_replicated(why);
      batch_applied();
      return true;
    }
  }
  const std::string seq = std::to_string(batch_seq_);
  append_multi(control_);
  std::size_t cmds = 0;
  for (const Entry& e : batch_) append_entry(control_, e, cmds);
  append_sequence_set(seq);
  ++cmds;
  append_exec(control_);
  const std::size_t replies = cmds + 2 + (cfg_.wait_replicas > 0 ? 1 : 0);
  if (cfg_.wait_replicas > 0) append_wait();
  if (!control_.send()) {
    batch_sent_ = batch_sent_ || control_.sent_any();
    control_failed(why);
    return false;
  }
  batch_sent_ = true;
  Reply exec;
  Reply wait;
  std::string multi_error;
  std::string readonly;
  for (std::size_t i = 0; i < replies; ++i) {
    Reply r = control_.read();
    if (!r) {
      control_failed(why);
      return false;
    }
    if (r->type == REDIS_REPLY_ERROR && readonly.empty() &&
        reply_text(r.get()).rfind("READONLY", 0) == 0) {
      readonly = reply_text(r.get());
    }
    if (i == 0 && r->type == REDIS_REPLY_ERROR) multi_error = reply_text(r.get());
    if (i == cmds + 1) exec = std::move(r);
    if (i == cmds + 2) wait = std::move(r);
  }
  if (!readonly.empty() && exec->type != REDIS_REPLY_ARRAY) {
    // A replica now (a failover): nothing was applied; the next attempt asks the sentinels.
    batch_sent_ = false;
    why = "the server is no longer the master (" + readonly + ")";
    control_.close();
    health_.mark_down(why);
    return false;
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
    log_once("exec:" + reply_text(exec.get()), "Redis at " + health_.endpoint() + ": " + why);
    return false;
  }
  for (std::size_t i = 0; i < exec->elements; ++i) {
    if (exec->element[i]->type == REDIS_REPLY_ERROR) {
      health_.command_error(reply_text(exec->element[i]));
    }
  }
  if (wait && !replicated(wait.get(), why)) return false;
  batch_applied();
  return true;
}

void Flusher::batch_applied() {
  std::size_t erased = 0;
  for (const Entry& e : batch_) erased += e.erase;
  if (erased != 0) erasing_.fetch_sub(erased, std::memory_order_relaxed);
  batch_.clear();
  batch_size_.store(0, std::memory_order_relaxed);
  batch_sent_ = false;
  counters().flushes.fetch_add(1, std::memory_order_relaxed);
}

void Flusher::new_identity() {
  std::random_device rd;
  const auto now =
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count());
  std::uint64_t nonce = (static_cast<std::uint64_t>(rd()) << 32) ^ rd() ^ now ^
                        (static_cast<std::uint64_t>(getpid()) << 16);
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  seq_key_ = sequence_key(key_space(cfg_), host, static_cast<long>(getpid()), nonce);
  seq_ = 0;
}

void Flusher::start() {
  std::lock_guard<std::mutex> lock(thread_mu_);
  if (running_.load() || stopped_) return;
  thread_ = new std::thread([this] { main(); });
  running_.store(true, std::memory_order_release);
}

void Flusher::stop() {
  std::thread* t = nullptr;
  {
    std::lock_guard<std::mutex> lock(thread_mu_);
    stopped_ = true;
    t = thread_;
    thread_ = nullptr;
  }
  cv_.notify_all();
  if (t != nullptr) {
    if (t->get_id() != std::this_thread::get_id()) t->join();
    delete t;
  }
}

void Flusher::main() {
  std::unique_lock<std::mutex> lock(thread_mu_);
  std::int64_t waited = 0;  // ms since the last flush
  bool first = true;
  while (!stopped_) {
    // With per-process gauges the thread also wakes for each heartbeat, the first at once.
    int step = cfg_.flush_interval_ms;
    if (liveness_.active()) step = first ? 0 : std::min(step, liveness_.period_ms());
    first = false;
    if (step > 0) {
      cv_.wait_for(lock, std::chrono::milliseconds(step), [this] { return stopped_; });
    }
    if (stopped_) break;
    waited += step;
    lock.unlock();
    {
      std::lock_guard<std::mutex> control(control_mu_);
      std::string why;
      beat_if_due();
      if (waited >= cfg_.flush_interval_ms) {
        waited = 0;
        flush_locked(why);
      }
    }
    lock.lock();
  }
}

void Flusher::unlock_after_fork() {
  thread_mu_.unlock();
  control_mu_.unlock();
}

void Flusher::reset_in_child(std::vector<std::thread*>& abandoned_threads) {
  control_.close();
  if (router_) router_->reset();
  maybe_applied_.clear();
  seq_tags_.clear();
  batch_.clear();
  batch_size_.store(0);
  batch_sent_ = false;
  erasures_.clear();
  queued_erasures_.store(0);
  erasing_.store(0);
  new_identity();
  if (thread_ != nullptr) abandoned_threads.push_back(thread_);
  thread_ = nullptr;
  running_.store(false);
  new (&cv_) std::condition_variable();
  thread_mu_.unlock();
  control_mu_.unlock();
}

// Cluster delivery. The batch is split by hash tag (a metric's keys share one, so one slot):
// each part is one MULTI/EXEC that also sets the process's sequence key of that tag, the parts
// bound for one node go out in one pipeline (ClusterRouter::transact). Applied parts leave the
// batch at once; refused ones (redirections the router could not finish) stay and are sent
// again with the batch's next attempt; parts whose connection failed are looked up by their
// sequence key first, as in the single-server case.
bool Flusher::deliver_cluster(std::string& why) {
  if (!ensure_control(why)) return false;
  const std::string seq = std::to_string(batch_seq_);
  if (!maybe_applied_.empty()) {
    const std::vector<std::string> tags(maybe_applied_.begin(), maybe_applied_.end());
    std::vector<std::vector<std::string>> gets;
    for (const std::string& tag : tags)
      gets.push_back({"GET", cluster_sequence_key(tag, seq_key_)});
    std::vector<Reply> r = router_->run(gets, why);
    if (r.empty()) {
      control_failed(why);
      return false;
    }
    for (std::size_t i = 0; i < tags.size(); ++i) {
      if (r[i]->type == REDIS_REPLY_STRING && reply_text(r[i].get()) == seq) drop_entries(tags[i]);
    }
    maybe_applied_.clear();
  }
  std::map<std::string, std::vector<std::size_t>> groups;
  for (std::size_t i = 0; i < batch_.size(); ++i) {
    groups[std::string(hash_tag(batch_[i].keys->keys[0]))].push_back(i);
  }
  std::vector<ClusterRouter::Txn> txns;
  std::vector<const std::string*> tags;
  txns.reserve(groups.size());
  for (const auto& [tag, entries] : groups) {
    ClusterRouter::Txn t;
    t.slot = key_slot(tag);
    t.append = [this, &entries = entries, key = cluster_sequence_key(tag, seq_key_),
                &seq](Connection& c) {
      std::size_t cmds = 0;
      for (std::size_t i : entries) append_entry(c, batch_[i], cmds);
      const char* argv[5] = {"SET", key.data(), seq.data(), "EX", ttl_.data()};
      const std::size_t lens[5] = {3, key.size(), seq.size(), 2, ttl_.size()};
      c.append(5, argv, lens);
      return cmds + 1;
    };
    txns.push_back(std::move(t));
    tags.push_back(&tag);
  }
  // A transaction refused with TRYAGAIN a few times (its slot migrating, and it writes a key
  // that exists on neither node yet, or one a MIGRATE is moving) stays pending for the next
  // flush instead of holding the flusher for the whole migration.
  const bool all = router_->transact(txns, why, kUnstableRounds);
  std::vector<bool> drop(batch_.size(), false);
  std::size_t k = 0;
  for (const auto& [tag, entries] : groups) {
    const ClusterRouter::Txn& t = txns[k++];
    if (t.state == ClusterRouter::Txn::State::pending ||
        t.state == ClusterRouter::Txn::State::not_applied) {
      continue;
    }
    seq_tags_.insert(tag);
    if (t.state == ClusterRouter::Txn::State::unknown) {
      maybe_applied_.insert(tag);
      continue;
    }
    for (std::size_t i : entries) drop[i] = true;
    for (std::size_t i = 0; t.exec && i < t.exec->elements; ++i) {
      if (t.exec->element[i]->type == REDIS_REPLY_ERROR) {
        health_.command_error(reply_text(t.exec->element[i]));
      }
    }
  }
  std::size_t erased = 0;
  std::size_t out = 0;
  for (std::size_t i = 0; i < batch_.size(); ++i) {
    if (drop[i]) {
      erased += batch_[i].erase;
      continue;
    }
    if (out != i) batch_[out] = std::move(batch_[i]);
    ++out;
  }
  batch_.resize(out);
  if (erased != 0) erasing_.fetch_sub(erased, std::memory_order_relaxed);
  batch_size_.store(batch_.size(), std::memory_order_relaxed);
  if (all) {
    batch_applied();
    return true;
  }
  counters().errors.fetch_add(1, std::memory_order_relaxed);
  if (!router_->ready()) {
    health_.mark_down(why);
  } else {
    log_once("cluster:" + why.substr(0, why.find(' ')),
             "Redis at " + health_.endpoint() + ": " + why);
  }
  return false;
}

// The entries of `tag` were applied (its sequence key says so): they leave the batch.
void Flusher::drop_entries(const std::string& tag) {
  std::size_t erased = 0;
  batch_.erase(std::remove_if(batch_.begin(), batch_.end(),
                              [&](const Entry& e) {
                                if (hash_tag(e.keys->keys[0]) != tag) return false;
                                erased += e.erase;
                                return true;
                              }),
               batch_.end());
  if (erased != 0) erasing_.fetch_sub(erased, std::memory_order_relaxed);
  batch_size_.store(batch_.size(), std::memory_order_relaxed);
}

// read_keys on a cluster: one transaction per slot (a metric's keys are all in one, so each
// metric is read at one instant), one pipeline per node, and the replies put back in the
// order of `keys` as one array, as read_keys returns them.
//
// A slot being migrated refuses (TRYAGAIN) a transaction whose keys are not all on the node
// asked: on the source while some have moved, on the target (after ASK) while some have not,
// and on both for a key that does not exist at all (a metric's exemplar or creation-time
// hash never written, a bucket never reached). Those keys are looked up one by one (EXISTS,
// a single-key command that ASK serves) and left out of the slot's transaction, which then
// reads the others atomically; their replies are made here ("absent"). A key absent from both
// nodes stays absent until the migration ends: every write of ours is a transaction on at
// least two keys (the flush sequence key and the metric's), and Redis refuses such a
// transaction on both nodes while one of its keys exists on neither. Keys split by a MIGRATE
// under way are waited for: the transaction is tried again, all within command_timeout_ms.
Reply Flusher::read_cluster(const std::vector<KeyToRead>& keys, std::string& why) {
  struct SlotRead {
    int slot = 0;
    std::vector<std::size_t> all;   // indexes into `keys`
    std::vector<std::size_t> read;  // those in the transaction (the others are absent)
    Reply exec;
    bool done = false;
  };
  std::map<int, std::vector<std::size_t>> by_slot;
  for (std::size_t i = 0; i < keys.size(); ++i) by_slot[key_slot(*keys[i].key)].push_back(i);
  std::vector<SlotRead> slots;
  slots.reserve(by_slot.size());
  for (auto& [slot, idx] : by_slot) {
    SlotRead s;
    s.slot = slot;
    s.read = idx;
    s.all = std::move(idx);
    slots.push_back(std::move(s));
  }
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(cfg_.command_timeout_ms);
  for (;;) {
    std::vector<ClusterRouter::Txn> txns;
    std::vector<SlotRead*> of;
    for (SlotRead& s : slots) {
      if (s.done) continue;
      if (s.read.empty()) {  // nothing of it exists: nothing to read
        s.done = true;
        continue;
      }
      ClusterRouter::Txn t;
      t.slot = s.slot;
      t.append = [this, &keys, &idx = s.read](Connection& c) {
        for (std::size_t i : idx) {
          const char* argv[2] = {keys[i].hash ? "HGETALL" : "GET", keys[i].key->data()};
          const std::size_t lens[2] = {keys[i].hash ? 7u : 3u, keys[i].key->size()};
          c.append(2, argv, lens);
          append_expire(c, *keys[i].key, ttl_);
        }
        return 2 * idx.size();
      };
      txns.push_back(std::move(t));
      of.push_back(&s);
    }
    if (txns.empty()) break;
    router_->transact(txns, why, kUnstableRounds);
    std::vector<std::vector<std::string>> exists;
    std::vector<SlotRead*> migrating;
    bool failed = false;
    for (std::size_t k = 0; k < txns.size(); ++k) {
      SlotRead& s = *of[k];
      if (txns[k].state == ClusterRouter::Txn::State::applied) {
        s.exec = std::move(txns[k].exec);
        s.done = true;
        if (s.exec->elements != 2 * s.read.size()) {
          why = "a read transaction answered " + std::to_string(s.exec->elements) +
                " replies, not " + std::to_string(2 * s.read.size());
          return nullptr;
        }
      } else if (txns[k].unstable) {
        migrating.push_back(&s);
        for (std::size_t i : s.all) exists.push_back({"EXISTS", *keys[i].key});
      } else {
        failed = true;
      }
    }
    if (failed) {
      if (!router_->ready()) health_.mark_down(why);
      return nullptr;
    }
    if (migrating.empty()) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      why = "slot " + std::to_string(migrating[0]->slot) +
            " is being migrated and its keys could not be read in one transaction within "
            "command_timeout_ms (" +
            why + ")";
      return nullptr;
    }
    std::vector<Reply> found = router_->run(exists, why);
    if (found.empty()) {
      if (!router_->ready()) health_.mark_down(why);
      return nullptr;
    }
    std::size_t f = 0;
    for (SlotRead* s : migrating) {
      s->read.clear();
      for (std::size_t i : s->all) {
        const redisReply* r = found[f++].get();
        if (r->type != REDIS_REPLY_INTEGER || r->integer != 0) s->read.push_back(i);
      }
    }
  }
  // The array is assembled from the transactions' elements, which are moved out of them
  // (hiredis 0.14 allocates replies with malloc and frees a null element as nothing).
  auto* out = static_cast<redisReply*>(std::calloc(1, sizeof(redisReply)));
  if (out == nullptr) throw std::bad_alloc();
  out->type = REDIS_REPLY_ARRAY;
  out->elements = 2 * keys.size();
  out->element = static_cast<redisReply**>(std::calloc(out->elements + 1, sizeof(redisReply*)));
  if (out->element == nullptr) {
    std::free(out);
    throw std::bad_alloc();
  }
  Reply result(out);
  for (SlotRead& s : slots) {
    for (std::size_t j = 0; j < s.read.size(); ++j) {
      out->element[2 * s.read[j]] = s.exec->element[2 * j];
      out->element[2 * s.read[j] + 1] = s.exec->element[2 * j + 1];
      s.exec->element[2 * j] = nullptr;
      s.exec->element[2 * j + 1] = nullptr;
    }
    for (std::size_t i : s.all) {
      if (out->element[2 * i] != nullptr) continue;
      out->element[2 * i] = absent_reply(keys[i].hash ? REDIS_REPLY_ARRAY : REDIS_REPLY_NIL);
      out->element[2 * i + 1] = absent_reply(REDIS_REPLY_INTEGER);
    }
  }
  return result;
}

}  // namespace pytheus::detail::redis
