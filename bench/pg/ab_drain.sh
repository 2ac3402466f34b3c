#!/usr/bin/env bash
# Two taskmill builds' drains on one private PostgreSQL, alternated:
#   bench/pg/ab_drain.sh BEFORE_BIN AFTER_BIN [--runs N] [--rounds R]
# Each round runs `taskmill bench --storage URL --runs N --trickle 0 --json` once per
# binary, each on a fresh database, the order reversed every other round (the machine's
# load drifts). Prints one JSON line per measurement, then the medians of enqueue and
# drain and the ratio after / before.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
[[ $# -ge 2 ]] || { echo "usage: $0 BEFORE_BIN AFTER_BIN [--runs N] [--rounds R]" >&2; exit 2; }
before=$1 after=$2
shift 2
runs=100000
rounds=5
while [[ $# -gt 0 ]]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    *) echo "unknown argument: $1 (see the head of $0)" >&2; exit 2 ;;
  esac
done
for bin in "$before" "$after"; do
  [[ -x "$bin" ]] || { echo "error: no taskmill binary at $bin" >&2; exit 2; }
done

source "$root/bench/pg/private_server.sh" ab
n=0
one() {  # one WHO BIN
  n=$((n + 1))
  psql -XAtq "$base/postgres" -c "create database ab_$n" >/dev/null
  local load line
  load=$(cut -d' ' -f1 /proc/loadavg)
  line=$("$2" bench --storage "$base/ab_$n" --runs "$runs" --trickle 0 --json 2>/dev/null)
  echo "{\"who\": \"$1\", \"load1\": $load, \"bench\": $line}" | tee -a "$out"
  psql -XAtq "$base/postgres" -c "drop database ab_$n" >/dev/null
}
for ((r = 1; r <= rounds; r++)); do
  if ((r % 2)); then one before "$before"; one after "$after"; else one after "$after"; one before "$before"; fi
done
python3 - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
med = {}
for who in ("before", "after"):
    mine = [r["bench"] for r in rows if r["who"] == who]
    med[who] = (statistics.median(b["enqueue_runs_per_sec"] for b in mine),
                statistics.median(b["drain_runs_per_sec"] for b in mine))
    print(f"{who:7s} enqueue median {med[who][0]:9.0f}/s  drain median {med[who][1]:9.0f}/s")
print(f"after / before: enqueue {med['after'][0] / med['before'][0]:.2f}x, "
      f"drain {med['after'][1] / med['before'][1]:.2f}x")
print("load average (1 min) at the starts:", " ".join(str(r["load1"]) for r in rows))
PY
