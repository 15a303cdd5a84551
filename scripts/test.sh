#!/usr/bin/env bash
# Runs the whole test suite three times: a normal build, an ASan+UBSan build and a TSan
# build, each with ctest (the normal one also runs the short soak, `ctest -C soak -L soak`);
# then the libFuzzer targets (clang) for a fixed number of
# iterations, plain and under ASan+UBSan. `scripts/test.sh normal` (or asan, tsan, fuzz,
# fuzz-asan) runs just those.
# Set PYTHEUS_SKIP_DEPS=1 to skip the apt-get step.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${PYTHEUS_SKIP_DEPS:-0}" != 1 ]; then scripts/install-deps.sh; fi

jobs=$(nproc)
run_suite() {
  local name=$1 sanitize=$2 build_type=$3
  shift 3
  local dir="build-test-$name"
  echo "=== $name build (sanitizers: ${sanitize:-none}) ==="
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE="$build_type" \
    -DPYTHEUS_SANITIZE="$sanitize" "$@"
  cmake --build "$dir" -j "$jobs"
  # Integration tests start their own servers on free loopback ports.
  (cd "$dir" && ctest --output-on-failure -j "$jobs" --timeout 600)
}

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}"

suites=("$@")
[ ${#suites[@]} -eq 0 ] && suites=(normal asan tsan fuzz fuzz-asan)
for s in "${suites[@]}"; do
  case "$s" in
    normal)
      run_suite normal "" RelWithDebInfo -DPYTHEUS_BUILD_BENCH=ON
      # The soak is not in the default ctest run; its short version runs here.
      (cd build-test-normal && ctest -C soak -L soak --output-on-failure --timeout 600) ;;
    asan) run_suite asan "address,undefined" Debug -DPYTHEUS_BUILD_BENCH=OFF ;;
    tsan) run_suite tsan "thread" RelWithDebInfo -DPYTHEUS_BUILD_BENCH=OFF ;;
    fuzz | fuzz-asan)
      san=""
      [ "$s" = fuzz-asan ] && san="address,undefined"
      CC=clang CXX=clang++ run_suite "$s" "$san" RelWithDebInfo -DPYTHEUS_BUILD_FUZZ=ON \
        -DPYTHEUS_BUILD_TESTS=OFF -DPYTHEUS_BUILD_EXAMPLES=OFF -DPYTHEUS_BUILD_BENCH=OFF ;;
    *) echo "unknown suite $s (normal, asan, tsan, fuzz, fuzz-asan)" >&2; exit 2 ;;
  esac
done
echo "=== all suites passed: ${suites[*]} ==="
