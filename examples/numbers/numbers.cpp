#include "examples/numbers/numbers.h"

#include <sqlite3.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <string_view>
#include <thread>

namespace taskmill::examples {
namespace {
namespace json = boost::json;

// ---- verifiers (Kazoo's kt_numbers verifiers) ------------------------------------------

bool IsDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool IsE164(std::string_view value) {
  return value.size() >= 8 && value.size() <= 16 && value[0] == '+' && IsDigits(value.substr(1));
}

bool IsAccountId(std::string_view value) {
  return value.size() == 32 && std::all_of(value.begin(), value.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
         });
}

bool IsNumberState(std::string_view value) {
  return std::any_of(std::begin(kNumberStates), std::end(kNumberStates),
                     [&](const char* state) { return value == state; });
}

// ---- the table -----------------------------------------------------------------------

struct Number {
  std::string e164, account_id, carrier, state;
};

class NumberStore {
 public:
  static Result<std::shared_ptr<NumberStore>> Open(const std::string& path) {
    std::error_code ec;
    auto dir = std::filesystem::path(path).parent_path();
    if (!dir.empty()) std::filesystem::create_directories(dir, ec);
    sqlite3* db = nullptr;
    if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) {
      std::string error = db ? sqlite3_errmsg(db) : "out of memory";
      sqlite3_close(db);
      return Status::Internal("numbers: cannot open " + path + ": " + error);
    }
    auto store = std::shared_ptr<NumberStore>(new NumberStore(db));
    sqlite3_busy_timeout(db, 5000);
    // One row per statement, committed at once: WAL with synchronous=NORMAL keeps that
    // cheap, and an example loses nothing that matters on a power cut.
    // Servers started together on one data directory set the file up at once. Two
    // connections switching a new file to WAL mode can each hold what the other waits
    // for; SQLite then answers one of them SQLITE_BUSY at once rather than wait. Every
    // statement here is idempotent, so that one tries again, for a while.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    for (;;) {
      char* error = nullptr;
      int rc = sqlite3_exec(
          db,
          "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
          "CREATE TABLE IF NOT EXISTS numbers (e164 TEXT PRIMARY KEY, account_id TEXT "
          "NOT NULL DEFAULT '', carrier TEXT NOT NULL DEFAULT '', state TEXT NOT NULL) "
          "WITHOUT ROWID;",
          nullptr, nullptr, &error);
      std::string message = error ? error : (rc == SQLITE_OK ? "" : sqlite3_errstr(rc));
      sqlite3_free(error);
      if (rc == SQLITE_OK) return store;
      if ((rc & 0xff) != SQLITE_BUSY || std::chrono::steady_clock::now() >= deadline) {
        return Status::Internal("numbers: cannot create the table in " + path + ": " + message);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  ~NumberStore() { sqlite3_close(db_); }

  // kConflict naming the owner when the number exists.
  Status Insert(const Number& n) {
    std::lock_guard lock(mu_);
    Statement insert(db_,
                     "INSERT INTO numbers(e164, account_id, carrier, state) VALUES (?, ?, ?, ?)");
    insert.Bind(1, n.e164);
    insert.Bind(2, n.account_id);
    insert.Bind(3, n.carrier);
    insert.Bind(4, n.state);
    int rc = insert.Step();
    if ((rc & 0xff) == SQLITE_CONSTRAINT) {
      return Status::Conflict("number " + n.e164 + " already exists");
    }
    if (rc != SQLITE_DONE) return Failure(rc);
    return Status::Ok();
  }

  // kNotFound when the number does not exist.
  Status Remove(std::string_view e164) {
    std::lock_guard lock(mu_);
    Statement remove(db_, "DELETE FROM numbers WHERE e164 = ?");
    remove.Bind(1, e164);
    if (int rc = remove.Step(); rc != SQLITE_DONE) return Failure(rc);
    if (sqlite3_changes(db_) == 0) return Status::NotFound("no number " + std::string(e164));
    return Status::Ok();
  }

  // Up to `limit` numbers after `after` (all from the start when empty), in order.
  Result<std::vector<Number>> ListAfter(const std::string& after, int limit) {
    std::lock_guard lock(mu_);
    Statement select(db_,
                     "SELECT e164, account_id, carrier, state FROM numbers WHERE e164 > ? "
                     "ORDER BY e164 LIMIT ?");
    select.Bind(1, after);
    sqlite3_bind_int(select.raw(), 2, limit);
    std::vector<Number> out;
    int rc;
    while ((rc = select.Step()) == SQLITE_ROW) {
      out.push_back({select.Text(0), select.Text(1), select.Text(2), select.Text(3)});
    }
    if (rc != SQLITE_DONE) return Failure(rc);
    return out;
  }

 private:
  // A failure of the table rather than of a row: kInsufficientStorage when the disk
  // is full, else kInternal.
  Status Failure(int rc) const {
    std::string message = "numbers: " + std::string(sqlite3_errmsg(db_));
    if ((rc & 0xff) == SQLITE_FULL) return Status::InsufficientStorage("disk full: " + message);
    return Status::Internal(std::move(message));
  }

  class Statement {
   public:
    Statement(sqlite3* db, const char* sql) { sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr); }
    ~Statement() { sqlite3_finalize(stmt_); }
    void Bind(int i, std::string_view v) {
      sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    }
    int Step() { return stmt_ ? sqlite3_step(stmt_) : SQLITE_ERROR; }
    std::string Text(int col) {
      auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
      return p ? std::string(p, sqlite3_column_bytes(stmt_, col)) : std::string();
    }
    sqlite3_stmt* raw() { return stmt_; }

   private:
    sqlite3_stmt* stmt_ = nullptr;
  };

