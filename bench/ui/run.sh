#!/usr/bin/env bash
# The web UI with about 1,000,000 runs in storage (docs/BENCHMARKS.md, "Web UI with a
# million runs"). Fills a fresh server with wrk and bench/api/batch.lua (1,000 pending
# runs per request in queue `bench`, which no runner serves: the worst case for the
# queue overview), adds runs of every other state (scheduled, waiting for a retry,
# completed, failed, and runs with searchable text), then:
#  1. times each request the pages make, from curl (server time, median of 5);
#  2. drives headless Chromium (bench/ui/browser.mjs, playwright-core of tests/browser),
#     at 1440 and 390 px wide, and reports from inside the browser the time each page takes to draw, the time a
#     search takes to answer and the JavaScript heap after visiting every page.
# Usage: bench/ui/run.sh [RUNS]   (default 1000000; from the repository root, after
# scripts/build.sh and `npm ci` in tests/browser). ROUNDS=5: rounds the medians are
# taken over; WIDTHS="1440 390": the browser's widths in px.
set -euo pipefail
cd "$(dirname "$0")/../.."
target=${1:-1000000}
rounds=${ROUNDS:-5}
binary=${TASKMILL_BINARY:-build/taskmill}
dir=$(mktemp -d)
server=
trap '[[ -n $server ]] && kill $server 2>/dev/null; wait 2>/dev/null || true; rm -rf "$dir"' EXIT
cat > "$dir/taskmill.yaml" <<YAML
server: {listen: "127.0.0.1:0", data_dir: "$dir/data"}
task_runner: {capacity: 64, queues: [default]}
tasks:
  echo: {kind: single_shot, func_name: demo.echo, args: ["hello"]}
  nightly: {kind: periodical, func_name: demo.echo, schedule: "0 30 2 * * *", timezone: Europe/Berlin}
  hourly: {kind: periodical, func_name: demo.echo, schedule: "0 0 * * * *", timezone: UTC}
YAML
"$binary" serve --config "$dir/taskmill.yaml" > "$dir/server.log" 2>&1 &
server=$!
url=
for _ in $(seq 100); do
  url=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$dir/server.log" | head -1 || true)
  [[ -n $url ]] && curl -sf "$url/healthz" >/dev/null && break
  sleep 0.1
done
[[ -n $url ]] || { echo "the server did not start:" >&2; cat "$dir/server.log" >&2; exit 1; }
stored() { curl -s "$url/api/v1/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["statuses"]["total"])'; }
# POSTs the runs:batch body that python3 prints for "$1" (a Python expression of a list).
batch() {
  python3 -c "import json; print(json.dumps({'runs': $1}))" |
    curl -sf -o /dev/null -H 'Content-Type: application/json' --data-binary @- "$url/api/v1/runs:batch"
}

started=$(date +%s)
while (( $(stored) < target )); do
  wrk -t2 -c4 -d2s -s bench/api/batch.lua "$url/api/v1/runs:batch" >/dev/null
done
# Runs of the other states, newest: 1,000 scheduled for tomorrow; 100 waiting an hour
# for their retry; 2,000 completed and 200 failed (queue default, which the runner
# serves); 1,000 whose args hold the text a search looks for.
tomorrow=$(date -u -d tomorrow +%Y-%m-%dT%H:%M:%SZ)
batch "[{'function': 'demo.echo', 'queue': 'bench-later', 'args': [i], 'run_at': '$tomorrow'} for i in range(1000)]"
batch "[{'function': 'demo.fail', 'retry': {'max_attempts': 3, 'delay': 3600}} for i in range(100)]"
batch "[{'function': 'demo.echo', 'args': [i]} for i in range(1000)]"
batch "[{'function': 'demo.echo', 'args': [i]} for i in range(1000)]"
batch "[{'function': 'demo.fail'} for i in range(200)]"
batch "[{'function': 'demo.echo', 'queue': 'bench', 'args': ['bench-text %d' % i]} for i in range(1000)]"
for _ in $(seq 600); do
  left=$(curl -s "$url/api/v1/queues" | python3 -c 'import json,sys; print(sum(q["pending"] + q["running"] for q in json.load(sys.stdin)["queues"] if q["name"] == "default"))')
  (( left <= 100 )) && break  # the 100 waiting for their retry stay pending
  sleep 0.5
done
echo "runs stored: $(stored) (filled in $(( $(date +%s) - started )) s)"
run_id=$(curl -s "$url/api/v1/runs?limit=1&status=completed" | python3 -c 'import json,sys; print(json.load(sys.stdin)["runs"][0]["id"])')

echo "== server time of each request (curl, median of 5)"
for path in "/api/v1/runs?limit=50" "/api/v1/runs?limit=50&status=pending&queue=bench" \
            "/api/v1/stats" "/api/v1/queues" "/api/v1/tasks" "/api/v1/runners" \
            "/api/v1/scheduler" "/api/v1/stats/throughput?window=3600&step=10" \
            "/api/v1/stats/queues" "/api/v1/stats/states" "/api/v1/runs?limit=50&state=scheduled" \
            "/api/v1/runs?limit=50&state=retrying" "/api/v1/runs?limit=50&state=pending_due" \
            "/api/v1/runs?limit=50&state=scheduled&queue=bench" "/api/v1/runs?limit=50&state=retrying&queue=bench" \
            "/api/v1/runs?limit=50&state=completed" "/api/v1/runs?limit=50&q=bench-text" \
            "/api/v1/runs?limit=50&q=no-such-text" "/api/v1/runs/$run_id" \
            "/api/v1/functions/demo.echo/stats" "/"; do
  times=$(for _ in 1 2 3 4 5; do curl -s -o /dev/null -w '%{time_total}\n' "$url$path"; done | sort -n)
  echo "$path  median $(echo "$times" | sed -n 3p | awk '{printf "%.1f ms", $1 * 1000}')"
done

for width in ${WIDTHS:-1440 390}; do
  echo "== in the browser (Chromium, $width px; median of $rounds)"
  node bench/ui/browser.mjs "$url" "$run_id" "$rounds" "$width"
done
