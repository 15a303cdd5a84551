// The backend's own health as numbers: MultiProcessRedisBackend::stats() and the
// pytheus_redis_* families in the default registry.
#pragma once

#include "pytheus/backends/redis.hpp"

namespace pytheus::detail::redis {

// This process's counts over every configuration loaded so far.
RedisBackendStats collect_stats();

// Adds the pytheus_redis_* collector to the default registry (once, at the first load).
void register_self_metrics();

}  // namespace pytheus::detail::redis
