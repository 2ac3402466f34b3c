// migrate.h — brings a database up to the latest schema (schema.h). The caller holds
// the setup lock (setup_lock.h) and passes the writer's connection.
#pragma once

#include <taskmill/storage.h>

#include <string>

#include "storage/sqlite/sqlite_db.h"

namespace taskmill::sqlite {

// Applies, in order and each in its own transaction, the migrations `db` lacks, and
// records them in schema_migrations; returns the versions found and left, and those
// applied. kFailedPrecondition for a database newer than this taskmill (`path` names
// it); kInternal naming the migration that failed.
Result<SchemaMigration> Migrate(Connection& db, const std::string& path);

}  // namespace taskmill::sqlite
