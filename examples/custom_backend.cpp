// custom_backend: a backend written by the user, registered in one line and chosen by name.
//
// TableBackend keeps every value in one table keyed by series, as a backend on a key-value
// store would, and answers a scrape with one bulk read of plain rows (generate_samples).
// The program prints the exposition to stdout, then the table to stderr.
#include <nlohmann/json.hpp>  // the configuration is read and built as JSON here
#include <pytheus/pytheus.hpp>

#include <algorithm>
#include <iostream>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// TableBackend stores one value of one series. Backend objects are used from many threads,
// hence the lock.
class TableBackend {
 public:
  TableBackend(const pytheus::BackendConfig& config, const pytheus::MetricInfo& metric,
               std::optional<std::string_view> histogram_bucket)
      : key_(key(config.value("namespace", ""), metric.name, metric.labels, histogram_bucket)) {}

  // The key of one value: namespace, name, the labels sorted by name, the bucket.
  static std::string key(const std::string& ns, const std::string& name,
                         std::vector<std::pair<std::string, std::string>> labels,
                         std::optional<std::string_view> bucket) {
    std::sort(labels.begin(), labels.end());
    std::string k = ns + name;
    for (const auto& [label, value] : labels) k += "," + label + "=" + value;
    if (bucket) k += ":" + std::string(*bucket);
    return k;
  }

  // The bulk read: one lock for the whole scrape; plain rows back, the library writes them.
  static std::vector<pytheus::MetricRows> generate_samples(
      const pytheus::BackendConfig& config, const std::vector<pytheus::MetricRequest>& metrics) {
    const std::string ns = config.value("namespace", "");
    std::lock_guard<std::mutex> lock(mu());
    std::vector<pytheus::MetricRows> out;
    for (const pytheus::MetricRequest& m : metrics) {
      pytheus::MetricRows rows;
      for (const std::vector<std::string>& values : m.local_series) {
        std::vector<std::pair<std::string, std::string>> labels;
        for (std::size_t i = 0; i < values.size(); ++i)
          labels.emplace_back(m.label_names[i], values[i]);
        pytheus::SeriesRow row;
        row.label_values = values;
        if (m.type == pytheus::MetricType::histogram || m.type == pytheus::MetricType::summary) {
          for (double bound : m.bounds) {
            row.histogram.buckets.push_back(table()[key(ns, m.name, labels, format_bound(bound))]);
          }
          row.histogram.sum = table()[key(ns, m.name, labels, "sum")];
          row.histogram.count = table()[key(ns, m.name, labels, "count")];
        } else {
          row.value = table()[key(ns, m.name, labels, std::nullopt)];
        }
        rows.push_back(std::move(row));
      }
      out.push_back(std::move(rows));
    }
    return out;
  }
  void inc(double v) {
    update([v](double& x) { x += v; });
  }
  void dec(double v) {
    update([v](double& x) { x -= v; });
  }
  void set(double v) {
    update([v](double& x) { x = v; });
  }
  double get() {
    std::lock_guard<std::mutex> lock(mu());
    return table()[key_];
  }

  static std::map<std::string, double>& table() {
    static std::map<std::string, double> t;
    return t;
  }
  static std::mutex& mu() {
    static std::mutex m;
    return m;
  }

 private:
  template <class F>
  void update(F f) {
    std::lock_guard<std::mutex> lock(mu());
    f(table()[key_]);
  }
  // A bucket's value is named by its `le` label: shortest round trip, "+Inf".
  static std::string format_bound(double bound) {
    if (bound == std::numeric_limits<double>::infinity()) return "+Inf";
    std::string s = std::to_string(bound);
    s.erase(s.find_last_not_of('0') + 1);
    if (!s.empty() && s.back() == '.') s.pop_back();
    return s;
  }

  std::string key_;
};

PYTHEUS_REGISTER_BACKEND(TableBackend, "TableBackend", {"example.TableBackend"});

int main() {
  // By name; PYTHEUS_BACKEND_CLASS=TableBackend and pytheus::load_backend() would do the same.
  pytheus::load_backend("TableBackend", nlohmann::json{{"namespace", "demo:"}});

  pytheus::Counter jobs("jobs_total", "Jobs done.", {"queue"});
  pytheus::Gauge workers("busy_workers", "Workers busy now.");
  pytheus::Histogram seconds("job_seconds", "Job duration.", {}, {}, {}, {0.5, 1});
  jobs.labels({{"queue", "fast"}}).inc(3);
  jobs.labels({{"queue", "slow"}}).inc();
  workers.set(4);
  workers.dec();
  seconds.observe(0.3);
  seconds.observe(2);

  std::cout << pytheus::generate_metrics();
  std::lock_guard<std::mutex> lock(TableBackend::mu());
  for (const auto& [key, value] : TableBackend::table()) std::cerr << key << " = " << value << "\n";
}
