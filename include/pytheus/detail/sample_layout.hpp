// The samples of one series as the exposition lays them out: the one place that knows a
// histogram is `_bucket` per `le`, then `_count` and `_sum`. Both the families' own writer
// and the bulk read of a backend (rows of plain numbers) go through it.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "pytheus/backend.hpp"
#include "pytheus/collector.hpp"
#include "pytheus/descriptor.hpp"

namespace pytheus::detail {

// `labels` holds the series' n labels and one more slot, which these functions fill with
// `le` where the layout needs it.
// A gauge in mode all or liveall gets the process label too: `process` is its value.
// `created` (Unix seconds, 0: unknown) is the `_created` sample where the metric shows one.
// `exemplar`, on a counter, follows its value sample.
void write_series_samples(MetricWriter& w, const MetricDescriptor& d, LabelView* labels,
                          std::size_t n, double value, std::string_view process = {},
                          double created = 0, const Exemplar* exemplar = nullptr);

// This process's id as the process label shows it.
const std::string& own_process_id();
void write_series_samples(MetricWriter& w, const MetricDescriptor& d, LabelView* labels,
                          std::size_t n, const HistogramSnapshot& snapshot, double created = 0);

// Writes a family's header and every row a bulk read returned for it; a row without a
// creation time takes this process's, from `request`'s local series.
void write_rows(MetricWriter& w, const MetricDescriptor& d, const MetricRows& rows,
                const MetricRequest* request = nullptr);

}  // namespace pytheus::detail
