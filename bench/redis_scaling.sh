#!/usr/bin/env bash
# How far one Redis goes, and a 3-master Redis Cluster (docs/scaling.md): starts a
# redis-server and a cluster on free loopback ports in a temporary directory, runs
# redis_scaling for N processes x D dirty series per flush interval, and prints one JSON line
# per run (also appended to bench/results/redis_scaling.jsonl).
#
#   bench/redis_scaling.sh [build-dir] [seconds per run]
#
# Needs a build with -DPYTHEUS_BUILD_BENCH=ON (target redis_scaling).
set -euo pipefail
build=${1:-build}
seconds=${2:-5}
bin=$build/bench/redis_scaling
[ -x "$bin" ] || { echo "build $bin first (ninja -C $build redis_scaling)" >&2; exit 2; }
procs_list=${PROCS:-"1 2 4 8 16"}
topologies=${TOPOLOGIES:-"single cluster3"}
series_list=${SERIES:-"100 1000 10000"}
out=$(dirname "$0")/results/redis_scaling.jsonl
dir=$(mktemp -d /tmp/pytheus-scaling-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start() {  # start <name> <port> [extra args]
  local name=$1 port=$2; shift 2
  mkdir -p "$dir/$name"
  redis-server --port "$port" --bind 127.0.0.1 --dir "$dir/$name" --save "" --appendonly no \
    --protected-mode no --logfile "$dir/$name/log" "$@" &
  pids+=($!)
  for _ in $(seq 400); do redis-cli -p "$port" ping >/dev/null 2>&1 && return; sleep 0.05; done
  echo "redis-server on $port did not start" >&2; exit 1
}

single=$(free_port)
start single "$single"
c1=$(free_port); c2=$(free_port); c3=$(free_port)
# The bus port is given: port + 10000 does not exist above 55535.
for p in $c1 $c2 $c3; do
  start "c$p" "$p" --cluster-enabled yes --cluster-config-file nodes.conf --cluster-port "$(free_port)"
done
redis-cli --cluster create 127.0.0.1:$c1 127.0.0.1:$c2 127.0.0.1:$c3 --cluster-yes >/dev/null
for _ in $(seq 200); do
  ok=1
  for p in $c1 $c2 $c3; do
    redis-cli -p "$p" cluster info | grep -q cluster_state:ok || ok=0
  done
  [ $ok = 1 ] && break; sleep 0.1
done

run() {  # run <label> <nodes> <config>
  case " $topologies " in *" $1 "*) ;; *) return ;; esac
  for d in $series_list; do
    for n in $procs_list; do
      line=$("$bin" --nodes "$2" --config "$3" --procs "$n" --series "$d" --seconds "$seconds")
      line=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); d["topology"]=sys.argv[2]; print(json.dumps(d))' "$line" "$1")
      echo "$line"
      echo "$line" >> "$out"
      # Start each run from empty servers, so that key counts do not accumulate.
      for p in ${2//,/ }; do redis-cli -p "$p" flushall >/dev/null; done
    done
  done
}

run single "$single" "{\"host\": \"127.0.0.1\", \"port\": $single}"
run cluster3 "$c1,$c2,$c3" "{\"cluster\": {\"seeds\": [{\"host\": \"127.0.0.1\", \"port\": $c1}]}}"
