// The protobuf writer, for the component's own tests and fuzz target: families streamed in,
// delimited MetricFamily messages out.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "metrics.pb.h"
#include "pytheus/detail/format_hook.hpp"

namespace pytheus::protobuf::detail {

// A writer that appends the families streamed into it to `out`, each MetricFamily message
// preceded by its size as a varint; finish() writes the last one.
std::unique_ptr<pytheus::detail::FormatWriter> make_writer(std::string& out);

// Native histogram buckets (sorted by index, empty ones left out) as protobuf spans and
// deltas, as client_golang's makeBuckets: a new span where the gap to the previous bucket is
// more than two buckets, smaller gaps filled with empty buckets; each delta is the count
// minus the previous bucket's count.
void encode_buckets(const std::vector<std::pair<std::int32_t, std::uint64_t>>& buckets,
                    google::protobuf::RepeatedPtrField<io::prometheus::client::BucketSpan>* spans,
                    google::protobuf::RepeatedField<std::int64_t>* deltas);

}  // namespace pytheus::protobuf::detail
