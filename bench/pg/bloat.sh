#!/usr/bin/env bash
# The bloat benchmark: a steady enqueue + drain load on a private PostgreSQL while
# another connection holds a transaction open, and so the xmin horizon:
#   bench/pg/bloat.sh [--seconds S] [--rate R] [--no-hold] [--taskmill BIN]
# `taskmill bench steady --rate R` offers R no-op runs/s and drains them for S seconds
# (default 300); a psql session opens a transaction, takes an xid and sleeps for the
# whole load (--no-hold: it does not, for the baseline). Every 10 s one line: the
# throughput and backlog of that interval, and the hot table (runs, summed over its
# generations runs_g0, runs_g1, ...): its live and dead tuples (pg_stat_user_tables, and
# the exact count of dead ones from pgstattuple),
# its size with indexes and toast, the autovacuums so far,
# and the age of the oldest xmin the server holds.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
seconds=300
rate=2000
hold=1
taskmill="$root/build/taskmill"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --no-hold) hold=0; shift ;;
    --taskmill) taskmill=$2; shift 2 ;;
    *) echo "unknown argument: $1 (see the head of $0)" >&2; exit 2 ;;
  esac
done
[[ -x "$taskmill" ]] || { echo "error: no taskmill binary at $taskmill" >&2; exit 2; }

server=$(mktemp -d /tmp/taskmill-bloat-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  "$root/scripts/pg-test-server.sh" stop "$server" >/dev/null 2>&1 || true
  rm -rf "$server"
}
trap cleanup EXIT
base=$("$root/scripts/pg-test-server.sh" start "$server")
base=${base%/postgres}
url="$base/bloat"
psql -XAtq "$base/postgres" -c "create database bloat" >/dev/null
"$taskmill" migrate --storage "$url" >/dev/null

if ((hold)); then
  # An open transaction with an xid: no row version deleted after it began can be
  # removed by vacuum or pruning anywhere on the server until it ends.
  psql -XAtq "$url" -c "begin" -c "select txid_current()" -c "select pg_sleep($seconds + 30)" \
    >/dev/null 2>&1 &
  pids+=($!)
  sleep 1
fi

"$taskmill" bench steady --storage "$url" --rate "$rate" --seconds "$seconds" --every 10 \
  >"$server/steady" &
steady=$!
pids+=($steady)

psql -XAtq "$url" -c "create extension if not exists pgstattuple" >/dev/null
stats() {
  # dead: pg_stat's estimate; exact: pgstattuple's count of the dead row versions (the
  # estimate drifts once generations are truncated: a backend's counts flushed after a
  # TRUNCATE land on the new, empty table).
  psql -XAtq -F' ' "$url" -c "
    select sum(s.n_live_tup), sum(s.n_dead_tup),
           sum((pgstattuple(s.relid)).dead_tuple_count), sum(pg_total_relation_size(s.relid)),
           sum(s.autovacuum_count), (select coalesce(max(age(backend_xmin)), 0) from pg_stat_activity)
    from pg_stat_user_tables s join pg_class c on c.oid = s.relid
    where c.relkind = 'r' and (s.relname = 'runs' or s.relname ~ '^runs_g[0-9]+\$')"
}
printf '%5s %10s %10s %8s %10s %12s %12s %9s %6s %9s\n' \
  t enq/s fin/s backlog live dead exact_dead size_MB vacs xmin_age
seen=0
while kill -0 "$steady" 2>/dev/null || [[ $(wc -l <"$server/steady") -gt $seen ]]; do
  if [[ $(wc -l <"$server/steady") -gt $seen ]]; then
    seen=$((seen + 1))
    line=$(sed -n "${seen}p" "$server/steady")
    read -r live dead exact size vacs xage < <(stats)
    python3 - "$line" "$live" "$dead" "$exact" "$size" "$vacs" "$xage" <<'EOF'
import json, sys
r = json.loads(sys.argv[1])
live, dead, exact, size, vacs, xage = map(int, sys.argv[2:])
print(f"{r['t']:5d} {r['enqueued_per_sec']:10.0f} {r['finished_per_sec']:10.0f} {r['backlog']:8d} "
      f"{live:10d} {dead:12d} {exact:12d} {size / 2**20:9.1f} {vacs:6d} {xage:9d}", flush=True)
EOF
  else
    sleep 0.5
  fi
done
wait "$steady"
