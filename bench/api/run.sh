#!/usr/bin/env bash
# HTTP API benchmarks (docs/BENCHMARKS.md, "HTTP API"): starts `taskmill serve` on a
# fresh data directory and measures with wrk (Debian package `wrk`) from this machine:
#   1. GET /api/v1/runs/{id}, 64 keep-alive connections;
#   2. POST /api/v1/runs:batch with 1,000 runs per request (acknowledged after commit),
#      answered with the stored runs, then with ?return=ids (ids and statuses only);
#   3. 1,000 Server-Sent Events clients while 10,000 runs complete (sse_fanout.py).
# Usage: bench/api/run.sh [SECONDS]   (from the repository root, after scripts/build.sh;
#        TASKMILL_BINARY=path measures another build)
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-10}
bin=${TASKMILL_BINARY:-build/taskmill}  # another build to compare with
dir=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT
cat > "$dir/taskmill.yaml" <<YAML
server: {listen: "127.0.0.1:18080", data_dir: "$dir/data", synchronous: ${SYNC:-full}}
task_runner: {capacity: 64, queues: [default]}
api: {max_connections: 4096}
YAML
ulimit -n 8192 || true
"$bin" serve --config "$dir/taskmill.yaml" > "$dir/server.log" 2>&1 &
server=$!
url=http://127.0.0.1:18080
for _ in $(seq 100); do curl -sf "$url/healthz" >/dev/null && break; sleep 0.1; done
id=$("$bin" create demo.echo --args '["bench"]' --server "$url" --wait --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')

echo "== GET /api/v1/runs/{id}, 64 connections, 2 threads, ${seconds}s"
wrk -t2 -c64 -d"${seconds}s" --latency "$url/api/v1/runs/$id" | grep -E "Requests/sec|50%|99%|Latency"

for form in "" "?return=ids"; do
  echo "== POST /api/v1/runs:batch$form, 1,000 runs per request, 4 connections, ${seconds}s"
  out=$(wrk -t2 -c4 -d"${seconds}s" --latency -s bench/api/batch.lua "$url/api/v1/runs:batch$form")
  echo "$out" | grep -E "Requests/sec|50%|99%|Non-2xx" || true
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  python3 -c "print(f'runs stored per second: {float(\"$rps\") * 1000:,.0f}')"
done

echo "== 1,000 SSE clients while 10,000 runs complete"
python3 bench/api/sse_fanout.py --server "$url" --clients 1000 --runs 10000 --pid "$server"
