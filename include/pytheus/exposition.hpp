// Exposition: the Prometheus text format 0.0.4 and OpenMetrics 1.0.
//
// generate_metrics() reads a registry (the metrics on the loaded backend through its bulk
// read when it has one, everything else collector by collector) and writes one block per
// family, HELP and TYPE once each. Floats print shortest-round-trip; label values and help
// texts are escaped for the format, and bytes that are not UTF-8 become U+FFFD, since both
// formats require UTF-8. Everything here is safe to call concurrently with updates.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "pytheus/collector.hpp"
#include "pytheus/registry.hpp"

namespace pytheus {

/// Format is an exposition format.
enum class Format {
  /// Prometheus text format 0.0.4.
  prometheus,
  /// OpenMetrics 1.0.0 text.
  openmetrics,
};

/// Content type of the Prometheus text format 0.0.4.
inline constexpr std::string_view kPrometheusContentType =
    "text/plain; version=0.0.4; charset=utf-8";
/// Content type of OpenMetrics 1.0.0.
inline constexpr std::string_view kOpenMetricsContentType =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Returns the content type of `format`.
constexpr std::string_view content_type(Format format) {
  return format == Format::openmetrics ? kOpenMetricsContentType : kPrometheusContentType;
}

/// Streams every family of `registry` into `writer`: the metrics on the loaded backend
/// through its bulk read where it has one, the rest collector by collector. Throws
/// CollectError when a value cannot be read or a collector fails; nothing is then worth
/// serving.
void collect(const Registry& registry, MetricWriter& writer);

/// Returns the families of `registry` with their current samples.
std::vector<MetricFamily> collect(const Registry& registry);

/// Returns the exposition of `registry` (default: the default registry) in `format`
/// (default: Prometheus text 0.0.4). Throws CollectError when the scrape cannot be answered
/// with current values.
///
/// **Example**:
///     std::string text = pytheus::generate_metrics();
std::string generate_metrics(const Registry& registry = default_registry(),
                             Format format = Format::prometheus);

/// Returns the exposition of the default registry in `format`.
std::string generate_metrics(Format format);

/// Returns one exposition of several registries, each family under its own registry's
/// prefix: what an HTTP exposer serves when it adds its own metrics to a user's registry.
/// Throws CollectError when a registry cannot be read or two of them yield the same family.
///
/// **Example**:
///     std::string text = pytheus::generate_metrics({&app, &sidecar},
///     pytheus::Format::openmetrics);
std::string generate_metrics(const std::vector<const Registry*>& registries,
                             Format format = Format::prometheus);

/// Picks the format a scraper asks for in its HTTP `Accept` header: of the media ranges
/// served (`application/openmetrics-text` version 1.0.0, 0.0.1 or none; `text/plain` version
/// 0.0.4 or none, `text/*`, `*/*`), the one of highest quality, ties to the first listed;
/// q=0 is not acceptable, other types are skipped. Else the Prometheus text format.
Format negotiate_format(std::string_view accept);

}  // namespace pytheus
