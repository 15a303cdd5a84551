// Registries: where collectors are registered and from where a scrape reads them.
//
// CollectorRegistry holds collectors under unique family names and an optional prefix.
// The default registry is a proxy, default_registry(), whose target set_registry() swaps.
// All registries are safe for concurrent use.
#pragma once

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

namespace pytheus {

/// Registry is what registers collectors and what a scrape reads: CollectorRegistry and the
/// default-registry proxy both implement it, and code that only registers can take it.
class Registry {
 public:
  virtual ~Registry() = default;
  /// Adds `collector`. Registering the same collector again does nothing; a different one
  /// yielding a name already taken, or a family exposing a sample name another family
  /// exposes (a histogram `x` and a gauge `x_count`), throws RegistrationError naming both.
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
  /// Makes a registry whose families print as `<prefix>_<name>`; throws InvalidNameError
  /// for an invalid prefix.
  explicit CollectorRegistry(std::string prefix = {});

  void register_collector(std::shared_ptr<Collector> collector) override;
  bool unregister_collector(const Collector& collector) override;

  /// Removes the collector that registered family `name`; returns whether there was one.
  bool unregister(std::string_view name);

  std::vector<std::shared_ptr<Collector>> collectors() const override;
  std::string prefix() const override { return prefix_; }

 private:
  const std::string prefix_;
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<Collector>> collectors_;
  std::map<std::string, const Collector*, std::less<>> names_;
  // Every sample name the families expose (prefix applied), and whose it is.
  struct Claim {
    std::string family;
    MetricType type;
    const Collector* owner;
  };
  std::map<std::string, Claim, std::less<>> exposed_;
};

/// CollectorRegistryProxy forwards to a target registry that set_registry() can replace; it
/// is the default registry, so metrics created without a registry argument land in
/// whatever registry is set at that moment.
class CollectorRegistryProxy final : public Registry {
 public:
  CollectorRegistryProxy();

  void set_target(std::shared_ptr<Registry> target);
  std::shared_ptr<Registry> target() const;

  void register_collector(std::shared_ptr<Collector> c) override;
  bool unregister_collector(const Collector& c) override;
  std::vector<std::shared_ptr<Collector>> collectors() const override;
  std::string prefix() const override;

 private:
  mutable std::mutex mu_;
  std::shared_ptr<Registry> target_;
};

/// Returns the default registry (a proxy). Never destroyed, so global metrics can use it
/// at any point of start-up and exit.
CollectorRegistryProxy& default_registry();

/// Points the default registry at `registry` (nullptr: a new empty one). Metrics already
/// registered stay in the registry they were registered in.
void set_registry(std::shared_ptr<Registry> registry);

/// RegistryRef is the registry argument of metric constructors: left out, the default
/// registry; a registry pointer or reference, that one; nullptr, none (the metric is
/// registered nowhere).
class RegistryRef {
 public:
  RegistryRef() : use_default_(true) {}
  RegistryRef(Registry* registry) : registry_(registry) {}   // NOLINT: implicit by design
  RegistryRef(Registry& registry) : registry_(&registry) {}  // NOLINT
  RegistryRef(std::nullptr_t) {}                             // NOLINT

  Registry* get() const;

 private:
  Registry* registry_ = nullptr;
  bool use_default_ = false;
};

}  // namespace pytheus
