// Opening a directory, the directory lock, and fork.
//
// The directory lock is flock() on `pytheus.lock`: the kernel drops it when the holding
// process dies, so a process killed inside a critical section never blocks the others. flock
// belongs to an open file description, which fork() shares: a child must never use (or keep
// open) its parent's descriptor, or the two would not exclude each other and a dead parent's
// lock would live on in the child. So the child closes it (atfork) and opens its own on first
// use. Fork handlers also take every store's mutex around fork(), so that a child never
// starts with a mutex held by a thread that does not exist in it; they run inside the core's
// (detail::on_fork), whose lock a binding thread holds while it takes a store's.
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "pytheus/backends.hpp"
#include "pytheus/errors.hpp"
#include "store.hpp"

namespace pytheus::detail::file {
namespace {

struct Stores {
  std::mutex mu;
  std::map<std::string, Store*> by_dir;  // never destroyed: values may be used until exit
};
Stores& stores() {
  static Stores* s = new Stores;
  return *s;
}

void prepare() {
  stores().mu.lock();
  for (auto& [dir, s] : stores().by_dir) s->before_fork();
}
void parent() {
  for (auto& [dir, s] : stores().by_dir) s->after_fork_parent();
  stores().mu.unlock();
}
void child() {
  for (auto& [dir, s] : stores().by_dir) s->after_fork_child();
  stores().mu.unlock();
}

std::string canonical_directory(const std::string& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    throw BackendError("MultiProcessFileBackend: directory " + dir + " cannot be used: " +
                       std::strerror(errno) + " (create it before the service starts)");
  }
  if (!S_ISDIR(st.st_mode)) {
    throw BackendError("MultiProcessFileBackend: " + dir + " is not a directory");
  }
  if (::access(dir.c_str(), R_OK | W_OK | X_OK) != 0) {
    throw BackendError("MultiProcessFileBackend: directory " + dir +
                       " is not writable by this process: " + std::strerror(errno));
  }
  char buf[PATH_MAX];
  if (::realpath(dir.c_str(), buf) == nullptr) return dir;
  return buf;
}

}  // namespace

std::uint64_t now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  const auto ns = std::uint64_t(ts.tv_sec) * 1000000000u + std::uint64_t(ts.tv_nsec);
  return ns < 2 ? 2 : ns;
}

double CellSource::d(std::uint64_t i) const {
  if (i >= count) return 0;
  return reinterpret_cast<const std::atomic<double>*>(cells + 8 * i)
      ->load(std::memory_order_relaxed);
}
std::uint64_t CellSource::u(std::uint64_t i) const {
  if (i >= count) return 0;
  return reinterpret_cast<const std::atomic<std::uint64_t>*>(cells + 8 * i)
      ->load(std::memory_order_relaxed);
}

Store& Store::open(const BackendConfig& json) {
  Config config = parse_config(json);
  const std::string dir = canonical_directory(config.directory);
  static std::once_flag once;
  std::call_once(once, [] { detail::on_fork(&prepare, &parent, &child); });
  std::lock_guard<std::mutex> lock(stores().mu);
  auto it = stores().by_dir.find(dir);
  if (it != stores().by_dir.end()) {
    Store& s = *it->second;
    if (s.config_.service != config.service) {
      throw BackendError("MultiProcessFileBackend: directory " + dir + " belongs to service \"" +
                         s.config_.service + "\", not \"" + config.service +
                         "\"; give each service its own directory");
    }
    // The latest configuration's default gauge mode applies to series bound from now on.
    std::lock_guard<std::mutex> store_lock(s.mu_);
    s.config_.gauge_mode = config.gauge_mode;
    return s;
  }
  config.directory = dir;
  auto* s = new Store(std::move(config));
  try {
    s->open_files();
  } catch (...) {
    delete s;
    throw;
  }
  stores().by_dir.emplace(dir, s);
  return *s;
}

Store::Store(Config config) : config_(std::move(config)), dir_(config_.directory) {}

void Store::lock_dir() {
  const pid_t me = ::getpid();
  if (lock_pid_ != me || lock_fd_ < 0) {
    if (lock_fd_ >= 0) ::close(lock_fd_);
    const std::string path = dir_ + "/pytheus.lock";
    lock_fd_ = open_file(path, true, config_.file_mode);
    if (lock_fd_ < 0) {
      throw BackendError("MultiProcessFileBackend: cannot open " + path + ": " +
                         std::strerror(errno));
    }
    lock_pid_ = me;
  }
  while (::flock(lock_fd_, LOCK_EX) != 0) {
    if (errno != EINTR) {
      throw BackendError("MultiProcessFileBackend: cannot lock " + dir_ +
                         "/pytheus.lock: " + std::strerror(errno));
    }
  }
}

