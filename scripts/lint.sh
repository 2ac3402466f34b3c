#!/usr/bin/env bash
# Checks the habits the style guide asks for and the compiler does not:
#   1. formatting: every C++ file of src/ include/ tests/ bench/ examples/ fuzz/ is as
#      clang-format (.clang-format) writes it; the files that differ are listed;
#   2. clang-tidy: the checks chosen in .clang-tidy, over the library and CLI sources of
#      src/ (not the tests), two files at a time.
#
#   scripts/lint.sh            both; exits non-zero on any difference or finding
#   scripts/lint.sh --format   formatting only
#   scripts/lint.sh --tidy     clang-tidy only
#   scripts/lint.sh --fix      rewrites the files that differ (clang-format -i); no clang-tidy
#
# clang-tidy reads build/compile_commands.json (configured here when missing). The tools
# are clang-format-14 and clang-tidy-14 (scripts/install-deps.sh --test), pinned because
# another version formats some constructs differently.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=all
case "${1:-}" in
  "") ;;
  --format) mode=format ;;
  --tidy) mode=tidy ;;
  --fix) mode=fix ;;
  -h | --help)
    sed -n '2,15p' "$0"
    exit 0
    ;;
  *)
    echo "lint.sh: unknown option '$1'; one of --format, --tidy, --fix" >&2
    exit 2
    ;;
esac

tool() {
  if command -v "$1-14" >/dev/null; then
    echo "$1-14"
  elif command -v "$1" >/dev/null; then
    echo "$1"
  else
    echo "lint.sh: $1 is not installed (scripts/install-deps.sh --test installs it)" >&2
    exit 2
  fi
}
JOBS=${LINT_JOBS:-2}
failed=0

# Tracked and new (not ignored) files, so that build outputs and node_modules stay out.
cxx_files() {
  git ls-files --cached --others --exclude-standard -- "$@" |
    grep -E '\.(cpp|cc|h|hpp)$' | sort -u | while read -r f; do [[ -f $f ]] && echo "$f"; done
}

# Prints "FILE N" when clang-format would change N lines of FILE.
format_one() {
  local n
  n=$(diff <("$FORMAT" --style=file "$1") "$1" | grep -c '^>' || true)
  if ((n > 0)); then echo "$1 $n"; fi
}

check_format() {
  local differ f n
  FORMAT=$(tool clang-format)
  export FORMAT
  export -f format_one
  mapfile -t files < <(cxx_files src include tests bench examples fuzz)
  if [[ $mode == fix ]]; then
    printf '%s\0' "${files[@]}" | xargs -0 -P "$JOBS" -n 16 "$FORMAT" -i --style=file
  fi
  mapfile -t differ < <(printf '%s\0' "${files[@]}" | xargs -0 -P "$JOBS" -n 1 bash -c 'format_one "$0"' | sort)
  if ((${#differ[@]})); then
    echo "clang-format: ${#differ[@]} of ${#files[@]} files differ from .clang-format (lines to change):"
    for f in "${differ[@]}"; do
      n=${f##* }
      echo "  ${f% *} ($n)"
    done
    echo "  scripts/lint.sh --fix rewrites them; clang-format --style=file FILE | diff FILE - shows one"
    failed=1
  else
    echo "clang-format: all ${#files[@]} files are formatted"
  fi
}

# Runs clang-tidy on one file; prints its findings only when there are some.
# -w: compiler warnings are the GCC build's business; only .clang-tidy's checks report.
tidy_one() {
  local out
  if ! out=$("$TIDY" -p build --quiet --header-filter="^$PWD/(src|include)/" \
    --extra-arg=-w "$1" 2>&1); then
    # Keep the findings, drop clang-tidy's "N warnings generated" chatter.
    grep -v -E '^[0-9]+ warnings? (and [0-9]+ errors? )?generated\.$' <<<"$out" >&2
    return 1
  fi
}

check_tidy() {
  TIDY=$(tool clang-tidy)
  export TIDY
  export -f tidy_one
  if [[ ! -f build/compile_commands.json ]]; then
    cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DTASKMILL_BUILD_TESTS=ON >/dev/null
  fi
  # The library and CLI sources; tests (*_test.cpp, the conformance suite) are left out.
  mapfile -t files < <(cxx_files src | grep -E '\.cpp$' | grep -v -E '_test\.cpp$|^src/storage/conformance/')
  if printf '%s\0' "${files[@]}" | xargs -0 -P "$JOBS" -n 1 bash -c 'tidy_one "$0"'; then
    echo "clang-tidy: ${#files[@]} files, no finding"
  else
    echo "clang-tidy: findings above (the checks and why: .clang-tidy)"
    failed=1
  fi
}

start=$SECONDS
if [[ $mode != tidy ]]; then check_format; fi
if [[ $mode == all || $mode == tidy ]]; then check_tidy; fi
echo "lint: $((SECONDS - start)) s"
exit $failed
