// pytheus::push::Pushgateway: pushes a registry to a Prometheus Pushgateway, for batch jobs that
// end before any scrape.
//
// Part of the compiled target pytheus::push, which needs libcurl to build (code that includes
// this header does not). Each call sends the registry's exposition (Prometheus text 0.0.4, from
// generate_metrics, so on the Redis backend it is the service totals) in one HTTP request, on the
// calling thread, and returns once the gateway has answered.
//
// Threads: a Pushgateway is immutable after construction and each call uses its own connection,
// so one object may be used from several threads at once.
// Timeouts: every call is bounded by PushgatewayOptions::connect_timeout (TCP and TLS set-up) and
// request_timeout (the whole request, connecting included); nothing waits longer.
// Failures: never silent. A gateway that cannot be reached, or that answers anything but 200 or
// 202, throws PushError naming the method, the gateway URL (without credentials), the HTTP status
// and the first line of the gateway's answer; the caller decides whether to retry. Credentials
// never appear in a message. A registry that cannot be read throws CollectError before anything is
// sent.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "pytheus/errors.hpp"
#include "pytheus/labels.hpp"
#include "pytheus/registry.hpp"

namespace pytheus::push {

/// PushError reports a push, push-add or delete that did not succeed: the gateway was
/// unreachable or timed out (status() is 0), or answered with an error status.
class PushError : public Error {
 public:
  PushError(const std::string& message, int status) : Error(message), status_(status) {}
  /// The HTTP status the gateway answered, or 0 when there was no answer.
  int status() const noexcept { return status_; }

 private:
  int status_;
};

/// PushBasicAuth is the username and password sent to the gateway with HTTP basic
/// authentication. They travel in clear text unless the gateway URL is `https://`.
struct PushBasicAuth {
  std::string username;
  std::string password;
};

/// PushgatewayOptions are the optional settings of a Pushgateway.
struct PushgatewayOptions {
  /// Grouping labels besides the job: with the job, they name the group a push replaces.
  /// Names follow the label name rules and cannot be `job`; values may be any string.
  Labels grouping;
  /// Sent with every request when set. Credentials in the URL (`http://user:pass@host`) are used
  /// the same way when this is not set.
  std::optional<PushBasicAuth> basic_auth;
  /// Longest time to establish the connection. At least 1 ms.
  std::chrono::milliseconds connect_timeout{5000};
  /// Longest time for a whole request, connection included. At least 1 ms.
  std::chrono::milliseconds request_timeout{30000};
};

/// Pushgateway pushes registries to one group of a Pushgateway: the job name and the grouping
/// labels, as `<url>/metrics/job/<job>{/<label>/<value>}`.
///
/// **Example**:
///     pytheus::push::Pushgateway gateway("http://127.0.0.1:9091", "nightly_backup",
///                                        {{{"instance", "db1"}}});
///     gateway.push(registry);   // replaces the group with the registry's metrics
class Pushgateway {
 public:
  /// Targets the gateway at `url` (`http://host:port` or `https://...`, optionally with a path
  /// prefix; `host:port` means `http://host:port`) and the group of `job` and
  /// `options.grouping`. Throws InvalidNameError for an empty job or an invalid grouping label
  /// name, and PushError for a URL that cannot be parsed or is not http(s).
  Pushgateway(const std::string& url, std::string job, PushgatewayOptions options = {});

  /// Replaces every metric of the group with the metrics of `registry` (HTTP PUT). An empty
  /// registry leaves the group with no metrics.
  void push(const Registry& registry = default_registry()) const;

  /// Replaces only the metrics of the group that have the same names as those of `registry`,
  /// keeping the others (HTTP POST).
  void push_add(const Registry& registry = default_registry()) const;

  /// Deletes the group and all its metrics (HTTP DELETE). Deleting a group that does not exist
  /// succeeds.
  void delete_group() const;

  /// The URL of the group, without credentials: what error messages name.
  const std::string& group_url() const noexcept { return group_url_; }

  /// The job name.
  const std::string& job() const noexcept { return job_; }

 private:
  void send(const char* method, const std::string* body) const;

  std::string job_;
  PushgatewayOptions options_;
  std::string group_url_;
};

}  // namespace pytheus::push
