// open_storage.cpp — OpenStorage: turns a storage URL into a backend. The one place
// that knows every backend; each backend parses the rest of its own URL.
#include <taskmill/storage.h>

#include <string>
#include <string_view>

#include "storage/sqlite/sqlite_storage.h"

namespace taskmill {

Result<std::unique_ptr<Storage>> OpenStorage(const StorageOptions& options) {
  std::string_view url = options.url;
  if (url.starts_with("postgres://") || url.starts_with("postgresql://")) {
    return Status::InvalidArgument(
        "storage: PostgreSQL is not available in this version; use a sqlite:// URL or a path");
  }
  std::string path;
  if (url.starts_with("sqlite://")) {
    path = std::string(url.substr(9));
  } else if (url.find("://") != std::string_view::npos) {
    return Status::InvalidArgument("storage: unknown URL scheme in '" + std::string(url) +
                                   "'; expected sqlite://PATH");
  } else {
    path = std::string(url);
  }
  if (path.empty()) return Status::InvalidArgument("storage: empty database path");
  return sqlite::OpenSqliteStorage({path, options.synchronous});
}

}  // namespace taskmill
