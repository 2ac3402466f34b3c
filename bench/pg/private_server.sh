# Sourced by the PostgreSQL benchmarks: starts a private server (scripts/pg-test-server.sh)
# in a temp dir named after $1, stops and removes it on exit, and defines
#   server  the server's dir;  out  the results file ($OUT, or beside the dir);
#   base    the server's URL without a database;
#   pg_cpu  CPU seconds of the server: utime + stime + cutime + cstime of the postmaster,
#           which counts its backends once they have exited.
# Needs $root (the checkout).
server=$(mktemp -d "/tmp/taskmill-$1-XXXXXX")
out=${OUT:-$server.results.jsonl}
: >"$out"
cleanup() { "$root/scripts/pg-test-server.sh" stop "$server" >/dev/null 2>&1 || true; rm -rf "$server"; }
trap cleanup EXIT
base=$("$root/scripts/pg-test-server.sh" start "$server")
base=${base%/postgres}
postmaster=$(head -1 "$server/data/postmaster.pid")
ticks=$(getconf CLK_TCK)
pg_cpu() {
  awk -v t="$ticks" '{ printf "%.2f", ($14 + $15 + $16 + $17) / t }' "/proc/$postmaster/stat"
}
