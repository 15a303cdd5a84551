#!/usr/bin/env bash
# Installs everything pytheus-cpp builds and tests with, from Debian 12's packages.
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends \
  build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev \
  libgtest-dev libbenchmark-dev nlohmann-json3-dev zlib1g-dev \
  libhiredis-dev redis-server redis-sentinel libcurl4-openssl-dev \
  libprotobuf-dev protobuf-compiler \
  libcpp-httplib-dev libcivetweb-dev prometheus-cpp-dev \
  libmicrohttpd-dev wrk \
  prometheus prometheus-pushgateway curl ca-certificates python3 python3-prometheus-client time
