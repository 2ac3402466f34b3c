#!/usr/bin/env bash
# Scheduler failover: kill -9 of the leading scheduler to the first run launched by the
# new leader, over several rounds:
#   bench/pg/failover.sh [--rounds N] [--lease SECONDS] [--storage postgresql|sqlite]
#                        [--taskmill BIN]
# Starts a private PostgreSQL (bench/pg/private_server.sh; --storage sqlite: a file
# shared by the nodes instead), two `taskmill serve --roles scheduler,api` nodes (a
# leader and a standby), a runner node, and a periodical task that fires every second
# (misfire run_all: the seconds missed while no one led are launched late, so the new
# leader launches at once when it takes over). Each round kills the leader with
# SIGKILL, reads from the storage the created_at of the first run stored after the
# kill (only the new leader stores runs then; created_at is the storing scheduler's
# clock, the same machine's as the kill's), and restarts the killed node as the new
# standby. --lease passes --scheduler-lease to the schedulers (default: the built-in
# 15 s). Prints each round, the median, min and max, and whether every round stayed
# within 2 × the lease (the standby's promise, docs/failures.md); one JSON line per
# round and a summary go to $OUT (default: beside the work dir).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
rounds=10
lease=""
storage=postgresql
taskmill="$root/build/taskmill"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --lease) lease=$2; shift 2 ;;
    --storage) storage=$2; shift 2 ;;
    --taskmill) taskmill=$2; shift 2 ;;
    *) echo "unknown argument: $1 (see the head of $0)" >&2; exit 2 ;;
  esac
done
[[ -x "$taskmill" ]] || { echo "error: no taskmill binary at $taskmill" >&2; exit 2; }
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "error: --rounds: expected a positive number, got '$rounds'" >&2; exit 2; }
if [[ -n "$lease" && ! "$lease" =~ ^[0-9]+([.][0-9]+)?$ ]]; then
  echo "error: --lease: expected seconds, got '$lease'" >&2; exit 2
fi
lease_s=${lease:-15}  # the built-in scheduler.lease

declare -A pid url
stop_nodes() {
  for name in "${!pid[@]}"; do
    kill -9 "${pid[$name]}" 2>/dev/null || true
    wait "${pid[$name]}" 2>/dev/null || true
  done
}

case "$storage" in
  postgresql)
    source "$root/bench/pg/private_server.sh" failover
    work="$server/nodes"
    mkdir -p "$work"
    trap 'stop_nodes; cleanup' EXIT
    psql -XAtq "$base/postgres" -c "create database failover" >/dev/null
    store="$base/failover"
    query() { psql -XAtq "$store" -c "$1"; }
    runs_of_tick="(SELECT created_at FROM runs WHERE task = 'tick' UNION ALL
                   SELECT created_at FROM runs_history WHERE task = 'tick') r"
    ;;
  sqlite)
    work=$(mktemp -d /tmp/taskmill-failover-sqlite-XXXXXX)
    out=${OUT:-$work.results.jsonl}
    : >"$out"
    trap 'stop_nodes; rm -rf "$work"' EXIT
    store="$work/shared.db"
    query() { sqlite3 -readonly -cmd ".timeout 5000" "$store" "$1"; }
    runs_of_tick="(SELECT created_at FROM runs WHERE task = 'tick') r"
    ;;
  *) echo "error: --storage: expected postgresql or sqlite, got '$storage'" >&2; exit 2 ;;
esac

now_us() { date +%s%6N; }

