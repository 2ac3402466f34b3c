// sqlite_storage.h — the embedded storage backend: one SQLite file in WAL mode.
//
// Writes go to one writer thread that commits everything that arrived meanwhile in
// one transaction (group commit: one fsync per batch, not per run); each caller is
// answered after that commit. Reads use a pool of read-only connections and never
// wait for the writer. Thread-safe.
#pragma once

#include <taskmill/storage.h>

#include <memory>
#include <string>

namespace taskmill::sqlite {

struct SqliteOptions {
  std::string path;                 // database file; its directory is created
  std::string synchronous = "full"; // "full" (default) or "normal"
};

// Commit statistics for metrics and benchmarks.
struct WriterStats {
  uint64_t commits = 0;
  uint64_t operations = 0;           // write calls served
  uint64_t commit_micros_total = 0;
};

Result<std::unique_ptr<Storage>> OpenSqliteStorage(const SqliteOptions& options);

}  // namespace taskmill::sqlite
