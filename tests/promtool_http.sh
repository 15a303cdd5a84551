#!/usr/bin/env bash
# Checks with promtool what a serving example sends over HTTP, the exposer's own and process
# metrics included: runs the example, waits for the URL it prints, scrapes it with curl.
#   promtool_http.sh PROMTOOL EXAMPLE [ARGS...]
set -euo pipefail
promtool=$1
shift
out=$(mktemp)
"$@" >"$out" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -f "$out"' EXIT

url=""
for _ in $(seq 100); do  # up to 10 s
  url=$(grep -o 'http://[^ ]*/metrics' "$out" | head -n 1 || true)
  [ -n "$url" ] && break
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "$* exited before serving:" >&2
    cat "$out" >&2
    exit 1
  fi
  sleep 0.1
done
if [ -z "$url" ]; then
  echo "$* printed no URL within 10 s:" >&2
  cat "$out" >&2
  exit 1
fi

curl -fsS "$url" >/dev/null  # so that the next scrape shows the scrape counters
curl -fsS "$url" | "$promtool" check metrics
curl -fsS --compressed "$url" | "$promtool" check metrics
echo "promtool: $url OK"
