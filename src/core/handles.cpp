// The handles of the loaded backend's Counter, Gauge, Histogram and Summary are compiled
// here once instead of in every file that defines or uses a metric.
#include "pytheus/counter.hpp"
#include "pytheus/detail/handle_impl.hpp"
#include "pytheus/gauge.hpp"
#include "pytheus/histogram.hpp"
#include "pytheus/summary.hpp"

namespace pytheus::detail {

template class MetricHandle<BasicCounter<>, ValueSeries<LoadedBackend>>;
template class MetricHandle<BasicGauge<>, ValueSeries<LoadedBackend>>;
template class MetricHandle<BasicHistogram<>, HistogramSeries<LoadedBackend>>;
template class MetricHandle<BasicSummary<>, HistogramSeries<LoadedBackend>>;

}  // namespace pytheus::detail
