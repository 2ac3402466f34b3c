#!/usr/bin/env bash
# Builds taskmill into ./build (Release, Ninja, ccache when present), with the web UI
# embedded when web/ has sources. Run scripts/install-deps.sh first (the quick-start
# scripts do).
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -f web/package.json ]]; then
  (cd web && { [[ -d node_modules ]] && [[ node_modules/.package-lock.json -nt package-lock.json ]] || npm ci --no-audit --no-fund --loglevel=error; } && npm run --silent build)
fi

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
ninja -C build
