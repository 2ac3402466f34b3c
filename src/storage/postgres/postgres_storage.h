// postgres_storage.h — the PostgreSQL backend: many processes on many machines share
// one database (docs/storage.md, "PostgreSQL").
//
// Pending and running runs live in a small hot table; a finish moves its run to a
// history table partitioned by month in the same commit. Claims lock rows with FOR
// UPDATE SKIP LOCKED, so runners never wait for each other; finishes are one
// statement per batch; every write that may give a runner work sends one NOTIFY per
// commit. No session state is used (no session advisory lock, no named prepared
// statement, no SET outside a transaction), so a transaction pooler in front of the
// server works, with `listen=false` since LISTEN needs a session. Thread-safe.
#pragma once

#include <taskmill/storage.h>

#include <string>
#include <string_view>

namespace taskmill::postgres {

struct PostgresOptions {
  // What libpq connects to: the URL without taskmill's own parameters.
  std::string conninfo;
  // Connections per process (pool=N). Default 4: a runner process claims, finishes,
  // heartbeats and sweeps on at most a few threads at once, and the server's
  // max_connections (100 by default) is shared by the whole cluster (docs/deployment.md).
  int pool_size = 4;
  // statement_timeout=MS for every transaction. Default 30 s.
  int statement_timeout_ms = 30000;
  // listen=false: no LISTEN connection (PgBouncer in transaction mode); runners poll.
  bool listen = true;
};

// "postgresql://user@host:port/db?pool=4&statement_timeout=30000&listen=false"; other
// libpq parameters (sslmode, connect_timeout, application_name, ...) pass through.
// kInvalidArgument naming the URL for a parameter neither knows.
Result<PostgresOptions> PostgresOptionsFromUrl(std::string_view url);

Result<std::unique_ptr<Storage>> OpenPostgresStorage(const PostgresOptions& options);

}  // namespace taskmill::postgres
