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
void write_series_samples(MetricWriter& w, const MetricDescriptor& d, LabelView* labels,
                          std::size_t n, double value, std::string_view process = {});

// This process's id as the process label shows it.
const std::string& own_process_id();
void write_series_samples(MetricWriter& w, const MetricDescriptor& d, LabelView* labels,
                          std::size_t n, const HistogramSnapshot& snapshot);

// Writes a family's header and every row a bulk read returned for it.
void write_rows(MetricWriter& w, const MetricDescriptor& d, const MetricRows& rows);

}  // namespace pytheus::detail
