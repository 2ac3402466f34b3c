#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ and runs one of them.
#
#   scripts/fuzz.sh NAME SECONDS   build, then run fuzz_NAME for SECONDS
#   scripts/fuzz.sh all SECONDS    build once, then run every target for SECONDS each
#   scripts/fuzz.sh --build        build only
#
# NAME is csv_reader, cron, config, json_body or http_request. The build (build-fuzz/,
# clang, -fsanitize=fuzzer,address,undefined) is separate from the others. A run
# starts from the committed seeds (fuzz/corpus/NAME) plus what earlier runs found
# (build-fuzz/corpus/NAME, kept out of the repository); a crash is written to
# build-fuzz/crashes/NAME/ and fails the script: add it to fuzz/regressions/ with a
# test named after it. Each run ends with one line:
#   fuzz NAME: N executions in S s (R exec/s), corpus C inputs, no crash
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZERS=(csv_reader cron config json_body http_request)
BUILD=build-fuzz

build() {
  if [[ ! -f $BUILD/build.ninja ]]; then
    CC=clang CXX=clang++ cmake -S . -B $BUILD -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DTASKMILL_FUZZ=ON -DTASKMILL_BUILD_TESTS=OFF -DTASKMILL_BUILD_BENCH=OFF \
      -DTASKMILL_BUILD_CLI=OFF >/dev/null
  fi
  ninja -C $BUILD fuzzers
}

# The most input a target takes: enough for its format, small enough to stay fast.
max_len() {
  case $1 in
    http_request) echo 20000 ;;
    config) echo 8192 ;;
    *) echo 4096 ;;
  esac
}

run() {
  local name=$1 seconds=$2
  local corpus=$BUILD/corpus/$name crashes=$BUILD/crashes/$name log=$BUILD/fuzz-$name.log
  mkdir -p "$corpus" "$crashes"
  local status=0
  ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$BUILD/fuzz/fuzz_$name" "$corpus" "fuzz/corpus/$name" \
    -max_total_time="$seconds" -max_len="$(max_len "$name")" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$crashes/" >"$log" 2>&1 || status=$?
  local runs rate
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  local inputs
  inputs=$(find "$corpus" -type f | wc -l)
  if ((status != 0)); then
    tail -40 "$log"
    echo "fuzz $name: CRASH after ${runs:-?} executions; input in $crashes/ (log: $log)"
    return 1
  fi
  echo "fuzz $name: ${runs:-?} executions in $seconds s (${rate:-?} exec/s), corpus $inputs inputs, no crash"
}

case "${1:-}" in
  --build) build ;;
  all)
    build
    failed=0
    for name in "${FUZZERS[@]}"; do run "$name" "${2:?SECONDS}" || failed=1; done
    exit $failed
    ;;
  "" | -h | --help)
    sed -n '2,15p' "$0"
    exit 2
    ;;
  *)
    name=$1
    if [[ ! " ${FUZZERS[*]} " == *" $name "* ]]; then
      echo "fuzz.sh: unknown fuzzer '$name'; one of: ${FUZZERS[*]}" >&2
      exit 2
    fi
    build
    run "$name" "${2:?SECONDS}"
    ;;
esac
