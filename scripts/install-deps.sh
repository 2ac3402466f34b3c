#!/usr/bin/env bash
# Installs the Debian packages taskmill needs to build, test and benchmark.
# Idempotent: only packages that are missing are installed, so a second run is fast.
set -euo pipefail

BUILD_PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libsqlite3-dev libpq-dev libyaml-cpp-dev libcli11-dev
  libspdlog-dev libfmt-dev libhowardhinnant-date-dev tzdata libssl-dev
  nodejs npm python3
)
TEST_PACKAGES=(
  libgtest-dev libgmock-dev libbenchmark-dev
  postgresql postgresql-15 chromium wrk openssl curl stress
  clang libclang-rt-14-dev clang-format-14 clang-tidy-14
)

want=("${BUILD_PACKAGES[@]}")
if [[ "${1:-}" == "--test" ]]; then
  want+=("${TEST_PACKAGES[@]}")
fi

missing=()
for pkg in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
# node and npm may come from elsewhere than Debian; accept any working install.
if command -v node >/dev/null && command -v npm >/dev/null; then
  filtered=()
  for pkg in "${missing[@]}"; do
    [[ "$pkg" == nodejs || "$pkg" == npm ]] || filtered+=("$pkg")
  done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi

if ((${#missing[@]})); then
  echo "taskmill: installing missing packages: ${missing[*]}"
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
