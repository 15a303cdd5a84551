// The naming rules for metrics and labels, with errors that name the offender.
#include "pytheus/errors.hpp"
#include "pytheus/labels.hpp"

namespace pytheus {

namespace detail {

static bool is_name_start(char c, bool allow_colon) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (allow_colon && c == ':');
}

static bool is_name_char(char c, bool allow_colon) {
  return is_name_start(c, allow_colon) || (c >= '0' && c <= '9');
}

bool matches_name(std::string_view name, bool allow_colon) {
  if (name.empty() || !is_name_start(name[0], allow_colon)) return false;
  for (char c : name.substr(1)) {
    if (!is_name_char(c, allow_colon)) return false;
  }
  return true;
}

// Quotes a name for an error message so that empty or odd names stay visible.
std::string quote_name(std::string_view s) {
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
bool is_valid_metric_name(std::string_view name) {
  return detail::matches_name(name, true);
}

/// Returns whether `name` matches the label name rule `[a-zA-Z_][a-zA-Z0-9_]*` and does not
/// use the `__` prefix Prometheus reserves for itself.
bool is_valid_label_name(std::string_view name) {
  return detail::matches_name(name, false) && name.substr(0, 2) != "__";
}

/// Throws InvalidNameError unless `name` is a valid metric name.
void validate_metric_name(std::string_view name) {
  if (!is_valid_metric_name(name)) {
    throw InvalidNameError("invalid metric name " + detail::quote_name(name) +
                           ": must match [a-zA-Z_:][a-zA-Z0-9_:]*");
  }
}

/// Throws InvalidNameError unless `label` is a valid label name for metric `metric`.
/// `reserved` names a label the metric type keeps for itself (`le` for histograms,
/// `quantile` for summaries); empty when there is none.
void validate_label_name(std::string_view label, std::string_view metric,
                         std::string_view reserved) {
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
