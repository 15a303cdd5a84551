// The handles of the loaded backend's Counter, Gauge, Histogram and Summary are compiled
// here once instead of in every file that defines or uses a metric.
#include "pytheus/counter.hpp"
#include "pytheus/detail/handle_impl.hpp"
#include "pytheus/enum.hpp"
#include "pytheus/gauge.hpp"
#include "pytheus/histogram.hpp"
#include "pytheus/info.hpp"
#include "pytheus/stateset.hpp"
#include "pytheus/summary.hpp"

namespace pytheus::detail {

template class MetricHandle<BasicCounter<>, ValueSeries<LoadedBackend>>;
template class MetricHandle<BasicGauge<>, ValueSeries<LoadedBackend>>;
template class MetricHandle<BasicHistogram<>, HistogramSeries<LoadedBackend>>;
template class MetricHandle<BasicSummary<>, HistogramSeries<LoadedBackend>>;
template class MetricHandle<BasicInfo<>, ValueSeries<LoadedBackend>>;
template class MetricHandle<BasicEnum<>, ValueSeries<LoadedBackend>>;
template class MetricHandle<BasicStateSet<>, ValueSeries<LoadedBackend>>;

MetricOptions state_options(std::string_view name, std::string_view description,
                            std::vector<std::string> states, const LabelNames& required_labels,
                            const LabelDefaults& default_labels, RegistryRef registry,
                            bool exclusive) {
  MetricOptions o =
      make_options(name, description, required_labels, default_labels, registry, nullptr);
  o.states = std::move(states);
  o.exclusive_states = exclusive;
  return o;
}

MetricOptions exclusive_states(MetricOptions options) {
  options.exclusive_states = true;
  return options;
}

std::size_t state_index(const MetricDescriptor& d, std::string_view state) {
  for (std::size_t i = 0; i < d.states.size(); ++i) {
    if (d.states[i] == state) return i;
  }
  std::string known;
  for (const auto& s : d.states) known += (known.empty() ? "" : ", ") + quote_name(s);
  throw InvalidValueError("unknown state " + quote_name(state) + " for metric " +
                          quote_name(d.name) + " (its states: " + known + ")");
}

std::mutex& state_set_mutex() {
  static std::mutex* mu = new std::mutex();
  return *mu;
}

}  // namespace pytheus::detail
