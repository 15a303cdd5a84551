// MultiProcessRedisBackend against a real redis-server (port in PYTHEUS_BENCH_REDIS_PORT;
// bench/run.sh starts one), next to a raw hiredis loop: the physical limit of one client on
// this machine. Each benchmark also reports the Redis commands it cost per operation, read
// from the server's INFO stats.
#include <benchmark/benchmark.h>
#include <hiredis/hiredis.h>

#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "pytheus/backends/redis.hpp"
#include "pytheus/pytheus.hpp"
#include "scrape_registry.hpp"

namespace {

int redis_port() {
  const char* p = std::getenv("PYTHEUS_BENCH_REDIS_PORT");
  return p ? std::atoi(p) : 0;
}

struct Context {
  redisContext* c = nullptr;
  Context() { c = redisConnect("127.0.0.1", redis_port()); }
  ~Context() {
    if (c) redisFree(c);
  }
  bool ok() const { return c && !c->err; }
  long long info_stat(const char* field) {
    auto* r = static_cast<redisReply*>(redisCommand(c, "INFO stats"));
    long long v = -1;
    if (r && r->type == REDIS_REPLY_STRING) {
      std::string text(r->str, r->len);
      std::string key = std::string(field) + ":";
      auto at = text.find(key);
      if (at != std::string::npos) v = std::atoll(text.c_str() + at + key.size());
    }
    if (r) freeReplyObject(r);
    return v;
  }
  void flushall() {
    if (auto* r = static_cast<redisReply*>(redisCommand(c, "FLUSHALL"))) freeReplyObject(r);
  }
};

// Loads the Redis backend in `mode` (once per mode) on an empty database.
bool use_redis(benchmark::State& state, const char* mode) {
  if (redis_port() == 0) {
    state.SkipWithError("set PYTHEUS_BENCH_REDIS_PORT (bench/run.sh starts a redis-server)");
    return false;
  }
  Context admin;
  if (!admin.ok()) {
    state.SkipWithError("cannot connect to redis-server");
    return false;
  }
  admin.flushall();
  pytheus::load_backend("MultiProcessRedisBackend",
                        pytheus::BackendConfig{{"host", "127.0.0.1"},
                                               {"port", redis_port()},
                                               {"write_mode", mode},
                                               {"key_prefix", std::string("bench-") + mode}});
  return true;
}

// Reports, per iteration of the benchmark loop, the commands Redis processed and the reads
// it made from client sockets (Redis 6+ `total_reads_processed`): a pipeline or MULTI/EXEC
// sent at once is read in one go, so reads per operation is the round trips per operation.
class CommandsPerOp {
 public:
  CommandsPerOp()
      : commands_(admin_.info_stat("total_commands_processed")),
        reads_(admin_.info_stat("total_reads_processed")) {}
  void report(benchmark::State& state) {
    // The INFO calls count: one command and one read each, two of them before the loop
    // ended and the first of the two below.
    const long long commands = admin_.info_stat("total_commands_processed") - 1 - commands_;
    const long long reads = admin_.info_stat("total_reads_processed") - 2 - reads_;
    if (state.iterations() > 0) {
      const auto n = static_cast<double>(state.iterations());
      state.counters["redis_commands_per_op"] = static_cast<double>(commands) / n;
      state.counters["redis_round_trips_per_op"] = static_cast<double>(reads) / n;
    }
  }

 private:
  Context admin_;
  long long commands_;
  long long reads_;
};

// One INCRBYFLOAT round trip per iteration: the limit for a client that waits for replies.
void BM_Redis_RawIncrbyfloat(benchmark::State& state) {
  if (redis_port() == 0) return state.SkipWithError("set PYTHEUS_BENCH_REDIS_PORT");
  Context c;
  if (!c.ok()) return state.SkipWithError("cannot connect to redis-server");
  CommandsPerOp commands;
  for (auto _ : state) {
    auto* r = static_cast<redisReply*>(redisCommand(c.c, "INCRBYFLOAT raw_counter 1"));
    if (!r) return state.SkipWithError("redis error");
    freeReplyObject(r);
  }
  commands.report(state);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Redis_RawIncrbyfloat)->UseRealTime();

void BM_Redis_WriteThroughInc(benchmark::State& state) {
  if (!use_redis(state, "write_through")) return;
  pytheus::Counter c("wt_requests_total", "x", {}, {}, nullptr);
  c.inc();
  CommandsPerOp commands;
  for (auto _ : state) c.inc();
  commands.report(state);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Redis_WriteThroughInc)->UseRealTime();

void BM_Redis_WriteThroughObserve(benchmark::State& state) {
  if (!use_redis(state, "write_through")) return;
  pytheus::Histogram h("wt_latency_seconds", "x", {}, {}, nullptr);
  h.observe(0.1);
  CommandsPerOp commands;
  double v = 0;
  for (auto _ : state) {
    h.observe(v);
    v = v > 12 ? 0 : v + 0.37;
  }
  commands.report(state);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Redis_WriteThroughObserve)->UseRealTime();

// Local deltas; the flusher delivers them. Totals are checked after a final flush.
void BM_Redis_WriteBehindInc(benchmark::State& state) {
  static pytheus::Counter* c = nullptr;
  if (state.thread_index() == 0) {
    if (!use_redis(state, "write_behind")) return;
    c = new pytheus::Counter("wb_requests_total", "x", {}, {}, nullptr);
    c->inc(0);
  }
  for (auto _ : state) c->inc();
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    pytheus::MultiProcessRedisBackend::flush();
  }
}
BENCHMARK(BM_Redis_WriteBehindInc)->ThreadRange(1, 2)->UseRealTime();

// After the write-behind benchmark: what Redis holds must equal every inc() made.
void BM_Redis_WriteBehindExact(benchmark::State& state) {
  if (!use_redis(state, "write_behind")) return;
  pytheus::Counter c("wb_exact_total", "x", {}, {}, nullptr);
  long long n = 0;
  for (auto _ : state) {
    c.inc();
    ++n;
  }
  pytheus::MultiProcessRedisBackend::flush();
  Context admin;
  auto* r =
      static_cast<redisReply*>(redisCommand(admin.c, "GET bench-write_behind-wb_exact_total"));
  const double stored = r && r->type == REDIS_REPLY_STRING ? std::atof(r->str) : -1;
  if (r) freeReplyObject(r);
  state.counters["incs"] = static_cast<double>(n);
  state.counters["in_redis"] = stored;
  if (stored != static_cast<double>(n)) state.SkipWithError("total in Redis differs from incs");
}
BENCHMARK(BM_Redis_WriteBehindExact)->UseRealTime();

// The registry of bench_core's BM_GenerateMetrics (scrape_registry.hpp: 100 counter families x 10
// label values + 100 histogram series) on Redis: one scrape is one round trip.
void BM_Redis_GenerateMetrics(benchmark::State& state) {
  if (!use_redis(state, "write_through")) return;
  static auto* registry = pytheus_bench::make_scrape_registry();
  CommandsPerOp commands;
  std::size_t bytes = 0;
  for (auto _ : state) {
    std::string text = pytheus::generate_metrics(*registry);
    bytes = text.size();
    benchmark::DoNotOptimize(text);
  }
  commands.report(state);
  state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_Redis_GenerateMetrics)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
