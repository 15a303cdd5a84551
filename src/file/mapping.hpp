// MappedFile: one file of the directory mapped MAP_SHARED, growing without ever moving what
// a pointer already points at.
//
// Growing a mapping would invalidate the pointers the hot path keeps, so a larger view is
// mapped beside the old one and the old one stays mapped until the process ends (views
// double, so the retired ones add up to less than the live one).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace pytheus::detail::file {

// Opens `path` read-write; when `create`, creates it with exactly `mode` (umask aside) if it
// does not exist. Returns -1 with errno set on failure.
int open_file(const std::string& path, bool create, mode_t mode);

class MappedFile {
 public:
  // Opens (creating with `mode` if `create`) `path`; throws BackendError naming it.
  MappedFile(std::string path, bool create, mode_t mode);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::string& path() const { return path_; }
  int fd() const { return fd_; }

  // The current view (nullptr before the first map) and its length.
  unsigned char* data() const { return base_.load(std::memory_order_acquire); }
  std::size_t size() const { return size_.load(std::memory_order_acquire); }

  // Makes the file at least `bytes` long (growing it with zeros) and the view cover it.
  // Throws BackendError naming the file (a full disk, a filesystem without shared maps).
  unsigned char* grow(std::size_t bytes);
  // Maps whatever the file holds now (fstat), never growing it; returns the view length.
  std::size_t refresh();
  // Empties the file (for a fresh slot file); only under the directory lock.
  void truncate_to_zero();

 private:
  void map(std::size_t bytes);

  std::string path_;
  int fd_ = -1;
  std::mutex mu_;
  std::atomic<unsigned char*> base_{nullptr};
  std::atomic<std::size_t> size_{0};
  std::vector<std::pair<void*, std::size_t>> retired_;
};

}  // namespace pytheus::detail::file
