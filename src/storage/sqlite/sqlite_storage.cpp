#include "storage/sqlite/sqlite_storage.h"

#include "metrics/taskmill_metrics.h"
#include "storage/sqlite/log_space.h"
#include "storage/sqlite/migrate.h"
#include "storage/sqlite/setup_lock.h"
#include "storage/sqlite/holder_locks.h"
#include "storage/sqlite/schema.h"
#include "storage/sqlite/sqlite_db.h"
#include "storage/sqlite/wal_watcher.h"

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <future>
#include <limits>
#include <mutex>
#include <thread>
#include <variant>

namespace taskmill::sqlite {
namespace {
namespace json = boost::json;

int64_t Micros(TimePoint t) { return t.time_since_epoch().count(); }
TimePoint FromMicros(int64_t us) { return TimePoint{Duration{us}}; }
std::optional<int64_t> Micros(const std::optional<TimePoint>& t) {
  return t ? std::optional<int64_t>(Micros(*t)) : std::nullopt;
}
std::optional<int64_t> Micros(const std::optional<Duration>& d) {
  return d ? std::optional<int64_t>(d->count()) : std::nullopt;
}

constexpr const char* kRunColumns =
    "seq, id, queue, function, task, status, args, data, priority, account_id, "
    "auth_account_id, created_at, run_at, scheduled_at, started_at, finished_at, lease_until, "
    "runner, attempt, max_attempts, delay_us, delay_factor, max_delay_us, timeout_us, ttr_us, "
    "result, error, error_kind, progress_total, progress_succeeded, progress_failed, parent_id, "
    "flow_id, input_file, output_file, attempts";

// "?first, ?first+1, ..." for `n` parameters, for IN lists of a fixed length.
std::string Placeholders(int first, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) {
    if (i > 0) out += ',';
    out += '?';
    out += std::to_string(first + i);
  }
  return out;
}

// Runs claimed per statement (see TakeFromQueues).
constexpr int kClaimChunk = 64;

std::string Sql(std::string_view before, std::string_view after = "") {
  std::string s(before);
  s += kRunColumns;
  s += after;
  return s;
}

// Attempts are stored with integer microsecond times (cheap to append in SQL) and
// converted to the public form when read.
std::vector<Attempt> ParseAttempts(std::string_view text) {
  std::vector<Attempt> out;
  if (text.size() <= 2) return out;
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_array()) return out;
  for (const auto& item : v.get_array()) {
    if (!item.is_object()) continue;
    const auto& o = item.get_object();
    Attempt a;
    auto num = [&](const char* k) -> int64_t {
      auto* p = o.if_contains(k);
      return p && p->is_number() ? p->to_number<int64_t>() : 0;
    };
    auto str = [&](const char* k) -> std::string {
      auto* p = o.if_contains(k);
      return p && p->is_string() ? std::string(p->get_string()) : std::string();
    };
    a.number = static_cast<int>(num("number"));
    a.runner = str("runner");
    a.started_at = FromMicros(num("started_at"));
    if (auto* f = o.if_contains("finished_at"); f && f->is_number()) {
      a.finished_at = FromMicros(f->to_number<int64_t>());
    }
    a.outcome = str("outcome");
    a.error = str("error");
    a.output = str("output");
    out.push_back(std::move(a));
  }
  return out;
}

// Appends an attempt to the stored attempts (a JSON array of objects; times as
// integer microseconds). Written out here rather than with SQLite's json_insert and
// json_object in the UPDATE, which cost a seventh of a finish.
void AppendAttempt(std::string& attempts, int number, std::string_view runner,
                   std::optional<int64_t> started_at, std::optional<int64_t> finished_at,
                   std::string_view outcome, std::string_view error, std::string_view output) {
  if (attempts.size() < 2 || attempts.back() != ']') attempts = "[]";
  attempts.pop_back();  // the closing bracket
  if (attempts.back() != '[') attempts += ',';
  auto append_time = [&attempts](const std::optional<int64_t>& t) {
    attempts += t ? std::to_string(*t) : std::string("null");
  };
  attempts += "{\"number\":";
  attempts += std::to_string(number);
  attempts += ",\"runner\":";
  AppendJsonString(runner, &attempts);
  attempts += ",\"started_at\":";
  append_time(started_at);
  attempts += ",\"finished_at\":";
  append_time(finished_at);
  attempts += ",\"outcome\":";
  AppendJsonString(outcome, &attempts);
  attempts += ",\"error\":";
  AppendJsonString(error, &attempts);
  attempts += ",\"output\":";
  AppendJsonString(output, &attempts);
  attempts += "}]";
}

// Appends each attempt to the stored attempts `out`.
void AppendAttempts(std::string& out, const std::vector<Attempt>& attempts) {
  for (const Attempt& a : attempts) {
    std::optional<int64_t> finished_at;
    if (a.finished_at) finished_at = Micros(*a.finished_at);
    AppendAttempt(out, a.number, a.runner, Micros(a.started_at), finished_at, a.outcome, a.error,
                  a.output);
  }
}

std::string SerializeAttempts(const std::vector<Attempt>& attempts) {
  std::string out = "[]";
  AppendAttempts(out, attempts);
  return out;
}

json::value ParseJsonOr(std::string_view text, json::value fallback) {
  if (text.empty()) return fallback;
  // Most runs' args and data (BindJson stores them so), without the parser.
  if (text == "[]") return json::array();
  if (text == "{}") return json::object();
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  return ec ? fallback : v;
}

// Reads the row into `r`, a default Run (in place: a claim reads hundreds into its
// answer, where moving each one in cost a fiftieth of the writer's time).
void ReadRunInto(const Statement& s, Run& r, int64_t* seq = nullptr) {
  if (seq) *seq = s.Int(0);
  r.id = s.Text(1);
  r.queue = s.Text(2);
  r.function = s.Text(3);
  r.task = s.Text(4);
  r.status = ParseRunStatus(s.Text(5)).value_or(RunStatus::kPending);
  r.args = ParseJsonOr(s.Text(6), json::array());
  r.data = ParseJsonOr(s.Text(7), json::object());
  r.priority = static_cast<int>(s.Int(8));
  r.account_id = s.Text(9);
  r.auth_account_id = s.Text(10);
  r.created_at = FromMicros(s.Int(11));
  r.run_at = FromMicros(s.Int(12));
  if (!s.IsNull(13)) r.scheduled_at = FromMicros(s.Int(13));
  if (!s.IsNull(14)) r.started_at = FromMicros(s.Int(14));
  if (!s.IsNull(15)) r.finished_at = FromMicros(s.Int(15));
  if (!s.IsNull(16)) r.lease_until = FromMicros(s.Int(16));
  r.runner = s.Text(17);
  r.attempt = static_cast<int>(s.Int(18));
  r.retry.max_attempts = static_cast<int>(s.Int(19));
  r.retry.delay = Duration{s.Int(20)};
  r.retry.delay_factor = s.Double(21);
  if (!s.IsNull(22)) r.retry.max_delay = Duration{s.Int(22)};
  if (!s.IsNull(23)) r.timeout = Duration{s.Int(23)};
  r.time_to_resolve = Duration{s.Int(24)};
  r.result = s.IsNull(25) ? json::value(nullptr) : ParseJsonOr(s.Text(25), nullptr);
  r.error = s.Text(26);
  r.error_kind = s.Text(27);
  r.progress = {s.Int(28), s.Int(29), s.Int(30)};
  r.parent_id = s.Text(31);
  r.flow_id = s.Text(32);
  r.input_file = s.Text(33);
  r.output_file = s.Text(34);
  r.attempts = ParseAttempts(s.Text(35));
}

Run ReadRun(const Statement& s, int64_t* seq = nullptr) {
  Run r;
  ReadRunInto(s, r, seq);
  return r;
}

// Runs inserted per statement on the path of RunPut without conflicts (see there).
constexpr size_t kPutChunk = 32;

// Empty args and data are by far the most common: bound as constants, without the
// serializer.
void BindJson(Statement& s, int i, const json::value& v) {
  if (v.is_array() && v.get_array().empty()) return s.BindView(i, "[]");
  if (v.is_object() && v.get_object().empty()) return s.BindView(i, "{}");
  thread_local std::string text;  // SQLite copies it (Bind)
  text.clear();
  AppendJson(v, &text);
  s.Bind(i, text);
}

// The columns an INSERT of a run writes, each with how to bind its value. `plain`: a
// plain run (IsPlain) may have a value other than the column's default there.
struct InsertedColumn {
  const char* name;
  bool plain;
  void (*bind)(Statement& s, int i, const Run& r);  // strings bound in place
};
constexpr InsertedColumn kInsertedColumns[] = {
    {"id", true, [](Statement& s, int i, const Run& r) { s.BindView(i, r.id); }},
    {"queue", true, [](Statement& s, int i, const Run& r) { s.BindView(i, r.queue); }},
    {"function", true, [](Statement& s, int i, const Run& r) { s.BindView(i, r.function); }},
    {"task", false, [](Statement& s, int i, const Run& r) { s.BindView(i, r.task); }},
    {"status", true, [](Statement& s, int i, const Run& r) { s.BindView(i, ToString(r.status)); }},
    {"args", true, [](Statement& s, int i, const Run& r) { BindJson(s, i, r.args); }},
    {"data", true, [](Statement& s, int i, const Run& r) { BindJson(s, i, r.data); }},
    {"priority", true, [](Statement& s, int i, const Run& r) { s.Bind(i, r.priority); }},
    {"account_id", false, [](Statement& s, int i, const Run& r) { s.BindView(i, r.account_id); }},
    {"auth_account_id", false,
     [](Statement& s, int i, const Run& r) { s.BindView(i, r.auth_account_id); }},
    {"created_at", true,
     [](Statement& s, int i, const Run& r) { s.Bind(i, Micros(r.created_at)); }},
    {"run_at", true, [](Statement& s, int i, const Run& r) { s.Bind(i, Micros(r.run_at)); }},
    {"scheduled_at", false,
     [](Statement& s, int i, const Run& r) { s.Bind(i, Micros(r.scheduled_at)); }},
    {"started_at", false,
     [](Statement& s, int i, const Run& r) { s.Bind(i, Micros(r.started_at)); }},
    {"finished_at", false,
     [](Statement& s, int i, const Run& r) { s.Bind(i, Micros(r.finished_at)); }},
    {"lease_until", false,
     [](Statement& s, int i, const Run& r) { s.Bind(i, Micros(r.lease_until)); }},
    {"runner", false, [](Statement& s, int i, const Run& r) { s.BindView(i, r.runner); }},
    {"attempt", false, [](Statement& s, int i, const Run& r) { s.Bind(i, r.attempt); }},
    {"max_attempts", true,
     [](Statement& s, int i, const Run& r) { s.Bind(i, r.retry.max_attempts); }},
    {"delay_us", true, [](Statement& s, int i, const Run& r) { s.Bind(i, r.retry.delay.count()); }},
    {"delay_factor", true,
     [](Statement& s, int i, const Run& r) { s.Bind(i, r.retry.delay_factor); }},
    {"max_delay_us", true,
     [](Statement& s, int i, const Run& r) { s.Bind(i, Micros(r.retry.max_delay)); }},
    {"timeout_us", true, [](Statement& s, int i, const Run& r) { s.Bind(i, Micros(r.timeout)); }},
    {"ttr_us", true,
     [](Statement& s, int i, const Run& r) { s.Bind(i, r.time_to_resolve.count()); }},
    {"result", false,
     [](Statement& s, int i, const Run& r) {
       if (r.result.is_null())
         s.BindNull(i);
       else
         BindJson(s, i, r.result);
     }},
    {"error", false, [](Statement& s, int i, const Run& r) { s.BindView(i, r.error); }},
    {"error_kind", false, [](Statement& s, int i, const Run& r) { s.BindView(i, r.error_kind); }},
    {"progress_total", false,
     [](Statement& s, int i, const Run& r) { s.Bind(i, r.progress.total); }},
    {"progress_succeeded", false,
     [](Statement& s, int i, const Run& r) { s.Bind(i, r.progress.succeeded); }},
    {"progress_failed", false,
     [](Statement& s, int i, const Run& r) { s.Bind(i, r.progress.failed); }},
    {"parent_id", false, [](Statement& s, int i, const Run& r) { s.BindView(i, r.parent_id); }},
    {"flow_id", false, [](Statement& s, int i, const Run& r) { s.BindView(i, r.flow_id); }},
    {"input_file", false, [](Statement& s, int i, const Run& r) { s.BindView(i, r.input_file); }},
    {"output_file", false, [](Statement& s, int i, const Run& r) { s.BindView(i, r.output_file); }},
    {"attempts", false,
     [](Statement& s, int i, const Run& r) {
       if (r.attempts.empty())
         s.BindView(i, "[]");
       else
         s.Bind(i, SerializeAttempts(r.attempts));
     }},
};

// Values per inserted run: every column, or a plain run's.
constexpr int RunParams(bool plain) {
  int n = 0;
  for (const InsertedColumn& c : kInsertedColumns) n += !plain || c.plain;
  return n;
}

// INSERT of `rows` runs, each bound by BindRun with the same `plain` at
// (row × RunParams(plain)).
std::string InsertRunsSql(int rows, bool plain = false) {
  std::string sql = "INSERT INTO runs (";
  bool first = true;
  for (const InsertedColumn& c : kInsertedColumns) {
    if (plain && !c.plain) continue;
    if (!first) sql += ", ";
    first = false;
    sql += c.name;
  }
  sql += ") VALUES ";
  for (int row = 0; row < rows; ++row) {
    if (row > 0) sql += ',';
    sql += '(' + Placeholders(1 + row * RunParams(plain), RunParams(plain)) + ')';
  }
  return sql;
}

