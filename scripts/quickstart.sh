#!/usr/bin/env bash
# Quick start: installs what is missing, builds, and starts `taskmill serve` on the
# embedded SQLite default with the example tasks (examples/taskmill.yaml).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
exec ./build/taskmill serve --config examples/taskmill.yaml "$@"
