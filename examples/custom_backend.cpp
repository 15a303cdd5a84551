// custom_backend: a backend written by the user, registered in one line and chosen by name.
//
// TableBackend keeps every value in one table keyed by series, as a backend on a key-value
// store would. The program prints the exposition to stdout, then the table to stderr.
#include <nlohmann/json.hpp>  // the configuration is read and built as JSON here
#include <pytheus/pytheus.hpp>

#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

// TableBackend stores one value of one series. Backend objects are used from many threads,
// hence the lock.
class TableBackend {
 public:
  TableBackend(const pytheus::BackendConfig& config, const pytheus::MetricInfo& metric,
               std::optional<std::string_view> histogram_bucket)
      : key_(config.value("namespace", "") + metric.name) {
    for (const auto& [name, value] : metric.labels) key_ += "," + name + "=" + value;
    if (histogram_bucket) key_ += ":" + std::string(*histogram_bucket);
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
  std::string key_;
};

PYTHEUS_REGISTER_BACKEND(TableBackend, "TableBackend", {"example.TableBackend"});

int main() {
  // By name; PYTHEUS_BACKEND_CLASS=TableBackend and pytheus::load_backend() would do the same.
  pytheus::load_backend("TableBackend", nlohmann::json{{"namespace", "demo:"}});

  pytheus::Counter jobs("jobs_total", "Jobs done.", {"queue"});
  pytheus::Gauge workers("busy_workers", "Workers busy now.");
  jobs.labels({{"queue", "fast"}}).inc(3);
  jobs.labels({{"queue", "slow"}}).inc();
  workers.set(4);
  workers.dec();

  std::cout << pytheus::generate_metrics();
  std::lock_guard<std::mutex> lock(TableBackend::mu());
  for (const auto& [key, value] : TableBackend::table()) std::cerr << key << " = " << value << "\n";
}