  explicit NumberStore(sqlite3* db) : db_(db) {}
  std::mutex mu_;
  sqlite3* db_;  // guarded by mu_
};

// ---- the functions ----------------------------------------------------------------------

BulkFunction ImportFunction(std::shared_ptr<NumberStore> store) {
  BulkFunction f;
  f.info.name = "numbers.import";
  f.info.description = "Adds phone numbers to the number table";
  f.info.doc =
      "One row per number. e164 is the number in E.164 form (+ and 7 to 15 digits); "
      "account_id, when given, is the 32 hexadecimal characters of the owning account; "
      "state is one of available, reserved, in_service, port_in, port_out (default "
      "available). A number already in the table fails its row.";
  f.info.input = "csv";
  f.info.mandatory = {"e164"};
  f.info.optional = {"account_id", "carrier", "state"};
  // A file without a state column gets one in its output: the defaulted state is
  // written there (a column outside the output header would fail the row).
  f.info.output_header = {"state"};
  f.verifiers["e164"] = IsE164;
  f.verifiers["account_id"] = IsAccountId;
  f.verifiers["state"] = IsNumberState;
  f.call = [store](const BulkCall& call) {
    const BulkRow& row = *call.row;
    Number n{std::string(row.GetOr("e164")), std::string(row.GetOr("account_id")),
             std::string(row.GetOr("carrier")), std::string(row.GetOr("state"))};
    bool defaulted = n.state.empty();
    if (defaulted) n.state = "available";
    Status added = store->Insert(n);
    // A number that exists fails its row; a table that cannot be written (a full
    // disk) is no fault of the row: the attempt is retried from it.
    if (added.IsConflict()) return BulkResult::Error(added.message());
    if (!added.ok()) return BulkResult::Retry(added.message());
    if (defaulted) return BulkResult::Merge({{"state", n.state}});
    return BulkResult::Ok();
  };
  return f;
}

BulkFunction ListFunction(std::shared_ptr<NumberStore> store, int page) {
  BulkFunction f;
  f.info.name = "numbers.list";
  f.info.description = "Lists every number of the number table";
  f.info.doc = "No input. Writes the numbers in e164 order, " + std::to_string(page) +
               " per step; a crashed run resumes after the last number it saved.";
  f.info.input = "none";
  f.info.output_header = {"e164", "account_id", "carrier", "state"};
  f.call = [store, page](const BulkCall& call) {
    // The state is the last number written: "init" (null) starts from the beginning.
    std::string after = call.state.is_string() ? std::string(call.state.get_string()) : "";
    auto numbers = store->ListAfter(after, page);
    if (!numbers.ok()) return BulkResult::Retry(numbers.status().message());
    if (numbers->empty()) return BulkResult::Stop();
    std::vector<BulkResult::Row> rows;
    rows.reserve(numbers->size());
    for (auto& n : *numbers) rows.push_back({n.e164, n.account_id, n.carrier, n.state});
    std::string last = numbers->back().e164;
    return BulkResult::WriteRows(std::move(rows)).WithState(json::string(last));
  };
  return f;
}

BulkFunction ReleaseFunction(std::shared_ptr<NumberStore> store) {
  BulkFunction f;
  f.info.name = "numbers.release";
  f.info.description = "Removes phone numbers from the number table";
  f.info.doc = "One row per number to remove; an unknown number fails its row.";
  f.info.input = "csv";
  f.info.mandatory = {"e164"};
  f.verifiers["e164"] = IsE164;
  f.call = [store](const BulkCall& call) {
    Status removed = store->Remove(call.row->GetOr("e164"));
    if (removed.ok()) return BulkResult::Ok();
    if (removed.IsNotFound()) return BulkResult::Error(removed.message());
    return BulkResult::Retry(removed.message());
  };
  return f;
}

}  // namespace

Status RegisterNumberFunctions(FunctionRegistry& registry, std::shared_ptr<BulkRuntime> runtime,
                               NumberFunctionsOptions options) {
  if (options.database.empty()) return Status::InvalidArgument("numbers: no database path");
  if (options.list_page < 1) return Status::InvalidArgument("numbers: list_page must be positive");
  auto store = NumberStore::Open(options.database);
  if (!store.ok()) return store.status();
  TASKMILL_RETURN_IF_ERROR(RegisterBulkFunction(registry, runtime, ImportFunction(*store)));
  TASKMILL_RETURN_IF_ERROR(
      RegisterBulkFunction(registry, runtime, ListFunction(*store, options.list_page)));
  return RegisterBulkFunction(registry, runtime, ReleaseFunction(*store));
}

}  // namespace taskmill::examples
