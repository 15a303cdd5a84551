#include "pytheus/detail/overflow.hpp"

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "pytheus/collector.hpp"
#include "pytheus/errors.hpp"
#include "pytheus/registry.hpp"

namespace pytheus::detail {
namespace {

// Counts the label sets refused or folded by metrics with max_series, exposed as
// pytheus_series_overflow_total{metric="..."} in the default registry from the first one on.
class OverflowCounts final : public Collector {
 public:
  static OverflowCounts& instance() { return *shared(); }

  void count(const std::string& metric) {
    bool first = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++counts_[metric];
      first = !registered_;
      registered_ = true;
    }
    if (first) {
      try {
        default_registry().register_collector(shared());
      } catch (const RegistrationError&) {
        // A user's metric took the name in the default registry: the counts stay readable
        // through overflow_count().
      }
    }
  }

  std::uint64_t overflow_count(const std::string& metric) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = counts_.find(metric);
    return it == counts_.end() ? 0 : it->second;
  }

  std::vector<std::string> describe() const override { return {"pytheus_series_overflow_total"}; }

  std::vector<MetricFamily> collect() const override {
    MetricFamily f{"pytheus_series_overflow_total",
                   "Label sets refused or folded because a metric reached max_series.",
                   MetricType::counter,
                   "",
                   {}};
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [metric, n] : counts_) {
      f.samples.push_back({"", {{"metric", metric}}, static_cast<double>(n), {}});
    }
    return {f};
  }

 private:
  OverflowCounts() = default;
  // Never destroyed, like the default registry that holds it.
  static const std::shared_ptr<OverflowCounts>& shared() {
    static auto* p = new std::shared_ptr<OverflowCounts>(new OverflowCounts());
    return *p;
  }

  mutable std::mutex mu_;
  std::map<std::string, std::uint64_t> counts_;
  bool registered_ = false;
};

// A metric family: the descriptor and the children, keyed by the hash of their label

}  // namespace

void count_overflow(std::string_view metric) {
  OverflowCounts::instance().count(std::string(metric));
}

std::uint64_t overflow_count(std::string_view metric) {
  return OverflowCounts::instance().overflow_count(std::string(metric));
}

}  // namespace pytheus::detail
