// pg_conn.h — libpq connections of the PostgreSQL backend: one connection with typed
// parameters and results, and the small pool a process shares.
//
// Every statement goes through PQexecParams (the unnamed statement): named prepared
// statements are session state that PgBouncer in transaction mode does not keep.
// Errors become Status values: a unique violation kConflict, a statement timeout
// kTimeout, a full disk kInsufficientStorage, a lost connection kUnavailable (the
// connection is then dropped and made again on its next use, after a backoff).
// Connection is used by one thread at a time; Pool is thread-safe.
#pragma once

#include <libpq-fe.h>
#include <taskmill/status.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace taskmill::postgres {

// Parameters of one statement, in text form ($1, $2, ...). Arrays (for unnest) are
// built with the Array helpers below.
class Params {
 public:
  Params& Add(std::string_view text);
  Params& Add(const std::string& text) { return Add(std::string_view(text)); }
  Params& Add(const char* text) { return Add(std::string_view(text)); }
  Params& Add(int64_t value);
  Params& Add(int value) { return Add(static_cast<int64_t>(value)); }
  Params& Add(double value);
  Params& Add(bool value);
  Params& Add(const std::optional<int64_t>& value);
  Params& AddNull();
  // Raw bytes, sent in binary form (bytea).
  Params& AddBytes(std::string_view bytes);
  size_t size() const { return values_.size(); }

  const char* const* values() const;
  const int* lengths() const { return lengths_.data(); }
  const int* formats() const { return formats_.data(); }

 private:
  std::vector<std::string> values_;
  std::vector<bool> nulls_;
  std::vector<int> lengths_;
  std::vector<int> formats_;
  mutable std::vector<const char*> pointers_;
};

// A PostgreSQL array literal ({"a","b",NULL}) built element by element.
class ArrayLiteral {
 public:
  void Add(std::string_view text);
  void Add(int64_t value);
  void AddNull();
  std::string Take();

 private:
  std::string text_ = "{";
  bool first_ = true;
};

// A result set; columns are read by index. Text form unless the query asked for
// binary results.
class Rows {
 public:
  explicit Rows(PGresult* result) : result_(result, &PQclear) {}
  int size() const { return PQntuples(result_.get()); }
  bool IsNull(int row, int col) const { return PQgetisnull(result_.get(), row, col) != 0; }
  std::string_view Text(int row, int col) const {
    return {PQgetvalue(result_.get(), row, col),
            static_cast<size_t>(PQgetlength(result_.get(), row, col))};
  }
  int64_t Int(int row, int col) const;
  double Double(int row, int col) const;
  bool Bool(int row, int col) const { return Text(row, col) == "t"; }
  std::optional<int64_t> OptInt(int row, int col) const {
    return IsNull(row, col) ? std::nullopt : std::optional<int64_t>(Int(row, col));
  }
  // Rows changed by an INSERT, UPDATE or DELETE without RETURNING.
  int64_t Affected() const;

 private:
  std::unique_ptr<PGresult, void (*)(PGresult*)> result_;
};

class Connection {
 public:
  ~Connection();
  // Connects to `conninfo` (a URL libpq accepts). kUnavailable when it cannot.
  static Result<std::unique_ptr<Connection>> Open(const std::string& conninfo);

  // Runs one statement. `binary_results`: columns come back in binary form.
  Result<Rows> Exec(std::string_view sql, const Params& params = Params(),
                    bool binary_results = false);
  // Runs statements with no parameters (several, separated by ';').
  Status ExecScript(std::string_view sql);
  bool broken() const { return broken_; }
  PGconn* raw() { return conn_; }
  void MarkBroken() { broken_ = true; }

 private:
  explicit Connection(PGconn* conn) : conn_(conn) {}
  Status ErrorOf(PGresult* result, std::string_view sql);

  PGconn* conn_;
  bool broken_ = false;
};

struct PoolOptions {
  std::string conninfo;
  int size = 4;
  int statement_timeout_ms = 30000;
};

// A fixed number of connections shared by the threads of a process. A transaction
// takes one for its whole length.
class Pool {
 public:
  explicit Pool(PoolOptions options) : options_(std::move(options)) {}
  ~Pool();

  // Runs `fn` inside BEGIN ... COMMIT on a connection of the pool, with the statement
  // timeout set for this transaction only (SET LOCAL: nothing outlives the
  // transaction, as a transaction pooler requires). An error of `fn` rolls back; an
  // error of COMMIT is returned, so the caller never takes a write for done that is
  // not (a commit whose answer was lost is kUnavailable: it may or may not have
  // happened, and the caller retries an idempotent write or reports it).
  //
  // `durable` false: the commit does not wait for its WAL flush (synchronous_commit off
  // for this transaction), for the writes the contract lets a crash undo (claims,
  // heartbeats, starts, releases): a crash of the server then only hands such a run
  // out again.
  // `before_commit`: statements sent in the COMMIT's own message (one round trip less),
  // e.g. a NOTIFY, which is delivered only if the commit is.
  template <typename Fn>
  Status Transaction(Fn&& fn, bool durable = true, std::string_view before_commit = {}) {
    auto lease = Acquire();
    if (!lease.ok()) return lease.status();
    Connection& c = **lease;
    Status begin = c.ExecScript(durable ? begin_sql_ : begin_sql_ + kNotDurable);
    Status st = begin.ok() ? fn(c) : begin;
    if (st.ok()) {
      st = c.ExecScript(std::string(before_commit) + "COMMIT");
    } else if (!c.broken()) {
      (void)c.ExecScript("ROLLBACK");
    }
    Release(std::move(*lease));
    return st;
  }

  Result<std::unique_ptr<Connection>> Acquire();
  void Release(std::unique_ptr<Connection> conn);
  const PoolOptions& options() const { return options_; }

 private:
  static constexpr const char* kNotDurable = "; SET LOCAL synchronous_commit = off";
  PoolOptions options_;
  // jit off: these short statements never gain from compiling, and a plan whose cost
  // is inflated (a disabled path, stale statistics) would spend hundreds of ms on it.
  std::string begin_sql_ =
      "BEGIN; SET LOCAL statement_timeout = " + std::to_string(options_.statement_timeout_ms) +
      "; SET LOCAL jit = off";
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Connection>> idle_;  // guarded by mu_
  int out_ = 0;                                    // connections lent; guarded by mu_
  // Reconnection backoff: no new connection is tried before this instant, and the
  // delay doubles (up to 2 s) with each failure in a row. Guarded by mu_.
  std::chrono::steady_clock::time_point next_connect_{};
  std::chrono::milliseconds backoff_{0};
  std::string last_error_;  // guarded by mu_
};

}  // namespace taskmill::postgres
