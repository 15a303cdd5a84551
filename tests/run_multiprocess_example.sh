#!/usr/bin/env bash
# Runs examples/multiprocess against a redis-server of its own (on a Unix socket, so no port
# can clash), once with the config as an argument and once through the environment, and
# checks the exact totals in the exposition.
set -euo pipefail
# Workers fork from a process whose flusher thread runs, then start their own.
export TSAN_OPTIONS="${TSAN_OPTIONS:-}:die_after_fork=0"
example=$1
workers=4
dir=$(mktemp -d)
redis-server --port 0 --unixsocket "$dir/redis.sock" --save "" --appendonly no \
  --dir "$dir" --daemonize no --logfile "$dir/redis.log" &
server=$!
trap 'kill -9 $server 2>/dev/null; wait $server 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 100); do [ -S "$dir/redis.sock" ] && break; sleep 0.05; done

config="{\"unix_socket\": \"$dir/redis.sock\"}"
out=$("$example" "$workers" "$config")
grep -qx 'jobs_total 40000' <<<"$out"
grep -qx 'job_outcomes_total{outcome="error"} 4000' <<<"$out"
grep -qx 'job_seconds_count 40000' <<<"$out"
grep -qx 'job_seconds_bucket{le="+Inf"} 40000' <<<"$out"

echo "$config" >"$dir/config.json"
out=$(PYTHEUS_BACKEND_CLASS=MultiProcessRedisBackend PYTHEUS_BACKEND_CONFIG="$dir/config.json" \
  "$example" 2)
grep -qx 'jobs_total 20000' <<<"$out"
echo "multiprocess example: exact totals"
