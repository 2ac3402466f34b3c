// pg_conn.cpp — libpq connections and the pool (pg_conn.h).
#include "storage/postgres/pg_conn.h"

#include <charconv>
#include <cstdio>
#include <cstdlib>

namespace taskmill::postgres {

// ---- parameters ------------------------------------------------------------------
Params& Params::Add(std::string_view text) {
  values_.emplace_back(text);
  nulls_.push_back(false);
  lengths_.push_back(static_cast<int>(text.size()));
  formats_.push_back(0);
  return *this;
}

Params& Params::Add(int64_t value) { return Add(std::string_view(std::to_string(value))); }

Params& Params::Add(double value) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  (void)ec;
  return Add(std::string_view(buf, static_cast<size_t>(end - buf)));
}

Params& Params::Add(bool value) { return Add(std::string_view(value ? "t" : "f")); }

Params& Params::Add(const std::optional<int64_t>& value) { return value ? Add(*value) : AddNull(); }

Params& Params::AddNull() {
  values_.emplace_back();
  nulls_.push_back(true);
  lengths_.push_back(0);
  formats_.push_back(0);
  return *this;
}

Params& Params::AddBytes(std::string_view bytes) {
  values_.emplace_back(bytes);
  nulls_.push_back(false);
  lengths_.push_back(static_cast<int>(bytes.size()));
  formats_.push_back(1);
  return *this;
}

const char* const* Params::values() const {
  pointers_.resize(values_.size());
  for (size_t i = 0; i < values_.size(); ++i) {
    pointers_[i] = nulls_[i] ? nullptr : values_[i].data();
  }
  return pointers_.data();
}

void ArrayLiteral::Add(std::string_view text) {
  if (!first_) text_ += ',';
  first_ = false;
  text_ += '"';
  for (char c : text) {
    if (c == '"' || c == '\\') text_ += '\\';
    text_ += c;
  }
  text_ += '"';
}

void ArrayLiteral::Add(int64_t value) {
  if (!first_) text_ += ',';
  first_ = false;
  text_ += std::to_string(value);
}

void ArrayLiteral::AddNull() {
  if (!first_) text_ += ',';
  first_ = false;
  text_ += "NULL";
}

std::string ArrayLiteral::Take() {
  text_ += '}';
  std::string out = std::move(text_);
  text_ = "{";
  first_ = true;
  return out;
}

// ---- results -----------------------------------------------------------------------
int64_t Rows::Int(int row, int col) const {
  std::string_view text = Text(row, col);
  int64_t value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

double Rows::Double(int row, int col) const {
  return std::strtod(PQgetvalue(result_.get(), row, col), nullptr);
}

int64_t Rows::Affected() const {
  const char* n = PQcmdTuples(result_.get());
  return n && *n ? std::strtoll(n, nullptr, 10) : 0;
}

// ---- connections ---------------------------------------------------------------------
Connection::~Connection() { PQfinish(conn_); }

Result<std::unique_ptr<Connection>> Connection::Open(const std::string& conninfo) {
  PGconn* conn = PQconnectdb(conninfo.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string message = PQerrorMessage(conn);
    while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) {
      message.pop_back();
    }
    PQfinish(conn);
    return Status::Unavailable("storage: cannot connect to PostgreSQL: " + message);
  }
  // Notices (e.g. "relation already exists, skipping") are not errors; they would
  // otherwise go to stderr.
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  return std::unique_ptr<Connection>(new Connection(conn));
}

Status Connection::ErrorOf(PGresult* result, std::string_view sql) {
  const char* state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  std::string message = result ? PQresultErrorMessage(result) : PQerrorMessage(conn_);
  if (message.empty()) message = PQerrorMessage(conn_);
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  if (PQstatus(conn_) != CONNECTION_OK) broken_ = true;
  const std::string code = state ? state : "";
  // Class 08 (connection exception), 57P01-57P03 (the server shuts down or starts):
  // the connection is gone or going.
  if (broken_ || code.starts_with("08") || code == "57P01" || code == "57P02" || code == "57P03") {
    broken_ = true;
    return Status::Unavailable("storage: PostgreSQL connection lost: " + message);
  }
  if (code == "23505") return Status::Conflict(message);
  if (code == "57014") return Status::Timeout("storage: statement timed out: " + message);
  if (code == "53100") return Status::InsufficientStorage("storage: PostgreSQL: " + message);
  std::string shown(sql.substr(0, 120));
  return Status::Internal("storage: PostgreSQL: " + message + " (in: " + shown + ")");
}

Result<Rows> Connection::Exec(std::string_view sql, const Params& params, bool binary_results) {
  const std::string text(sql);
  PGresult* result =
      PQexecParams(conn_, text.c_str(), static_cast<int>(params.size()), nullptr, params.values(),
                   params.lengths(), params.formats(), binary_results ? 1 : 0);
  ExecStatusType status = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
    Status error = ErrorOf(result, sql);
    PQclear(result);
    return error;
  }
  return Rows(result);
}

Status Connection::ExecScript(std::string_view sql) {
  const std::string text(sql);
  PGresult* result = PQexec(conn_, text.c_str());
  ExecStatusType status = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
    Status error = ErrorOf(result, sql);
    PQclear(result);
    return error;
  }
  PQclear(result);
  return Status::Ok();
}

// ---- the pool ------------------------------------------------------------------------
Pool::~Pool() = default;

Result<std::unique_ptr<Connection>> Pool::Acquire() {
  std::unique_lock lock(mu_);
  // A connection is free, or may be made, within the statement timeout.
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(std::max(options_.statement_timeout_ms, 1000));
  while (idle_.empty() && out_ >= options_.size) {
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
        out_ >= options_.size) {
      return Status::Unavailable(
          "storage: no PostgreSQL connection free within the statement "
          "timeout (pool of " +
          std::to_string(options_.size) + ")");
    }
  }
  ++out_;
  if (!idle_.empty()) {
    auto conn = std::move(idle_.back());
    idle_.pop_back();
    return conn;
  }
  // A new connection, unless the last attempts failed and the backoff has not passed.
  auto now = std::chrono::steady_clock::now();
  if (now < next_connect_) {
    --out_;
    cv_.notify_one();
    return Status::Unavailable(last_error_ + " (retrying shortly)");
  }
  lock.unlock();
  auto conn = Connection::Open(options_.conninfo);
  lock.lock();
  if (!conn.ok()) {
    --out_;
    backoff_ = std::min(std::chrono::milliseconds(2000),
                        std::max(std::chrono::milliseconds(50), backoff_ * 2));
    next_connect_ = std::chrono::steady_clock::now() + backoff_;
    last_error_ = conn.status().message();
    cv_.notify_one();
    return conn.status();
  }
  backoff_ = std::chrono::milliseconds(0);
  return conn;
}

void Pool::Release(std::unique_ptr<Connection> conn) {
  std::lock_guard lock(mu_);
  --out_;
  // A broken connection is dropped; the next Acquire makes a new one.
  if (conn && !conn->broken() && PQstatus(conn->raw()) == CONNECTION_OK &&
      PQtransactionStatus(conn->raw()) == PQTRANS_IDLE) {
    idle_.push_back(std::move(conn));
  }
  cv_.notify_one();
}

}  // namespace taskmill::postgres
