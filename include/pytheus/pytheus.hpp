// pytheus-cpp: Prometheus metrics for C++ with a pluggable backend. Include this header
// for everything in the core library.
#pragma once

#include "pytheus/backend.hpp"
#include "pytheus/backends.hpp"
#include "pytheus/collector.hpp"
#include "pytheus/counter.hpp"
#include "pytheus/errors.hpp"
#include "pytheus/exposition.hpp"
#include "pytheus/gauge.hpp"
#include "pytheus/histogram.hpp"
#include "pytheus/labels.hpp"
#include "pytheus/metric.hpp"
#include "pytheus/registry.hpp"
#include "pytheus/summary.hpp"
#include "pytheus/version.hpp"
