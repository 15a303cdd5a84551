// The process's side of the backend: every configuration loaded so far, the current one,
// and what happens at fork and at exit.
#pragma once

#include <memory>
#include <vector>

#include "instance.hpp"

namespace pytheus::detail::redis {

// Makes `inst` the current configuration (kept, never destroyed). The first call installs
// the fork and exit hooks and the self-metrics.
void adopt(std::unique_ptr<Instance> inst);

// The configuration load_backend made current; throws BackendError before the first.
Instance& current_instance();

// Whether `inst` is the current configuration.
bool is_current(const Instance& inst);

// Every configuration loaded so far.
std::vector<Instance*> all_instances();

}  // namespace pytheus::detail::redis
