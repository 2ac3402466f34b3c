#!/usr/bin/env bash
# Builds the tests of the threaded modules (runner, storage, scheduler, engine and the
# storage conformance suite) under ThreadSanitizer and runs them.
#
#   scripts/tsan.sh [GTEST_FILTER]
#
# The build (build-tsan/, clang, -fsanitize=thread, -O1, asserts on) is separate from the
# others and compiles the library and that one test binary only (taskmill_tsan_tests).
# A data race, a lock-order inversion or a use of a destroyed mutex fails the run, with
# both stacks in the report.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=build-tsan

if [[ ! -f $BUILD/build.ninja ]]; then
  CC=clang CXX=clang++ cmake -S . -B $BUILD -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1" -DTASKMILL_TSAN=ON -DTASKMILL_BUILD_TESTS=ON \
    -DTASKMILL_BUILD_BENCH=OFF -DTASKMILL_BUILD_CLI=OFF >/dev/null
fi
ninja -C $BUILD taskmill_tsan_tests
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 ${TSAN_OPTIONS:-}" \
  "$BUILD/taskmill_tsan_tests" --gtest_filter="${1:-*}" --gtest_brief=1
