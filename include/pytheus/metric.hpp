// What every metric type shares: its options and description, its labelled children (a
// family), the handle users hold, and timers. Each concept has its own header; this one
// gathers them for counter.hpp, gauge.hpp, histogram.hpp and summary.hpp.
#pragma once

#include "pytheus/descriptor.hpp"
#include "pytheus/detail/family.hpp"
#include "pytheus/detail/handle.hpp"
#include "pytheus/detail/likely.hpp"
#include "pytheus/detail/timer.hpp"
#include "pytheus/metric_options.hpp"
