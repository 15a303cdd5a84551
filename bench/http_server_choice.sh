#!/usr/bin/env bash
# Drives bench/http_server_choice.cpp (the same ScrapeHandler behind the exposer's own server
# and behind libmicrohttpd) through the measurements docs/http.md reports: keep-alive scrape
# throughput and latency (wrk), a scrape made while a slow one runs, 500 idle connections,
# a slowloris client, and malformed requests.
#   bench/http_server_choice.sh BUILD_DIR     (needs wrk, curl, python3)
set -euo pipefail
bin=${1:-build}/bench/http_server_choice
here=$(cd "$(dirname "$0")" && pwd)

run() {  # run NAME PORT own|mhd [MHD_THREADS]: one server, every measurement
  local name=$1 port=$2 which=$3
  shift 3
  "$bin" "$which" "$port" "$@" >/dev/null &
  local pid=$!
  sleep 0.5
  echo "== $name"
  wrk -t1 -c8 -d10s "http://127.0.0.1:$port/metrics" | grep -E "Requests/sec|Latency" | sed 's/^/wrk plain: /'
  wrk -t1 -c8 -d10s -H 'Accept-Encoding: gzip' "http://127.0.0.1:$port/metrics" | grep -E "Requests/sec|Latency" | sed 's/^/wrk gzip:  /'
  curl -s -o /dev/null "http://127.0.0.1:$port/slow" &
  sleep 0.2
  curl -s -o /dev/null -w "scrape while a 1 s scrape runs: %{http_code} in %{time_total} s\n" "http://127.0.0.1:$port/metrics"
  wait %2 2>/dev/null || true
  python3 "$here/http_server_choice_abuse.py" "$port" "$pid"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
}

run "own server (Exposer)" 18081 own
run "libmicrohttpd, 1 epoll thread" 18082 mhd 1
run "libmicrohttpd, pool of 4 epoll threads" 18083 mhd 4