// A run as most are enqueued: of no task, account or flow, never attempted, no file.
// Its other columns are their defaults, so it is inserted with less than half of the
// values (binding them was a fifth of storing a run).
bool IsPlain(const Run& r) {
  return r.task.empty() && r.account_id.empty() && r.auth_account_id.empty() &&
         !r.scheduled_at && !r.started_at && !r.finished_at && !r.lease_until &&
         r.runner.empty() && r.attempt == 0 && r.result.is_null() && r.error.empty() &&
         r.error_kind.empty() && r.progress == Progress{} && r.parent_id.empty() &&
         r.flow_id.empty() && r.input_file.empty() && r.output_file.empty() &&
         r.attempts.empty();
}

// Binds the run to parameters at+1 .. at+RunParams(plain); a plain run (IsPlain) may
// be bound with `plain`. `r` must outlive the statement's step: its strings are bound
// in place.
void BindRun(Statement& s, const Run& r, int at = 0, bool plain = false) {
  for (const InsertedColumn& c : kInsertedColumns) {
    if (plain && !c.plain) continue;
    c.bind(s, ++at, r);
  }
}

// Changes to run_tallies (runs by queue, task, status and account) made by one write
// operation; applied only if the operation succeeds, in the same transaction. A
// write touches few distinct keys (a batch of 1,000 runs usually one), so a short
// vector searched from its most recent entry beats a map.
class TallyDeltas {
 public:
  struct Entry {
    std::string queue;
    std::string task;
    std::string account;
    RunStatus status;
    int64_t n;
  };

  void Add(std::string_view queue, std::string_view task, std::string_view account,
           RunStatus status, int64_t d) {
    for (auto it = entries_.rbegin(); it != entries_.rend(); ++it) {
      if (it->status == status && it->queue == queue && it->task == task &&
          it->account == account) {
        it->n += d;
        return;
      }
    }
    entries_.push_back({std::string(queue), std::string(task), std::string(account), status, d});
  }
  void Move(std::string_view queue, std::string_view task, std::string_view account,
            RunStatus from, RunStatus to, int64_t count = 1) {
    Add(queue, task, account, from, -count);
    Add(queue, task, account, to, count);
  }
  void Merge(const TallyDeltas& o) {
    for (const Entry& e : o.entries_) Add(e.queue, e.task, e.account, e.status, e.n);
  }
  const std::vector<Entry>& entries() const { return entries_; }

 private:
  std::vector<Entry> entries_;
};

struct Tx {
  Connection& db;
  TallyDeltas deltas;
  // What the earlier writes of the same transaction changed: run_tallies holds it
  // only after the commit.
  const TallyDeltas* earlier = nullptr;
};

// Where a stored run is and what it is: enough to move its tally.
struct RunKey {
  std::string queue;
  std::string task;
  RunStatus status;
  std::string account_id;
};

