// migrate.cpp — applies the numbered migrations of schema.h. Every process that opens
// the storage migrates, so nodes started together would race: the whole migration is
// one transaction that first takes a transaction-level advisory lock (released by its
// commit, so nothing outlives it, as PgBouncer in transaction mode requires), and the
// second process finds the schema already done.
#include "storage/postgres/schema.h"
#include "storage/postgres/storage_impl.h"

namespace taskmill::postgres {

// The key of the advisory lock that migrations hold (any fixed number: "taskmill").
constexpr const char* kMigrationLock = "SELECT pg_advisory_xact_lock(7220160)";

Result<SchemaMigration> PgStorage::ApplyMigrations() {
  SchemaMigration out;
  const int latest = kMigrations[std::size(kMigrations) - 1].version;
  Status st = pool_.Transaction([&](Connection& c) -> Status {
    out = SchemaMigration{};
    TASKMILL_RETURN_IF_ERROR(c.Exec(kMigrationLock));
    TASKMILL_RETURN_IF_ERROR(
        c.ExecScript("CREATE TABLE IF NOT EXISTS taskmill_migrations (version integer PRIMARY KEY, "
                     "applied_at timestamptz NOT NULL DEFAULT now())"));
    auto found = c.Exec("SELECT coalesce(max(version), 0) FROM taskmill_migrations");
    if (!found.ok()) return found.status();
    out.before = static_cast<int>(found->Int(0, 0));
    if (out.before > latest) {
      return Status::FailedPrecondition("storage: the database has schema version " +
                                        std::to_string(out.before) + ", newer than this build's " +
                                        std::to_string(latest) + "; upgrade taskmill");
    }
    for (const Migration& m : kMigrations) {
      if (m.version <= out.before) continue;
      TASKMILL_RETURN_IF_ERROR(c.ExecScript(m.sql));
      TASKMILL_RETURN_IF_ERROR(
          c.Exec("INSERT INTO taskmill_migrations(version) VALUES ($1)", Params().Add(m.version)));
      out.applied.push_back(m.version);
    }
    out.after = std::max(out.before, latest);
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return out;
}

}  // namespace taskmill::postgres
