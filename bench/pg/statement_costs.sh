#!/usr/bin/env bash
# Where the server's time goes in a drain, statement by statement:
#   bench/pg/statement_costs.sh [--runs N] [--rounds R] [--taskmill BIN]
# Starts a private PostgreSQL (bench/pg/private_server.sh) with pg_stat_statements
# (planning tracked too), then R times: `taskmill bench --storage URL --runs N --trickle 0`
# on a fresh database, and per statement of that database, per run: execution and
# planning time (µs), shared buffers hit, WAL bytes; beside them the drain rate, the
# load average at the start and the server's CPU ms per 1000 runs (enqueue and drain).
# Execution times are wall time inside the server: on a loaded machine they include
# time off CPU, so compare buffers and WAL (exact) and rounds of one run.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
runs=100000
rounds=1
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

source "$root/bench/pg/private_server.sh" costs
# pg_stat_statements must be loaded at the server's start: restart with it (same port).
cat >>"$server/data/postgresql.conf" <<'EOF'
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track = all
pg_stat_statements.track_planning = on
EOF
"$root/scripts/pg-test-server.sh" stop "$server" >/dev/null
"$root/scripts/pg-test-server.sh" start "$server" >/dev/null
postmaster=$(head -1 "$server/data/postmaster.pid")
psql -XAtq "$base/postgres" -c "create extension pg_stat_statements" >/dev/null

for ((round = 1; round <= rounds; round++)); do
  db=costs_$round
  psql -XAtq "$base/postgres" -c "create database $db" >/dev/null
  load=$(cut -d' ' -f1 /proc/loadavg)
  c0=$(pg_cpu)
  line=$("$taskmill" bench --storage "$base/$db" --runs "$runs" --trickle 0 --json)
  sleep 0.5  # the bench's backends are reaped
  c1=$(pg_cpu)
  echo "round $round: load $load, $(python3 -c "
import json, sys
r = json.loads(sys.argv[1])
print(f\"enqueue {r['enqueue_runs_per_sec']:.0f}/s, drain {r['drain_runs_per_sec']:.0f}/s, \"
      f\"server CPU {(float(sys.argv[2]) - float(sys.argv[3])) * 1e6 / r['runs']:.1f} ms per 1000 runs\")
" "$line" "$c1" "$c0")"
  psql -XA -F $'\t' "$base/postgres" -v runs="$runs" -v db="$db" <<'EOF'
select round((s.total_exec_time * 1000 / :runs)::numeric, 2) as exec_us_per_run,
       round((s.total_plan_time * 1000 / :runs)::numeric, 2) as plan_us_per_run,
       s.calls, s.rows,
       round(s.shared_blks_hit::numeric / :runs, 1) as hits_per_run,
       round(s.wal_bytes / :runs) as wal_bytes_per_run,
       left(regexp_replace(s.query, '\s+', ' ', 'g'), 70) as statement
from pg_stat_statements s join pg_database d on d.oid = s.dbid
where d.datname = :'db' and s.total_exec_time * 1000 / :runs >= 0.05
order by s.total_exec_time desc;
EOF
  psql -XAtq "$base/postgres" -c "drop database $db" >/dev/null
done
