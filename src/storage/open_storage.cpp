// open_storage.cpp — OpenStorage: turns a storage URL into a backend. The one place
// that knows every backend; each backend parses the rest of its own URL.
#include <taskmill/storage.h>

#include <string>
#include <string_view>

#include "storage/postgres/postgres_storage.h"
#include "storage/sqlite/sqlite_storage.h"

namespace taskmill {

Result<std::unique_ptr<Storage>> OpenStorage(const StorageOptions& options) {
  std::string_view url = options.url;
  if (url.starts_with("postgres://") || url.starts_with("postgresql://")) {
    auto postgres = postgres::PostgresOptionsFromUrl(url);
    if (!postgres.ok()) return postgres.status();
    return postgres::OpenPostgresStorage(*postgres);
  }
  if (url.starts_with("sqlite://") || url.find("://") == std::string_view::npos) {
    auto sqlite = sqlite::SqliteOptionsFromUrl(url);
    if (!sqlite.ok()) return sqlite.status();
    return sqlite::OpenSqliteStorage(*sqlite);
  }
  return Status::InvalidArgument("storage: unknown URL scheme in '" + std::string(url) +
                                 "'; expected sqlite://PATH or postgresql://...");
}

}  // namespace taskmill
