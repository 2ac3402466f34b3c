#!/usr/bin/env bash
# Server time of the web UI's first requests with about 1,000,000 runs in storage
# (docs/BENCHMARKS.md, "Web UI with a million runs"). Fills a fresh server with wrk and
# bench/api/batch.lua (1,000 pending runs per request in queue `bench`, which no runner
# serves: the worst case for the queue overview), then times each request the runs page
# and the dashboard make, five times, and prints the median.
# Usage: bench/ui/run.sh [RUNS]   (default 1000000; from the repository root, after
# scripts/build.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."
target=${1:-1000000}
dir=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT
cat > "$dir/taskmill.yaml" <<YAML
server: {listen: "127.0.0.1:18082", data_dir: "$dir/data"}
task_runner: {capacity: 64, queues: [default]}
YAML
build/taskmill serve --config "$dir/taskmill.yaml" > "$dir/server.log" 2>&1 &
server=$!
url=http://127.0.0.1:18082
for _ in $(seq 100); do curl -sf "$url/healthz" >/dev/null && break; sleep 0.1; done
stored() { curl -s "$url/api/v1/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["statuses"]["total"])'; }
while (( $(stored) < target )); do
  wrk -t2 -c4 -d5s -s bench/api/batch.lua "$url/api/v1/runs:batch" >/dev/null
done
echo "runs stored: $(stored)"
for path in "/api/v1/runs?limit=50" "/api/v1/runs?limit=50&status=pending&queue=bench" \
            "/api/v1/stats" "/api/v1/queues" "/api/v1/tasks" "/api/v1/runners" \
            "/api/v1/scheduler" "/api/v1/stats/throughput?window=3600&step=10" \
            "/api/v1/stats/states" "/api/v1/runs?limit=50&state=scheduled" \
            "/api/v1/runs?limit=50&state=pending_due" "/api/v1/runs?limit=50&q=bench" \
            "/api/v1/runs?limit=50&q=no-such-text" "/api/v1/functions/demo.echo/stats" "/"; do
  times=$(for _ in 1 2 3 4 5; do curl -s -o /dev/null -w '%{time_total}\n' "$url$path"; done | sort -n)
  echo "$path  median $(echo "$times" | sed -n 3p | awk '{printf "%.1f ms", $1 * 1000}')"
done
