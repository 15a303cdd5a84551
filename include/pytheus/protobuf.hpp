// The protobuf exposition format (component pytheus::protobuf): length-delimited
// `io.prometheus.client.MetricFamily` messages, the format Prometheus asks for first when
// its native histograms are on (`--enable-feature=native-histograms`).
//
// Link `pytheus::protobuf` and call `pytheus::protobuf::enable()` once at start-up: from then
// on `negotiate_format()`, `generate_metrics(..., Format::protobuf)` and the HTTP exposer
// serve it to scrapers that rank it highest in their `Accept` header. The text formats are
// unchanged.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "pytheus/exposition.hpp"
#include "pytheus/registry.hpp"

namespace pytheus::protobuf {

/// Content type of the delimited protobuf format.
inline constexpr std::string_view kContentType = kProtobufContentType;

/// Makes this program serve the protobuf format (idempotent, thread-safe): negotiate_format()
/// picks it when a scraper ranks it highest, and the exposer answers with it.
///
/// **Example**:
///     int main() {
///       pytheus::protobuf::enable();
///       pytheus::http::Exposer exposer({"127.0.0.1:9100"});
///       ...
///     }
void enable();

/// Returns the exposition of `registry` as delimited MetricFamily messages (enables the
/// format, as enable()). Throws CollectError when the scrape cannot be answered with current
/// values.
std::string generate_metrics(const Registry& registry = default_registry());

/// Returns one exposition of several registries, each family under its own registry's
/// prefix.
std::string generate_metrics(const std::vector<const Registry*>& registries);

}  // namespace pytheus::protobuf
