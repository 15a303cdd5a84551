#include "pytheus/registry.hpp"

#include <algorithm>

#include "exposed_names.hpp"
#include "pytheus/descriptor.hpp"
#include "pytheus/labels.hpp"

namespace pytheus {

CollectorRegistry::CollectorRegistry(std::string prefix) : prefix_(std::move(prefix)) {
  if (!prefix_.empty() && !is_valid_metric_name(prefix_)) {
    throw InvalidNameError("invalid registry prefix " + detail::quote_name(prefix_) +
                           ": must match [a-zA-Z_:][a-zA-Z0-9_:]*");
  }
}

namespace {

// A custom collector's families are known by name only: it claims just those names, and the
// scrape's own check catches the rest.
std::vector<std::pair<std::string, MetricType>> families_of(const Collector& c,
                                                            const std::string& prefix) {
  std::vector<std::pair<std::string, MetricType>> out;
  if (const auto* mc = dynamic_cast<const MetricCollector*>(&c)) {
    out.emplace_back(detail::prefixed(prefix, mc->descriptor().name), mc->descriptor().type);
    return out;
  }
  for (const std::string& name : c.describe()) {
    out.emplace_back(detail::prefixed(prefix, name), MetricType::untyped);
  }
  return out;
}

std::string describe_family(const std::string& name, MetricType type) {
  return std::string(type == MetricType::untyped ? "metric" : to_string(type)) + " " +
         detail::quote_name(name);
}

}  // namespace

void CollectorRegistry::register_collector(std::shared_ptr<Collector> collector) {
  if (!collector) throw Error("cannot register a null collector");
  std::vector<std::string> names = collector->describe();
  const auto families = families_of(*collector, prefix_);
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& c : collectors_) {
    if (c.get() == collector.get()) return;
  }
  const std::string in_registry =
      prefix_.empty() ? std::string() : " in registry with prefix " + detail::quote_name(prefix_);
  for (const std::string& name : names) {
    auto it = names_.find(name);
    if (it != names_.end()) {
      throw RegistrationError("metric name " + detail::quote_name(name) + " is already registered" +
                              in_registry);
    }
  }
  // Every sample name the new families expose must be free, in the registry and among them.
  std::map<std::string, Claim, std::less<>> claims;
  for (const auto& [family, type] : families) {
    for (std::string& sample : detail::exposed_names(family, type)) {
      const Claim* other = nullptr;
      if (auto it = exposed_.find(sample); it != exposed_.end()) other = &it->second;
      if (auto it = claims.find(sample); it != claims.end()) other = &it->second;
      if (other != nullptr) {
        throw RegistrationError(describe_family(family, type) + " collides with " +
                                describe_family(other->family, other->type) + ": both expose " +
                                detail::quote_name(sample) + in_registry);
      }
      claims.emplace(std::move(sample), Claim{family, type, collector.get()});
    }
  }
  for (const std::string& name : names) names_[name] = collector.get();
  exposed_.merge(claims);
  collectors_.push_back(std::move(collector));
}

bool CollectorRegistry::unregister_collector(const Collector& collector) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = std::find_if(collectors_.begin(), collectors_.end(),
                         [&](const auto& c) { return c.get() == &collector; });
  if (it == collectors_.end()) return false;
  for (auto n = names_.begin(); n != names_.end();) {
    n = n->second == &collector ? names_.erase(n) : std::next(n);
  }
  for (auto n = exposed_.begin(); n != exposed_.end();) {
    n = n->second.owner == &collector ? exposed_.erase(n) : std::next(n);
  }
  collectors_.erase(it);
  return true;
}

bool CollectorRegistry::unregister(std::string_view name) {
  const Collector* c = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = names_.find(name);
    if (it == names_.end()) return false;
    c = it->second;
  }
  return unregister_collector(*c);
}

std::vector<std::shared_ptr<Collector>> CollectorRegistry::collectors() const {
  std::lock_guard<std::mutex> lock(mu_);
  return collectors_;
}

CollectorRegistryProxy::CollectorRegistryProxy() : target_(std::make_shared<CollectorRegistry>()) {}

void CollectorRegistryProxy::set_target(std::shared_ptr<Registry> target) {
  if (!target) target = std::make_shared<CollectorRegistry>();
  std::lock_guard<std::mutex> lock(mu_);
  target_ = std::move(target);
}

std::shared_ptr<Registry> CollectorRegistryProxy::target() const {
  std::lock_guard<std::mutex> lock(mu_);
  return target_;
}

void CollectorRegistryProxy::register_collector(std::shared_ptr<Collector> c) {
  target()->register_collector(std::move(c));
}
bool CollectorRegistryProxy::unregister_collector(const Collector& c) {
  return target()->unregister_collector(c);
}
std::vector<std::shared_ptr<Collector>> CollectorRegistryProxy::collectors() const {
  return target()->collectors();
}
std::string CollectorRegistryProxy::prefix() const {
  return target()->prefix();
}

CollectorRegistryProxy& default_registry() {
  // Never destroyed, so global metrics can use it at any point of start-up and exit.
  static CollectorRegistryProxy* proxy = new CollectorRegistryProxy();
  return *proxy;
}

void set_registry(std::shared_ptr<Registry> registry) {
  default_registry().set_target(std::move(registry));
}

Registry* RegistryRef::get() const {
  return use_default_ ? &default_registry() : registry_;
}

}  // namespace pytheus
