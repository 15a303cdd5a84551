#!/usr/bin/env bash
# Compiles bench/compile/pytheus_tu.cpp and its prometheus-cpp twin with the same flags, REPS
# times each, and prints the median wall time, median peak compiler memory and object-file
# size of each, with the ratios pytheus / prometheus-cpp. One compiler runs at a time.
#
#   bench/compile_cost.sh            # g++ -std=c++17 -O2 -c, 5 repetitions
#   bench/compile_cost.sh -n 9       # more repetitions (or REPS=9)
#   bench/compile_cost.sh -O0        # at -O0 instead of -O2
#   bench/compile_cost.sh --write    # also puts the table into docs/performance.md
#   CXX=clang++ bench/compile_cost.sh
#
# Needs GNU time (Debian: time) and prometheus-cpp's headers (prometheus-cpp-dev); nlohmann
# json and prometheus-cpp are taken from the system include path. The table also goes to
# bench/results/compile_cost.md.
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${REPS:-5}
CXX=${CXX:-g++}
OPT=-O2
WRITE=0
OUT=bench/results
DOC=docs/performance.md

usage() { sed -n '2,14s/^# \{0,1\}//p' "$0"; }
while [ $# -gt 0 ]; do
  case "$1" in
    -n | --reps) REPS=$2; shift 2 ;;
    -O0 | -O1 | -O2 | -O3 | -Os) OPT=$1; shift ;;
    --write) WRITE=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "compile_cost.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
case "$REPS" in '' | *[!0-9]* | 0) echo "compile_cost.sh: -n wants a positive count, got '$REPS'" >&2; exit 2 ;; esac

[ -x /usr/bin/time ] || { echo "compile_cost.sh: needs GNU time: apt-get install time" >&2; exit 1; }
echo '#include <prometheus/registry.h>' | "$CXX" -std=c++17 -x c++ -fsyntax-only - 2>/dev/null ||
  { echo "compile_cost.sh: prometheus-cpp headers not found: apt-get install prometheus-cpp-dev" >&2; exit 1; }

flags=(-std=c++17 "$OPT" -c -I include)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# median FILE COLUMN: the median of one column of "seconds kilobytes" lines.
median() {
  awk -v c="$2" '{ print $c }' "$1" | sort -g |
    awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# measure NAME: compiles bench/compile/NAME.cpp REPS times; sets secs, mb, kb_obj.
measure() {
  local name=$1 i s k
  : >"$work/$name.txt"
  for i in $(seq "$REPS"); do
    /usr/bin/time -f '%e %M' -o "$work/$name.time" \
      "$CXX" "${flags[@]}" "bench/compile/$name.cpp" -o "$work/$name.o"
    read -r s k <"$work/$name.time"
    echo "$s $k" >>"$work/$name.txt"
    echo "  $name $i/$REPS: $s s, $k KB" >&2
  done
  secs=$(median "$work/$name.txt" 1)
  mb=$(awk -v k="$(median "$work/$name.txt" 2)" 'BEGIN { printf "%.0f", k / 1024 }')
  kb_obj=$(awk -v b="$(stat -c %s "$work/$name.o")" 'BEGIN { printf "%.0f", b / 1024 }')
}

measure pytheus_tu
p_secs=$secs p_mb=$mb p_obj=$kb_obj
measure prometheus_cpp_tu
c_secs=$secs c_mb=$mb c_obj=$kb_obj
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1fx", a / b }'; }

compiler=$("$CXX" --version | head -1)
mkdir -p "$OUT"
{
  echo "\`$CXX ${flags[*]}\`, $REPS repetition$([ "$REPS" = 1 ] || echo s), medians; $compiler," \
    "$(nproc) cores, run of $(date -u '+%Y-%m-%d %H:%M') UTC."
  echo
  echo "| translation unit | wall time | peak compiler memory | object file |"
  echo "|---|---|---|---|"
  echo "| pytheus-cpp (\`bench/compile/pytheus_tu.cpp\`) | $p_secs s | $p_mb MB | $p_obj KB |"
  echo "| prometheus-cpp (\`bench/compile/prometheus_cpp_tu.cpp\`) | $c_secs s | $c_mb MB | $c_obj KB |"
  echo "| ratio pytheus / prometheus-cpp | $(ratio "$p_secs" "$c_secs") | $(ratio "$p_mb" "$c_mb") | $(ratio "$p_obj" "$c_obj") |"
} >"$OUT/compile_cost.md"
cat "$OUT/compile_cost.md"
echo "wrote $OUT/compile_cost.md"

if [ "$WRITE" = 1 ]; then
  if ! grep -q '^<!-- compile-cost:begin -->$' "$DOC" || ! grep -q '^<!-- compile-cost:end -->$' "$DOC"; then
    echo "compile_cost.sh: $DOC lacks the compile-cost markers" >&2
    exit 1
  fi
  awk -v table="$OUT/compile_cost.md" '
    /^<!-- compile-cost:end -->$/ { skip = 0 }
    !skip { print }
    /^<!-- compile-cost:begin -->$/ { while ((getline line < table) > 0) print line; skip = 1 }
  ' "$DOC" >"$work/doc.md"
  cp "$work/doc.md" "$DOC"
  echo "wrote $DOC"
fi
