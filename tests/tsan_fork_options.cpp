// Linked into every test binary of a ThreadSanitizer build (tests/CMakeLists.txt): many tests
// fork worker processes that then start threads (the Redis flusher, an exposer), which TSan's
// default (die_after_fork=1) kills. One definition per binary, here, so that test files
// sharing a binary never define it twice.
extern "C" const char* __tsan_default_options() {
  return "die_after_fork=0";
}
