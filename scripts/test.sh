#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds once, and runs
#   1. unit, conformance and integration tests (ctest, Release build);
#   2. unit and conformance tests again under AddressSanitizer + UBSan;
#   (the CSV differential test against Python's csv module runs inside ctest);
#   3. the runner, storage, scheduler and engine tests under ThreadSanitizer
#      (scripts/tsan.sh, its own clang build);
#   4. the browser tests (headless Chromium driven by Playwright);
#   5. every fuzzer of fuzz/ for 20 s (scripts/fuzz.sh, its own clang build);
#   6. scripts/lint.sh: clang-format (check only) and the clang-tidy checks of .clang-tidy.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test
# Each step says when it began, so that a slow step shows in the log (CI allows 45 min).
step() { echo "== $1 (at $((SECONDS / 60)) min $((SECONDS % 60)) s)"; }

step "build"
scripts/build.sh -DTASKMILL_BUILD_TESTS=ON

step "unit, conformance and integration tests"
ctest --test-dir build --output-on-failure

step "the embedding example, built against the installed package"
rm -rf build/install build/embed
cmake --install build --prefix build/install >/dev/null
cmake -S examples/embed -B build/embed -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$PWD/build/install" >/dev/null
ninja -C build/embed
./build/embed/embed_example

step "unit and conformance tests under ASan + UBSan"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DTASKMILL_SANITIZE=ON \
  -DTASKMILL_BUILD_CLI=OFF -DTASKMILL_BUILD_BENCH=OFF >/dev/null
ninja -C build-asan taskmill_unit_tests
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure -R unit_and_conformance

step "runner, storage, scheduler and engine tests under ThreadSanitizer"
scripts/tsan.sh

if [[ -f tests/browser/package.json ]]; then
  step "browser tests"
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error && TASKMILL_BINARY=../../build/taskmill node --test)
fi
# A fuzzer runs on one core for a fixed time: lint (clang-format check, clang-tidy)
# runs beside it with two jobs, so that it has both cores once the fuzzers are done
# (clang-tidy is the longest step after them); its report follows the fuzzers'.
step "fuzzers, 20 s each, with lint beside them"
lint_log=$(mktemp)
LINT_JOBS=2 scripts/lint.sh > "$lint_log" 2>&1 &
lint=$!
scripts/fuzz.sh all 20
step "lint"
lint_status=0
wait "$lint" || lint_status=$?
cat "$lint_log"
rm -f "$lint_log"
if (( lint_status != 0 )); then exit "$lint_status"; fi
echo "== all tests passed in $((SECONDS / 60)) min $((SECONDS % 60)) s"
