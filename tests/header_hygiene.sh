#!/usr/bin/env bash
# Every public header compiles on its own, and none parses the full nlohmann/json.hpp (only
# json_fwd.hpp): the cost of a file that defines metrics depends on it.
# Usage: header_hygiene.sh CXX INCLUDE_DIR
set -euo pipefail
cxx=$1
inc=$2
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
while IFS= read -r header; do
  rel=${header#"$inc"/}
  printf '#include <%s>\n' "$rel" >"$tmp/tu.cpp"
  if ! "$cxx" -std=c++17 -fsyntax-only -H -I"$inc" "$tmp/tu.cpp" 2>"$tmp/deps"; then
    echo "FAIL: $rel does not compile on its own:" >&2
    grep -v '^\.' "$tmp/deps" | head -20 >&2
    fail=1
    continue
  fi
  if grep -q 'nlohmann/json.hpp$' "$tmp/deps"; then
    echo "FAIL: $rel includes nlohmann/json.hpp (use nlohmann/json_fwd.hpp)" >&2
    fail=1
  fi
done < <(find "$inc/pytheus" -name '*.hpp' | sort)
[ "$fail" = 0 ] && echo "every header compiles alone and none includes nlohmann/json.hpp"
exit "$fail"
