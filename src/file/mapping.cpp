#include "mapping.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "pytheus/errors.hpp"

namespace pytheus::detail::file {
namespace {

[[noreturn]] void fail(const std::string& what, const std::string& path, int err) {
  throw BackendError("MultiProcessFileBackend: cannot " + what + " " + path + ": " +
                     std::strerror(err));
}

}  // namespace

MappedFile::MappedFile(std::string path, bool create, mode_t mode) : path_(std::move(path)) {
  fd_ = open_file(path_, create, mode);
  if (fd_ < 0) fail("open", path_, errno);
}

int open_file(const std::string& path, bool create, mode_t mode) {
  if (create) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | O_CREAT | O_EXCL, mode);
    if (fd >= 0) {
      // Exactly `file_mode`, whatever the umask: processes of other users may need it.
      ::fchmod(fd, mode);
      return fd;
    }
    if (errno != EEXIST) return -1;
  }
  return ::open(path.c_str(), O_RDWR | O_CLOEXEC);
}

MappedFile::~MappedFile() {
  if (unsigned char* b = base_.load()) ::munmap(b, size_.load());
  for (auto& [p, n] : retired_) ::munmap(p, n);
  if (fd_ >= 0) ::close(fd_);
}

void MappedFile::map(std::size_t bytes) {
  if (bytes <= size_.load(std::memory_order_relaxed)) return;
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
  if (p == MAP_FAILED) {
    const int err = errno;
    if (err == ENODEV || err == EINVAL || err == EACCES) {
      throw BackendError("MultiProcessFileBackend: the filesystem of " + path_ +
                         " does not support shared memory maps (" + std::strerror(err) +
                         "); use a local filesystem or tmpfs (/dev/shm, /run)");
    }
    fail("map", path_, err);
  }
  if (unsigned char* old = base_.load(std::memory_order_relaxed)) {
    retired_.emplace_back(old, size_.load(std::memory_order_relaxed));
  }
  // The length first: a reader that sees the new base may use all of it.
  size_.store(bytes, std::memory_order_release);
  base_.store(static_cast<unsigned char*>(p), std::memory_order_release);
}

unsigned char* MappedFile::grow(std::size_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  if (bytes <= size_.load(std::memory_order_relaxed)) return base_.load(std::memory_order_relaxed);
  struct stat st {};
  if (::fstat(fd_, &st) != 0) fail("stat", path_, errno);
  std::size_t want = static_cast<std::size_t>(st.st_size);
  if (want < bytes) {
    // Doubling keeps the number of views (and of ftruncate calls) logarithmic.
    want = std::max<std::size_t>(bytes, 2 * want);
    want = (want + 65535) / 65536 * 65536;
    int rc;
    do {
      rc = ::posix_fallocate(fd_, 0, static_cast<off_t>(want));
    } while (rc == EINTR);
    if (rc == EOPNOTSUPP || rc == EINVAL) {
      rc = ::ftruncate(fd_, static_cast<off_t>(want)) == 0 ? 0 : errno;
    }
    if (rc != 0) fail("grow", path_, rc);
  }
  map(want);
  return base_.load(std::memory_order_relaxed);
}

std::size_t MappedFile::refresh() {
  std::lock_guard<std::mutex> lock(mu_);
  struct stat st {};
  if (::fstat(fd_, &st) != 0) fail("stat", path_, errno);
  const auto bytes = static_cast<std::size_t>(st.st_size);
  if (bytes > size_.load(std::memory_order_relaxed)) map(bytes);
  return size_.load(std::memory_order_relaxed);
}

void MappedFile::truncate_to_zero() {
  std::lock_guard<std::mutex> lock(mu_);
  if (::ftruncate(fd_, 0) != 0) fail("truncate", path_, errno);
  // Views stay mapped (pointers may exist) but cover nothing until grown again.
  if (unsigned char* old = base_.load(std::memory_order_relaxed)) {
    retired_.emplace_back(old, size_.load(std::memory_order_relaxed));
  }
  base_.store(nullptr, std::memory_order_release);
  size_.store(0, std::memory_order_release);
}

}  // namespace pytheus::detail::file
