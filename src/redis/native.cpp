// Why a process keeps a full native state for each series even though Redis holds the
// counts: the bucket limit is decided where the observation happens, without a round trip,
// and what it decides (a lower schema, a wider zero bucket) only ever coarsens, which the
// scrape can reproduce exactly when it merges processes.
#include "native.hpp"

#include <charconv>
#include <cstdlib>

#include "pytheus/detail/format.hpp"

namespace pytheus::detail::redis {
namespace {

NativeHistogramOptions without_reset(NativeHistogramOptions o) {
  o.min_reset_seconds = 0;
  return o;
}

}  // namespace

std::string native_field(const NativeDelta& d, std::string_view labels) {
  std::string f(1, d.kind);
  if (d.kind == 'z') {
    f += format_double(d.zero_threshold);
  } else {
    f += std::to_string(d.schema);
    f += '_';
    f += std::to_string(d.index);
  }
  f += '|';
  f.append(labels);
  return f;
}

NativeSlot::NativeSlot(const NativeHistogramOptions& options) : state(without_reset(options)) {}

NativeDelta NativeSlot::bucket_of(double v) {
  state.observe(v);
  NativeDelta d;
  d.n = 1;
  const double t = state.zero_threshold();
  if (v > t) {
    d.kind = 'p';
    d.schema = state.schema();
    d.index = native::bucket_index(v, d.schema);
  } else if (v < -t) {
    d.kind = 'n';
    d.schema = state.schema();
    d.index = native::bucket_index(-v, d.schema);
  } else {
    d.kind = 'z';
    d.zero_threshold = t;
  }
  return d;
}

void NativeSlot::add_pending(const NativeDelta& d, std::uint64_t n) {
  for (NativeDelta& p : pending) {
    if (p.same_bucket(d)) {
      p.n += n;
      return;
    }
  }
  pending.push_back(d);
  pending.back().n = n;
}

bool NativeReader::add(std::string_view field, double count, std::string_view& labels,
                       NativeBuckets& into) {
  const std::size_t bar = field.find('|');
  if (bar == std::string_view::npos || bar < 2) return false;
  labels = field.substr(bar + 1);
  const std::string_view kind = field.substr(0, bar);
  if (!(count >= 0) || count > 9007199254740992.0) return false;
  const auto n = static_cast<std::uint64_t>(count);
  NativeBuckets part;
  if (kind[0] == 'z') {
    const std::string text(kind.substr(1));
    char* end = nullptr;
    const double t = std::strtod(text.c_str(), &end);
    if (end != text.c_str() + text.size() || !(t >= 0)) return false;
    part.schema = options_.schema;
    part.zero_threshold = t;
    part.zero_count = n;
  } else if (kind[0] == 'p' || kind[0] == 'n') {
    const std::size_t under = kind.find('_');
    if (under == std::string_view::npos) return false;
    std::int32_t schema = 0;
    std::int32_t index = 0;
    const char* s = kind.data() + 1;
    const char* s_end = kind.data() + under;
    const char* i = kind.data() + under + 1;
    const char* i_end = kind.data() + kind.size();
    auto r1 = std::from_chars(s, s_end, schema);
    auto r2 = std::from_chars(i, i_end, index);
    if (r1.ec != std::errc() || r1.ptr != s_end || r2.ec != std::errc() || r2.ptr != i_end ||
        schema < native::kMinSchema || schema > native::kMaxSchema) {
      return false;
    }
    part.schema = schema;
    part.zero_threshold = 0;
    (kind[0] == 'p' ? part.positive : part.negative).emplace_back(index, n);
  } else {
    return false;
  }
  native::merge(into, part);
  return true;
}

NativeBuckets NativeReader::empty() const {
  NativeBuckets b;
  b.schema = options_.schema;
  b.zero_threshold = options_.zero_threshold;
  return b;
}

void NativeReader::limit(NativeBuckets& b) const {
  while (b.positive.size() + b.negative.size() > options_.max_buckets &&
         b.schema > native::kMinSchema) {
    native::reduce(b.positive, b.schema, b.schema - 1);
    native::reduce(b.negative, b.schema, b.schema - 1);
    b.schema -= 1;
  }
}

}  // namespace pytheus::detail::redis
