#!/usr/bin/env bash
# The drain by 1, 2 and 4 runner processes against one private PostgreSQL:
#   bench/pg/runner_curve.sh [--runs N] [--rounds R] [--taskmill BIN]
# Each measurement is `taskmill bench --storage URL --processes P --runs N` on a fresh
# database (synchronous_commit=on); the order of P is reversed every other round. Beside
# each it records where the time went:
#   pg_cpu_s     CPU seconds of the PostgreSQL server (the postmaster's own and its
#                reaped backends', from /proc: the backends have exited by then)
#   tm_cpu_s     CPU seconds of the bench and its runner processes (/usr/bin/time)
#   waits        pg_stat_activity of the bench's database sampled every 100 ms: how many
#                samples saw a backend active on CPU, or waiting, by wait event
# Both CPU figures cover the enqueue too (about a quarter of the wall time).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
runs=100000
rounds=3
taskmill="$root/build/taskmill"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --taskmill) taskmill=$2; shift 2 ;;
    *) echo "unknown argument: $1 (see the head of $0)" >&2; exit 2 ;;
  esac
done
[[ -x "$taskmill" ]] || { echo "error: no taskmill binary at $taskmill" >&2; exit 2; }

source "$root/bench/pg/private_server.sh" curve

db=0
measure() {  # measure ROUND PROCESSES
  local round=$1 p=$2 url line c0 c1 l0 sampler
  db=$((db + 1))
  psql -XAtq "$base/postgres" -c "create database bench_$db" >/dev/null
  url="$base/bench_$db"
  l0=$(cut -d' ' -f1 /proc/loadavg)
  : >"$server/waits"
  (
    while sleep 0.1; do
      psql -XAtq "$base/postgres" -c "select coalesce(wait_event_type || ':' || wait_event, 'CPU')
        from pg_stat_activity where datname = 'bench_$db' and state = 'active'" >>"$server/waits" 2>/dev/null || true
    done
  ) &
  sampler=$!
  c0=$(pg_cpu)
  line=$(/usr/bin/time -f '%U %S' -o "$server/time" \
    "$taskmill" bench --storage "$url" --runs "$runs" --trickle 0 --processes "$p" --json)
  kill "$sampler"; wait "$sampler" 2>/dev/null || true
  psql -XAtq "$base/postgres" -c "drop database bench_$db" >/dev/null
  sleep 0.5  # the backends are reaped
  c1=$(pg_cpu)
  python3 - "$round" "$p" "$l0" "$line" "$c0" "$c1" "$(cat "$server/time")" "$server/waits" >>"$out" <<'EOF'
import collections, json, sys
round_, p, load, line, c0, c1, tm, waits = sys.argv[1:]
r = json.loads(line)
u, s = map(float, tm.split())
w = collections.Counter(l.strip() for l in open(waits) if l.strip())
print(json.dumps({"round": int(round_), "processes": int(p), "load1": float(load),
                  "runs": r["runs"], "drain_runs_per_sec": r["drain_runs_per_sec"],
                  "pg_cpu_s": round(float(c1) - float(c0), 2), "tm_cpu_s": round(u + s, 2),
                  "waits": dict(w.most_common(6))}))
EOF
  tail -n1 "$out" >&2
}

for ((round = 1; round <= rounds; round++)); do
  order=(1 2 4)
  if ((round % 2 == 0)); then order=(4 2 1); fi
  for p in "${order[@]}"; do measure "$round" "$p"; done
done

python3 - "$out" <<'EOF'
import collections, json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
base = None
for p in (1, 2, 4):
    rs = [r for r in rows if r["processes"] == p]
    med = statistics.median(r["drain_runs_per_sec"] for r in rs)
    base = base or med
    w = collections.Counter()
    for r in rs: w.update(r["waits"])
    total = sum(w.values()) or 1
    print(f"{p} runner process(es): drain median {med:>7.0f} runs/s ({med / base:.2f}x)  "
          f"PostgreSQL CPU {statistics.median(r['pg_cpu_s'] for r in rs):.1f} s  "
          f"taskmill CPU {statistics.median(r['tm_cpu_s'] for r in rs):.1f} s  rounds: "
          + " ".join(f"{r['drain_runs_per_sec']:.0f}" for r in rs))
    print("   active backends sampled: " +
          ", ".join(f"{k} {100 * v / total:.0f}%" for k, v in w.most_common(5)))
print("load average (1 min) at the starts: " + " ".join(f"{r['load1']:.1f}" for r in rows))
EOF
echo "results: $out" >&2
