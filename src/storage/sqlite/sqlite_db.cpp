#include "storage/sqlite/sqlite_db.h"

#include <cerrno>

#include "storage/sqlite/sqlite_allocator.h"

namespace taskmill::sqlite {

bool IsOutOfSpace(sqlite3* db, int rc) {
  const int primary = rc & 0xff;
  // SQLite reports a failed write() as SQLITE_FULL; growing the shared-memory index or
  // truncating a file as an I/O error whose system error says why.
  return primary == SQLITE_FULL ||
         (primary == SQLITE_IOERR && db && sqlite3_system_errno(db) == ENOSPC);
}

Status ErrorFrom(sqlite3* db, int rc, std::string_view what) {
  std::string msg =
      "sqlite: " + std::string(what) + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  int primary = rc & 0xff;
  if (primary == SQLITE_CONSTRAINT) return Status::Conflict(std::move(msg));
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED)
    return Status::Unavailable(std::move(msg));
  if (IsOutOfSpace(db, rc)) return DiskFull(msg);
  return Status::Internal(std::move(msg));
}

Status DiskFull(std::string_view detail) {
  return Status::InsufficientStorage("disk full: the write was not stored (" + std::string(detail) +
                                     "); retry once space is freed on the data directory's disk");
}

Result<bool> Statement::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return ErrorFrom(sqlite3_db_handle(stmt_), rc, "step");
}

Status Statement::Exec() {
  for (;;) {
    auto r = Step();
    if (!r.ok()) return r.status();
    if (!*r) return Status::Ok();
  }
}

Result<std::unique_ptr<Connection>> Connection::Open(const std::string& path, bool read_only) {
  // Memory statistics cost a global mutex on every allocation; taskmill never reads
  // them. Must run before SQLite initializes, hence once, here.
  static const bool configured = [] {
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    // A connection's page cache takes its first 64 pages from one allocation, kept
    // until the connection closes (SQLite's default is 20); past those, every page is
    // allocated and freed on its own. A reader's cache is cleared at each read
    // transaction that follows a commit, and reading one 256 KiB file chunk at 16 KiB
    // pages takes a few more than 20: the pages past the 20th were allocated, faulted
    // in and handed back to the system again for every chunk a bulk run read.
    sqlite3_config(SQLITE_CONFIG_PAGECACHE, nullptr, 0, 64);
#if !defined(__SANITIZE_ADDRESS__)
    // Under AddressSanitizer SQLite keeps malloc, so that a use of its memory after a
    // statement's reset is caught (the allocator's own test runs there).
    sqlite3_mem_methods methods = CachingAllocator();  // SQLite copies it
    sqlite3_config(SQLITE_CONFIG_MALLOC, &methods);
#endif
    return true;
  }();
  (void)configured;
  sqlite3* db = nullptr;
  int flags = (read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
              SQLITE_OPEN_NOMUTEX;
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    Status s = ErrorFrom(db, rc, "open " + path);
    sqlite3_close(db);
    return s;
  }
  sqlite3_extended_result_codes(db, 1);
  // Readers may wait briefly for a checkpoint; the writer is the only writer.
  sqlite3_busy_timeout(db, 5000);
  return std::unique_ptr<Connection>(new Connection(db));
}

Connection::~Connection() {
  cache_.clear();  // finalize statements before closing
  sqlite3_close(db_);
}

Status Connection::ExecScript(const char* sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = "sqlite: " + std::string(err ? err : sqlite3_errstr(rc));
    sqlite3_free(err);
    if (IsOutOfSpace(db_, rc)) return DiskFull(msg);
    return Status::Internal(std::move(msg));
  }
  return Status::Ok();
}

Status Connection::Exec(std::string_view sql) {
  auto stmt = Prepare(sql);
  if (!stmt.ok()) return stmt.status();
  Status st = (*stmt)->Exec();
  (*stmt)->Reset();
  return st;
}

Result<Statement*> Connection::Prepare(std::string_view sql) {
  auto it = cache_.find(sql);
  if (it != cache_.end()) return it->second.get();
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) return ErrorFrom(db_, rc, "prepare");
  auto owned = std::make_unique<Statement>(stmt);
  Statement* raw = owned.get();
  cache_.emplace(std::string(sql), std::move(owned));
  return raw;
}

}  // namespace taskmill::sqlite