class SqliteStorage final : public Storage {
 public:
  explicit SqliteStorage(SqliteOptions options) : options_(std::move(options)) {}
  ~SqliteStorage() override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (writer_.joinable()) writer_.join();
    {
      std::lock_guard lock(sync_mu_);
      sync_stopping_ = true;
    }
    sync_cv_.notify_all();
    if (syncer_.joinable()) syncer_.join();
    if (log_fd_ >= 0) ::close(log_fd_);
    {
      std::lock_guard lock(checkpoint_mu_);
      checkpoint_stopping_ = true;
    }
    checkpoint_cv_.notify_all();
    if (checkpointer_.joinable()) checkpointer_.join();
    // Closing the writer's connection, the last one, checkpoints what is left.
  }

  Status Init() {
    std::error_code ec;
    auto parent = std::filesystem::path(options_.path).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    if (ec) {
      return Status::Internal("cannot create data directory " + parent.string() + ": " +
                              ec.message());
    }
    if (options_.synchronous != "full" && options_.synchronous != "normal") {
      return Status::InvalidArgument("synchronous: expected full or normal, got '" +
                                     options_.synchronous + "'");
    }
    // Processes started together on one data directory set the database up one at a
    // time (setup_lock.h): creating the file and switching it to WAL mode take locks
    // that SQLite's busy wait does not cover, and each migration is re-checked under
    // the lock.
    auto setup = SetupLock::Acquire(options_.path, std::chrono::seconds(60));
    if (!setup.ok()) return setup.status();
    auto conn = Connection::Open(options_.path, false);
    if (!conn.ok()) return conn.status();
    writer_db_ = std::move(*conn);
    // page_size applies to a database this call creates (an existing file keeps its
    // own; WAL mode cannot change it). SQLite reads and writes one page per system
    // call (and two per WAL frame), and files are stored as chunk blobs spread over
    // overflow pages: at 16 KiB a bulk run makes a quarter of the calls it made at the
    // default 4 KiB, which on the virtual machines measured is most of storage's CPU
    // time (docs/BENCHMARKS.md, "Bulk CSV runs"); small rows still fit a page.
    // secure_delete=OFF is SQLite's own default, which some distributions' builds
    // turn on: zeroing every deleted index entry and row cost 7-13% of the writer's
    // work (a claim and a finish delete index entries). Deleted runs may then linger
    // in free pages of the file until reused or vacuumed (docs/storage.md).
    // synchronous=NORMAL even for "full": the fsync that makes a commit durable is the
    // syncer thread's (OpenLogForSync), not the commit's.
    // journal_size_limit: see SqliteOptions::log_size_limit.
    TASKMILL_RETURN_IF_ERROR(writer_db_->ExecScript(
        "PRAGMA page_size=16384; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
        " PRAGMA temp_store=MEMORY; PRAGMA cache_size=-16384; PRAGMA secure_delete=OFF;"));
    TASKMILL_RETURN_IF_ERROR(writer_db_->ExecScript(
        ("PRAGMA journal_size_limit=" + std::to_string(options_.log_size_limit)).c_str()));
    TASKMILL_RETURN_IF_ERROR(Migrate(*writer_db_, options_.path));
    if (options_.synchronous == "full") {
      TASKMILL_RETURN_IF_ERROR(OpenLogForSync());
      if (log_fd_ >= 0) syncer_ = std::thread([this] { SyncLoop(); });
    }
    {
      auto page_size = writer_db_->Prepare("PRAGMA page_size");
      if (!page_size.ok()) return page_size.status();
      ScopedReset reset(**page_size);
      auto row = (*page_size)->Step();
      if (!row.ok()) return row.status();
      log_space_ = std::make_unique<LogSpace>(options_.path, (*page_size)->Int(0));
    }
    // Replaces SQLite's automatic checkpoint, which runs inside the commit that
    // crosses its threshold (see SqliteOptions::checkpoint_pages).
    sqlite3_wal_hook(writer_db_->raw(), &SqliteStorage::AfterWalCommit, this);
    checkpointer_ = std::thread([this] { CheckpointLoop(); });
    writer_ = std::thread([this] { WriterLoop(); });
    return Status::Ok();
  }

  // Called by SQLite on the writer thread after each commit, with the log's size.
  static int AfterWalCommit(void* self, sqlite3* db, const char*, int log_pages) {
    auto* storage = static_cast<SqliteStorage*>(self);
    if (storage->log_space_->CheckpointNeeded(log_pages)) {
      storage->log_space_->CheckpointOnWriter(db, storage->options_.on_checkpoint);
    } else if (log_pages >= storage->options_.checkpoint_pages) {
      std::lock_guard lock(storage->checkpoint_mu_);
      storage->checkpoint_wanted_ = true;
      storage->checkpoint_cv_.notify_one();
    }
    return SQLITE_OK;
  }

  // A write failed for lack of space: see log_space.h.
  void NoteShortOfSpace() {
    log_space_->NoteFull();
    {
      std::lock_guard lock(checkpoint_mu_);
      checkpoint_wanted_ = true;
    }
    checkpoint_cv_.notify_one();
  }

  // PASSIVE checkpoints on a connection of their own: they copy what no reader still
  // needs and never block the writer, which goes on appending to the log meanwhile;
  // the writer starts the log over once a checkpoint has copied all of it.
  void CheckpointLoop() {
    std::unique_ptr<Connection> db;
    std::unique_lock lock(checkpoint_mu_);
    for (;;) {
      checkpoint_cv_.wait(lock, [&] { return checkpoint_stopping_ || checkpoint_wanted_; });
      if (checkpoint_stopping_) return;
      checkpoint_wanted_ = false;
      lock.unlock();
      if (!db) {
        auto opened = Connection::Open(options_.path, false);
        // A query first: a connection learns the file is in WAL mode on its first read,
        // and until then a checkpoint request does nothing.
        if (opened.ok() && (*opened)->ExecScript("SELECT count(*) FROM sqlite_master").ok()) {
          db = std::move(*opened);
        } else if (!opened.ok()) {
          spdlog::warn("storage: opening the checkpoint connection: {}",
                       opened.status().ToString());
        }
      }
      if (db) {
        int log_frames = 0, checkpointed = 0;
        int rc = sqlite3_wal_checkpoint_v2(db->raw(), nullptr, SQLITE_CHECKPOINT_PASSIVE,
                                           &log_frames, &checkpointed);
        if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
          spdlog::warn("storage: checkpoint failed: {}", sqlite3_errstr(rc));
        } else {
          if (rc == SQLITE_OK) log_space_->CheckpointDone(log_frames, checkpointed);
          if (options_.on_checkpoint) options_.on_checkpoint(log_frames, checkpointed);
        }
      }
      lock.lock();
    }
  }

  // ---- runs ------------------------------------------------------------------
  Result<std::vector<Run>> RunPut(RunPutParams params) override {
    std::vector<Run> out;
    out.reserve(params.runs.size());
    std::vector<bool> inserted;  // per run of params: stored by this call
    Status st = Write([&](Tx& tx) -> Status {
      out.clear();
      inserted.clear();
      static const std::string kInsertOne = InsertRunsSql(1);
      static const std::string kInsertChunk = InsertRunsSql(kPutChunk);
      static const std::string kInsertPlainChunk = InsertRunsSql(kPutChunk, /*plain=*/true);
      auto insert = tx.db.Prepare(kInsertOne);
      if (!insert.ok()) return insert.status();
      // Without a conflict mode to apply, kPutChunk runs go in one statement: a
      // statement per run made each run pay for opening a cursor on the table and every
      // index, and for halting and resetting. A conflict fails the whole statement,
      // which SQLite undoes; that chunk is then put one run at a time, which finds the
      // run to name.
      bool chunked = params.conflict == ConflictMode::kError && params.runs.size() >= kPutChunk;
      Statement* chunk_of[2] = {nullptr, nullptr};  // [plain]: prepared on first use
      size_t one_by_one_until = 0;
      for (size_t i = 0; i < params.runs.size(); ++i) {
        if (chunked && i >= one_by_one_until && params.runs.size() - i >= kPutChunk) {
          bool plain = std::all_of(params.runs.begin() + static_cast<ptrdiff_t>(i),
                                   params.runs.begin() + static_cast<ptrdiff_t>(i + kPutChunk),
                                   IsPlain);
          Statement*& chunk = chunk_of[plain];
          if (!chunk) {
            auto prepared = tx.db.Prepare(plain ? kInsertPlainChunk : kInsertChunk);
            if (!prepared.ok()) return prepared.status();
            chunk = *prepared;
          }
          ScopedReset reset(*chunk);
          const int params_per_run = RunParams(plain);
          for (size_t k = 0; k < kPutChunk; ++k) {
            BindRun(*chunk, params.runs[i + k], static_cast<int>(k) * params_per_run, plain);
          }
          Status ins = chunk->Exec();
          if (ins.ok()) {
            for (size_t k = 0; k < kPutChunk; ++k) {
              Run& run = params.runs[i + k];
              tx.deltas.Add(run.queue, run.task, run.account_id, run.status, 1);
              out.push_back(std::move(run));
              inserted.push_back(true);
            }
            i += kPutChunk - 1;
            continue;
          }
          if (!ins.IsConflict()) return ins;
          one_by_one_until = i + kPutChunk;
        }
        Run& run = params.runs[i];
        if (params.conflict == ConflictMode::kOverwrite) {
          auto existing = FindKey(tx.db, run.id, run.queue);
          if (!existing.ok() && !existing.status().IsNotFound()) return existing.status();
          if (existing.ok()) {
            // Another account's run is never replaced (RunPut in storage.h).
            if (existing->account_id != run.account_id) return TakenId(run);
            if (existing->status == RunStatus::kRunning) {
              return Status::Conflict("run '" + run.id + "' in queue '" + run.queue +
                                      "' is running and cannot be overwritten");
            }
            TASKMILL_RETURN_IF_ERROR(DeleteRun(tx, run.id, *existing));
          }
        }
        Statement& s = **insert;
        ScopedReset reset(s);
        BindRun(s, run);
        Status ins = s.Exec();
        if (ins.IsConflict()) {
          // Either (queue, id) is taken, or the (task, scheduled_at) of a periodical
          // launch is: only the former is a duplicate run.
          auto duplicate = FindKey(tx.db, run.id, run.queue);
          if (!duplicate.ok() && !duplicate.status().IsNotFound()) return duplicate.status();
          if (!duplicate.ok()) {
            if (run.scheduled_at) {
              return Status::Conflict("task '" + run.task + "' already has a launch scheduled at " +
                                      FormatTime(*run.scheduled_at));
            }
            return Status::Conflict("run '" + run.id + "' in queue '" + run.queue +
                                    "' conflicts with a stored run: " + ins.message());
          }
          // Another account's run is never answered (RunPut in storage.h).
          if (params.conflict == ConflictMode::kIgnore && duplicate->account_id == run.account_id) {
            auto stored = GetOn(tx.db, run.id, run.queue);
            if (!stored.ok()) return stored.status();
            out.push_back(std::move(*stored));
            inserted.push_back(false);
            continue;
          }
          return TakenId(run);
        }
        TASKMILL_RETURN_IF_ERROR(ins);
        tx.deltas.Add(run.queue, run.task, run.account_id, run.status, 1);
        out.push_back(std::move(run));  // params is ours; the write runs exactly once
        inserted.push_back(true);
      }
      return CommitFiles(tx.db, params.runs, out, inserted, params.commit_files);
    });
    if (!st.ok()) return st;
    return out;
  }

  Result<Run> RunGet(const std::string& id, const std::string& queue) override {
    auto reader = AcquireReader();
    if (!reader.ok()) return reader.status();
    auto r = GetOn(**reader, id, queue);
    ReleaseReader(std::move(*reader));
    return r;
  }

  Result<RunPage> RunList(const RunFilter& f) override {
    int limit = std::clamp(f.limit, 1, 1000);
    int64_t cursor = 0;
    if (!f.cursor.empty()) {
      char* end = nullptr;
      long long seq = std::strtoll(f.cursor.c_str(), &end, 10);
      if (!end || *end != '\0' || seq <= 0) {
        return Status::InvalidArgument("cursor: '" + f.cursor + "' is not a cursor from a listing");
      }
      cursor = seq;
    }
    auto reader = AcquireReader();
    if (!reader.ok()) return reader.status();
    RunPage page;
    Status st = [&]() -> Status {
      // No index orders pending or running runs by seq (each would cost every put,
      // claim and finish a B-tree operation), so a listing by those statuses reads
      // them through a partial index and sorts their seqs, or scans the table newest
      // first. Running runs are few: always through their lease index. Pending runs
      // of a task go through the task index, as any listing by task does.
      std::string access;  // INDEXED BY or NOT INDEXED; empty: the planner's choice
      bool sort_seqs = false;
      std::string where;
      if (f.status) {
        // The status is written inline, not bound: SQLite matches a partial index's
        // WHERE against the query's terms when it prepares the statement (a bound
        // value there makes every call prepare it again).
        where = " AND status = '" + std::string(ToString(*f.status)) + "'";
        if (*f.status == RunStatus::kRunning) {
          access = " INDEXED BY runs_running_lease";
          sort_seqs = true;
        } else if (*f.status == RunStatus::kPending && !f.task.empty()) {
          access = " INDEXED BY runs_task_seq";  // not a walk through every pending run
        } else if (*f.status == RunStatus::kPending) {
          auto pending = PendingTally(**reader, f.queue);
          if (!pending.ok()) return pending.status();
          sort_seqs = *pending <= options_.list_pending_sorted_max;
          // Above the threshold, pending runs are so many that they are dense.
          access = sort_seqs ? " INDEXED BY runs_queue_pending" : " NOT INDEXED";
        } else if (f.task.empty()) {
          // The redundant term lets the planner use the partial index runs_final_seq
          // (a listing by task keeps the task index).
          where += " AND status NOT IN ('pending', 'running')";
        }
      }
      std::vector<std::variant<std::string, int64_t>> binds;
      auto add = [&](const char* clause, std::variant<std::string, int64_t> value) {
        where += clause;
        where += std::to_string(binds.size() + 1);
        binds.push_back(std::move(value));
      };
      // "task <> ''" lets the planner use the partial index runs_task_seq.
      if (!f.id.empty()) add(" AND id = ?", f.id);
      if (!f.task.empty()) add(" AND task <> '' AND task = ?", f.task);
      if (!f.function.empty()) add(" AND function = ?", f.function);
      if (!f.queue.empty()) add(" AND queue = ?", f.queue);
      if (!f.account_id.empty()) add(" AND account_id = ?", f.account_id);
      if (!f.parent_id.empty()) add(" AND parent_id = ?", f.parent_id);
      // Bound rather than written inline, so that the statement cache of a reader
      // holds one statement per shape of listing, not one per page.
      if (f.created_after) add(" AND created_at >= ?", Micros(*f.created_after));
      if (f.created_before) add(" AND created_at < ?", Micros(*f.created_before));
      if (cursor > 0) add(" AND seq < ?", cursor);
      const std::string order = " ORDER BY seq DESC LIMIT " + std::to_string(limit + 1);
      const std::string from = " FROM runs" + access;
      std::string sql;
      if (sort_seqs) {
        // Only the seqs are sorted (read from the index alone when no other filter
        // needs the row); the rows are read for the page alone.
        sql = Sql("SELECT ", " FROM runs WHERE seq IN (SELECT seq" + from + " WHERE 1=1" + where +
                                 order + ") ORDER BY seq DESC");
      } else {
        sql = Sql("SELECT ", from + " WHERE 1=1" + where + order);
      }
      auto stmt = (*reader)->Prepare(sql);
      if (!stmt.ok()) return stmt.status();
      Statement& s = **stmt;
      ScopedReset reset(s);
      for (size_t i = 0; i < binds.size(); ++i) {
        std::visit([&](const auto& v) { s.Bind(static_cast<int>(i + 1), v); }, binds[i]);
      }
      int64_t last_seq = 0;
      for (;;) {
        auto row = s.Step();
        if (!row.ok()) return row.status();
        if (!*row) break;
        if (static_cast<int>(page.runs.size()) == limit) {
          page.next_cursor = std::to_string(last_seq);
          break;
        }
        page.runs.push_back(ReadRun(s, &last_seq));
      }
      return Status::Ok();
    }();
    ReleaseReader(std::move(*reader));
    if (!st.ok()) return st;
    return page;
  }

  Status RunRemove(const std::string& id, const std::string& queue) override {
    return Write([&](Tx& tx) -> Status {
      auto found = FindKey(tx.db, id, queue);
      if (!found.ok()) return found.status();
      if (found->status == RunStatus::kRunning) {
        return Status::FailedPrecondition("run '" + id + "' is running; cancel it first");
      }
      return DeleteRun(tx, id, *found);
    });
  }

  std::unique_ptr<CommitWatch> WatchCommits(std::function<void()> on_commit) override {
    auto watcher = WalWatcher::Start(options_.path, std::move(on_commit));
    if (!watcher.ok()) {
      spdlog::warn("storage: {}; runs of other processes are found by polling",
                   watcher.status().ToString());
      return nullptr;
    }
    return std::move(*watcher);
  }

  Result<std::vector<ClaimedRun>> RunTake(const RunTakeParams& p) override {
    if (p.max <= 0) return std::vector<ClaimedRun>{};
    std::vector<ClaimedRun> out;
    Status st = Write(
        [&](Tx& tx) -> Status {
          out.clear();
          TASKMILL_RETURN_IF_ERROR(TakeFromQueues(tx, p, out));
          if (p.next_run_at && static_cast<int>(out.size()) < p.max) {
            TASKMILL_RETURN_IF_ERROR(EarliestPendingRunAt(tx, p, p.next_run_at));
          }
          for (const Run& run : out) {
            tx.deltas.Move(run.queue, run.task, run.account_id, RunStatus::kPending,
                           RunStatus::kRunning);
          }
          return Status::Ok();
        },
        /*durable=*/false);
    if (!st.ok()) return st;
    return out;
  }

  // Claims for a runner of the queues it names, or of every queue (none named): the
  // best `max` of each queue through the per-queue pending index, merged in claim order
  // (priority DESC, run_at, seq), then claimed by rowid. Walking one index of every
  // pending run instead would, for a runner of some queues, walk past the backlogs of
  // the others at every poll (a million runs elsewhere made each idle poll a scan of
  // them all), and would cost every put and claim a B-tree operation.
  static Status TakeFromQueues(Tx& tx, const RunTakeParams& p, std::vector<ClaimedRun>& out) {
    std::vector<std::string> found;
    if (p.queues.empty()) TASKMILL_RETURN_IF_ERROR(QueuesWithPendingRuns(tx, found));
    const std::vector<std::string>& queues = p.queues.empty() ? found : p.queues;
    auto paused = tx.db.Prepare("SELECT paused FROM queues WHERE name = ?1");
    if (!paused.ok()) return paused.status();
    // Whole rows, through the index: each claimed row is then read once, before its
    // UPDATE, and the claim's changes are applied to the runs read.
    static const std::string kSelect =
        Sql("SELECT ", " FROM runs INDEXED BY runs_queue_pending "
                       "WHERE status = 'pending' AND queue = ?1 AND run_at <= ?2 "
                       "ORDER BY priority DESC, run_at LIMIT ?3");
    auto select = tx.db.Prepare(kSelect);
    if (!select.ok()) return select.status();
    // Read straight into the answer, with their rowids alongside.
    out.clear();
    out.reserve(static_cast<size_t>(p.max));
    std::vector<int64_t> seqs;
    seqs.reserve(static_cast<size_t>(p.max));
    std::vector<std::string_view> seen;
    size_t queues_read = 0;
    for (const std::string& queue : queues) {
      if (std::find(seen.begin(), seen.end(), queue) != seen.end()) continue;
      seen.push_back(queue);
      {
        ScopedReset reset(**paused);
        (*paused)->Bind(1, queue);
        auto row = (*paused)->Step();
        if (!row.ok()) return row.status();
        if (*row && (*paused)->Int(0) != 0) continue;
      }
      Statement& s = **select;
      ScopedReset reset(s);
      s.Bind(1, queue);
      s.Bind(2, Micros(p.now));
      s.Bind(3, p.max);
      ++queues_read;
      for (;;) {
        auto row = s.Step();
        if (!row.ok()) return row.status();
        if (!*row) break;
        ReadRunInto(s, out.emplace_back(), &seqs.emplace_back());
      }
    }
    // One queue's runs come in claim order already; several are merged.
    if (queues_read > 1) MergeClaimOrder(out, seqs, static_cast<size_t>(p.max));
    // Claimed kClaimChunk at a time, by one UPDATE of rowids IN a list: a statement per
    // run made each run pay for opening a cursor on the table and every index, and for
    // halting and resetting, a fifth of a claim. A short last chunk binds NULL, which
    // matches no rowid.
    // The first p.start runs start at once; the rest are claimed ahead (not started).
    static const std::string kUpdate =
        "UPDATE runs SET status = 'running', attempt = attempt + 1, runner = ?1, "
        "started_at = ?2, lease_until = ?2 + ttr_us, started = ?3 WHERE seq IN (" +
        Placeholders(4, kClaimChunk) + ")";
    auto update = tx.db.Prepare(kUpdate);
    if (!update.ok()) return update.status();
    const int64_t now = Micros(p.now);
    const size_t started = static_cast<size_t>(std::max(0, p.start));
    for (size_t begin = 0; begin < seqs.size();) {
      // A chunk never spans started and claimed-ahead runs.
      const size_t end = std::min({seqs.size(), begin + static_cast<size_t>(kClaimChunk),
                                   begin < started ? started : seqs.size()});
      const size_t n = end - begin;
      Statement& u = **update;
      ScopedReset reset_update(u);
      u.Bind(1, p.runner);
      u.Bind(2, now);
      u.Bind(3, begin < started ? 1 : 0);
      for (size_t i = 0; i < n; ++i) u.Bind(static_cast<int>(4 + i), seqs[begin + i]);
      begin = end;
      TASKMILL_RETURN_IF_ERROR(u.Exec());
      if (tx.db.Changes() != static_cast<int64_t>(n)) {
        return Status::Internal("a claimed run vanished");
      }
    }
    for (Run& run : out) {
      // What the UPDATE stored.
      run.status = RunStatus::kRunning;
      run.attempt += 1;
      run.runner = p.runner;
      run.started_at = FromMicros(now);
      run.lease_until = FromMicros(now + run.time_to_resolve.count());
    }
    return Status::Ok();
  }

  // The earliest run_at of the pending runs left after a claim that took every due
  // run, in the claim's unpaused queues: one seek per priority in use in each queue
  // (the index orders a queue's pending runs by priority, then run_at), so a runner
  // sleeps until exactly then, also for runs other processes made.
  static Status EarliestPendingRunAt(Tx& tx, const RunTakeParams& p, TimePoint* out) {
    std::vector<std::string> found;
    if (p.queues.empty()) TASKMILL_RETURN_IF_ERROR(QueuesWithPendingRuns(tx, found));
    const std::vector<std::string>& queues = p.queues.empty() ? found : p.queues;
    auto paused = tx.db.Prepare("SELECT paused FROM queues WHERE name = ?1");
    if (!paused.ok()) return paused.status();
    auto first = tx.db.Prepare(
        "SELECT priority, run_at FROM runs INDEXED BY runs_queue_pending "
        "WHERE status = 'pending' AND queue = ?1 AND priority < ?2 AND run_at > ?3 "
        "ORDER BY priority DESC, run_at LIMIT 1");
    if (!first.ok()) return first.status();
    int64_t earliest = std::numeric_limits<int64_t>::max();
    for (const std::string& queue : queues) {
      {
        ScopedReset reset(**paused);
        (*paused)->Bind(1, queue);
        auto row = (*paused)->Step();
        if (!row.ok()) return row.status();
        if (*row && (*paused)->Int(0) != 0) continue;
      }
      int64_t below = std::numeric_limits<int64_t>::max();
      for (;;) {
        ScopedReset reset(**first);
        (*first)->Bind(1, queue);
        (*first)->Bind(2, below);
        (*first)->Bind(3, Micros(p.now));
        auto row = (*first)->Step();
        if (!row.ok()) return row.status();
        if (!*row) break;
        below = (*first)->Int(0);
        earliest = std::min(earliest, (*first)->Int(1));
      }
    }
    *out = earliest == std::numeric_limits<int64_t>::max() ? TimePoint::max()
                                                            : FromMicros(earliest);
    return Status::Ok();
  }

  // Puts the runs read from several queues (each queue's in claim order) in claim
  // order, priority DESC, run_at, seq, and keeps the first `max`.
  static void MergeClaimOrder(std::vector<Run>& runs, std::vector<int64_t>& seqs, size_t max) {
    std::vector<size_t> order(runs.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      if (runs[a].priority != runs[b].priority) return runs[a].priority > runs[b].priority;
      if (runs[a].run_at != runs[b].run_at) return runs[a].run_at < runs[b].run_at;
      return seqs[a] < seqs[b];
    });
    if (order.size() > max) order.resize(max);
    std::vector<Run> sorted_runs;
    std::vector<int64_t> sorted_seqs;
    sorted_runs.reserve(order.size());
    sorted_seqs.reserve(order.size());
    for (size_t i : order) {
      sorted_runs.push_back(std::move(runs[i]));
      sorted_seqs.push_back(seqs[i]);
    }
    runs = std::move(sorted_runs);
    seqs = std::move(sorted_seqs);
  }

  // The queues with pending runs by the tallies, and by the changes of the earlier
  // writes of this transaction (applied to the tallies only at its commit). A queue
  // may come up whose pending runs are all claimed meanwhile: its index range is
  // simply empty.
  static Status QueuesWithPendingRuns(Tx& tx, std::vector<std::string>& queues) {
    auto stmt =
        tx.db.Prepare("SELECT DISTINCT queue FROM run_tallies WHERE status = 'pending' AND n > 0");
    if (!stmt.ok()) return stmt.status();
    ScopedReset reset(**stmt);
    for (;;) {
      auto row = (*stmt)->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      queues.emplace_back((*stmt)->Text(0));
    }
    if (!tx.earlier) return Status::Ok();
    for (const TallyDeltas::Entry& e : tx.earlier->entries()) {
      if (e.status == RunStatus::kPending && e.n > 0) queues.push_back(e.queue);
    }
    return Status::Ok();
  }

  Result<std::vector<bool>> RunHeartbeatBatch(const std::vector<RunHeartbeat>& beats) override {
    std::vector<bool> out;
    Status st = Write([&](Tx& tx) -> Status {
      out.assign(beats.size(), false);
      auto stmt = tx.db.Prepare(
          "UPDATE runs SET lease_until = ?1 WHERE id = ?2 AND queue = ?3 AND attempt = ?4 "
          "AND status = 'running'");
      if (!stmt.ok()) return stmt.status();
      for (size_t i = 0; i < beats.size(); ++i) {
        Statement& s = **stmt;
        ScopedReset reset(s);
        s.Bind(1, Micros(beats[i].lease_until));
        s.Bind(2, beats[i].id);
        s.Bind(3, beats[i].queue);
        s.Bind(4, beats[i].attempt);
        TASKMILL_RETURN_IF_ERROR(s.Exec());
        out[i] = tx.db.Changes() == 1;
      }
      return Status::Ok();
    }, /*durable=*/false);
    if (!st.ok()) return st;
    return out;
  }

  Result<std::vector<RunFinishResult>> RunFinishBatch(
      const std::vector<RunFinish>& finishes) override {
    std::vector<RunFinishResult> out;
    Status st = Write([&](Tx& tx) -> Status {
      out.assign(finishes.size(), RunFinishResult{});
      // A finish that carries its claimed run is one UPDATE fenced by the attempt: the
      // claim returned what the attempt record and the tallies need, and while the
      // attempt is current that is what is stored. Otherwise the current attempt is
      // found first (its rowid, task and attempt record), then updated by rowid:
      // reading it costs far less than an UPDATE ... RETURNING (SQLite gathers
      // returned rows in a temporary table).
      static const std::string kSet =
          "UPDATE runs SET status = ?1, finished_at = ?2, run_at = coalesce(?3, run_at), "
          "result = ?4, error = ?5, error_kind = ?6, lease_until = NULL, runner = '', "
          "progress_total = coalesce(?7, progress_total), "
          "progress_succeeded = coalesce(?8, progress_succeeded), "
          "progress_failed = coalesce(?9, progress_failed), attempts = ?10 ";
      static const std::string kByFence =
          kSet + "WHERE id = ?11 AND queue = ?12 AND attempt = ?13 AND status = 'running'";
      static const std::string kBySeq = kSet + "WHERE seq = ?11";
      auto by_fence = tx.db.Prepare(kByFence);
      if (!by_fence.ok()) return by_fence.status();
      auto by_seq = tx.db.Prepare(kBySeq);
      if (!by_seq.ok()) return by_seq.status();
      auto find = tx.db.Prepare(
          "SELECT seq, task, runner, started_at, attempts, account_id FROM runs WHERE id = ?1 "
          "AND queue = ?2 AND attempt = ?3 AND status = 'running'");
      if (!find.ok()) return find.status();
      std::string task;
      std::string account;
      std::string runner;
      std::string attempts;
      for (size_t i = 0; i < finishes.size(); ++i) {
        const RunFinish& f = finishes[i];
        const std::string_view outcome =
            f.outcome.empty() ? ToString(f.status) : std::string_view(f.outcome);
        const Run* claimed = f.claimed;
        if (claimed && (claimed->attempt != f.attempt || claimed->id != f.id ||
                        claimed->queue != f.queue)) {
          claimed = nullptr;  // not this attempt's claim
        }
        int64_t seq = 0;
        std::optional<int64_t> started_at;
        if (claimed) {
          attempts = "[]";  // into the buffer the earlier finishes grew
          AppendAttempts(attempts, claimed->attempts);
          runner = claimed->runner;
          if (claimed->started_at) started_at = Micros(*claimed->started_at);
        } else {
          Statement& q = **find;
          ScopedReset reset(q);
          q.BindView(1, f.id);
          q.BindView(2, f.queue);
          q.Bind(3, f.attempt);
          auto row = q.Step();
          if (!row.ok()) return row.status();
          if (!*row) continue;  // not the current attempt: a stale fence
          seq = q.Int(0);
          task = q.Text(1);
          runner = q.Text(2);
          if (!q.IsNull(3)) started_at = q.Int(3);
          attempts = q.Text(4);
          account = q.Text(5);
        }
        AppendAttempt(attempts, f.attempt, runner, started_at, Micros(f.finished_at), outcome,
                      f.error, f.output);
        Statement& s = claimed ? **by_fence : **by_seq;
        ScopedReset reset(s);
        bool retry = f.status == RunStatus::kPending;
        s.BindView(1, ToString(f.status));
        if (retry) s.BindNull(2); else s.Bind(2, Micros(f.finished_at));
        // run_at moves only for a retry; a finished run keeps the instant it was due.
        if (retry) s.Bind(3, Micros(f.run_at)); else s.BindNull(3);
        if (f.result.is_null()) s.BindNull(4); else BindJson(s, 4, f.result);
        s.BindView(5, f.error);
        s.BindView(6, f.error_kind);
        if (f.progress) {
          s.Bind(7, f.progress->total);
          s.Bind(8, f.progress->succeeded);
          s.Bind(9, f.progress->failed);
        }
        s.BindView(10, attempts);
        if (claimed) {
          s.BindView(11, f.id);
          s.BindView(12, f.queue);
          s.Bind(13, f.attempt);
        } else {
          s.Bind(11, seq);
        }
        TASKMILL_RETURN_IF_ERROR(s.Exec());
        if (claimed) {
          if (tx.db.Changes() != 1) continue;  // not the current attempt: a stale fence
          task = claimed->task;
          account = claimed->account_id;
        }
        out[i].accepted = true;
        tx.deltas.Move(f.queue, task, account, RunStatus::kRunning, f.status);
      }
      return Status::Ok();
    });
    if (!st.ok()) return st;
    return out;
  }

  Result<Run> RunCancel(const std::string& id, const std::string& queue, TimePoint now) override {
    return Transition(
        id, queue, now, RunStatus::kStopped,
        [&](RunStatus status) {
          return IsFinal(status) ? Status::FailedPrecondition("run '" + id + "' is already " +
                                                              std::string(ToString(status)))
                                 : Status::Ok();
        },
        "UPDATE runs SET status = 'stopped', finished_at = ?1, lease_until = NULL, runner = '', "
        "error = 'stopped by an operator', error_kind = 'stopped', "
        "attempts = CASE WHEN status = 'running' THEN json_insert(attempts, '$[#]', "
        "json_object('number', attempt, 'runner', runner, 'started_at', started_at, "
        "'finished_at', ?1, 'outcome', 'stopped', 'error', 'stopped by an operator', "
        "'output', '')) ELSE attempts END "
        "WHERE id = ?2 AND queue = ?3");
  }

  Result<Run> RunRetry(const std::string& id, const std::string& queue, TimePoint now) override {
    return Transition(
        id, queue, now, RunStatus::kPending,
        [&](RunStatus status) {
          return IsFinal(status) ? Status::Ok()
                                 : Status::FailedPrecondition(
                                       "run '" + id + "' is " + std::string(ToString(status)) +
                                       "; only a finished run can be retried");
        },
        "UPDATE runs SET status = 'pending', run_at = ?1, finished_at = NULL, error = '', "
        "error_kind = '', result = NULL, max_attempts = max(max_attempts, attempt + 1) "
        "WHERE id = ?2 AND queue = ?3");
  }

  // An operator's change of one run: finds it, lets `check` refuse the change for its
  // current status, applies `update_sql` (?1 now, ?2 id, ?3 queue) and answers the run
  // as stored afterwards.
  Result<Run> Transition(const std::string& id, const std::string& queue, TimePoint now,
                         RunStatus to, const std::function<Status(RunStatus)>& check,
                         const char* update_sql) {
    Run result;
    Status st = Write([&](Tx& tx) -> Status {
      auto found = FindKey(tx.db, id, queue);
      if (!found.ok()) return found.status();
      TASKMILL_RETURN_IF_ERROR(check(found->status));
      auto stmt = tx.db.Prepare(update_sql);
      if (!stmt.ok()) return stmt.status();
      ScopedReset reset(**stmt);
      (*stmt)->Bind(1, Micros(now));
      (*stmt)->Bind(2, id);
      (*stmt)->Bind(3, found->queue);
      TASKMILL_RETURN_IF_ERROR((*stmt)->Exec());
      tx.deltas.Move(found->queue, found->task, found->account_id, found->status, to);
      auto r = GetOn(tx.db, id, found->queue);
      if (!r.ok()) return r.status();
      result = std::move(*r);
      return Status::Ok();
    });
    if (!st.ok()) return st;
    return result;
  }

  Result<std::vector<Run>> RunListExpired(TimePoint now, int limit) override {
    auto reader = AcquireReader();
    if (!reader.ok()) return reader.status();
    auto dead = DeadRunners(**reader);
    ReleaseReader(std::move(*reader));
    if (!dead.ok()) return dead.status();
    return Query(Sql("SELECT ", " FROM runs INDEXED BY runs_running_lease "
                                "WHERE status = 'running' AND started = 1 AND (lease_until < ?1 "
                                "OR runner IN (SELECT value FROM json_each(?3))) "
                                "ORDER BY lease_until LIMIT ?2"),
                 [&](Statement& s) {
                   s.Bind(1, Micros(now));
                   s.Bind(2, limit);
                   s.Bind(3, *dead);
                 });
  }

  Result<std::vector<Run>> RunReleaseUnstarted(TimePoint now, int limit) override {
    std::vector<Run> out;
    Status st = Write([&](Tx& tx) -> Status {
      out.clear();
      auto dead = DeadRunners(tx.db);
      if (!dead.ok()) return dead.status();
      // started_at goes back to the start of the previous attempt (none: NULL).
      auto stmt = tx.db.Prepare(Sql(
          "UPDATE runs SET status = 'pending', lease_until = NULL, runner = '', started = 1, "
          "max_attempts = max_attempts + 1, "
          "started_at = json_extract(attempts, '$[#-1].started_at') "
          "WHERE seq IN (SELECT seq FROM runs INDEXED BY runs_running_lease "
          "WHERE status = 'running' AND started = 0 AND (lease_until < ?1 "
          "OR runner IN (SELECT value FROM json_each(?3))) LIMIT ?2) RETURNING "));
      if (!stmt.ok()) return stmt.status();
      Statement& s = **stmt;
      ScopedReset reset(s);
      s.Bind(1, Micros(now));
      s.Bind(2, limit);
      s.Bind(3, *dead);
      for (;;) {
        auto row = s.Step();
        if (!row.ok()) return row.status();
        if (!*row) break;
        out.push_back(ReadRun(s));
        tx.deltas.Move(out.back().queue, out.back().task, out.back().account_id,
                       RunStatus::kRunning, RunStatus::kPending);
      }
      return Status::Ok();
    }, /*durable=*/false);  // undone by a power loss: released again at the next sweep
    if (!st.ok()) return st;
    return out;
  }

  Status RunStartBatch(const std::vector<RunStart>& starts) override {
    if (starts.empty()) return Status::Ok();
    // Not waited for: the runner's next finish batch, queued right after, shares the
    // commit, so the finisher pays no round trip of its own to the writer for starts.
    WriteDetached([starts](Tx& tx) -> Status {
      auto stmt = tx.db.Prepare(
          "UPDATE runs SET started = 1 WHERE id = ?1 AND queue = ?2 AND attempt = ?3 "
          "AND status = 'running' AND started = 0");
      if (!stmt.ok()) return stmt.status();
      for (const RunStart& start : starts) {
        Statement& s = **stmt;
        ScopedReset reset(s);
        s.BindView(1, start.id);
        s.BindView(2, start.queue);
        s.Bind(3, start.attempt);
        TASKMILL_RETURN_IF_ERROR(s.Exec());
      }
      return Status::Ok();
    });
    return Status::Ok();
  }

  // The runners of running runs whose process is known to have ended, as a JSON array.
  Result<std::string> DeadRunners(Connection& db) {
    auto stmt = db.Prepare(
        "SELECT DISTINCT runner FROM runs INDEXED BY runs_running_lease WHERE status = 'running'");
    if (!stmt.ok()) return stmt.status();
    ScopedReset reset(**stmt);
    json::array dead;
    for (;;) {
      auto row = (*stmt)->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      std::string runner((*stmt)->Text(0));
      if (holders_.IsDead(runner)) dead.emplace_back(runner);
    }
    return json::serialize(dead);
  }

  Status HolderAttach(const std::string& holder) override {
    // Files of holders that died long ago: their runs and leases are resolved by then.
    holders_.PruneOlderThan(std::chrono::hours(24));
    Status st = holders_.Attach(holder);
    if (!st.ok()) spdlog::warn("storage: {}; its leases alone tell whether it lives", st.message());
    return st;
  }

  void HolderDetach(const std::string& holder) override { holders_.Detach(holder); }

  Status RunProgress(const std::string& id, const std::string& queue, int attempt,
                     const Progress& p) override {
    return Write([&](Tx& tx) -> Status {
      auto stmt = tx.db.Prepare(
          "UPDATE runs SET progress_total = ?1, progress_succeeded = ?2, progress_failed = ?3 "
          "WHERE id = ?4 AND queue = ?5 AND attempt = ?6 AND status = 'running'");
      if (!stmt.ok()) return stmt.status();
      ScopedReset reset(**stmt);
      (*stmt)->Bind(1, p.total);
      (*stmt)->Bind(2, p.succeeded);
      (*stmt)->Bind(3, p.failed);
      (*stmt)->Bind(4, id);
      (*stmt)->Bind(5, queue);
      (*stmt)->Bind(6, attempt);
      TASKMILL_RETURN_IF_ERROR((*stmt)->Exec());
      if (tx.db.Changes() != 1) {
        return Status::FailedPrecondition("attempt " + std::to_string(attempt) + " of run '" + id +
                                          "' is no longer current");
      }
      return Status::Ok();
    });
  }

  Result<StorageStats> RunStats(const std::optional<std::string>& account) override {
    auto reader = AcquireReader();
    if (!reader.ok()) return reader.status();
    StorageStats stats;
    for (auto s : kAllRunStatuses) stats.by_status[s] = 0;
    Status st = [&]() -> Status {
      auto stmt = (*reader)->Prepare(
          account ? "SELECT task, status, sum(n) FROM run_tallies WHERE account_id = ?1 "
                    "GROUP BY task, status"
                  : "SELECT task, status, sum(n) FROM run_tallies GROUP BY task, status");
      if (!stmt.ok()) return stmt.status();
      ScopedReset reset(**stmt);
      if (account) (*stmt)->Bind(1, *account);
      for (;;) {
        auto row = (*stmt)->Step();
        if (!row.ok()) return row.status();
        if (!*row) break;
        auto s = ParseRunStatus((*stmt)->Text(1));
        int64_t n = (*stmt)->Int(2);
        if (!s || n == 0) continue;
        stats.by_status[*s] += n;
        stats.by_task[std::string((*stmt)->Text(0))][*s] = n;
        stats.total += n;
      }
      return Status::Ok();
    }();
    ReleaseReader(std::move(*reader));
    if (!st.ok()) return st;
    return stats;
  }

  Result<int64_t> RunPrune(int keep) override {
    int64_t removed = 0;
    Status st = Write([&](Tx& tx) -> Status {
      removed = 0;
      // Only runs of tasks are capped (Tarantool's task_log_max_size); anonymous runs
      // are the caller's to remove. At most 10,000 rows go per call so one prune
      // never holds the writer for long.
      auto stmt = tx.db.Prepare(
          "DELETE FROM runs WHERE seq IN (SELECT seq FROM (SELECT seq, row_number() OVER ("
          "PARTITION BY task ORDER BY finished_at DESC, seq DESC) AS rn FROM runs "
          "WHERE task <> '' AND status NOT IN ('pending', 'running')) "
          "WHERE rn > ?1 LIMIT 10000) RETURNING queue, task, status, account_id");
      if (!stmt.ok()) return stmt.status();
      ScopedReset reset(**stmt);
      (*stmt)->Bind(1, keep);
      for (;;) {
        auto row = (*stmt)->Step();
        if (!row.ok()) return row.status();
        if (!*row) break;
        if (auto s = ParseRunStatus((*stmt)->Text(2))) {
          tx.deltas.Add((*stmt)->Text(0), (*stmt)->Text(1), (*stmt)->Text(3), *s, -1);
        }
        ++removed;
      }
      return Status::Ok();
    });
    if (!st.ok()) return st;
    return removed;
  }

  Result<std::optional<Run>> RunLatestOfTask(const std::string& task,
                                             const std::optional<std::string>& account) override {
    // An account's latest through runs_account_task_seq, a seek: walking the task's
    // runs newest first until one of the account's would read every run of the others.
    // Runs of no account are not in that index; the account '' is read by a walk.
    auto runs =
        account && !account->empty()
            ? Query(Sql("SELECT ", " FROM runs INDEXED BY runs_account_task_seq "
                                   "WHERE account_id <> '' AND task <> '' AND account_id = ?2 "
                                   "AND task = ?1 ORDER BY seq DESC LIMIT 1"),
                    [&](Statement& s) {
                      s.Bind(1, task);
                      s.Bind(2, *account);
                    })
        : account ? Query(Sql("SELECT ", " FROM runs WHERE task <> '' AND task = ?1 "
                                         "AND account_id = '' ORDER BY seq DESC LIMIT 1"),
                          [&](Statement& s) { s.Bind(1, task); })
                  : Query(Sql("SELECT ",
                              " FROM runs WHERE task <> '' AND task = ?1 ORDER BY seq DESC LIMIT 1"),
                          [&](Statement& s) { s.Bind(1, task); });
    if (!runs.ok()) return runs.status();
    if (runs->empty()) return std::optional<Run>();
    return std::optional<Run>(std::move(runs->front()));
  }

  Result<int64_t> RunCountLive(const std::string& task) override {
    auto reader = AcquireReader();
    if (!reader.ok()) return reader.status();
    int64_t n = 0;
    Status st = [&]() -> Status {
      auto stmt = (*reader)->Prepare(
          "SELECT coalesce(sum(n), 0) FROM run_tallies "
          "WHERE task = ?1 AND status IN ('pending', 'running')");
      if (!stmt.ok()) return stmt.status();
      ScopedReset reset(**stmt);
      (*stmt)->Bind(1, task);
      auto row = (*stmt)->Step();
      if (!row.ok()) return row.status();
      n = (*stmt)->Int(0);
      return Status::Ok();
    }();
    ReleaseReader(std::move(*reader));
    if (!st.ok()) return st;
    return n;
  }

  Result<bool> RunPutScheduled(const Run& run) override {
    bool stored = false;
    Status st = Write([&](Tx& tx) -> Status {
      static const std::string kInsertOrSkip = InsertRunsSql(1) + " ON CONFLICT DO NOTHING";
      auto stmt = tx.db.Prepare(kInsertOrSkip);
      if (!stmt.ok()) return stmt.status();
      ScopedReset reset(**stmt);
      BindRun(**stmt, run);
      TASKMILL_RETURN_IF_ERROR((*stmt)->Exec());
      stored = tx.db.Changes() == 1;
      if (stored) tx.deltas.Add(run.queue, run.task, run.account_id, run.status, 1);
      return Status::Ok();
    });
    if (!st.ok()) return st;
    return stored;
  }

  // ---- queues -------------------------------------------------------------------
  Status QueueSetPaused(const std::string& queue, bool paused) override {
    return Write([&](Tx& tx) -> Status {
      auto stmt = tx.db.Prepare(
          "INSERT INTO queues(name, paused) VALUES (?1, ?2) "
          "ON CONFLICT(name) DO UPDATE SET paused = excluded.paused");
      if (!stmt.ok()) return stmt.status();
      ScopedReset reset(**stmt);
      (*stmt)->Bind(1, queue);
      (*stmt)->Bind(2, paused ? 1 : 0);
      return (*stmt)->Exec();
    });
  }

  Result<std::vector<QueueStats>> QueueList(TimePoint now,
                                            const std::optional<std::string>& account) override {
    if (account) return AccountQueueList(*account);
    auto reader = AcquireReader();
    if (!reader.ok()) return reader.status();
    std::map<std::string, QueueStats> by_name;
    Status st = [&]() -> Status {
      TASKMILL_RETURN_IF_ERROR(ReadLiveTallies(**reader, nullptr, by_name));
      // The index orders a queue's pending runs by priority, then run_at: the first
      // entry below each priority is that priority's oldest, so a few seeks (one per
      // priority in use) find the queue's oldest without reading its backlog.
      auto oldest = (*reader)->Prepare(
          "SELECT priority, run_at FROM runs INDEXED BY runs_queue_pending "
          "WHERE status = 'pending' AND queue = ?1 AND priority < ?2 "
          "ORDER BY priority DESC, run_at LIMIT 1");
      if (!oldest.ok()) return oldest.status();
      for (auto& [name, q] : by_name) {
        if (q.pending == 0) continue;
        int64_t below = std::numeric_limits<int64_t>::max();
        for (;;) {
          ScopedReset reset(**oldest);
          (*oldest)->Bind(1, name);
          (*oldest)->Bind(2, below);
          auto row = (*oldest)->Step();
          if (!row.ok()) return row.status();
          if (!*row) break;
          below = (*oldest)->Int(0);
          TimePoint run_at = FromMicros((*oldest)->Int(1));
          if (!q.oldest_pending_run_at || run_at < *q.oldest_pending_run_at) {
            q.oldest_pending_run_at = run_at;
          }
        }
      }
      auto paused = (*reader)->Prepare("SELECT name, paused FROM queues");
      if (!paused.ok()) return paused.status();
      ScopedReset reset(**paused);
      for (;;) {
        auto row = (*paused)->Step();
        if (!row.ok()) return row.status();
        if (!*row) break;
        auto& q = by_name[std::string((*paused)->Text(0))];
        q.queue = (*paused)->Text(0);
        q.paused = (*paused)->Int(1) != 0;
      }
      return Status::Ok();
    }();
    ReleaseReader(std::move(*reader));
    if (!st.ok()) return st;
    std::vector<QueueStats> out;
    for (auto& [name, q] : by_name) out.push_back(std::move(q));
    return out;
  }

  // The pending and running counts of each queue, from the tallies: of one account, or
  // of every account when `account` is null.
  static Status ReadLiveTallies(Connection& db, const std::string* account,
                                std::map<std::string, QueueStats>& by_name) {
    auto stmt = db.Prepare(account ? "SELECT queue, status, sum(n) FROM run_tallies "
                                     "WHERE account_id = ?1 AND status IN ('pending', 'running') "
                                     "GROUP BY queue, status"
                                   : "SELECT queue, status, sum(n) FROM run_tallies "
                                     "WHERE status IN ('pending', 'running') GROUP BY queue, status");
    if (!stmt.ok()) return stmt.status();
    ScopedReset reset(**stmt);
    if (account) (*stmt)->Bind(1, *account);
    for (;;) {
      auto row = (*stmt)->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      auto& q = by_name[std::string((*stmt)->Text(0))];
      q.queue = (*stmt)->Text(0);
      ((*stmt)->Text(1) == "pending" ? q.pending : q.running) = (*stmt)->Int(2);
    }
    return Status::Ok();
  }

  // QueueList of one account: its tallies, and its oldest pending run of each queue by
  // one seek of runs_account_pending (runs of no account, not in that index, by a walk
  // of the queue's pending runs).
  Result<std::vector<QueueStats>> AccountQueueList(const std::string& account) {
    auto reader = AcquireReader();
    if (!reader.ok()) return reader.status();
    std::map<std::string, QueueStats> by_name;
    Status st = [&]() -> Status {
      TASKMILL_RETURN_IF_ERROR(ReadLiveTallies(**reader, &account, by_name));
      auto oldest = (*reader)->Prepare(
          account.empty()
              ? "SELECT min(run_at) FROM runs INDEXED BY runs_queue_pending "
                "WHERE status = 'pending' AND queue = ?2 AND account_id = ?1"
              : "SELECT min(run_at) FROM runs INDEXED BY runs_account_pending "
                "WHERE status = 'pending' AND account_id <> '' AND account_id = ?1 AND queue = ?2");
      if (!oldest.ok()) return oldest.status();
      auto paused = (*reader)->Prepare("SELECT paused FROM queues WHERE name = ?1");
      if (!paused.ok()) return paused.status();
      for (auto& [name, q] : by_name) {
        if (q.pending > 0) {
          ScopedReset reset(**oldest);
          (*oldest)->Bind(1, account);
          (*oldest)->Bind(2, name);
          auto row = (*oldest)->Step();
          if (!row.ok()) return row.status();
          if (*row && !(*oldest)->IsNull(0)) q.oldest_pending_run_at = FromMicros((*oldest)->Int(0));
        }
        ScopedReset reset(**paused);
        (*paused)->Bind(1, name);
        auto row = (*paused)->Step();
        if (!row.ok()) return row.status();
        q.paused = *row && (*paused)->Int(0) != 0;
      }
      return Status::Ok();
    }();
    ReleaseReader(std::move(*reader));
    if (!st.ok()) return st;
    std::vector<QueueStats> out;
    for (auto& [name, q] : by_name) out.push_back(std::move(q));
    return out;
  }

  // ---- tasks ----------------------------------------------------------------------
  Status TaskUpsert(const TaskDef& task) override {
    return Write([&](Tx& tx) { return PutTask(tx.db, task); });
  }

  Result<std::vector<TaskDef>> TaskList() override {
    auto reader = AcquireReader();
    if (!reader.ok()) return reader.status();
    std::vector<TaskDef> out;
    Status st = [&]() -> Status {
      auto stmt = (*reader)->Prepare("SELECT definition FROM tasks ORDER BY name");
      if (!stmt.ok()) return stmt.status();
      ScopedReset reset(**stmt);
      for (;;) {
        auto row = (*stmt)->Step();
        if (!row.ok()) return row.status();
        if (!*row) break;
        auto t = ParseTask((*stmt)->Text(0));
        if (!t.ok()) return t.status();
        out.push_back(std::move(*t));
      }
      return Status::Ok();
    }();
    ReleaseReader(std::move(*reader));
    if (!st.ok()) return st;
    return out;
  }

  Result<TaskDef> TaskGet(const std::string& name) override {
    auto reader = AcquireReader();
    if (!reader.ok()) return reader.status();
    auto t = GetTask(**reader, name);
    ReleaseReader(std::move(*reader));
    return t;
  }

  Status TaskSetEnabled(const std::string& name, bool enabled) override {
    return Write([&](Tx& tx) -> Status {
      auto t = GetTask(tx.db, name);
      if (!t.ok()) return t.status();
      t->enabled = enabled;
      return PutTask(tx.db, *t);
    });
  }

  Status TaskRemove(const std::string& name) override {
    return Write([&](Tx& tx) -> Status {
      auto stmt = tx.db.Prepare("DELETE FROM tasks WHERE name = ?1");
      if (!stmt.ok()) return stmt.status();
      ScopedReset reset(**stmt);
      (*stmt)->Bind(1, name);
      TASKMILL_RETURN_IF_ERROR((*stmt)->Exec());
      if (tx.db.Changes() == 0) return Status::NotFound("no task named '" + name + "'");
      return Status::Ok();
    });
  }

  // ---- leadership and state -----------------------------------------------------
  Result<bool> LeaderAttemptElect(const std::string& name, const std::string& holder,
                                  TimePoint now, Duration ttl) override {
    bool leader = false;
    Status st = Write([&](Tx& tx) -> Status {
      // A live lease whose holder is known dead (HolderLocks) is taken like an expired one.
      std::optional<std::string> dead_holder;
      {
        auto current = tx.db.Prepare("SELECT holder, until FROM leases WHERE name = ?1");
        if (!current.ok()) return current.status();
        ScopedReset reset(**current);
        (*current)->Bind(1, name);
        auto row = (*current)->Step();
        if (!row.ok()) return row.status();
        if (*row && (*current)->Text(0) != holder && (*current)->Int(1) >= Micros(now) &&
            holders_.IsDead(std::string((*current)->Text(0)))) {
          dead_holder = std::string((*current)->Text(0));
        }
      }
      auto stmt = tx.db.Prepare(
          "INSERT INTO leases(name, holder, until) VALUES (?1, ?2, ?3) "
          "ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, until = excluded.until "
          "WHERE leases.holder = excluded.holder OR leases.until < ?4 OR leases.holder = ?5 "
          "RETURNING holder");
      if (!stmt.ok()) return stmt.status();
      ScopedReset reset(**stmt);
      if (dead_holder) (*stmt)->Bind(5, *dead_holder); else (*stmt)->BindNull(5);
      (*stmt)->Bind(1, name);
      (*stmt)->Bind(2, holder);
      (*stmt)->Bind(3, Micros(now + ttl));
      (*stmt)->Bind(4, Micros(now));
      auto row = (*stmt)->Step();
      if (!row.ok()) return row.status();
      leader = *row && (*stmt)->Text(0) == holder;
      return Status::Ok();
    });
    if (!st.ok()) return st;
    return leader;
  }

  Status LeaderResign(const std::string& name, const std::string& holder) override {
    return Write([&](Tx& tx) -> Status {
      auto stmt = tx.db.Prepare("DELETE FROM leases WHERE name = ?1 AND holder = ?2");
      if (!stmt.ok()) return stmt.status();
      ScopedReset reset(**stmt);
      (*stmt)->Bind(1, name);
      (*stmt)->Bind(2, holder);
      return (*stmt)->Exec();
    });
  }

  Result<std::optional<LeaderLease>> LeaderGet(const std::string& name) override {
    auto reader = AcquireReader();
    if (!reader.ok()) return reader.status();
    std::optional<LeaderLease> lease;
    Status st = [&]() -> Status {
      auto stmt = (*reader)->Prepare("SELECT holder, until FROM leases WHERE name = ?1");
      if (!stmt.ok()) return stmt.status();
      ScopedReset reset(**stmt);
      (*stmt)->Bind(1, name);
      auto row = (*stmt)->Step();
      if (!row.ok()) return row.status();
      if (*row) lease = LeaderLease{std::string((*stmt)->Text(0)), FromMicros((*stmt)->Int(1))};
      return Status::Ok();
    }();
    ReleaseReader(std::move(*reader));
    if (!st.ok()) return st;
    return lease;
  }

  Result<std::optional<std::string>> StateGet(const std::string& key) override {
    auto reader = AcquireReader();
    if (!reader.ok()) return reader.status();
    std::optional<std::string> value;
    Status st = [&]() -> Status {
      auto stmt = (*reader)->Prepare("SELECT value FROM state WHERE key = ?1");
      if (!stmt.ok()) return stmt.status();
      ScopedReset reset(**stmt);
      (*stmt)->Bind(1, key);
      auto row = (*stmt)->Step();
      if (!row.ok()) return row.status();
      if (*row) value = std::string((*stmt)->Text(0));
      return Status::Ok();
    }();
    ReleaseReader(std::move(*reader));
    if (!st.ok()) return st;
    return value;
  }

  Status StatePut(const std::string& key, const std::string& value) override {
    return Write([&](Tx& tx) -> Status {
      auto stmt = tx.db.Prepare(
          "INSERT INTO state(key, value) VALUES (?1, ?2) "
          "ON CONFLICT(key) DO UPDATE SET value = excluded.value");
      if (!stmt.ok()) return stmt.status();
      ScopedReset reset(**stmt);
      (*stmt)->Bind(1, key);
      (*stmt)->Bind(2, value);
      return (*stmt)->Exec();
    });
  }

  // ---- API tokens ---------------------------------------------------------------
  Status TokenCreate(const ApiToken& token) override {
    if (token.name.empty() || token.hash.empty()) {
      return Status::InvalidArgument("a token needs a name and a hash");
    }
    return Write([&](Tx& tx) -> Status {
      auto stmt = tx.db.Prepare(
          "INSERT INTO api_tokens(name, account_id, admin, hash, created_at) "
          "VALUES (?1, ?2, ?3, ?4, ?5)");
      if (!stmt.ok()) return stmt.status();
      ScopedReset reset(**stmt);
      (*stmt)->Bind(1, token.name);
      (*stmt)->Bind(2, token.account_id);
      (*stmt)->Bind(3, token.admin ? 1 : 0);
      (*stmt)->Bind(4, token.hash);
      (*stmt)->Bind(5, Micros(token.created_at));
      Status st = (*stmt)->Exec();
      if (st.IsConflict()) return Status::Conflict("a token named '" + token.name + "' exists");
      return st;
    });
  }

  Result<std::vector<ApiToken>> TokenList() override {
    auto reader = AcquireReader();
    if (!reader.ok()) return reader.status();
    std::vector<ApiToken> out;
    Status st = [&]() -> Status {
      auto stmt = (*reader)->Prepare(
          "SELECT name, account_id, admin, hash, created_at FROM api_tokens ORDER BY name");
      if (!stmt.ok()) return stmt.status();
      ScopedReset reset(**stmt);
      for (;;) {
        auto row = (*stmt)->Step();
        if (!row.ok()) return row.status();
        if (!*row) return Status::Ok();
        out.push_back({.name = std::string((*stmt)->Text(0)),
                       .account_id = std::string((*stmt)->Text(1)),
                       .admin = (*stmt)->Int(2) != 0,
                       .hash = std::string((*stmt)->Text(3)),
                       .created_at = FromMicros((*stmt)->Int(4))});
      }
    }();
    ReleaseReader(std::move(*reader));
    if (!st.ok()) return st;
    return out;
  }

  Status TokenRemove(const std::string& name) override {
    return Write([&](Tx& tx) -> Status {
      auto stmt = tx.db.Prepare("DELETE FROM api_tokens WHERE name = ?1");
      if (!stmt.ok()) return stmt.status();
      ScopedReset reset(**stmt);
      (*stmt)->Bind(1, name);
      TASKMILL_RETURN_IF_ERROR((*stmt)->Exec());
      if (tx.db.Changes() == 0) {
        return Status::NotFound("no token named '" + name + "'");
      }
      return Status::Ok();
    });
  }

  // ---- files --------------------------------------------------------------------
  Status FileCreate(const FileCreateParams& p) override {
    if (p.id.empty()) return Status::InvalidArgument("file id must not be empty");
    return Write([&](Tx& tx) -> Status {
      auto stmt = tx.db.Prepare(
          "INSERT INTO files(id, name, content_type, created_at) VALUES (?1, ?2, ?3, ?4)");
      if (!stmt.ok()) return stmt.status();
      ScopedReset reset(**stmt);
      (*stmt)->Bind(1, p.id);
      (*stmt)->Bind(2, p.name);
      (*stmt)->Bind(3, p.content_type);
      (*stmt)->Bind(4, Micros(p.now));
      Status st = (*stmt)->Exec();
      if (st.IsConflict()) return Status::Conflict("file '" + p.id + "' already exists");
      return st;
    });
  }

  // Staged bytes need no fsync of their own: the commit that makes a run own them is
  // durable, and in WAL mode its sync covers every earlier frame.
  Status FileAppend(const std::string& id, int64_t chunk, std::string_view bytes) override {
    return Write(
        [&](Tx& tx) -> Status {
          auto info = FileOn(tx.db, id);
          if (!info.ok()) return info.status();
          if (!info->run_id.empty()) {
            return Status::FailedPrecondition("file '" + id + "' belongs to run '" + info->run_id +
                                              "' and can no longer be appended to");
          }
          return AppendChunks(tx.db, id, info->chunks, chunk, {bytes}, std::nullopt);
        },
        /*durable=*/false);
  }

  Result<FileInfo> FileGet(const std::string& id) override {
    auto reader = AcquireReader();
    if (!reader.ok()) return reader.status();
    auto info = FileOn(**reader, id);
    ReleaseReader(std::move(*reader));
    return info;
  }

  // Both read with ReadChunk (below).
  Status FileReadChunkInto(const std::string& id, int64_t chunk, std::string* out) override {
    return ReadChunk(id, chunk, [&](size_t size) {
      out->resize(size);
      return out->data();
    });
  }

  Status FileReadChunkTo(const std::string& id, int64_t chunk, char* buf, size_t cap,
                         size_t* size) override {
    return ReadChunk(id, chunk, [&](size_t bytes) {
      *size = bytes;
      return bytes <= cap ? buf : nullptr;
    });
  }

  Status FileRemove(const std::string& id) override {
    return Write([&](Tx& tx) -> Status {
      auto stmt = tx.db.Prepare("DELETE FROM files WHERE id = ?1");
      if (!stmt.ok()) return stmt.status();
      ScopedReset reset(**stmt);
      (*stmt)->Bind(1, id);
      TASKMILL_RETURN_IF_ERROR((*stmt)->Exec());
      if (tx.db.Changes() == 0) return Status::NotFound("no file with id '" + id + "'");
      return Status::Ok();
    });
  }

  Result<int64_t> FilePruneStaged(TimePoint created_before) override {
    int64_t removed = 0;
    Status st = Write([&](Tx& tx) -> Status {
      auto stmt = tx.db.Prepare("DELETE FROM files WHERE run_id = '' AND created_at < ?1");
      if (!stmt.ok()) return stmt.status();
      ScopedReset reset(**stmt);
      (*stmt)->Bind(1, Micros(created_before));
      TASKMILL_RETURN_IF_ERROR((*stmt)->Exec());
      removed = tx.db.Changes();
      return Status::Ok();
    });
    if (!st.ok()) return st;
    return removed;
  }

  // ---- bulk checkpoints -------------------------------------------------------------
  // Not durable on its own (like a heartbeat): a checkpoint lost to a power cut only
  // means that the rows after the previous one are processed again, which the bulk
  // layer's at-least-once contract allows; the finish that follows is durable.
  Status RunCheckpointSave(const RunCheckpoint& c) override {
    return Write(
        [&](Tx& tx) -> Status {
          // An operator's cancel ends the attempt in storage first; the attempt still
          // saves what it wrote up to the stop, as long as nothing happened since.
          auto fence = tx.db.Prepare(
              "UPDATE runs SET progress_total = ?1, progress_succeeded = ?2, "
              "progress_failed = ?3, output_file = CASE WHEN ?4 = '' THEN output_file ELSE ?4 "
              "END WHERE id = ?5 AND queue = ?6 AND attempt = ?7 AND (status = 'running' OR "
              "(status = 'stopped' AND attempts ->> '$[#-1].number' = ?7 AND "
              "attempts ->> '$[#-1].outcome' = 'stopped'))");
          if (!fence.ok()) return fence.status();
          {
            ScopedReset reset(**fence);
            (*fence)->Bind(1, c.progress.total);
            (*fence)->Bind(2, c.progress.succeeded);
            (*fence)->Bind(3, c.progress.failed);
            (*fence)->Bind(4, c.output_file);
            (*fence)->Bind(5, c.id);
            (*fence)->Bind(6, c.queue);
            (*fence)->Bind(7, c.attempt);
            TASKMILL_RETURN_IF_ERROR((*fence)->Exec());
            if (tx.db.Changes() != 1) {
              return Status::FailedPrecondition("attempt " + std::to_string(c.attempt) +
                                                " of run '" + c.id + "' is no longer current");
            }
          }
          if (!c.remove_files.empty()) {
            auto del =
                tx.db.Prepare("DELETE FROM files WHERE id = ?1 AND run_id = ?2 AND run_queue = ?3");
            if (!del.ok()) return del.status();
            for (const auto& file : c.remove_files) {
              ScopedReset reset(**del);
              (*del)->Bind(1, file);
              (*del)->Bind(2, c.id);
              (*del)->Bind(3, c.queue);
              TASKMILL_RETURN_IF_ERROR((*del)->Exec());
            }
          }
          if (!c.output_file.empty()) {
            auto create = tx.db.Prepare(
                "INSERT INTO files(id, name, content_type, run_id, run_queue, created_at) "
                "VALUES (?1, ?2, 'text/csv', ?3, ?4, ?5) ON CONFLICT(id) DO NOTHING");
            if (!create.ok()) return create.status();
            {
              ScopedReset reset(**create);
              (*create)->Bind(1, c.output_file);
              (*create)->Bind(2, c.output_name);
              (*create)->Bind(3, c.id);
              (*create)->Bind(4, c.queue);
              (*create)->Bind(5, Micros(c.now));
              TASKMILL_RETURN_IF_ERROR((*create)->Exec());
            }
            auto info = FileOn(tx.db, c.output_file);
            if (!info.ok()) return info.status();
            if (info->run_id != c.id || info->run_queue != c.queue) {
              return Status::FailedPrecondition("file '" + c.output_file +
                                                "' does not belong to run '" + c.id + "'");
            }
            std::vector<std::string_view> chunks(c.output_chunks.begin(), c.output_chunks.end());
            TASKMILL_RETURN_IF_ERROR(AppendChunks(tx.db, c.output_file, info->chunks,
                                                  c.output_first_chunk, chunks, c.output_meta));
          } else if (!c.output_chunks.empty()) {
            return Status::InvalidArgument("checkpoint: output chunks without an output file");
          }
          auto save = tx.db.Prepare(
              "INSERT INTO run_checkpoints(run_id, queue, attempt, state, saved_at) "
              "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(run_id, queue) DO UPDATE SET "
              "attempt = excluded.attempt, state = excluded.state, saved_at = excluded.saved_at");
          if (!save.ok()) return save.status();
          ScopedReset reset(**save);
          (*save)->Bind(1, c.id);
          (*save)->Bind(2, c.queue);
          (*save)->Bind(3, c.attempt);
          (*save)->Bind(4, c.state);
          (*save)->Bind(5, Micros(c.now));
          return (*save)->Exec();
        },
        /*durable=*/false);
  }

  Result<std::optional<StoredCheckpoint>> RunCheckpointGet(const std::string& id,
                                                           const std::string& queue) override {
    auto reader = AcquireReader();
    if (!reader.ok()) return reader.status();
    std::optional<StoredCheckpoint> out;
    Status st = [&]() -> Status {
      auto stmt = (*reader)->Prepare(
          "SELECT attempt, state, saved_at FROM run_checkpoints WHERE run_id = ?1 AND queue = ?2");
      if (!stmt.ok()) return stmt.status();
      ScopedReset reset(**stmt);
      (*stmt)->Bind(1, id);
      (*stmt)->Bind(2, queue);
      auto row = (*stmt)->Step();
      if (!row.ok()) return row.status();
      if (*row) {
        out = StoredCheckpoint{static_cast<int>((*stmt)->Int(0)), std::string((*stmt)->Text(1)),
                               FromMicros((*stmt)->Int(2))};
      }
      return Status::Ok();
    }();
    ReleaseReader(std::move(*reader));
    if (!st.ok()) return st;
    return out;
  }

 private:
  struct PendingWrite {
    std::function<Status(Tx&)> fn;
    bool durable;
    std::promise<Status> done;
    bool detached = false;  // WriteDetached: no one waits; the writer deletes it
  };
  struct Unsynced {
    PendingWrite* write;
    Status result;
  };

  // Queues `fn` for the writer thread and waits for the commit that holds it.
  // A write that need not survive power loss (a claim or a heartbeat: if it is lost,
  // the run is simply claimed again, which at-least-once allows) passes
  // durable = false: under synchronous=full it is answered when its transaction
  // commits, without waiting for the log's fsync. Any later durable commit syncs it too.
  Status Write(std::function<Status(Tx&)> fn, bool durable = true) {
    PendingWrite w{std::move(fn), durable, {}};
    auto done = w.done.get_future();
    {
      std::lock_guard lock(mu_);
      if (stopping_) return Status::Unavailable("storage is closing");
      queue_.push_back(&w);
    }
    cv_.notify_one();
    return done.get();
  }

  // Queues `fn` for the writer thread and returns at once: it lands in the writer's
  // next commit, so in the same transaction as a write queued right after it, or in an
  // earlier one. Not durable. For writes that only narrow what a crash costs
  // (RunStartBatch): the caller need not wait a commit for them. A failure is logged.
  void WriteDetached(std::function<Status(Tx&)> fn) {
    auto* w = new PendingWrite{std::move(fn), /*durable=*/false, {}, /*detached=*/true};
    {
      std::lock_guard lock(mu_);
      if (stopping_) {
        delete w;
        return;
      }
      queue_.push_back(w);
    }
    cv_.notify_one();
  }

  void WriterLoop() {
    std::vector<PendingWrite*> batch;
    std::vector<Status> results;
    std::vector<Unsynced> unsynced;
    const metrics::TaskmillMetrics& metrics = metrics::Taskmill();
    for (;;) {
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping, and nothing left to write
        batch.assign(queue_.begin(), queue_.end());
        queue_.clear();
      }
      // A measurement, not a decision: storage still takes every instant it stores
      // from its callers.
      const auto started = std::chrono::steady_clock::now();
      CommitBatch(batch, results);
      const auto elapsed = std::chrono::steady_clock::now() - started;
      const size_t size = batch.size();
      for (size_t i = 0; i < size; ++i) {
        // A durable write that committed waits for the log's fsync; a write that was
        // rolled back stored nothing to sync.
        if (syncer_.joinable() && batch[i]->durable && results[i].ok()) {
          unsynced.push_back({batch[i], std::move(results[i])});
        } else if (batch[i]->detached) {
          if (!results[i].ok())
            spdlog::warn("sqlite: a detached write failed: {}", results[i].ToString());
          delete batch[i];
        } else {
          batch[i]->done.set_value(std::move(results[i]));
        }
      }
      if (!unsynced.empty()) {
        {
          std::lock_guard lock(sync_mu_);
          for (auto& u : unsynced) unsynced_.push_back(std::move(u));
        }
        sync_cv_.notify_one();
        unsynced.clear();
      }
      batch.clear();
      // After the writers are released, so that observing never delays them.
      metrics.commit_batch_size->Observe(static_cast<double>(size));
      metrics.commit_duration->Observe(std::chrono::duration<double>(elapsed).count());
    }
  }

  // Under synchronous=full, a commit is durable once the write-ahead log holding it is
  // synced. The writer commits with synchronous=NORMAL (no fsync) and hands the callers
  // of durable writes to this thread, which syncs the log once for every commit made
  // meanwhile and only then answers them. The writer builds the next transaction while
  // the disk flushes the last: with the fsync inside the commit, as SQLite's FULL does
  // it, the one writer thread waited for every flush (docs/storage.md, "Durability").
  void SyncLoop() {
    std::vector<Unsynced> batch;
    std::unique_lock lock(sync_mu_);
    for (;;) {
      sync_cv_.wait(lock, [&] { return sync_stopping_ || !unsynced_.empty(); });
      if (unsynced_.empty()) return;  // stopping, and every commit answered
      batch.swap(unsynced_);
      lock.unlock();
      const Status synced = SyncLog();
      if (options_.on_log_synced) options_.on_log_synced();
      for (auto& u : batch) {
        u.write->done.set_value(synced.ok() ? std::move(u.result) : Status(synced));
      }
      batch.clear();
      lock.lock();
    }
  }

  Status SyncLog() const {
    int rc;
    do {
      rc = ::fdatasync(log_fd_);
    } while (rc != 0 && errno == EINTR);
    if (rc == 0) return Status::Ok();
    const int error = errno;
    spdlog::error("storage: fsync of the write-ahead log failed: {}", std::strerror(error));
    return Status::Internal(std::string("storage: the write was committed but the fsync of the "
                                        "write-ahead log failed (") +
                            std::strerror(error) + "): it may not survive a power loss");
  }

  // Opens the write-ahead log for SyncLoop on a descriptor of its own: fdatasync
  // flushes a file whichever descriptor wrote to it. The log exists once the writer's
  // connection has read the database in WAL mode (Migrate did), and it stays (never
  // replaced, at most truncated) while that connection is open.
  Status OpenLogForSync() {
    const std::string log = options_.path + "-wal";
    log_fd_ = ::open(log.c_str(), O_RDONLY | O_CLOEXEC);
    if (log_fd_ < 0) {
      // Not in WAL mode (a file system without shared memory): commits sync themselves.
      spdlog::warn("storage: cannot open {} ({}); commits will fsync in place", log,
                   std::strerror(errno));
      return writer_db_->ExecScript("PRAGMA synchronous=FULL");
    }
    // The log's directory entry: SQLite syncs it with the log's first fsync, which with
    // synchronous=NORMAL may come only at the first checkpoint.
    std::filesystem::path dir = std::filesystem::path(options_.path).parent_path();
    if (dir.empty()) dir = ".";
    const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0 || ::fsync(dir_fd) != 0) {
      const int error = errno;
      if (dir_fd >= 0) ::close(dir_fd);
      return Status::Internal("storage: cannot sync the data directory " + dir.string() + ": " +
                              std::strerror(error));
    }
    ::close(dir_fd);
    return Status::Ok();
  }

  // Runs every operation of the batch in one transaction. Each operation sits in its
  // own savepoint, so a failing one is rolled back alone and the others commit.
  void CommitBatch(const std::vector<PendingWrite*>& batch, std::vector<Status>& results) {
    results.assign(batch.size(), Status::Ok());
    Connection& db = *writer_db_;
    Status begin = db.Exec("BEGIN IMMEDIATE");
    if (!begin.ok()) {
      if (begin.code() == StatusCode::kInsufficientStorage) NoteShortOfSpace();
      results.assign(batch.size(), begin);
      return;
    }
    TallyDeltas total;
    for (size_t i = 0; i < batch.size(); ++i) {
      Tx tx{db, {}, &total};
      (void)db.Exec("SAVEPOINT op");
      Status st;
      try {
        st = batch[i]->fn(tx);
      } catch (const std::exception& e) {
        st = Status::Internal(std::string("storage write failed: ") + e.what());
      }
      if (st.ok()) {
        total.Merge(tx.deltas);
        (void)db.Exec("RELEASE op");
      } else {
        (void)db.Exec("ROLLBACK TO op");
        (void)db.Exec("RELEASE op");
      }
      results[i] = std::move(st);
    }
    Status counted = ApplyTallies(db, total);
    Status commit = counted.ok() ? db.Exec("COMMIT") : counted;
    if (!commit.ok()) {
      (void)db.Exec("ROLLBACK");
      for (auto& r : results) {
        if (r.ok()) r = commit;
      }
    }
    for (const auto& r : results) {
      if (r.code() == StatusCode::kInsufficientStorage) {
        NoteShortOfSpace();
        break;
      }
    }
  }

  static Status ApplyTallies(Connection& db, const TallyDeltas& d) {
    auto add = db.Prepare(
        "INSERT INTO run_tallies(queue, task, status, account_id, n) VALUES (?1, ?2, ?3, ?4, ?5) "
        "ON CONFLICT DO UPDATE SET n = n + excluded.n");
    if (!add.ok()) return add.status();
    auto drop = db.Prepare(
        "DELETE FROM run_tallies WHERE queue = ?1 AND task = ?2 AND status = ?3 "
        "AND account_id = ?4 AND n = 0");
    if (!drop.ok()) return drop.status();
    for (const auto& e : d.entries()) {
      if (e.n == 0) continue;
      {
        ScopedReset reset(**add);
        (*add)->Bind(1, e.queue);
        (*add)->Bind(2, e.task);
        (*add)->Bind(3, ToString(e.status));
        (*add)->Bind(4, e.account);
        (*add)->Bind(5, e.n);
        TASKMILL_RETURN_IF_ERROR((*add)->Exec());
      }
      if (e.n > 0) continue;
      ScopedReset reset(**drop);
      (*drop)->Bind(1, e.queue);
      (*drop)->Bind(2, e.task);
      (*drop)->Bind(3, ToString(e.status));
      (*drop)->Bind(4, e.account);
      TASKMILL_RETURN_IF_ERROR((*drop)->Exec());
    }
    return Status::Ok();
  }

  // ---- readers --------------------------------------------------------------------
  Result<std::unique_ptr<Connection>> AcquireReader() {
    {
      std::lock_guard lock(readers_mu_);
      if (!readers_.empty()) {
        auto c = std::move(readers_.back());
        readers_.pop_back();
        return c;
      }
    }
    return Connection::Open(options_.path, true);
  }

  void ReleaseReader(std::unique_ptr<Connection> c) {
    std::lock_guard lock(readers_mu_);
    if (readers_.size() < 16) readers_.push_back(std::move(c));
  }

  template <typename BindFn>
  Result<std::vector<Run>> Query(const std::string& sql, BindFn bind) {
    auto reader = AcquireReader();
    if (!reader.ok()) return reader.status();
    std::vector<Run> out;
    Status st = [&]() -> Status {
      auto stmt = (*reader)->Prepare(sql);
      if (!stmt.ok()) return stmt.status();
      ScopedReset reset(**stmt);
      bind(**stmt);
      for (;;) {
        auto row = (*stmt)->Step();
        if (!row.ok()) return row.status();
        if (!*row) break;
        out.push_back(ReadRun(**stmt));
      }
      return Status::Ok();
    }();
    ReleaseReader(std::move(*reader));
    if (!st.ok()) return st;
    return out;
  }

  // ---- helpers on a given connection ----------------------------------------------
  static Result<Run> GetOn(Connection& db, const std::string& id, const std::string& queue) {
    // Built once: the HTTP API reads runs by id more than anything else.
    static const std::string kSql =
        Sql("SELECT ", " FROM runs WHERE id = ?1 AND (?2 = '' OR queue = ?2) LIMIT 1");
    auto stmt = db.Prepare(kSql);
    if (!stmt.ok()) return stmt.status();
    ScopedReset reset(**stmt);
    (*stmt)->Bind(1, id);
    (*stmt)->Bind(2, queue);
    auto row = (*stmt)->Step();
    if (!row.ok()) return row.status();
    if (!*row) return Status::NotFound("no run with id '" + id + "'");
    return ReadRun(**stmt);
  }

  // Pending runs of one queue, or of every queue (queue empty), by the tallies.
  static Result<int64_t> PendingTally(Connection& db, const std::string& queue) {
    constexpr const char* kAll =
        "SELECT coalesce(sum(n), 0) FROM run_tallies WHERE status = 'pending'";
    constexpr const char* kOne =
        "SELECT coalesce(sum(n), 0) FROM run_tallies WHERE queue = ?1 AND status = 'pending'";
    auto stmt = db.Prepare(queue.empty() ? kAll : kOne);
    if (!stmt.ok()) return stmt.status();
    ScopedReset reset(**stmt);
    if (!queue.empty()) (*stmt)->Bind(1, queue);
    auto row = (*stmt)->Step();
    if (!row.ok()) return row.status();
    return *row ? (*stmt)->Int(0) : 0;
  }

  // The answer to a run put whose (queue, id) is taken and may not be reused: the same
  // words whoever owns the stored run, so that they tell nothing about it.
  static Status TakenId(const Run& run) {
    return Status::Conflict("run '" + run.id + "' already exists in queue '" + run.queue + "'");
  }

  // The queue, task, status and account of a run found by id (and queue when given).
  static Result<RunKey> FindKey(Connection& db, const std::string& id, const std::string& queue) {
    auto stmt = db.Prepare(
        "SELECT queue, task, status, account_id FROM runs WHERE id = ?1 AND (?2 = '' OR queue = ?2) "
        "LIMIT 1");
    if (!stmt.ok()) return stmt.status();
    ScopedReset reset(**stmt);
    (*stmt)->Bind(1, id);
    (*stmt)->Bind(2, queue);
    auto row = (*stmt)->Step();
    if (!row.ok()) return row.status();
    if (!*row) return Status::NotFound("no run with id '" + id + "'");
    return RunKey{std::string((*stmt)->Text(0)), std::string((*stmt)->Text(1)),
                  ParseRunStatus((*stmt)->Text(2)).value_or(RunStatus::kPending),
                  std::string((*stmt)->Text(3))};
  }

  // Deletes a run found by FindKey (its files and checkpoints go with it, by trigger).
  static Status DeleteRun(Tx& tx, const std::string& id, const RunKey& key) {
    auto del = tx.db.Prepare("DELETE FROM runs WHERE id = ?1 AND queue = ?2");
    if (!del.ok()) return del.status();
    ScopedReset reset(**del);
    (*del)->Bind(1, id);
    (*del)->Bind(2, key.queue);
    TASKMILL_RETURN_IF_ERROR((*del)->Exec());
    tx.deltas.Add(key.queue, key.task, key.account_id, key.status, -1);
    return Status::Ok();
  }

  static Result<FileInfo> FileOn(Connection& db, const std::string& id) {
    auto stmt = db.Prepare(
        "SELECT id, name, content_type, size, chunks, run_id, run_queue, meta, created_at "
        "FROM files WHERE id = ?1");
    if (!stmt.ok()) return stmt.status();
    Statement& s = **stmt;
    ScopedReset reset(s);
    s.Bind(1, id);
    auto row = s.Step();
    if (!row.ok()) return row.status();
    if (!*row) return Status::NotFound("no file with id '" + id + "'");
    FileInfo f;
    f.id = s.Text(0);
    f.name = s.Text(1);
    f.content_type = s.Text(2);
    f.size = s.Int(3);
    f.chunks = s.Int(4);
    f.run_id = s.Text(5);
    f.run_queue = s.Text(6);
    f.meta = ParseJsonOr(s.Text(7), json::object());
    f.created_at = FromMicros(s.Int(8));
    return f;
  }

  // Reads chunk `chunk` of file `id` where `place(size)` says (nowhere when it returns
  // nullptr), with SQLite's incremental blob I/O: a column value would be read into a
  // buffer SQLite allocates (fresh pages, faulted in for every 256 KiB chunk) and then
  // copied. The rowid lookup and the blob read share one read transaction, so they
  // see the same snapshot.
  template <typename Place>
  Status ReadChunk(const std::string& id, int64_t chunk, Place place) {
    auto reader = AcquireReader();
    if (!reader.ok()) return reader.status();
    bool found = false;
    Status st = [&]() -> Status {
      auto stmt =
          (*reader)->Prepare("SELECT rowid FROM file_chunks WHERE file_id = ?1 AND seq = ?2");
      if (!stmt.ok()) return stmt.status();
      ScopedReset reset(**stmt);
      (*stmt)->Bind(1, id);
      (*stmt)->Bind(2, chunk);
      auto row = (*stmt)->Step();
      if (!row.ok()) return row.status();
      if (!*row) return Status::Ok();
      found = true;
      return ReadBlob(**reader, (*stmt)->Int(0), place);
    }();
    ReleaseReader(std::move(*reader));
    if (!st.ok()) return st;
    if (!found) return Status::NotFound("file '" + id + "' has no chunk " + std::to_string(chunk));
    return Status::Ok();
  }

  // The data of file_chunks row `rowid`, into `place(size)` unless that is nullptr.
  template <typename Place>
  static Status ReadBlob(Connection& db, int64_t rowid, Place& place) {
    sqlite3_blob* blob = nullptr;
    int rc = sqlite3_blob_open(db.raw(), "main", "file_chunks", "data", rowid, 0, &blob);
    if (rc != SQLITE_OK) {
      Status st = ErrorFrom(db.raw(), rc, "opening a file chunk");
      sqlite3_blob_close(blob);
      return st;
    }
    const int size = sqlite3_blob_bytes(blob);
    char* to = place(static_cast<size_t>(size));
    rc = size > 0 && to != nullptr ? sqlite3_blob_read(blob, to, size, 0) : SQLITE_OK;
    Status st = rc == SQLITE_OK ? Status::Ok() : ErrorFrom(db.raw(), rc, "reading a file chunk");
    sqlite3_blob_close(blob);
    return st;
  }

  // Appends chunks numbered from `first` to a file that has `have` chunks; `first`
  // must equal `have`, so that a repeated call cannot store a chunk twice.
  static Status AppendChunks(Connection& db, const std::string& id, int64_t have, int64_t first,
                             const std::vector<std::string_view>& chunks,
                             const std::optional<json::value>& meta) {
    if (first != have) {
      return Status::FailedPrecondition("file '" + id + "' has " + std::to_string(have) +
                                        " chunks; cannot write chunk " + std::to_string(first));
    }
    // Each chunk is inserted as a zeroblob and its bytes written into the row's pages
    // with incremental blob I/O: binding the bytes instead makes SQLite build the whole
    // record in a buffer it allocates (fresh pages, faulted in for every chunk) and copy
    // it once more before it reaches the pages.
    auto insert =
        db.Prepare("INSERT INTO file_chunks(file_id, seq, data) VALUES (?1, ?2, zeroblob(?3))");
    if (!insert.ok()) return insert.status();
    sqlite3_blob* blob = nullptr;
    struct CloseBlob {
      sqlite3_blob*& blob;
      ~CloseBlob() { sqlite3_blob_close(blob); }  // a no-op on nullptr
    } close_blob{blob};
    int64_t bytes = 0;
    int64_t seq = first;
    for (std::string_view chunk : chunks) {
      {
        ScopedReset reset(**insert);
        (*insert)->Bind(1, id);
        (*insert)->Bind(2, seq++);
        (*insert)->Bind(3, static_cast<int64_t>(chunk.size()));
        TASKMILL_RETURN_IF_ERROR((*insert)->Exec());
      }
      if (!chunk.empty()) {
        const sqlite3_int64 rowid = sqlite3_last_insert_rowid(db.raw());
        // One handle for the call, moved from row to row (reopening skips compiling
        // the blob's statement again).
        int rc = blob ? sqlite3_blob_reopen(blob, rowid)
                      : sqlite3_blob_open(db.raw(), "main", "file_chunks", "data", rowid, 1, &blob);
        if (rc == SQLITE_OK) {
          rc = sqlite3_blob_write(blob, chunk.data(), static_cast<int>(chunk.size()), 0);
        }
        if (rc != SQLITE_OK) return ErrorFrom(db.raw(), rc, "writing a file chunk");
      }
      bytes += static_cast<int64_t>(chunk.size());
    }
    sqlite3_blob_close(blob);
    blob = nullptr;
    auto update = db.Prepare(
        "UPDATE files SET chunks = chunks + ?1, size = size + ?2, meta = coalesce(?3, meta) "
        "WHERE id = ?4");
    if (!update.ok()) return update.status();
    ScopedReset reset(**update);
    (*update)->Bind(1, static_cast<int64_t>(chunks.size()));
    (*update)->Bind(2, bytes);
    if (meta)
      (*update)->Bind(3, json::serialize(*meta));
    else
      (*update)->BindNull(3);
    (*update)->Bind(4, id);
    return (*update)->Exec();
  }

  // Hands staged files to the runs of a RunPut that name them (see RunPutParams).
  // `requested` are the runs of the call, `stored` what RunPut answers (the inserted
  // runs were moved there; a duplicate that kIgnore kept is the stored one).
  static Status CommitFiles(Connection& db, const std::vector<Run>& requested,
                            const std::vector<Run>& stored, const std::vector<bool>& inserted,
                            const std::vector<std::string>& files) {
    if (files.empty()) return Status::Ok();
    auto stmt =
        db.Prepare("UPDATE files SET run_id = ?1, run_queue = ?2 WHERE id = ?3 AND run_id = ''");
    if (!stmt.ok()) return stmt.status();
    for (const auto& file : files) {
      const Run* named = nullptr;
      bool taken = false;
      for (size_t i = 0; i < inserted.size() && !named; ++i) {
        const Run& run = inserted[i] ? stored[i] : requested[i];
        if (run.input_file == file || run.output_file == file) {
          named = &run;
          taken = inserted[i];
        }
      }
      if (!named) {
        return Status::FailedPrecondition("file '" + file + "' is not named by any run stored");
      }
      // A duplicate that kIgnore kept stored does not take the upload; the caller
      // removes the staged file.
      if (!taken) continue;
      ScopedReset reset(**stmt);
      (*stmt)->Bind(1, named->id);
      (*stmt)->Bind(2, named->queue);
      (*stmt)->Bind(3, file);
      TASKMILL_RETURN_IF_ERROR((*stmt)->Exec());
      if (db.Changes() != 1) {
        return Status::FailedPrecondition("file '" + file + "' is not a staged file");
      }
    }
    return Status::Ok();
  }

  static Result<TaskDef> ParseTask(std::string_view text) {
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    if (ec) return Status::Internal("stored task definition is not JSON");
    return TaskDefFromJson(v);
  }

  static Result<TaskDef> GetTask(Connection& db, const std::string& name) {
    auto stmt = db.Prepare("SELECT definition FROM tasks WHERE name = ?1");
    if (!stmt.ok()) return stmt.status();
    ScopedReset reset(**stmt);
    (*stmt)->Bind(1, name);
    auto row = (*stmt)->Step();
    if (!row.ok()) return row.status();
    if (!*row) return Status::NotFound("no task named '" + name + "'");
    return ParseTask((*stmt)->Text(0));
  }

  static Status PutTask(Connection& db, const TaskDef& task) {
    auto stmt = db.Prepare(
        "INSERT INTO tasks(name, definition) VALUES (?1, ?2) "
        "ON CONFLICT(name) DO UPDATE SET definition = excluded.definition");
    if (!stmt.ok()) return stmt.status();
    ScopedReset reset(**stmt);
    (*stmt)->Bind(1, task.name);
    (*stmt)->Bind(2, json::serialize(ToJson(task)));
    return (*stmt)->Exec();
  }

  SqliteOptions options_;
  HolderLocks holders_{options_.path + ".holders"};  // beside the database
  std::unique_ptr<Connection> writer_db_;  // used by the writer thread only (after Init)
  std::unique_ptr<LogSpace> log_space_;    // set by Init
  std::thread writer_;

  // Durable writes committed and waiting for the log's fsync (synchronous=full).
  std::thread syncer_;
  int log_fd_ = -1;  // the write-ahead log, for SyncLoop; -1 when commits sync themselves
  std::mutex sync_mu_;
  std::condition_variable sync_cv_;
  std::vector<Unsynced> unsynced_;  // guarded by sync_mu_
  bool sync_stopping_ = false;      // guarded by sync_mu_

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<PendingWrite*> queue_;  // guarded by mu_
  bool stopping_ = false;            // guarded by mu_

  std::mutex readers_mu_;
  std::vector<std::unique_ptr<Connection>> readers_;  // guarded by readers_mu_

  std::thread checkpointer_;
  std::mutex checkpoint_mu_;
  std::condition_variable checkpoint_cv_;
  bool checkpoint_wanted_ = false;    // guarded by checkpoint_mu_
  bool checkpoint_stopping_ = false;  // guarded by checkpoint_mu_
};

}  // namespace

Result<std::unique_ptr<Storage>> OpenSqliteStorage(const SqliteOptions& options) {
  auto storage = std::make_unique<SqliteStorage>(options);
  TASKMILL_RETURN_IF_ERROR(storage->Init());
  return std::unique_ptr<Storage>(std::move(storage));
}

}  // namespace taskmill::sqlite

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
