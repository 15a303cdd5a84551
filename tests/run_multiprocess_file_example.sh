#!/usr/bin/env bash
# Runs examples/multiprocess on MultiProcessFileBackend, chosen through the environment only
# (inline JSON in PYTHEUS_BACKEND_CONFIG):
#  1. --once, 4 workers: the exposition the parent prints has the exact totals (and promtool,
#     when given, accepts it);
#  2. serving, 2 workers on free ports, on the same directory: values continue from run 1,
#     both workers serve the same exact totals, and SIGTERM stops everything with exit code 0.
#   run_multiprocess_file_example.sh EXAMPLE [PROMTOOL]
set -euo pipefail
export TSAN_OPTIONS="${TSAN_OPTIONS:-}:die_after_fork=0"
example=$1
promtool=${2:-}
dir=$(mktemp -d)
parent=""
cleanup() {
  [ -n "$parent" ] && kill -9 "$parent" 2>/dev/null
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
export PYTHEUS_BACKEND_CLASS=MultiProcessFileBackend
export PYTHEUS_BACKEND_CONFIG="{\"directory\": \"$dir\"}"

# 1. --once
out=$("$example" 4 --once)
grep -qx 'jobs_total 40000' <<<"$out"
grep -qx 'job_outcomes_total{outcome="error"} 4000' <<<"$out"
grep -qx 'job_seconds_count 40000' <<<"$out"
grep -qx 'job_seconds_bucket{le="+Inf"} 40000' <<<"$out"
if [ -n "$promtool" ]; then "$promtool" check metrics <<<"$out"; fi

# 2. serving, with the dotted class name: the directory's values continue (40000 + 20000).
PYTHEUS_BACKEND_CLASS=pytheus.backends.file.MultiProcessFileBackend \
  "$example" 2 0 >"$dir/serve.log" 2>&1 &
parent=$!
for _ in $(seq 200); do
  [ "$(grep -c ' done: ' "$dir/serve.log" || true)" = 2 ] && break
  if ! kill -0 "$parent" 2>/dev/null; then cat "$dir/serve.log" >&2; exit 1; fi
  sleep 0.1
done
mapfile -t urls < <(grep -o 'http://[^ ]*/metrics' "$dir/serve.log")
if [ "${#urls[@]}" != 2 ] || [ "$(grep -c ' done: ' "$dir/serve.log")" != 2 ]; then
  echo "workers did not report; log:" >&2
  cat "$dir/serve.log" >&2
  exit 1
fi
for url in "${urls[@]}"; do
  body=$(curl -fsS "$url")
  grep -qx 'jobs_total 60000' <<<"$body" || { echo "$url: no jobs_total 60000" >&2; exit 1; }
  grep -qx 'job_seconds_count 60000' <<<"$body"
done
kill -TERM "$parent"
rc=0
wait "$parent" || rc=$?
parent=""
if [ "$rc" != 0 ]; then
  echo "parent exited with $rc after SIGTERM; log:" >&2
  cat "$dir/serve.log" >&2
  exit 1
fi
echo "multiprocess example on files: exact totals, printed and served by ${urls[*]}"
