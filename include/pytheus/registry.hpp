// Registries: where collectors are registered and from where a scrape reads them.
//
// CollectorRegistry holds collectors under unique family names and an optional prefix.
// The default registry is a proxy, default_registry(), whose target set_registry() swaps.
// All registries are safe for concurrent use.
#pragma once

#include <algorithm>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pytheus/collector.hpp"
#include "pytheus/errors.hpp"
#include "pytheus/labels.hpp"

namespace pytheus {

/// Registry is what registers collectors and what a scrape reads: CollectorRegistry and the
/// default-registry proxy both implement it, and code that only registers can take it.
class Registry {
 public:
  virtual ~Registry() = default;
  /// Adds `collector`. Registering the same collector again does nothing; a different one
  /// yielding a name already taken throws RegistrationError naming it.
  virtual void register_collector(std::shared_ptr<Collector> collector) = 0;
  /// Removes `collector`; returns whether it was registered.
  virtual bool unregister_collector(const Collector& collector) = 0;
  /// Returns the collectors in registration order.
  virtual std::vector<std::shared_ptr<Collector>> collectors() const = 0;
  /// Returns the prefix written before every family name ("svc" gives "svc_name"), or "".
  virtual std::string prefix() const = 0;
};

/// CollectorRegistry is a set of collectors with unique family names, optionally prefixed.
///
/// **Example**:
///     pytheus::CollectorRegistry svc("svc");   // families print as svc_<name>
///     pytheus::Counter jobs("jobs_total", "Jobs.", {}, {}, &svc);
class CollectorRegistry final : public Registry {
 public:
  explicit CollectorRegistry(std::string prefix = {}) : prefix_(std::move(prefix)) {
    if (!prefix_.empty() && !is_valid_metric_name(prefix_)) {
      throw InvalidNameError("invalid registry prefix " + detail::quote_name(prefix_) +
                             ": must match [a-zA-Z_:][a-zA-Z0-9_:]*");
    }
  }

  void register_collector(std::shared_ptr<Collector> collector) override {
    if (!collector) throw Error("cannot register a null collector");
    std::vector<std::string> names = collector->describe();
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& c : collectors_) {
      if (c.get() == collector.get()) return;
    }
    for (const std::string& name : names) {
      auto it = names_.find(name);
      if (it != names_.end()) {
        throw RegistrationError(
            "metric name " + detail::quote_name(name) + " is already registered" +
            (prefix_.empty() ? std::string()
                             : " in registry with prefix " + detail::quote_name(prefix_)));
      }
    }
    for (const std::string& name : names) names_[name] = collector.get();
    collectors_.push_back(std::move(collector));
  }

  bool unregister_collector(const Collector& collector) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = std::find_if(collectors_.begin(), collectors_.end(),
                           [&](const auto& c) { return c.get() == &collector; });
    if (it == collectors_.end()) return false;
    for (auto n = names_.begin(); n != names_.end();) {
      n = n->second == &collector ? names_.erase(n) : std::next(n);
    }
    collectors_.erase(it);
    return true;
  }

  /// Removes the collector that registered family `name`; returns whether there was one.
  bool unregister(std::string_view name) {
    const Collector* c = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = names_.find(name);
      if (it == names_.end()) return false;
      c = it->second;
    }
    return unregister_collector(*c);
  }

  std::vector<std::shared_ptr<Collector>> collectors() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return collectors_;
  }

  std::string prefix() const override { return prefix_; }

 private:
  const std::string prefix_;
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<Collector>> collectors_;
  std::map<std::string, const Collector*, std::less<>> names_;
};

/// CollectorRegistryProxy forwards to a target registry that set_registry() can replace; it
/// is the default registry, so metrics created without a registry argument land in
/// whatever registry is set at that moment.
class CollectorRegistryProxy final : public Registry {
 public:
  CollectorRegistryProxy() : target_(std::make_shared<CollectorRegistry>()) {}

  void set_target(std::shared_ptr<Registry> target) {
    if (!target) target = std::make_shared<CollectorRegistry>();
    std::lock_guard<std::mutex> lock(mu_);
    target_ = std::move(target);
  }
  std::shared_ptr<Registry> target() const {
    std::lock_guard<std::mutex> lock(mu_);
    return target_;
  }

  void register_collector(std::shared_ptr<Collector> c) override {
    target()->register_collector(std::move(c));
  }
  bool unregister_collector(const Collector& c) override {
    return target()->unregister_collector(c);
  }
  std::vector<std::shared_ptr<Collector>> collectors() const override {
    return target()->collectors();
  }
  std::string prefix() const override { return target()->prefix(); }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<Registry> target_;
};

/// Returns the default registry (a proxy). Never destroyed, so global metrics can use it
/// at any point of start-up and exit.
inline CollectorRegistryProxy& default_registry() {
  static CollectorRegistryProxy* proxy = new CollectorRegistryProxy();
  return *proxy;
}

/// Points the default registry at `registry` (nullptr: a new empty one). Metrics already
/// registered stay in the registry they were registered in.
inline void set_registry(std::shared_ptr<Registry> registry) {
  default_registry().set_target(std::move(registry));
}

/// RegistryRef is the registry argument of metric constructors: left out, the default
/// registry; a registry pointer or reference, that one; nullptr, none (the metric is
/// registered nowhere).
class RegistryRef {
 public:
  RegistryRef() : use_default_(true) {}
  RegistryRef(Registry* registry) : registry_(registry) {}   // NOLINT: implicit by design
  RegistryRef(Registry& registry) : registry_(&registry) {}  // NOLINT
  RegistryRef(std::nullptr_t) {}                             // NOLINT

  Registry* get() const { return use_default_ ? &default_registry() : registry_; }

 private:
  Registry* registry_ = nullptr;
  bool use_default_ = false;
};

}  // namespace pytheus
