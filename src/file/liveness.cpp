// Liveness of a slot's owner: its pid and its start time (/proc/<pid>/stat field 22). A pid
// alone is not enough: the kernel reuses pids, and a new process with an old pid would keep a
// dead one's slot forever. No heartbeat and no TTL: a process killed with kill -9 is dead to
// every reader at once (a zombie counts as dead).
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "store.hpp"

namespace pytheus::detail::file {

std::optional<std::uint64_t> process_start_time(pid_t pid) {
  if (pid <= 0) return std::nullopt;
  char path[32];
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  char buf[1024];
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return std::nullopt;
  buf[n] = '\0';
  // The command name (field 2) may hold spaces and parentheses: fields resume after the last ')'.
  const char* p = std::strrchr(buf, ')');
  if (p == nullptr) return std::nullopt;
  ++p;
  while (*p == ' ') ++p;
  if (*p == 'Z' || *p == 'X' || *p == 'x') return std::nullopt;  // exited
  // After ')' come fields 3 (state) .. ; field 22 is the 20th of them.
  for (int field = 3; field < 22; ++field) {
    p = std::strchr(p, ' ');
    if (p == nullptr) return std::nullopt;
    ++p;
  }
  return std::strtoull(p, nullptr, 10);
}

}  // namespace pytheus::detail::file
