// A plain Collector rather than metrics on the backend: counting Redis failures in Redis
// would fail exactly when the numbers matter, and these are per process anyway.
#include "self_metrics.hpp"

#include <memory>
#include <string>
#include <vector>

#include "health.hpp"
#include "process.hpp"
#include "pytheus/errors.hpp"
#include "pytheus/registry.hpp"

namespace pytheus::detail::redis {
namespace {

class SelfMetrics final : public Collector {
 public:
  std::vector<std::string> describe() const override {
    return {"pytheus_redis_errors_total", "pytheus_redis_dropped_total",
            "pytheus_redis_invalid_fields_total", "pytheus_redis_pending_series",
            "pytheus_redis_up"};
  }

  std::vector<MetricFamily> collect() const override {
    const RedisBackendStats s = collect_stats();
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

}  // namespace

RedisBackendStats collect_stats() {
  RedisBackendStats s;
  Counters& c = counters();
  s.errors = c.errors.load();
  s.dropped = c.dropped.load();
  s.invalid_fields = c.invalid_fields.load();
  s.flushes = c.flushes.load();
  s.cluster_redirections = c.redirections.load();
  for (Instance* i : all_instances()) {
    s.pending_series += i->pending();
    if (is_current(*i) && i->health().is_down()) s.connected = false;
  }
  return s;
}

void register_self_metrics() {
  try {
    default_registry().register_collector(std::make_shared<SelfMetrics>());
  } catch (const RegistrationError& e) {
    log_line(std::string("Redis backend self-metrics not registered: ") + e.what());
  }
}

}  // namespace pytheus::detail::redis
