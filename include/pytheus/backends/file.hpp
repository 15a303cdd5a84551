// MultiProcessFileBackend: metric values in memory-mapped files that every process of a
// service on one host maps, so that forked workers (or separate programs of one service)
// report one set of numbers without a server. POSIX only: link the compiled target
// pytheus::file.
//
// Linking pytheus::file registers the class: `PYTHEUS_BACKEND_CLASS=MultiProcessFileBackend`
// (or `pytheus.backends.file.MultiProcessFileBackend`) with
// `PYTHEUS_BACKEND_CONFIG='{"directory": "/run/myservice/metrics"}'` works without including
// this header. docs/multiprocess-file.md describes the files, the configuration and limits.
//
// Threads: everything is safe for concurrent use; an update is one atomic operation on this
// process's own slot (no lock, no system call, no allocation).
// Fork: a child forked at any time (also from a threaded parent) takes a slot of its own on
// its first update; the parent's slot stays the parent's.
// Crash: whatever inc()/set()/observe() returned from is in the shared files and survives
// kill -9 of any process at any moment; a dead process's counters and histograms are folded
// into shared totals, exactly once, by the next process that starts.
// Files: `index.db`, `totals.db`, `slot-N.db` and `pytheus.lock` in the directory, created
// 0600 (config key `file_mode`). A missing or unwritable directory, another service's files
// or a corrupt file give BackendError at load_backend (CollectError at a scrape), naming it.
#pragma once

#include <string_view>

#include "pytheus/backend.hpp"
#include "pytheus/detail/backend_class.hpp"

namespace pytheus {

/// MultiProcessFileBackend is the backend class whose values live in shared memory-mapped
/// files. It is loaded by name; this type only names it.
///
/// **Example**:
///     pytheus::load_backend("MultiProcessFileBackend",
///                           nlohmann::json{{"directory", "/run/svc/metrics"}});
class MultiProcessFileBackend {
 public:
  /// The registered class name.
  static constexpr std::string_view name = "MultiProcessFileBackend";
  /// The pytheus dotted path, accepted as an alias.
  static constexpr std::string_view pytheus_path = "pytheus.backends.file.MultiProcessFileBackend";

  MultiProcessFileBackend() = delete;

  /// Returns the backend class as registered (for register_backend under other names).
  static detail::BackendClass backend_class();
};

}  // namespace pytheus
