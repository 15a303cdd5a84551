// What the native-histogram tests of the multi-process backends share (test_redis_native.cpp,
// test_file_native.cpp).
#pragma once

#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "pytheus/detail/native.hpp"
#include "pytheus/pytheus.hpp"

namespace pytheus_test {

// Keeps the native buckets, counts and sums a collect writes, by series labels.
class NativeRecorder : public pytheus::MetricWriter {
 public:
  void family(std::string_view, std::string_view, pytheus::MetricType, std::string_view) override {}
  void sample(std::string_view suffix, const pytheus::LabelView* labels, std::size_t n,
              double value) override {
    if (suffix == "_count") counts[key(labels, n)] = value;
    if (suffix == "_sum") sums[key(labels, n)] = value;
  }
  void native_histogram(const pytheus::LabelView* labels, std::size_t n,
                        const pytheus::NativeBuckets& b) override {
    natives[key(labels, n)] = b;
  }
  static std::string key(const pytheus::LabelView* labels, std::size_t n) {
    std::string k;
    for (std::size_t i = 0; i < n; ++i) k += std::string(labels[i].value) + ";";
    return k;
  }
  std::map<std::string, pytheus::NativeBuckets> natives;
  std::map<std::string, double> counts;
  std::map<std::string, double> sums;
};

// Native options with a limit of 24 buckets, which the tests' wide data must reach.
inline pytheus::NativeHistogramOptions small_limit() {
  pytheus::NativeHistogramOptions o;
  o.max_buckets = 24;
  return o;
}

// The native buckets of `values` computed directly at `schema` and `zero_threshold`.
inline pytheus::NativeBuckets expected_at(const std::vector<double>& values, std::int32_t schema,
                                          double zero_threshold) {
  namespace native = pytheus::detail::native;
  pytheus::NativeBuckets b;
  b.schema = schema;
  b.zero_threshold = zero_threshold;
  for (double v : values) {
    if (std::fabs(v) <= zero_threshold) {
      ++b.zero_count;
      continue;
    }
    native::BucketList one = {{native::bucket_index(std::fabs(v), schema), 1}};
    native::add(v > 0 ? b.positive : b.negative, one);
  }
  return b;
}

}  // namespace pytheus_test
