// Label sets and the naming rules for metrics and labels.
//
// A series is identified by its label *set*: the order in which values are given never
// matters. Any byte string is a valid label value; it is escaped on output.
#pragma once

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

bool matches_name(std::string_view name, bool allow_colon);

// Quotes a name for an error message so that empty or odd names stay visible.
std::string quote_name(std::string_view s);

}  // namespace detail

/// Returns whether `name` matches the metric name rule `[a-zA-Z_:][a-zA-Z0-9_:]*`.
bool is_valid_metric_name(std::string_view name);

/// Returns whether `name` matches the label name rule `[a-zA-Z_][a-zA-Z0-9_]*` and does not
/// use the `__` prefix Prometheus reserves for itself.
bool is_valid_label_name(std::string_view name);

/// Throws InvalidNameError unless `name` is a valid metric name.
void validate_metric_name(std::string_view name);

/// Throws InvalidNameError unless `label` is a valid label name for metric `metric`.
/// `reserved` names a label the metric type keeps for itself (`le` for histograms,
/// `quantile` for summaries); empty when there is none.
void validate_label_name(std::string_view label, std::string_view metric,
                         std::string_view reserved = {});

}  // namespace pytheus
