// StateSet: which of a fixed list of states hold, any number at once (feature flags, say).
// OpenMetrics shows one sample per state labelled with the metric's name, 1 where the state
// holds; the text format shows the same samples as a gauge.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pytheus/enum.hpp"
#include "pytheus/metric.hpp"

namespace pytheus {

namespace detail {
// Serialises the read-modify-write of state set masks in this process.
std::mutex& state_set_mutex();
}  // namespace detail

/// BasicStateSet is a metric whose states each hold or not; a new series has none. At most 53
/// states. Stored as a gauge holding the bit mask of the states that hold (mode mostrecent:
/// across processes the latest change wins, with the whole mask of the process that made it).
/// Use the alias StateSet.
///
/// **Example**:
///     pytheus::StateSet features("features", "Enabled features.", {"cache", "gzip"});
///     features.set_state("gzip", true);
template <class B = LoadedBackend>
class BasicStateSet : public detail::MetricHandle<BasicStateSet<B>, detail::ValueSeries<B>> {
  using Base = detail::MetricHandle<BasicStateSet<B>, detail::ValueSeries<B>>;
  friend Base;

 public:
  BasicStateSet(std::string_view name, std::string_view description,
                std::vector<std::string> states, LabelNames required_labels = {},
                LabelDefaults default_labels = {}, RegistryRef registry = {})
      : Base(MetricType::stateset,
             detail::state_options(name, description, std::move(states), required_labels,
                                   default_labels, registry, false)) {}
  /// `options.states` lists the states.
  explicit BasicStateSet(MetricOptions options) : Base(MetricType::stateset, std::move(options)) {}

  /// Sets whether `state` holds; throws InvalidValueError for an unknown state.
  void set_state(std::string_view state, bool holds = true) const {
    const std::uint64_t bit = std::uint64_t{1} << detail::state_index(this->descriptor(), state);
    auto& value = this->series().get();
    std::lock_guard<std::mutex> lock(detail::state_set_mutex());
    const std::uint64_t mask = mask_of(value.get());
    value.set(static_cast<double>(holds ? mask | bit : mask & ~bit));
  }
  /// Whether `state` holds; throws InvalidValueError for an unknown state.
  bool holds(std::string_view state) const {
    const std::size_t i = detail::state_index(this->descriptor(), state);
    return ((mask_of(this->series().get().get()) >> i) & 1) != 0;
  }

 private:
  explicit BasicStateSet(typename Base::Parts parts) : Base(std::move(parts)) {}
  static std::uint64_t mask_of(double v) {
    return v >= 0 && v < 9007199254740992.0 ? static_cast<std::uint64_t>(v) : 0;
  }
};

/// StateSet is a state set metric on the loaded backend.
using StateSet = BasicStateSet<>;

// Compiled once in the core library.
extern template class detail::MetricHandle<BasicStateSet<>, detail::ValueSeries<LoadedBackend>>;

}  // namespace pytheus
