// A replaced global operator new that counts the allocations made while a window is open, for
// the tests proving that hot paths allocate nothing. Include it in exactly one translation unit
// of a test binary: it defines the global allocation functions.
#pragma once

#include <atomic>
#include <cstdlib>
#include <new>

// The replacement allocates with malloc on purpose; GCC cannot see the pairing with free.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace pytheus_test::allocation_counter {
inline std::atomic<bool> counting{false};
inline std::atomic<long> allocations{0};
}  // namespace pytheus_test::allocation_counter

void* operator new(std::size_t size) {
  if (pytheus_test::allocation_counter::counting.load(std::memory_order_relaxed)) {
    pytheus_test::allocation_counter::allocations.fetch_add(1);
  }
  if (void* p = std::malloc(size ? size : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) {
  return ::operator new(size);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}

namespace pytheus_test {

// Counts the allocations made by f().
template <class F>
long allocations_in(F&& f) {
  allocation_counter::allocations = 0;
  allocation_counter::counting = true;
  f();
  allocation_counter::counting = false;
  return allocation_counter::allocations.load();
}

}  // namespace pytheus_test
