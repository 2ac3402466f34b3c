#include "storage/sqlite/migrate.h"

#include <iterator>

#include "storage/sqlite/schema.h"

namespace taskmill::sqlite {

// Applies the migrations the database lacks. Init holds the setup lock; besides,
// each migration re-reads the version inside its own transaction, so that one
// applied meanwhile by a process that does not take the lock is skipped, not
// applied twice ("table api_tokens already exists").
Result<SchemaMigration> Migrate(Connection& db, const std::string& path) {
  TASKMILL_RETURN_IF_ERROR(
      db.ExecScript("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                    "applied_at TEXT NOT NULL DEFAULT (datetime('now')))"));
  auto read_version = [&]() -> Result<int> {
    auto stmt = db.Prepare("SELECT coalesce(max(version), 0) FROM schema_migrations");
    if (!stmt.ok()) return stmt.status();
    ScopedReset reset(**stmt);
    auto row = (*stmt)->Step();
    if (!row.ok()) return row.status();
    return static_cast<int>((*stmt)->Int(0));
  };
  auto version = read_version();
  if (!version.ok()) return version.status();
  int current = *version;
  SchemaMigration done{.before = current, .after = current};
  int latest = std::size(kMigrations) ? kMigrations[std::size(kMigrations) - 1].version : 0;
  if (current > latest) {
    return Status::FailedPrecondition(
        "the database " + path + " has schema version " + std::to_string(current) +
        ", newer than this taskmill understands (" + std::to_string(latest) + ")");
  }
  for (const auto& m : kMigrations) {
    if (m.version <= current) continue;
    TASKMILL_RETURN_IF_ERROR(db.ExecScript("BEGIN IMMEDIATE"));
    version = read_version();
    if (!version.ok() || *version >= m.version) {
      (void)db.ExecScript("ROLLBACK");
      if (!version.ok()) return version.status();
      current = *version;
      done.after = current;
      continue;
    }
    Status st = db.ExecScript(m.sql);
    if (st.ok()) {
      st = db.ExecScript(
          ("INSERT INTO schema_migrations(version) VALUES (" + std::to_string(m.version) + ")")
              .c_str());
    }
    if (!st.ok()) {
      (void)db.ExecScript("ROLLBACK");
      return Status::Internal("migration " + std::to_string(m.version) +
                              " failed: " + st.message());
    }
    TASKMILL_RETURN_IF_ERROR(db.ExecScript("COMMIT"));
    done.applied.push_back(m.version);
    done.after = m.version;
  }
  return done;
}

}  // namespace taskmill::sqlite
