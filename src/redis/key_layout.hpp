// The Redis key layout, shared with pytheus (docs/redis.md, "Key layout"): the only place
// keys and hash fields are composed, for the write path and the read path alike, so that the
// two can never disagree (pytheus forgets key_prefix on its read path).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config.hpp"
#include "pytheus/backend.hpp"

namespace pytheus::detail::redis {

// Where keys live: the optional key_prefix, and whether the server is a Redis Cluster. On a
// cluster every key of a metric carries the hash tag {NAME} (or {PREFIX-NAME}), so that all of
// them share one slot: an observation stays one transaction on one node. The bookkeeping keys
// of per-process gauges share the tag {pytheus} (or {PREFIX-pytheus}).
struct KeySpace {
  std::optional<std::string> prefix;
  bool cluster = false;
  KeySpace(std::nullopt_t) {}  // NOLINT: implicit on purpose, like the optional it wraps
  KeySpace(std::optional<std::string> p, bool c = false)  // NOLINT
      : prefix(std::move(p)), cluster(c) {}
  KeySpace(std::string p) : prefix(std::move(p)) {}  // NOLINT
};

// The key space of a configuration.
inline KeySpace key_space(const Config& c) {
  return KeySpace(c.key_prefix, c.cluster());
}

// The Redis keys of one series, computed once when it is bound.
struct Keys {
  // The labels JSON when the metric has labels (the keys are hashes), else empty (strings).
  std::string field;
  bool hash = false;
  // A value: its key. A histogram: each bucket key, then count and sum. A summary: count, sum.
  std::vector<std::string> keys;
  std::size_t buckets = 0;
  bool histogram = false;  // histogram or summary
  // A per-process gauge (mode all, sum, ...): keys[0] is NAME:proc and `field` is
  // "<process id>|<labels JSON>"; `stamped` (mostrecent modes): keys[1] is NAME:proc_ts, the
  // wall-clock time in ms of each field's last set().
  bool per_process = false;
  bool stamped = false;
  // Counters, histograms and summaries: NAME:created, the earliest creation time (Unix
  // seconds) of each series across processes, written set-if-absent under `field` (a string
  // for an unlabelled metric). Empty for other types.
  std::string created_key;
  // A counter or histogram series: the hash of its metric's exemplars (NAME:exemplars) and
  // this series' fields in it: `field` for a counter, "<bucket index>|<field>" per bucket of
  // a histogram. Empty for other types.
  std::string exemplar_key;
  std::vector<std::string> exemplar_fields;
  // A histogram with native buckets: its NAME:native hash (see native.hpp), else empty.
  std::string native_key;
};

// The hash of a metric's latest exemplars, one field per counter series or histogram bucket.
inline constexpr const char* kExemplarSuffix = ":exemplars";
std::string exemplar_key(const KeySpace& prefix, std::string_view name);

// The per-process key families of gauge NAME: values, and set() times (mostrecent modes).
inline constexpr const char* kProcSuffix = ":proc";
inline constexpr const char* kStampSuffix = ":proc_ts";

// The id of a process in per-process keys and in the process label: "<pid>@<host>" (pids
// repeat across hosts).
std::string process_id(long pid, std::string_view host);

// The keys of a gauge series in per-process mode `mode`, for process `proc`.
Keys per_process_keys(const KeySpace& prefix, const MetricInfo& series, GaugeMode mode,
                      std::string_view proc);

// The per-process keys of a gauge a scrape reads: NAME:proc, and NAME:proc_ts in mostrecent
// modes.
std::vector<std::string> per_process_metric_keys(const KeySpace& prefix, std::string_view name,
                                                 GaugeMode mode);

// The NAME:proc_ts key beside per-process key NAME:proc.
std::string stamp_key_of(const std::string& proc_key);
// The stamp a mostrecent gauge's set() writes beside its value: wall-clock microseconds since
// the epoch (exact in a double). Microseconds, so that two processes' set() calls a fork apart
// are told apart in the order they happened (milliseconds often tied there).
double set_stamp_now();

// Splits a per-process field into the process id and the labels JSON ("" for an unlabelled
// gauge); false when it has no "|".
bool split_process_field(std::string_view field, std::string_view& proc, std::string_view& labels);

// Liveness keys. A process's heartbeat (a string with a TTL of process_ttl_s); the hash of
// known processes (id -> wall-clock ms it was last seen); the set of per-process keys, each
// member "live|KEY" or "keep|KEY" by whether its gauge's mode drops dead processes at once;
// the lock that lets one process collect garbage per period.
std::string heartbeat_key(const KeySpace& prefix, std::string_view proc);
std::string processes_key(const KeySpace& prefix);
std::string process_keys_key(const KeySpace& prefix);
std::string gc_lock_key(const KeySpace& prefix);

// The name a metric is stored under: its exposed name, `<registry_prefix>_<name>` when its
// registry has a prefix, so that metrics whose exposed names differ never share a key.
std::string stored_name(std::string_view registry_prefix, std::string_view name);

// The key of the creation times of a metric's series: NAME:created.
std::string created_key(const KeySpace& prefix, std::string_view name);
// Whether series of `type` keep a creation time (they show `_created`).
constexpr bool keeps_created(MetricType type) {
  return type == MetricType::counter || type == MetricType::histogram ||
         type == MetricType::summary;
}

// NAME, or P-NAME with key_prefix P; on a cluster {NAME} or {P-NAME}.
std::string metric_key(const KeySpace& prefix, std::string_view name);

// Every key of a metric, in the order Keys::keys has them: NAME:<bound> per bound (shortest
// round trip, "+Inf" last), NAME:count, NAME:sum for a histogram; NAME:count, NAME:sum for a
// summary; NAME for anything else.
std::vector<std::string> metric_keys(const KeySpace& prefix, std::string_view name, MetricType type,
                                     const std::vector<double>& bounds);

// A histogram bucket bound as Python pytheus writes it in a key: an integral bound below 1e16
// as Python prints an int ("1", "2000000"), any other as Python's str() of a float
// (shortest round trip; exponent form "1e-05", "1.5e+16" only below 1e-4 or from 1e16 up);
// +Inf as "+Inf".
std::string bucket_text(double bound);

// The keys of a counter or gauge series; `bucket` (a value object a bucket-wise histogram
// made) adds ":bucket".
Keys value_keys(const KeySpace& prefix, const MetricInfo& series,
                std::optional<std::string_view> bucket);

// The NAME:native hash of a histogram with native buckets.
std::string native_key(const KeySpace& prefix, std::string_view name);
// The keys of a histogram series, or of a summary series when `bounds` is empty.
Keys histogram_keys(const KeySpace& prefix, const MetricInfo& series,
                    const std::vector<double>& bounds);

// The hash field of the series with label `values` of a metric with label `names` (both in
// declared order): the labels JSON of the set sorted by name.
std::string field_of(const std::vector<std::string>& names, const std::vector<std::string>& values);

// The key holding the number of the last flush transaction a process applied. On a cluster
// a process has one per hash tag it flushes to (cluster_sequence_key), as a transaction
// cannot span slots.
std::string sequence_key(const KeySpace& prefix, std::string_view host, long pid,
                         std::uint64_t nonce);

// The sequence key of a process's flush transactions to the slot of hash tag `tag`:
// "{TAG}:" + `sequence` (the key sequence_key gives without a cluster).
std::string cluster_sequence_key(std::string_view tag, std::string_view sequence);

}  // namespace pytheus::detail::redis
