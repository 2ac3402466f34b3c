// sqlite_db.h — a thin RAII layer over the sqlite3 C API used by the SQLite backend:
// a connection with a cache of prepared statements, and a statement with typed
// bind/column helpers. Not thread-safe: each connection is used by one thread at a
// time (the writer thread, or a reader that checked it out of the pool).
#pragma once

#include <sqlite3.h>
#include <taskmill/status.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace taskmill::sqlite {

class Statement {
 public:
  explicit Statement(sqlite3_stmt* stmt) : stmt_(stmt) {}
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement() { sqlite3_finalize(stmt_); }

  // Binding is 1-based as in SQLite.
  void Bind(int i, int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  void Bind(int i, int v) { sqlite3_bind_int64(stmt_, i, v); }
  void Bind(int i, double v) { sqlite3_bind_double(stmt_, i, v); }
  void Bind(int i, bool v) { sqlite3_bind_int64(stmt_, i, v ? 1 : 0); }
  void Bind(int i, std::nullopt_t) { BindNull(i); }
  void Bind(int i, std::string_view v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  // Binds text that SQLite reads in place instead of copying: the bytes must stay
  // alive and unchanged until the statement is reset. For the hot statements, where
  // a copy per column (an allocation each) was a tenth of a run's storage work.
  void BindView(int i, std::string_view v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
  }
  void Bind(int i, const char* v) { Bind(i, std::string_view(v)); }
  void Bind(int i, const std::string& v) { Bind(i, std::string_view(v)); }
  void BindNull(int i) { sqlite3_bind_null(stmt_, i); }
  template <typename T>
  void Bind(int i, const std::optional<T>& v) {
    if (v)
      Bind(i, *v);
    else
      BindNull(i);
  }
  void BindBlob(int i, std::string_view v) {
    sqlite3_bind_blob(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }

  // Returns true when a row is available, false when done; errors become Status.
  Result<bool> Step();
  // Runs a statement that returns no rows (or ignores them).
  Status Exec();
  void Reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

  bool IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  double Double(int col) const { return sqlite3_column_double(stmt_, col); }
  std::string_view Text(int col) const {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p ? std::string_view(p, sqlite3_column_bytes(stmt_, col)) : std::string_view();
  }
  std::string_view Blob(int col) const {
    auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, col));
    return p ? std::string_view(p, sqlite3_column_bytes(stmt_, col)) : std::string_view();
  }
  sqlite3_stmt* raw() { return stmt_; }

 private:
  sqlite3_stmt* stmt_;
};

// Resets the statement when it goes out of scope, so a cached statement is always
// ready for its next use even after an early return.
class ScopedReset {
 public:
  explicit ScopedReset(Statement& s) : s_(s) {}
  ~ScopedReset() { s_.Reset(); }

 private:
  Statement& s_;
};

class Connection {
 public:
  static Result<std::unique_ptr<Connection>> Open(const std::string& path, bool read_only);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  // Executes one or more statements without results.
  Status ExecScript(const char* sql);
  // Executes one statement without results through the statement cache: for the
  // statements run for every write (BEGIN, SAVEPOINT, RELEASE, COMMIT), which
  // ExecScript would compile again each time.
  Status Exec(std::string_view sql);
  // A cached prepared statement for `sql` (keyed by text). The caller resets it
  // (use ScopedReset) before returning.
  Result<Statement*> Prepare(std::string_view sql);
  int64_t Changes() const { return sqlite3_changes64(db_); }
  sqlite3* raw() { return db_; }

 private:
  explicit Connection(sqlite3* db) : db_(db) {}
  sqlite3* db_;
  // Looked up by string_view, so that finding a cached statement copies nothing.
  struct TextHash {
    using is_transparent = void;
    size_t operator()(std::string_view text) const { return std::hash<std::string_view>{}(text); }
  };
  std::unordered_map<std::string, std::unique_ptr<Statement>, TextHash, std::equal_to<>> cache_;
};

// Binds `args` to parameters 1, 2, ... by type: integers, doubles, bools (0 or 1),
// text (copied), std::nullopt and empty optionals as NULL. Hot statements that bind
// text in place (BindView) keep their own bind sequences.
template <typename... Args>
void BindAll(Statement& s, const Args&... args) {
  int i = 0;
  (s.Bind(++i, args), ...);
}

// Runs `sql`, a statement of the connection's cache, with `args` bound (BindAll), for
// its effect; db.Changes() tells how many rows it changed.
template <typename... Args>
Status Exec(Connection& db, std::string_view sql, const Args&... args) {
  auto stmt = db.Prepare(sql);
  if (!stmt.ok()) return stmt.status();
  ScopedReset reset(**stmt);
  BindAll(**stmt, args...);
  return (*stmt)->Exec();
}

// The rows of a cached statement run with bound arguments (Select); the statement
// is reset when this goes out of scope.
class Rows {
 public:
  explicit Rows(Statement* s) : s_(s) {}
  Rows(Rows&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  Rows& operator=(Rows&&) = delete;
  ~Rows() {
    if (s_) s_->Reset();
  }
  // Steps to the next row: true when there is one.
  Result<bool> Next() { return s_->Step(); }
  // The current row's columns.
  const Statement& row() const { return *s_; }

 private:
  Statement* s_;
};

// Runs `sql`, a statement of the connection's cache, with `args` bound (BindAll).
template <typename... Args>
Result<Rows> Select(Connection& db, std::string_view sql, const Args&... args) {
  auto stmt = db.Prepare(sql);
  if (!stmt.ok()) return stmt.status();
  BindAll(**stmt, args...);
  return Rows(*stmt);
}

// The Status of a failed SQLite call: kConflict for a constraint, kUnavailable when
// busy or locked, kInsufficientStorage when the disk is full, else kInternal.
Status ErrorFrom(sqlite3* db, int rc, std::string_view what);

// True when `rc` (an extended result code of `db`) means the disk is full.
bool IsOutOfSpace(sqlite3* db, int rc);

// kInsufficientStorage: the disk is full, with `detail` saying where it was found.
Status DiskFull(std::string_view detail);

}  // namespace taskmill::sqlite
