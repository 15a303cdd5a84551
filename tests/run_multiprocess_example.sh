#!/usr/bin/env bash
# Runs examples/multiprocess against a redis-server of its own (on a Unix socket, so no port
# can clash), with the backend chosen through the environment only:
#  1. --once, 4 workers: the exposition the parent prints has the exact totals (and promtool,
#     when given, accepts it);
#  2. serving, 2 workers on free ports: both workers serve the same exact totals over HTTP,
#     and SIGTERM to the parent stops everything with exit code 0.
#   run_multiprocess_example.sh EXAMPLE [PROMTOOL]
set -euo pipefail
# Workers fork from a process whose flusher thread runs, then start their own.
export TSAN_OPTIONS="${TSAN_OPTIONS:-}:die_after_fork=0"
example=$1
promtool=${2:-}
dir=$(mktemp -d)
redis-server --port 0 --unixsocket "$dir/redis.sock" --save "" --appendonly no \
  --dir "$dir" --daemonize no --logfile "$dir/redis.log" &
server=$!
parent=""
cleanup() {
  [ -n "$parent" ] && kill -9 "$parent" 2>/dev/null
  kill -9 "$server" 2>/dev/null
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
for _ in $(seq 100); do [ -S "$dir/redis.sock" ] && break; sleep 0.05; done

echo "{\"unix_socket\": \"$dir/redis.sock\"}" >"$dir/config.json"
export PYTHEUS_BACKEND_CLASS=MultiProcessRedisBackend PYTHEUS_BACKEND_CONFIG="$dir/config.json"

# 1. --once
out=$("$example" 4 --once)
grep -qx 'jobs_total 40000' <<<"$out"
grep -qx 'job_outcomes_total{outcome="error"} 4000' <<<"$out"
grep -qx 'job_seconds_count 40000' <<<"$out"
grep -qx 'job_seconds_bucket{le="+Inf"} 40000' <<<"$out"
if [ -n "$promtool" ]; then "$promtool" check metrics <<<"$out"; fi

# 2. serving: wait (up to 20 s) until both workers report their work done.
PYTHEUS_BACKEND_CLASS=pytheus.backends.redis.MultiProcessRedisBackend \
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
  grep -qx 'jobs_total 20000' <<<"$body" || { echo "$url: no jobs_total 20000" >&2; exit 1; }
  grep -qx 'job_seconds_count 20000' <<<"$body"
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
echo "multiprocess example: exact totals, printed and served by ${urls[*]}"
