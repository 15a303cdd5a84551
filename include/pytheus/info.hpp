// Info: facts about the target that do not change (version, build, commit), one series per
// label set. OpenMetrics shows `<name>_info{...} 1` in a family of type info; the text format
// shows the same sample as a gauge named `<name>_info`.
#pragma once

#include <initializer_list>
#include <string_view>
#include <utility>

#include "pytheus/metric.hpp"

namespace pytheus {

/// BasicInfo is a metric whose series state facts: each label set that is set() shows with
/// the value 1. The name is given without `_info`, which the sample adds. Stored as a gauge
/// (mode mostrecent) on whatever backend holds it. Use the alias Info.
///
/// **Example**:
///     pytheus::Info build("build", "Build information.", {"version", "commit"});
///     build.info({{"version", "1.4.2"}, {"commit", "9f1c2e0"}});
template <class B = LoadedBackend>
class BasicInfo : public detail::MetricHandle<BasicInfo<B>, detail::ValueSeries<B>> {
  using Base = detail::MetricHandle<BasicInfo<B>, detail::ValueSeries<B>>;
  friend Base;

 public:
  BasicInfo(std::string_view name, std::string_view description, LabelNames required_labels = {},
            LabelDefaults default_labels = {}, RegistryRef registry = {})
      : Base(MetricType::info, name, description, required_labels, default_labels, registry,
             nullptr) {}
  explicit BasicInfo(MetricOptions options) : Base(MetricType::info, std::move(options)) {}

  /// Records this handle's label set, so that it shows.
  void set() const { this->series().get().set(1); }
  /// The same as labels(labels).set().
  void info(std::initializer_list<LabelPair> labels) const { this->labels(labels).set(); }

 private:
  explicit BasicInfo(typename Base::Parts parts) : Base(std::move(parts)) {}
};

/// Info is an info metric on the loaded backend.
using Info = BasicInfo<>;

// Compiled once in the core library.
extern template class detail::MetricHandle<BasicInfo<>, detail::ValueSeries<LoadedBackend>>;

}  // namespace pytheus
