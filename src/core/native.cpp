// Native histogram math and in-process storage. The limit strategies follow client_golang's
// documented order: reset after min_reset_seconds, else widen the zero bucket up to
// max_zero_threshold, else halve the resolution. Everything that merges bucket sets
// (processes at different schemas, a backend change) goes through merge(), which only ever
// coarsens, so it is exact.
#include "pytheus/detail/native.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <limits>

namespace pytheus::detail::native {
namespace {

// Bound j of schema s is 2^(j / 2^s - 1). j / 2^s is exact in binary, so bound 2j of schema
// s + 1 is the same double as bound j of schema s: reduction stays exact.
struct FractionTable {
  std::array<std::vector<double>, kMaxSchema + 1> bounds;
  FractionTable() {
    for (std::int32_t s = 0; s <= kMaxSchema; ++s) {
      const std::int32_t n = std::int32_t{1} << s;
      std::vector<double>& b = bounds[static_cast<std::size_t>(s)];
      for (std::int32_t j = 0; j < n; ++j) {
        b.push_back(std::exp2(static_cast<double>(j) / n - 1));
      }
    }
  }
};

const FractionTable& table() {
  static const FractionTable t;
  return t;
}

// Forces the table's construction before main(), so observe() never meets a static guard
// under concurrency for the first time (and the hot path stays a plain pointer read).
const double* const kSchema1 = table().bounds[1].data();

double steady_seconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

}  // namespace

const double* fraction_bounds(std::int32_t schema) {
  (void)kSchema1;
  return table().bounds[static_cast<std::size_t>(schema)].data();
}

double upper_bound(std::int32_t index, std::int32_t schema) {
  if (schema < 0) {
    const std::int64_t exp = static_cast<std::int64_t>(index) * (std::int64_t{1} << -schema);
    if (exp == 1024) return std::numeric_limits<double>::max();
    if (exp > 1024) return std::numeric_limits<double>::infinity();
    return std::ldexp(1.0, static_cast<int>(std::max<std::int64_t>(exp, -2000)));
  }
  const std::int32_t frac_index = index & ((std::int32_t{1} << schema) - 1);
  const double frac =
      table().bounds[static_cast<std::size_t>(schema)][static_cast<std::size_t>(frac_index)];
  const std::int32_t exp = (index >> schema) + 1;
  if (frac == 0.5 && exp == 1025) return std::numeric_limits<double>::max();
  return std::ldexp(frac, exp);
}

std::int32_t schema_for_factor(double factor) {
  const double floor = std::floor(std::log2(std::log2(factor)));
  if (floor <= -kMaxSchema) return kMaxSchema;
  if (floor >= -kMinSchema) return kMinSchema;
  return -static_cast<std::int32_t>(floor);
}

void reduce(BucketList& buckets, std::int32_t from, std::int32_t to) {
  if (to >= from) return;
  std::size_t out = 0;
  for (std::size_t i = 0; i < buckets.size(); ++i) {
    const std::int32_t index = reduce_index(buckets[i].first, from, to);
    if (out > 0 && buckets[out - 1].first == index) {
      buckets[out - 1].second += buckets[i].second;
    } else {
      buckets[out++] = {index, buckets[i].second};
    }
  }
  buckets.resize(out);
}

void add(BucketList& into, const BucketList& from) {
  BucketList out;
  out.reserve(into.size() + from.size());
  std::size_t i = 0;
  std::size_t j = 0;
  while (i < into.size() || j < from.size()) {
    if (j == from.size() || (i < into.size() && into[i].first < from[j].first)) {
      out.push_back(into[i++]);
    } else if (i == into.size() || from[j].first < into[i].first) {
      out.push_back(from[j++]);
    } else {
      out.emplace_back(into[i].first, into[i].second + from[j].second);
      ++i, ++j;
    }
  }
  into.swap(out);
}

void fold_into_zero(NativeBuckets& b) {
  for (bool changed = true; changed;) {
    changed = false;
    for (BucketList* list : {&b.positive, &b.negative}) {
      std::size_t drop = 0;
      while (drop < list->size() && lower_bound((*list)[drop].first, b.schema) < b.zero_threshold) {
        b.zero_count += (*list)[drop].second;
        const double ub = upper_bound((*list)[drop].first, b.schema);
        if (ub > b.zero_threshold) {
          b.zero_threshold = ub;
          changed = true;
        }
        ++drop;
      }
      list->erase(list->begin(), list->begin() + static_cast<std::ptrdiff_t>(drop));
    }
  }
}

void merge(NativeBuckets& into, const NativeBuckets& from) {
  const std::int32_t schema = std::min(into.schema, from.schema);
  reduce(into.positive, into.schema, schema);
  reduce(into.negative, into.schema, schema);
  into.schema = schema;
  BucketList positive = from.positive;
  BucketList negative = from.negative;
  reduce(positive, from.schema, schema);
  reduce(negative, from.schema, schema);
  add(into.positive, positive);
  add(into.negative, negative);
  into.zero_count += from.zero_count;
  into.zero_threshold = std::max(into.zero_threshold, from.zero_threshold);
  fold_into_zero(into);
}

std::uint64_t total_count(const NativeBuckets& b) {
  std::uint64_t n = b.zero_count;
  for (const auto& p : b.positive) n += p.second;
  for (const auto& p : b.negative) n += p.second;
  return n;
}

NativeState::NativeState(const NativeHistogramOptions& options)
    : options_(options),
      schema_(options.schema),
      zero_threshold_(options.zero_threshold),
      max_buckets_(options.max_buckets == 0 ? 1 : options.max_buckets),
      last_reset_(options.min_reset_seconds > 0 ? steady_seconds() : 0) {
  positive_.limit = negative_.limit = std::size_t{8} * max_buckets_;
}

bool NativeState::Window::grow_and_add(std::int32_t index, std::uint64_t n,
                                       std::uint32_t& populated, bool force) {
  if (!counts.empty() && index >= offset &&
      static_cast<std::size_t>(index - offset) < counts.size()) {
    // Within the window already (load() and merges come here for every bucket).
  } else if (counts.empty()) {
    // Room around the first bucket for the neighbours that usually follow.
    const std::size_t size = std::max<std::size_t>(1, std::min<std::size_t>(limit, 16));
    counts.assign(size, 0);
    offset = index - static_cast<std::int32_t>(size / 2);
  } else {
    const std::int64_t lo = std::min<std::int64_t>(offset, index);
    const std::int64_t hi =
        std::max<std::int64_t>(offset + static_cast<std::int64_t>(counts.size()) - 1, index);
    const auto needed = static_cast<std::size_t>(hi - lo + 1);
    if (needed > limit && !force) return false;
    // At least double, so that a drifting range reallocates rarely; within the limit.
    std::size_t size = std::max(needed, counts.size() * 2);
    if (!force) size = std::min(size, limit);
    size = std::max(size, needed);
    std::vector<std::uint64_t> grown(size, 0);
    std::int32_t new_offset = 0;
    if (index < offset) {
      new_offset = static_cast<std::int32_t>(hi - static_cast<std::int64_t>(size) + 1);
    } else {
      new_offset = static_cast<std::int32_t>(lo);
    }
    for (std::size_t i = 0; i < counts.size(); ++i) {
      grown[static_cast<std::size_t>(offset + static_cast<std::int32_t>(i) - new_offset)] =
          counts[i];
    }
    counts.swap(grown);
    offset = new_offset;
  }
  std::uint64_t& c = counts[static_cast<std::size_t>(index - offset)];
  if (c == 0 && n > 0) ++populated;
  c += n;
  return true;
}

bool NativeState::add_value(double value, bool force) {
  if (value > zero_threshold_) {
    const std::int32_t index = bucket_index(value, schema_);
    return positive_.add(index, populated_) || positive_.grow_and_add(index, 1, populated_, force);
  }
  if (value < -zero_threshold_) {
    const std::int32_t index = bucket_index(-value, schema_);
    return negative_.add(index, populated_) || negative_.grow_and_add(index, 1, populated_, force);
  }
  ++zero_count_;
  return true;
}

NativeState::Result NativeState::limit(double value, bool added) {
  for (;;) {
    if (added && populated_ <= max_buckets_) return Result::ok;
    if (options_.min_reset_seconds > 0) {
      const double now = steady_seconds();
      if (now - last_reset_ >= options_.min_reset_seconds) {
        reset();
        last_reset_ = now;
        return Result::reset;
      }
    }
    if (!widen_zero_bucket()) {
      if (schema_ > kMinSchema) {
        halve_resolution();
      } else {
        // Nothing left to give up: keep the value, over the limit rather than lost.
        if (!added) add_value(value, true);
        return Result::ok;
      }
    }
    if (!added) added = add_value(value, false);
  }
}

bool NativeState::widen_zero_bucket() {
  if (zero_threshold_ >= options_.max_zero_threshold) return false;
  std::int32_t smallest = std::numeric_limits<std::int32_t>::max();
  for (const Window* w : {&positive_, &negative_}) {
    for (std::size_t i = 0; i < w->counts.size(); ++i) {
      if (w->counts[i] != 0) {
        smallest = std::min(smallest, w->offset + static_cast<std::int32_t>(i));
        break;
      }
    }
  }
  if (smallest == std::numeric_limits<std::int32_t>::max()) return false;
  const double threshold = upper_bound(smallest, schema_);
  if (threshold > options_.max_zero_threshold) return false;
  for (Window* w : {&positive_, &negative_}) {
    const std::size_t at = static_cast<std::size_t>(smallest - w->offset);
    if (smallest >= w->offset && at < w->counts.size() && w->counts[at] != 0) {
      zero_count_ += w->counts[at];
      w->counts[at] = 0;
      --populated_;
    }
  }
  zero_threshold_ = threshold;
  return true;
}

void NativeState::halve_resolution() {
  NativeBuckets b;
  snapshot(b);
  reduce(b.positive, b.schema, b.schema - 1);
  reduce(b.negative, b.schema, b.schema - 1);
  b.schema -= 1;
  load(b);
}

void NativeState::snapshot(NativeBuckets& out) const {
  out.schema = schema_;
  out.zero_threshold = zero_threshold_;
  out.zero_count = zero_count_;
  out.positive.clear();
  out.negative.clear();
  for (std::size_t i = 0; i < positive_.counts.size(); ++i) {
    if (positive_.counts[i] != 0) {
      out.positive.emplace_back(positive_.offset + static_cast<std::int32_t>(i),
                                positive_.counts[i]);
    }
  }
  for (std::size_t i = 0; i < negative_.counts.size(); ++i) {
    if (negative_.counts[i] != 0) {
      out.negative.emplace_back(negative_.offset + static_cast<std::int32_t>(i),
                                negative_.counts[i]);
    }
  }
}

void NativeState::load(const NativeBuckets& b) {
  schema_ = b.schema;
  zero_threshold_ = b.zero_threshold;
  zero_count_ = b.zero_count;
  populated_ = 0;
  positive_.counts.clear();
  negative_.counts.clear();
  for (const auto& [index, count] : b.positive) {
    positive_.grow_and_add(index, count, populated_, true);
  }
  for (const auto& [index, count] : b.negative) {
    negative_.grow_and_add(index, count, populated_, true);
  }
}

void NativeState::merge(const NativeBuckets& other) {
  NativeBuckets mine;
  snapshot(mine);
  native::merge(mine, other);
  load(mine);
}

void NativeState::reset() {
  if (schema_ != options_.schema) {
    // The windows' offsets are indices of another schema: start them afresh (their
    // capacity stays, so the next observations do not allocate).
    positive_.counts.clear();
    negative_.counts.clear();
  }
  schema_ = options_.schema;
  zero_threshold_ = options_.zero_threshold;
  zero_count_ = 0;
  populated_ = 0;
  std::fill(positive_.counts.begin(), positive_.counts.end(), 0);
  std::fill(negative_.counts.begin(), negative_.counts.end(), 0);
}

}  // namespace pytheus::detail::native
