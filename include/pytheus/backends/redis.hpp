// MultiProcessRedisBackend: metric values kept in Redis, so that every process of a service
// (forked workers or separate programs) adds into one set of numbers. Needs hiredis: link
// the compiled target pytheus::redis.
//
// Linking pytheus::redis registers the class, so `PYTHEUS_BACKEND_CLASS=MultiProcessRedisBackend`
// (or the pytheus path `pytheus.backends.redis.MultiProcessRedisBackend`) works without
// including this header. Include it to name the class in code, to flush() on demand or to
// read stats(). Keys are laid out as pytheus lays them out, so Python and C++ processes can
// share one Redis; docs/redis.md describes the layout, the configuration and the write modes.
//
// Thread-safety: everything here and every metric on this backend is safe for concurrent
// use. Fork-safety: a child forked after load_backend gets its own connections and flusher;
// what the parent had not yet written stays the parent's to write.
// Failures: a Redis outage never reaches inc()/set()/observe(): they do not throw for it and
// block at most about one command timeout. A scrape while Redis is unreachable throws
// CollectError naming the server.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "pytheus/backend.hpp"

namespace pytheus {

/// RedisBackendStats are this process's counts of what the Redis backend did and what went
/// wrong. The same numbers are exported as `pytheus_redis_*` metrics in the default registry.
struct RedisBackendStats {
  /// Failed connection attempts, round trips and rejected commands.
  std::uint64_t errors = 0;
  /// Operations that were lost: sent when the connection broke so that whether Redis applied
  /// them is unknown (write-through), or still pending when the process exited while Redis was
  /// unreachable.
  std::uint64_t dropped = 0;
  /// Hash fields skipped at scrapes because they are no label set of the metric.
  std::uint64_t invalid_fields = 0;
  /// Transactions that delivered local deltas to Redis.
  std::uint64_t flushes = 0;
  /// Series with local deltas not yet in Redis.
  std::size_t pending_series = 0;
  /// False while the server is known to be unreachable.
  bool connected = true;
};

/// MultiProcessRedisBackend is the backend class whose values live in Redis. It is loaded
/// by name; this type only gathers its process-wide controls.
///
/// **Example**:
///     pytheus::load_backend("MultiProcessRedisBackend",
///                           {{"host", "127.0.0.1"}, {"port", 6379}, {"key_prefix", "svc"}});
///     requests.inc();                                  // one HINCRBYFLOAT or a local delta
///     pytheus::MultiProcessRedisBackend::flush();      // deliver pending deltas now
class MultiProcessRedisBackend {
 public:
  /// The registered class name.
  static constexpr std::string_view name = "MultiProcessRedisBackend";
  /// The pytheus dotted path, accepted as an alias.
  static constexpr std::string_view pytheus_path =
      "pytheus.backends.redis.MultiProcessRedisBackend";

  MultiProcessRedisBackend() = delete;

  /// Delivers this process's pending deltas now, waiting at most about one command timeout.
  /// Returns true when nothing is left pending (always, in write-through mode while Redis is
  /// reachable). Never throws for Redis errors. A flush also runs every `flush_interval_ms`,
  /// before each scrape in this process and when the process exits.
  static bool flush();

  /// Returns this process's counts (see RedisBackendStats) for every Redis configuration
  /// loaded so far.
  static RedisBackendStats stats();

  /// Returns the backend class as registered (for register_backend under other names).
  static BackendClass backend_class();
};

}  // namespace pytheus
