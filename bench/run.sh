#!/usr/bin/env bash
# Builds the benchmarks in Release and runs them with repetitions, then writes the table of
# medians and ratios (bench/results/report.md) and the throughput plot (docs/throughput.png),
# then measures the compile cost (bench/compile_cost.sh, into bench/results/compile_cost.md).
#
#   bench/run.sh                 # everything; starts its own redis-server on a free port
#   REPS=10 bench/run.sh         # more repetitions (default 5)
#   FILTER=Counter bench/run.sh  # only benchmarks matching a regex
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${REPS:-5}
FILTER=${FILTER:-.}
OUT=bench/results
mkdir -p "$OUT"

cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DPYTHEUS_BUILD_TESTS=OFF \
  -DPYTHEUS_BUILD_EXAMPLES=OFF -DPYTHEUS_BUILD_BENCH=ON >/dev/null
cmake --build build-bench >/dev/null

common=(--benchmark_repetitions="$REPS" --benchmark_report_aggregates_only=true
        --benchmark_filter="$FILTER" --benchmark_out_format=json)

build-bench/bench/bench_core "${common[@]}" --benchmark_out="$OUT/core.json"

if [ -x build-bench/bench/bench_redis ]; then
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  dir=$(mktemp -d)
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" \
    --daemonize no --loglevel warning &
  redis_pid=$!
  trap 'kill $redis_pid 2>/dev/null; rm -rf "$dir"' EXIT
  for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  PYTHEUS_BENCH_REDIS_PORT=$port build-bench/bench/bench_redis "${common[@]}" \
    --benchmark_out="$OUT/redis.json"
fi

# The plot needs matplotlib (Debian: python3-matplotlib, for /usr/bin/python3).
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
"$PY" -c 'import matplotlib' 2>/dev/null ||
  echo "matplotlib missing: apt-get install python3-matplotlib" >&2
"$PY" bench/report.py "$OUT"/*.json --markdown "$OUT/report.md" --plot docs/throughput.png
echo "wrote $OUT/report.md and docs/throughput.png"

# After the benchmarks, so that one compiler runs at a time and nothing else competes with it.
REPS=$REPS bench/compile_cost.sh
