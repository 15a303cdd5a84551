// Label sets and the naming rules for metrics and labels.
//
// A series is identified by its label *set*: the order in which values are given never
// matters. Any byte string is a valid label value; it is escaped on output.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pytheus/errors.hpp"

namespace pytheus {

/// Labels is a set of label names and values, as users write it:
/// `{{"method", "GET"}, {"code", "200"}}`.
using Labels = std::map<std::string, std::string>;

/// LabelPair is one name and value of a label, viewed; what `labels({...})` takes.
using LabelPair = std::pair<std::string_view, std::string_view>;

namespace detail {

inline bool is_name_start(char c, bool allow_colon) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (allow_colon && c == ':');
}

inline bool is_name_char(char c, bool allow_colon) {
  return is_name_start(c, allow_colon) || (c >= '0' && c <= '9');
}

inline bool matches_name(std::string_view name, bool allow_colon) {
  if (name.empty() || !is_name_start(name[0], allow_colon)) return false;
  for (char c : name.substr(1)) {
    if (!is_name_char(c, allow_colon)) return false;
  }
  return true;
}

// Quotes a name for an error message so that empty or odd names stay visible.
inline std::string quote_name(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  for (char c : s) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

}  // namespace detail

/// Returns whether `name` matches the metric name rule `[a-zA-Z_:][a-zA-Z0-9_:]*`.
inline bool is_valid_metric_name(std::string_view name) {
  return detail::matches_name(name, true);
}

/// Returns whether `name` matches the label name rule `[a-zA-Z_][a-zA-Z0-9_]*` and does not
/// use the `__` prefix Prometheus reserves for itself.
inline bool is_valid_label_name(std::string_view name) {
  return detail::matches_name(name, false) && name.substr(0, 2) != "__";
}

/// Throws InvalidNameError unless `name` is a valid metric name.
inline void validate_metric_name(std::string_view name) {
  if (!is_valid_metric_name(name)) {
    throw InvalidNameError("invalid metric name " + detail::quote_name(name) +
                           ": must match [a-zA-Z_:][a-zA-Z0-9_:]*");
  }
}

/// Throws InvalidNameError unless `label` is a valid label name for metric `metric`.
/// `reserved` names a label the metric type keeps for itself (`le` for histograms,
/// `quantile` for summaries); empty when there is none.
inline void validate_label_name(std::string_view label, std::string_view metric,
                                std::string_view reserved = {}) {
  if (!detail::matches_name(label, false)) {
    throw InvalidNameError("invalid label name " + detail::quote_name(label) + " for metric " +
                           detail::quote_name(metric) + ": must match [a-zA-Z_][a-zA-Z0-9_]*");
  }
  if (label.substr(0, 2) == "__") {
    throw InvalidNameError("invalid label name " + detail::quote_name(label) + " for metric " +
                           detail::quote_name(metric) + ": the prefix \"__\" is reserved");
  }
  if (!reserved.empty() && label == reserved) {
    throw InvalidNameError("invalid label name " + detail::quote_name(label) + " for metric " +
                           detail::quote_name(metric) + ": reserved for this metric type");
  }
}

}  // namespace pytheus