void Store::unlock_dir() {
  ::flock(lock_fd_, LOCK_UN);
}

void Store::open_files() {
  std::lock_guard<std::mutex> lock(mu_);
  DirLock dl(*this);
  index_ = std::make_unique<MappedFile>(dir_ + "/index.db", true, config_.file_mode);
  index_->refresh();
  bool fresh = false;
  // An index whose magic was never written is one whose creator died first: start it again.
  if (index_->size() < kPage ||
      std::all_of(index_->data(), index_->data() + 8, [](unsigned char c) { return c == 0; })) {
    fresh = true;
    const std::size_t begin = records_begin_for(config_.max_processes);
    unsigned char* d = index_->grow(begin + kPage);
    std::memset(d, 0, begin + kPage);
    auto& h = *reinterpret_cast<IndexHeader*>(d);
    h.version = kFormatVersion;
    h.max_processes = config_.max_processes;
    std::random_device rd;
    h.instance = (std::uint64_t(rd()) << 32) ^ rd() ^ std::uint64_t(::getpid());
    h.records_begin = begin;
    h.records_end.store(begin, std::memory_order_relaxed);
    std::memcpy(h.service, config_.service.data(), config_.service.size());
    std::atomic_thread_fence(std::memory_order_release);
    std::memcpy(h.magic, kIndexMagic, 8);
  }
  try {
    read_index_header(index_->data(), index_->size(), index_->path());
  } catch (const FileFormatError& e) {
    throw BackendError(std::string("MultiProcessFileBackend: ") + e.what());
  }
  const IndexHeader& h = header();
  const std::string service(h.service);
  if (service != config_.service) {
    throw BackendError("MultiProcessFileBackend: directory " + dir_ +
                       " holds the metrics of service \"" + service + "\", not \"" +
                       config_.service +
                       "\" (config key \"service\"); give each service its own directory");
  }
  instance_ = h.instance;
  scanned_ = h.records_begin;
  totals_ = std::make_unique<MappedFile>(dir_ + "/totals.db", true, config_.file_mode);
  totals_->refresh();
  const auto* th =
      totals_->size() >= kPage ? reinterpret_cast<const CellsHeader*>(totals_->data()) : nullptr;
  if (fresh || th == nullptr || std::memcmp(th->magic, "\0\0\0\0\0\0\0\0", 8) == 0) {
    if (totals_->size() > 0) totals_->truncate_to_zero();
    init_cells_file(*totals_, kTotalsSlot);
  } else if (std::memcmp(th->magic, kCellsMagic, 8) != 0 || th->instance != instance_ ||
             th->slot != kTotalsSlot) {
    throw BackendError("MultiProcessFileBackend: metrics file " + totals_->path() +
                       " is corrupt or belongs to other files; stop the service and delete the "
                       "directory's files to start afresh");
  }
  try {
    sync_catalog();
  } catch (const FileFormatError& e) {
    throw BackendError(std::string("MultiProcessFileBackend: ") + e.what());
  }
  cover_totals(header().cells_used.load(std::memory_order_acquire));
}

void Store::init_cells_file(MappedFile& f, std::uint32_t slot) {
  unsigned char* d = f.grow(kCellsHeader + 8 * std::max<std::uint64_t>(max_cell_, 1));
  auto& h = *reinterpret_cast<CellsHeader*>(d);
  h.version = kFormatVersion;
  h.slot = slot;
  h.instance = instance_;
  std::atomic_thread_fence(std::memory_order_release);
  std::memcpy(h.magic, kCellsMagic, 8);
}

unsigned char* Store::claim_own() {
  std::lock_guard<std::mutex> lock(mu_);
  if (unsigned char* c = own_cells_.load(std::memory_order_acquire)) return c;
  DirLock dl(*this);
  sync_catalog();
  const std::uint32_t slot = take_slot();
  own_slot_ = slot;
  MappedFile& f = *slots_[slot];
  unsigned char* base = f.grow(kCellsHeader + 8 * std::max<std::uint64_t>(max_cell_, 1));
  own_cells_.store(base + kCellsHeader, std::memory_order_release);
  return base + kCellsHeader;
}

void Store::before_fork() {
  mu_.lock();
}
void Store::after_fork_parent() {
  mu_.unlock();
}
void Store::after_fork_child() {
  // The child writes into a slot of its own, claimed on first use.
  own_cells_.store(nullptr, std::memory_order_relaxed);
  own_ex_.store(nullptr, std::memory_order_relaxed);
  own_ex_count_.store(0, std::memory_order_relaxed);
  own_slot_ = -1;
  if (lock_fd_ >= 0) ::close(lock_fd_);
  lock_fd_ = -1;
  lock_pid_ = 0;
  mu_.unlock();
}

}  // namespace pytheus::detail::file
