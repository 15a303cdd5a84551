// Exceptions thrown by pytheus-cpp. Every one derives from pytheus::Error, and its message
// says what was wrong and with which name or value.
#pragma once

#include <stdexcept>
#include <string>

namespace pytheus {

/// Error is the base of every exception the library throws.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// InvalidNameError reports a metric or label name that breaks the naming rules.
class InvalidNameError : public Error {
 public:
  using Error::Error;
};

/// LabelError reports a wrong label set: an unknown, reserved, duplicated or missing label, or
/// labels given to a metric that has none.
class LabelError : public Error {
 public:
  using Error::Error;
};

/// CardinalityError is thrown when a metric limited to a number of label sets
/// (MetricOptions::max_series) with the refuse policy is asked for a new one.
class CardinalityError : public LabelError {
 public:
  using LabelError::LabelError;
};

/// UnobservableMetricError is thrown when a value is read or changed through a handle whose
/// labels are not all set yet (a partial handle).
class UnobservableMetricError : public Error {
 public:
  using Error::Error;
};

/// InvalidValueError reports a value a metric cannot take: a negative or NaN counter
/// increment, a NaN observation.
class InvalidValueError : public Error {
 public:
  using Error::Error;
};

/// BucketError reports histogram buckets that are empty, unordered or not finite.
class BucketError : public Error {
 public:
  using Error::Error;
};

/// RegistrationError reports a second, different collector registered under a taken name.
class RegistrationError : public Error {
 public:
  using Error::Error;
};

/// BackendError reports a backend that cannot be loaded: an unknown class, an unreadable or
/// invalid configuration, a failed initialisation (an unreachable server, say).
class BackendError : public Error {
 public:
  using Error::Error;
};

/// CollectError reports a scrape that could not be answered with current values (the
/// backend's store is unreachable, a collector failed, two collectors yield one family).
/// An HTTP exposer answers it with 503.
class CollectError : public Error {
 public:
  using Error::Error;
};

}  // namespace pytheus
