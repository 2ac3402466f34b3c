#!/usr/bin/env bash
# A private PostgreSQL 15 server for trying taskmill by hand or benchmarking it, as the
# tests start one (src/storage/postgres/testing/pg_test_server.h):
#   scripts/pg-test-server.sh start DIR   # initdb in DIR (made if missing), start, print the URL
#   scripts/pg-test-server.sh stop DIR    # stop the server (DIR is kept; rm -rf it yourself)
# It listens on 127.0.0.1 on a free port, with its socket in DIR, fsync and
# synchronous_commit on. As root, the server runs as the postgres user.
set -euo pipefail

BIN=/usr/lib/postgresql/15/bin
usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[[ $# -eq 2 ]] || usage
cmd=$1
dir=$(realpath -m "$2")

as_pg() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$cmd" in
  start)
    mkdir -p "$dir"
    if [[ $(id -u) -eq 0 ]]; then chown postgres: "$dir"; fi
    chmod 700 "$dir"
    if [[ ! -f "$dir/data/PG_VERSION" ]]; then
      as_pg "$BIN/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --locale=C -N >"$dir/initdb.log"
    fi
    if [[ -f "$dir/port" ]]; then
      port=$(cat "$dir/port")
    else
      port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
      echo "$port" >"$dir/port"
    fi
    # -w -t 60: wait at most 60 s for the server to accept connections.
    as_pg "$BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -o \
      "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=on -c synchronous_commit=on -c max_connections=200 -c shared_buffers=128MB" \
      start >/dev/null
    echo "postgresql://postgres@127.0.0.1:$port/postgres"
    ;;
  stop)
    as_pg "$BIN/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null
    ;;
  *) usage ;;
esac
