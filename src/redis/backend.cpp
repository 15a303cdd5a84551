// MultiProcessRedisBackend, the protocol type: each object is a thin handle on its series
// (keys, local deltas) in the current configuration; every job is done by the parts in this
// folder (instance.hpp lists them).
//
// Registration is the documented one (PYTHEUS_REGISTER_BACKEND). The CMake target adds
// `-Wl,--undefined=pytheus_redis_backend_anchor` to whatever links it, so the linker keeps
// this object file, and so runs the registration, even when nothing names the class.
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "instance.hpp"
#include "key_layout.hpp"
#include "process.hpp"
#include "pytheus/backends.hpp"
#include "pytheus/backends/redis.hpp"
#include "scrape_reader.hpp"
#include "self_metrics.hpp"

namespace pytheus::detail::redis {

// One series of one backend object. The slot is retired, not freed, with its object: the
// flusher still delivers its last deltas.
struct Series {
  Series(Instance& i, MetricInfo m, Keys k, std::size_t ncounts)
      : inst(i),
        info(std::move(m)),
        keys(std::make_shared<Keys>(std::move(k))),  // not const: a forked child rekeys it
        slot(inst.new_slot(keys, ncounts, info.created, info.native ? &*info.native : nullptr)) {}
  ~Series() { inst.retire(slot); }

  Instance& inst;
  const MetricInfo info;
  const std::shared_ptr<const Keys> keys;
  Slot* const slot;
};

}  // namespace pytheus::detail::redis

namespace pytheus {

using detail::redis::current_instance;
using detail::redis::Series;

MultiProcessRedisBackend::MultiProcessRedisBackend(const BackendConfig&, const MetricInfo& metric,
                                                   std::optional<std::string_view> bucket) {
  detail::redis::Instance& inst = current_instance();
  const GaugeMode mode = metric.type == MetricType::gauge && !bucket
                             ? inst.resolve(metric.gauge_mode)
                             : GaugeMode::shared;
  if (is_per_process(mode)) {
    detail::redis::Keys k = detail::redis::per_process_keys(detail::redis::key_space(inst.cfg),
                                                            metric, mode, inst.liveness().id());
    inst.per_process_key(k.keys[0], is_live(mode));
    series_ = std::make_unique<Series>(inst, metric, std::move(k), 0);
    return;
  }
  series_ = std::make_unique<Series>(
      inst, metric, detail::redis::value_keys(detail::redis::key_space(inst.cfg), metric, bucket),
      0);
}

MultiProcessRedisBackend::~MultiProcessRedisBackend() = default;

void MultiProcessRedisBackend::inc(double v) {
  series_->inst.change(*series_->slot, false, v);
}
void MultiProcessRedisBackend::inc_with_exemplar(double v, const ExemplarData& e) {
  series_->inst.change(*series_->slot, false, v, &e);
}
void MultiProcessRedisBackend::dec(double v) {
  series_->inst.change(*series_->slot, false, -v);
}
void MultiProcessRedisBackend::set(double v) {
  series_->inst.change(*series_->slot, true, v);
}
void MultiProcessRedisBackend::erase() {
  series_->inst.erase(*series_->slot);
}

double MultiProcessRedisBackend::get() {
  return detail::redis::read_series(series_->inst, *series_->keys, series_->info)[0];
}

MultiProcessRedisBackend::Histogram::Histogram(const BackendConfig&, const MetricInfo& metric,
                                               const std::vector<double>& bounds) {
  detail::redis::Instance& inst = current_instance();
  series_ = std::make_unique<Series>(
      inst, metric,
      detail::redis::histogram_keys(detail::redis::key_space(inst.cfg), metric, bounds),
      bounds.empty() ? 1 : bounds.size());
}

MultiProcessRedisBackend::Histogram::~Histogram() = default;

void MultiProcessRedisBackend::Histogram::observe(double value, std::size_t bucket) {
  series_->inst.observe(*series_->slot, value, bucket);
}

void MultiProcessRedisBackend::Histogram::observe_with_exemplar(double value, std::size_t bucket,
                                                                const ExemplarData& e) {
  series_->inst.observe(*series_->slot, value, bucket, &e);
}

HistogramSnapshot MultiProcessRedisBackend::Histogram::snapshot() {
  HistogramSnapshot s;
  if (series_->info.native) s.native.emplace();
  const std::vector<double> v = detail::redis::read_series(
      series_->inst, *series_->keys, series_->info, s.native ? &*s.native : nullptr);
  const std::size_t buckets = series_->keys->buckets;
  s.buckets.assign(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(buckets));
  s.count = v[buckets];
  s.sum = v[buckets + 1];
  return s;
}

void MultiProcessRedisBackend::Histogram::merge(const HistogramSnapshot& other) {
  series_->inst.merge(*series_->slot, other);
}

void MultiProcessRedisBackend::Histogram::erase() {
  series_->inst.erase(*series_->slot);
}

void MultiProcessRedisBackend::initialize(const BackendConfig& config) {
  auto inst = std::make_unique<detail::redis::Instance>(detail::redis::parse_config(config));
  // An explicit load_backend fails clearly for a server it cannot use. The load that happens
  // by itself at first use must not: an outage then is like any later one (updates are kept
  // and sent when Redis is back), never an exception from every inc().
  if (detail::loading_implicitly()) {
    inst->flusher().try_connect();
  } else {
    inst->flusher().connect_or_throw();
  }
  detail::redis::adopt(std::move(inst));
}

std::vector<MetricRows> MultiProcessRedisBackend::generate_samples(
    const BackendConfig&, const std::vector<MetricRequest>& metrics) {
  return detail::redis::read_metrics(current_instance(), metrics);
}

bool MultiProcessRedisBackend::flush() {
  bool done = true;
  for (detail::redis::Instance* i : detail::redis::all_instances()) {
    std::string why;
    done = i->flusher().flush(why) && done;
  }
  return done;
}

RedisBackendStats MultiProcessRedisBackend::stats() {
  return detail::redis::collect_stats();
}

PYTHEUS_REGISTER_BACKEND(MultiProcessRedisBackend, std::string(MultiProcessRedisBackend::name),
                         {std::string(MultiProcessRedisBackend::pytheus_path)});

}  // namespace pytheus

extern "C" {
extern const int pytheus_redis_backend_anchor;
const int pytheus_redis_backend_anchor = 1;
}