# start_node NAME ROLES: starts a node in its own dir (no taskmill.yaml of the caller's
# directory applies) and waits for the URL it listens on.
start_node() {
  local name=$1 roles=$2 log="$work/$1.log" line="" deadline
  mkdir -p "$work/$name"
  : >"$log"
  local flags=(--config "$work/taskmill.yaml" --storage "$store" --roles "$roles"
               --listen 127.0.0.1:0 --data-dir "$work/$name")
  [[ -n "$lease" ]] && flags+=(--scheduler-lease "$lease")
  (cd "$work/$name" && exec "$taskmill" serve "${flags[@]}") >>"$log" 2>&1 &
  pid[$name]=$!
  deadline=$((SECONDS + 60))
  until line=$(grep -m1 -o 'listening on .*' "$log"); do
    if ((SECONDS > deadline)) || ! kill -0 "${pid[$name]}" 2>/dev/null; then
      echo "error: node $name did not start:" >&2; tail -20 "$log" >&2; exit 1
    fi
    sleep 0.05
  done
  url[$name]=${line#listening on }
}

leads() { curl -fsS "${url[$1]}/api/v1/scheduler" 2>/dev/null | grep -q '"is_leader":true'; }

# wait_for SECONDS WHAT COMMAND...: runs COMMAND until it succeeds, or fails saying WHAT.
wait_for() {
  local deadline=$((SECONDS + $1)) what=$2
  shift 2
  until "$@"; do
    if ((SECONDS > deadline)); then
      echo "error: $what not within the deadline; logs in $work" >&2
      for f in "$work"/*.log; do echo "---- $f" >&2; tail -15 "$f" >&2; done
      exit 1
    fi
    sleep 0.02
  done
}

ticks_after() {  # ticks_after MICROS: runs of tick stored after that instant
  query "SELECT count(*) FROM $runs_of_tick WHERE created_at > $1"
}
has_ticks_after() { (($(ticks_after "$1") >= $2)); }

# Every launch is kept (the per-task cap would prune the oldest), so that the check at
# the end sees every second.
echo "task_storage: {task_log_max_size: 1000000}" >"$work/taskmill.yaml"
start_node a scheduler,api
wait_for 30 "node a leading" leads a
start_node b scheduler,api
start_node runner runner
curl -fsS -X PUT -H 'content-type: application/json' "${url[a]}/api/v1/tasks/tick" \
  -d '{"kind":"periodical","function":"demo.echo","schedule":"* * * * * *","overlap":"allow",
       "misfire":"run_all","misfire_max":1000}' >/dev/null
wait_for 20 "3 launches by the first leader" has_ticks_after 0 3

echo "failover on $storage, lease ${lease_s} s${lease:+ (--scheduler-lease $lease)}, $rounds rounds"
leader=a standby=b
results=()
for ((round = 1; round <= rounds; round++)); do
  wait_for 30 "node $leader leading" leads "$leader"
  # The wait above ends just after a launch, and the schedulers' passes follow the
  # launches' commits: a random pause spreads the kill over the second, as a crash
  # would fall, rather than always right after a launch.
  sleep "0.$(printf '%03d' $((RANDOM % 1000)))"
  killed_at=$(now_us)
  kill -9 "${pid[$leader]}"
  wait "${pid[$leader]}" 2>/dev/null || true
  unset "pid[$leader]"
  first=""
  deadline=$((SECONDS + ${lease_s%.*} * 2 + 30))
  until first=$(query "SELECT min(created_at) FROM $runs_of_tick WHERE created_at > $killed_at") &&
    [[ -n "$first" ]]; do
    if ((SECONDS > deadline)); then echo "error: no launch after the kill of $leader" >&2; exit 1; fi
    sleep 0.02
  done
  leads "$standby" || { echo "error: the standby $standby does not say it leads" >&2; exit 1; }
  seconds=$(awk -v a="$killed_at" -v b="$first" 'BEGIN { printf "%.3f", (b - a) / 1e6 }')
  within=$(awk -v s="$seconds" -v l="$lease_s" 'BEGIN { print (s <= 2 * l) ? "yes" : "NO" }')
  echo "round $round: kill -9 of $leader -> first launch by $standby after $seconds s (within 2 x lease: $within)"
  echo "{\"storage\":\"$storage\",\"lease_s\":$lease_s,\"round\":$round,\"seconds\":$seconds,\"within_2_leases\":$([[ $within == yes ]] && echo true || echo false)}" >>"$out"
  results+=("$seconds")
  # The killed node comes back as the standby; the new leader launches meanwhile.
  start_node "$leader" scheduler,api
  since=$(now_us)
  wait_for 20 "2 launches by the new leader" has_ticks_after "$since" 2
  tmp=$leader leader=$standby standby=$tmp
done

# Every second fired once: no instant twice, none missed from the first to the last.
if [[ $storage == postgresql ]]; then
  instants="(SELECT scheduled_at FROM runs WHERE task = 'tick' UNION ALL
             SELECT scheduled_at FROM runs_history WHERE task = 'tick') s"
else
  instants="(SELECT scheduled_at FROM runs WHERE task = 'tick') s"
fi
doubled=$(query "SELECT count(*) - count(DISTINCT scheduled_at) FROM $instants")
missed=$(query "SELECT (max(scheduled_at) - min(scheduled_at)) / 1000000 + 1 - count(DISTINCT scheduled_at)
                FROM $instants")
echo "instants fired: $(query "SELECT count(*) FROM $instants"), fired twice: $doubled, missed: $missed"
printf '%s\n' "${results[@]}" | sort -n | awk -v storage="$storage" -v lease="$lease_s" -v out="$out" -v doubled="$doubled" -v missed="$missed" '
  { v[NR] = $1; if ($1 > 2 * lease) over++ }
  END {
    med = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "%s, lease %s s: median %.3f s, min %.3f s, max %.3f s over %d rounds; within 2 x lease: %s\n",
      storage, lease, med, v[1], v[NR], NR, over ? over " rounds over" : "every round"
    printf "{\"storage\":\"%s\",\"lease_s\":%s,\"rounds\":%d,\"median_s\":%.3f,\"min_s\":%.3f,\"max_s\":%.3f,\"over_2_leases\":%d,\"fired_twice\":%d,\"missed\":%d}\n",
      storage, lease, NR, med, v[1], v[NR], over + 0, doubled, missed >> out
    exit (over || doubled || missed) ? 1 : 0
  }'
