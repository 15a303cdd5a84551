#include "pytheus/detail/sample_layout.hpp"

#include <unistd.h>

#include <vector>

namespace pytheus::detail {

void write_series_samples(MetricWriter& w, const MetricDescriptor& d, LabelView* labels,
                          std::size_t n, double value, std::string_view process) {
  // A row with a process is per process whatever the declared mode: a backend resolves
  // backend_default from its own configuration, which the core does not know.
  if (d.type == MetricType::gauge && (is_per_process_series(d.gauge_mode) || !process.empty())) {
    labels[n] = {d.process_label, process.empty() ? std::string_view(own_process_id()) : process};
    w.sample("", labels, n + 1, value);
    return;
  }
  w.sample("", labels, n, value);
}

const std::string& own_process_id() {
  // Per call, not cached once: a forked child has its own id.
  thread_local std::string id;
  thread_local pid_t of = 0;
  const pid_t now = getpid();
  if (now != of) {
    id = std::to_string(now);
    of = now;
  }
  return id;
}

void write_series_samples(MetricWriter& w, const MetricDescriptor& d, LabelView* labels,
                          std::size_t n, const HistogramSnapshot& s) {
  if (d.type == MetricType::histogram) {
    labels[n].name = "le";
    for (std::size_t i = 0; i < d.le_values.size() && i < s.buckets.size(); ++i) {
      labels[n].value = d.le_values[i];
      w.sample("_bucket", labels, n + 1, s.buckets[i]);
    }
  }
  w.sample("_count", labels, n, s.count);
  w.sample("_sum", labels, n, s.sum);
}

void write_rows(MetricWriter& w, const MetricDescriptor& d, const MetricRows& rows) {
  w.family(d.name, d.help, d.type, d.unit);
  const std::size_t n = d.label_names.size();
  std::vector<LabelView> labels(n + 1);
  for (std::size_t i = 0; i < n; ++i) labels[i].name = d.label_names[i];
  const bool histogram = d.type == MetricType::histogram || d.type == MetricType::summary;
  for (const SeriesRow& row : rows) {
    for (std::size_t i = 0; i < n && i < row.label_values.size(); ++i) {
      labels[i].value = row.label_values[i];
    }
    if (histogram) {
      write_series_samples(w, d, labels.data(), n, row.histogram);
    } else {
      write_series_samples(w, d, labels.data(), n, row.value, row.process);
    }
  }
}

}  // namespace pytheus::detail
