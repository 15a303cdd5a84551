#!/usr/bin/env bash
# Builds and runs examples/quickstart on a fresh Debian 12 machine.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build --target quickstart
exec build/examples/quickstart "$@"
