// The families of the loaded backend (every Counter, Gauge, Histogram and Summary of the
// default kind) are compiled here once instead of in every file that defines a metric.
#include "pytheus/detail/family_impl.hpp"

namespace pytheus::detail {

template class Family<ValueSeries<LoadedBackend>>;
template class Family<HistogramSeries<LoadedBackend>>;

}  // namespace pytheus::detail
