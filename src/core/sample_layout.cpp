#include "pytheus/detail/sample_layout.hpp"

#include <unistd.h>

#include <vector>

namespace pytheus::detail {

void write_series_samples(MetricWriter& w, const MetricDescriptor& d, LabelView* labels,
                          std::size_t n, double value, std::string_view process, double created,
                          const Exemplar* exemplar) {
  // A row with a process is per process whatever the declared mode: a backend resolves
  // backend_default from its own configuration, which the core does not know.
  if (d.type == MetricType::gauge && (is_per_process_series(d.gauge_mode) || !process.empty())) {
    labels[n] = {d.process_label, process.empty() ? std::string_view(own_process_id()) : process};
    w.sample("", labels, n + 1, value);
    return;
  }
  if (d.type == MetricType::info) {
    w.sample("_info", labels, n, 1);  // a series that exists holds
    return;
  }
  if (d.type == MetricType::stateset) {
    // One sample per state, labelled with the metric's name: 1 where the state holds.
    labels[n].name = d.name;
    const auto stored =
        value >= 0 && value < 9007199254740992.0 ? static_cast<unsigned long long>(value) : 0ULL;
    for (std::size_t i = 0; i < d.states.size(); ++i) {
      labels[n].value = d.states[i];
      const bool holds = d.exclusive_states ? stored == i : ((stored >> i) & 1ULL) != 0;
      w.sample("", labels, n + 1, holds ? 1 : 0);
    }
    return;
  }
  w.sample("", labels, n, value);
  if (exemplar != nullptr && d.type == MetricType::counter) w.exemplar(*exemplar);
  if (created > 0 && shows_created(d)) w.sample("_created", labels, n, created);
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
                          std::size_t n, const HistogramSnapshot& s, double created) {
  if (d.type == MetricType::histogram) {
    if (s.native) w.native_histogram(labels, n, *s.native);
    labels[n].name = "le";
    for (std::size_t i = 0; i < d.le_values.size() && i < s.buckets.size(); ++i) {
      labels[n].value = d.le_values[i];
      w.sample("_bucket", labels, n + 1, s.buckets[i]);
      if (i < s.exemplars.size() && s.exemplars[i]) w.exemplar(*s.exemplars[i]);
    }
  }
  w.sample("_count", labels, n, s.count);
  w.sample("_sum", labels, n, s.sum);
  if (created > 0 && shows_created(d)) w.sample("_created", labels, n, created);
}

namespace {

// This process's creation time of the series a row stands for, or 0. Rows answer the local
// series first and in order, so the row's own index is tried before a search.
double local_created(const MetricRequest* request, std::size_t row, const SeriesRow& r) {
  if (request == nullptr || request->local_created.size() != request->local_series.size()) {
    return 0;
  }
  const auto& local = request->local_series;
  if (row < local.size() && local[row] == r.label_values) return request->local_created[row];
  for (std::size_t i = 0; i < local.size(); ++i) {
    if (local[i] == r.label_values) return request->local_created[i];
  }
  return 0;
}

}  // namespace

void write_rows(MetricWriter& w, const MetricDescriptor& d, const MetricRows& rows,
                const MetricRequest* request) {
  w.family(d.name, d.help, d.type, d.unit);
  const std::size_t n = d.label_names.size();
  std::vector<LabelView> labels(n + 1);
  for (std::size_t i = 0; i < n; ++i) labels[i].name = d.label_names[i];
  const bool histogram = d.type == MetricType::histogram || d.type == MetricType::summary;
  const bool created = shows_created(d);
  for (std::size_t r = 0; r < rows.size(); ++r) {
    const SeriesRow& row = rows[r];
    for (std::size_t i = 0; i < n && i < row.label_values.size(); ++i) {
      labels[i].value = row.label_values[i];
    }
    const double when = !created ? 0 : row.created ? *row.created : local_created(request, r, row);
    if (histogram) {
      write_series_samples(w, d, labels.data(), n, row.histogram, when);
    } else {
      write_series_samples(w, d, labels.data(), n, row.value, row.process, when,
                           row.exemplar ? &*row.exemplar : nullptr);
    }
  }
}

}  // namespace pytheus::detail
