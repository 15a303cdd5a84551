// Enum: which one of a fixed list of states holds (a task's `starting`, `running`,
// `stopped`). OpenMetrics shows it as a stateset, one sample per state labelled with the
// metric's name, 1 for the state that holds and 0 for the others; the text format shows the
// same samples as a gauge.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pytheus/metric.hpp"

namespace pytheus {

namespace detail {
// Options of a state metric from the positional arguments.
MetricOptions state_options(std::string_view name, std::string_view description,
                            std::vector<std::string> states, const LabelNames& required_labels,
                            const LabelDefaults& default_labels, RegistryRef registry,
                            bool exclusive);
MetricOptions exclusive_states(MetricOptions options);
// The position of `state` in the metric's states; throws InvalidValueError listing them.
std::size_t state_index(const MetricDescriptor& d, std::string_view state);
}  // namespace detail

/// BasicEnum is a metric holding exactly one of its states; a new series holds the first.
/// Stored as a gauge holding the index of the state (mode mostrecent: across processes,
/// the latest state() wins) on whatever backend holds it. Use the alias Enum.
///
/// **Example**:
///     pytheus::Enum task("task_state", "Task state.", {"starting", "running", "stopped"});
///     task.state("running");
template <class B = LoadedBackend>
class BasicEnum : public detail::MetricHandle<BasicEnum<B>, detail::ValueSeries<B>> {
  using Base = detail::MetricHandle<BasicEnum<B>, detail::ValueSeries<B>>;
  friend Base;

 public:
  BasicEnum(std::string_view name, std::string_view description, std::vector<std::string> states,
            LabelNames required_labels = {}, LabelDefaults default_labels = {},
            RegistryRef registry = {})
      : Base(MetricType::stateset,
             detail::state_options(name, description, std::move(states), required_labels,
                                   default_labels, registry, true)) {}
  /// `options.states` lists the states.
  explicit BasicEnum(MetricOptions options)
      : Base(MetricType::stateset, detail::exclusive_states(std::move(options))) {}

  /// Makes `state` the one that holds; throws InvalidValueError for an unknown state.
  void state(std::string_view state) const {
    const std::size_t i = detail::state_index(this->descriptor(), state);
    this->series().get().set(static_cast<double>(i));
  }
  /// The state that holds.
  const std::string& state() const {
    const auto& states = this->descriptor().states;
    const double v = this->series().get().get();
    const std::size_t i =
        v >= 0 && v < static_cast<double>(states.size()) ? static_cast<std::size_t>(v) : 0;
    return states[i];
  }

 private:
  explicit BasicEnum(typename Base::Parts parts) : Base(std::move(parts)) {}
};

/// Enum is an enum metric on the loaded backend.
using Enum = BasicEnum<>;

// Compiled once in the core library.
extern template class detail::MetricHandle<BasicEnum<>, detail::ValueSeries<LoadedBackend>>;

}  // namespace pytheus
