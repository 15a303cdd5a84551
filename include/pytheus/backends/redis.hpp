// MultiProcessRedisBackend: metric values kept in Redis, so that every process of a service
// (forked workers or separate programs) adds into one set of numbers. Needs hiredis: link
// the compiled target pytheus::redis.
//
// Linking pytheus::redis registers the class (with PYTHEUS_REGISTER_BACKEND, as any user's
// backend), so `PYTHEUS_BACKEND_CLASS=MultiProcessRedisBackend`
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
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

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
  /// Redis Cluster only: redirections followed (MOVED, ASK) and refusals retried (TRYAGAIN,
  /// CLUSTERDOWN) while slots moved between nodes.
  std::uint64_t cluster_redirections = 0;
  /// Series with local deltas not yet in Redis.
  std::size_t pending_series = 0;
  /// False while the server is known to be unreachable.
  bool connected = true;
};

namespace detail::redis {
struct Series;
}

/// MultiProcessRedisBackend is the backend class whose values live in Redis: a protocol type
/// (backend.hpp) like any user's, registered by pytheus::redis under `name` and
/// `pytheus_path`. The library makes its objects; code only names the class to load it, to
/// flush() on demand or to read stats().
///
/// **Example**:
///     pytheus::load_backend("MultiProcessRedisBackend",
///                           {{"host", "127.0.0.1"}, {"port", 6379}, {"key_prefix", "svc"}});
///     requests.inc();                                  // one HINCRBYFLOAT or a local delta
///     pytheus::MultiProcessRedisBackend::flush();      // deliver pending deltas now
class MultiProcessRedisBackend final : public Backend {
 public:
  /// The registered class name.
  static constexpr std::string_view name = "MultiProcessRedisBackend";
  /// The pytheus dotted path, accepted as an alias.
  static constexpr std::string_view pytheus_path =
      "pytheus.backends.redis.MultiProcessRedisBackend";
  /// Values live in Redis, shared with other processes: never carried to another backend.
  static constexpr bool process_local = false;

  /// Delivers this process's pending deltas now, waiting at most about one command timeout.
  /// Returns true when nothing is left pending (always, in write-through mode while Redis is
  /// reachable). Never throws for Redis errors. A flush also runs every `flush_interval_ms`,
  /// before each scrape in this process and when the process exits.
  static bool flush();

  /// Returns this process's counts (see RedisBackendStats) for every Redis configuration
  /// loaded so far.
  static RedisBackendStats stats();

  // The protocol (backend.hpp). The objects belong to the configuration the last
  // load_backend of this class was given; `config` is not read again.
  MultiProcessRedisBackend(const BackendConfig& config, const MetricInfo& metric,
                           std::optional<std::string_view> histogram_bucket);
  ~MultiProcessRedisBackend() override;
  void inc(double value) override;
  void dec(double value) override;
  void set(double value) override;
  double get() override;
  void erase() override;
  /// The exemplar goes to the metric's NAME:exemplars hash with the increment (the latest
  /// by timestamp wins across processes). exemplar() reads nothing back: scrapes show it.
  void inc_with_exemplar(double value, const ExemplarData& exemplar) override;

  /// One histogram or summary series: an observation is one MULTI/EXEC (write-through) or
  /// one delta (write-behind), never visible half-applied to a scrape.
  class Histogram final : public HistogramBackend {
   public:
    Histogram(const BackendConfig& config, const MetricInfo& metric,
              const std::vector<double>& bounds);
    ~Histogram() override;
    void observe(double value, std::size_t bucket) override;
    void observe_with_exemplar(double value, std::size_t bucket,
                               const ExemplarData& exemplar) override;
    HistogramSnapshot snapshot() override;
    void merge(const HistogramSnapshot& other) override;
    void erase() override;

   private:
    std::unique_ptr<detail::redis::Series> series_;
  };

  /// Parses `config` and connects; throws BackendError naming what is wrong.
  static void initialize(const BackendConfig& config);

  /// The bulk read of a scrape: every requested metric in one round trip.
  static std::vector<MetricRows> generate_samples(const BackendConfig& config,
                                                  const std::vector<MetricRequest>& metrics);

 private:
  std::unique_ptr<detail::redis::Series> series_;
};

}  // namespace pytheus
