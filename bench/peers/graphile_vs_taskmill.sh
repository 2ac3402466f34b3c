#!/usr/bin/env bash
# taskmill's drain beside graphile-worker's, on one private PostgreSQL server, in one run:
#   bench/peers/graphile_vs_taskmill.sh [--runs N] [--rounds R] [--defaults-runs M] [--taskmill BIN]
# Each round measures, on a fresh database each (same server, synchronous_commit=on):
#   taskmill         `taskmill bench --storage postgresql://... --runs N` (drain of N no-op runs)
#   graphile fast    graphile-worker with a local queue of 500 and completeJobBatchDelay 0
#   graphile default graphile-worker with those left at their defaults (M runs: it is slow)
# and the order is reversed every other round, since the machine's load drifts. At the end
# it prints the medians and the ratio taskmill / graphile fast. Results: one JSON line per
# measurement in $OUT (default: a temp file, path printed), with the CPU time the
# server spent on it (enqueue and drain) per 1000 runs.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
runs=100000
rounds=3
defaults_runs=20000
taskmill="$root/build/taskmill"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --defaults-runs) defaults_runs=$2; shift 2 ;;
    --taskmill) taskmill=$2; shift 2 ;;
    *) echo "unknown argument: $1 (see the head of $0)" >&2; exit 2 ;;
  esac
done
[[ -x "$taskmill" ]] || { echo "error: no taskmill binary at $taskmill (build it, or pass --taskmill)" >&2; exit 2; }

# graphile-worker, at the version pinned by package-lock.json.
if [[ ! -d "$here/node_modules/graphile-worker" ]]; then
  (cd "$here" && npm ci --no-audit --no-fund >/dev/null)
fi

source "$root/bench/pg/private_server.sh" peers
echo "server: $base (synchronous_commit=$(psql -XAtq "$base/postgres" -c 'show synchronous_commit'))" >&2

db=0
fresh_db() {  # sets $db_url to a new, empty database
  db=$((db + 1))
  psql -XAtq "$base/postgres" -c "create database bench_$db" >/dev/null
  db_url="$base/bench_$db"
}
drop_db() { psql -XAtq "$base/postgres" -c "drop database bench_$db" >/dev/null; }
load() { cut -d' ' -f1 /proc/loadavg; }

measure() {  # measure ROUND WHAT
  local round=$1 what=$2 url line l0 c0 c1
  fresh_db
  url=$db_url
  l0=$(load)
  c0=$(pg_cpu)
  case "$what" in
    taskmill)
      line=$("$taskmill" bench --storage "$url" --runs "$runs" --trickle 0 --json 2>/dev/null) ;;
    graphile-fast)
      line=$(NO_LOG_SUCCESS=1 node "$here/graphile_drain.mjs" "$url" "$runs" fast) ;;
    graphile-defaults)
      line=$(NO_LOG_SUCCESS=1 node "$here/graphile_drain.mjs" "$url" "$defaults_runs" defaults) ;;
  esac
  drop_db
  sleep 0.5  # the backends are reaped
  c1=$(pg_cpu)
  python3 - "$round" "$what" "$l0" "$line" "$c0" "$c1" >>"$out" <<'EOF'
import json, sys
round_, what, load, line, c0, c1 = sys.argv[1:]
r = json.loads(line)
# The server's CPU over the whole measurement (enqueue and drain), per 1000 runs.
cpu = float(c1) - float(c0)
print(json.dumps({"round": int(round_), "what": what, "load1": float(load),
                  "runs": r["runs"], "drain_runs_per_sec": r["drain_runs_per_sec"],
                  "enqueue_runs_per_sec": r["enqueue_runs_per_sec"],
                  "pg_cpu_ms_per_1000_runs": round(1e6 * cpu / r["runs"], 1)}))
EOF
  tail -n1 "$out" >&2
}

for ((round = 1; round <= rounds; round++)); do
  order=(taskmill graphile-fast graphile-defaults)
  if ((round % 2 == 0)); then order=(graphile-defaults graphile-fast taskmill); fi
  for what in "${order[@]}"; do measure "$round" "$what"; done
done

python3 - "$out" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
med = {}
for what in ("taskmill", "graphile-fast", "graphile-defaults"):
    v = [r["drain_runs_per_sec"] for r in rows if r["what"] == what]
    med[what] = statistics.median(v)
    cpu = statistics.median(r["pg_cpu_ms_per_1000_runs"] for r in rows if r["what"] == what)
    print(f"{what:18} drain median {med[what]:>8.0f} runs/s  "
          f"PostgreSQL CPU {cpu:.0f} ms per 1000 runs  rounds: " + " ".join(f"{x:.0f}" for x in v))
ratios = [t["drain_runs_per_sec"] / g["drain_runs_per_sec"]
          for t in rows if t["what"] == "taskmill"
          for g in rows if g["what"] == "graphile-fast" and g["round"] == t["round"]]
print(f"taskmill / graphile fast: {med['taskmill'] / med['graphile-fast']:.2f}x of medians; "
      f"per round " + " ".join(f"{x:.2f}" for x in ratios))
print(f"load average (1 min) at the starts: "
      + " ".join(f"{r['load1']:.1f}" for r in rows))
EOF
echo "results: $out" >&2
