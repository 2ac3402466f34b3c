#include "storage/sqlite/sqlite_storage.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "storage/conformance/helpers.h"
#include "storage/conformance/storage_conformance.h"
#include "storage/sqlite/schema.h"

namespace taskmill::sqlite {
namespace {

using conformance::StorageConformance;
using conformance::StorageFactory;
using conformance::StorageFixture;
using conformance::TempDir;
using conformance::Unwrap;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

// A fresh database file in a fresh temporary directory, removed afterwards.
class SqliteFixture final : public StorageFixture {
 public:
  explicit SqliteFixture(std::string synchronous)
      : path_((dir_.path() / "data" / "taskmill.db").string()),
        synchronous_(std::move(synchronous)) {}

  Status Open() {
    auto opened = OpenSqliteStorage({path_, synchronous_});
    if (!opened.ok()) return opened.status();
    storage_ = std::move(opened).value();
    return Status::Ok();
  }

  Storage& storage() override { return *storage_; }

  Status Reopen() override {
    storage_.reset();
    return Open();
  }

 private:
  TempDir dir_;  // declared first: removed after the storage is closed
  std::string path_;
  std::string synchronous_;
  std::unique_ptr<Storage> storage_;
};

StorageFactory SqliteFactory(std::string synchronous) {
  return {"sqlite_" + synchronous, [synchronous]() -> Result<std::unique_ptr<StorageFixture>> {
            auto fixture = std::make_unique<SqliteFixture>(synchronous);
            TASKMILL_RETURN_IF_ERROR(fixture->Open());
            return std::unique_ptr<StorageFixture>(std::move(fixture));
          }};
}

INSTANTIATE_TEST_SUITE_P(Sqlite, StorageConformance,
                         ::testing::Values(SqliteFactory("full"), SqliteFactory("normal")),
                         conformance::StorageFactoryName);

// ---- raw access to the file, to check what the backend wrote ---------------------

class RawDb {
 public:
  explicit RawDb(const std::filesystem::path& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
        SQLITE_OK) {
      ADD_FAILURE() << "cannot open " << path << ": " << sqlite3_errmsg(db_);
    }
  }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;
  ~RawDb() { sqlite3_close(db_); }

  void Exec(const std::string& sql) {
    char* error = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
      ADD_FAILURE() << sql << ": " << (error ? error : "?");
    }
    sqlite3_free(error);
  }

  // The first column of every row, as text.
  std::vector<std::string> Column(const std::string& sql) {
    std::vector<std::string> out;
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
      ADD_FAILURE() << sql << ": " << sqlite3_errmsg(db_);
      return out;
    }
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
      out.emplace_back(text ? text : "");
    }
    sqlite3_finalize(stmt);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

// Brings an empty database to schema `version` (migrations 1 to `version`), as the
// taskmill of that schema left it.
void MigrateTo(RawDb& db, int version) {
  db.Exec(
      "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, "
      "applied_at TEXT NOT NULL DEFAULT (datetime('now')))");
  for (const auto& m : kMigrations) {
    if (m.version > version) break;
    db.Exec(m.sql);
    db.Exec("INSERT INTO schema_migrations(version) VALUES (" + std::to_string(m.version) + ")");
  }
}

std::vector<std::string> ExpectedVersions() {
  std::vector<std::string> versions;
  for (const auto& m : kMigrations) versions.push_back(std::to_string(m.version));
  return versions;
}

Run SomeRun(std::string id) {
  Run run;
  run.id = std::move(id);
  run.function = "test.echo";
  run.created_at = conformance::kT0;
  run.run_at = conformance::kT0;
  return run;
}

TEST(SqliteStorage, MigrationsAreRecordedAndIdempotentOnReopen) {
  TempDir dir;
  auto path = dir.path() / "taskmill.db";
  {
    auto storage = Unwrap(OpenSqliteStorage({path.string()}));
    Unwrap(storage->RunPut({{SomeRun("kept")}}));
  }
  EXPECT_THAT(RawDb(path).Column("SELECT version FROM schema_migrations ORDER BY version"),
              ElementsAreArray(ExpectedVersions()));
  for (int i = 0; i < 2; ++i) {
    auto storage = Unwrap(OpenSqliteStorage({path.string()}));
    EXPECT_EQ(Unwrap(storage->RunGet("kept")).id, "kept");
    EXPECT_EQ(Unwrap(storage->RunStats()).total, 1) << "a migration ran twice";
  }
  EXPECT_THAT(RawDb(path).Column("SELECT version FROM schema_migrations ORDER BY version"),
              ElementsAreArray(ExpectedVersions()));
  EXPECT_THAT(RawDb(path).Column("PRAGMA journal_mode"), ElementsAreArray({"wal"}));
}

// A database written before run tallies existed (schema 3, counts by status only)
// gets tallies computed from its runs when it is opened.
TEST(SqliteStorage, TalliesAreComputedForADatabaseOfSchema3) {
  TempDir dir;
  auto path = dir.path() / "taskmill.db";
  {
    RawDb db(path);
    MigrateTo(db, 3);
    auto insert = [&](const std::string& id, const std::string& queue, const std::string& task,
                      const std::string& status, int64_t run_at) {
      db.Exec(
          "INSERT INTO runs(id, queue, function, task, status, args, data, created_at, run_at, "
          "ttr_us) VALUES ('" +
          id + "', '" + queue + "', 'test.echo', '" + task + "', '" + status +
          "', '[]', '{}', 0, " + std::to_string(run_at) + ", 1000000)");
    };
    insert("a", "mail", "digest", "pending", 30);
    insert("b", "mail", "digest", "pending", 10);
    insert("c", "mail", "", "running", 5);
    insert("d", "default", "digest", "completed", 1);
  }
  auto storage = Unwrap(OpenSqliteStorage({path.string()}));
  StorageStats stats = Unwrap(storage->RunStats());
  EXPECT_EQ(stats.total, 4);
  EXPECT_EQ(stats.by_status[RunStatus::kPending], 2);
  EXPECT_EQ(stats.by_task["digest"][RunStatus::kCompleted], 1);
  EXPECT_EQ(stats.by_task[""][RunStatus::kRunning], 1);
  auto queues = Unwrap(storage->QueueList(conformance::kT0));
  ASSERT_EQ(queues.size(), 1u);
  EXPECT_EQ(queues[0].queue, "mail");
  EXPECT_EQ(queues[0].pending, 2);
  EXPECT_EQ(queues[0].running, 1);
  ASSERT_TRUE(queues[0].oldest_pending_run_at);
  EXPECT_EQ(queues[0].oldest_pending_run_at->time_since_epoch().count(), 10);
  EXPECT_EQ(Unwrap(storage->RunCountLive("digest")), 2);
}

// Creates a database of schema 4 at `path` (migrations 1 to 4, as taskmill wrote it
// before migration 5) holding these runs, with the tallies the writer kept for them.
struct StoredRun {
  std::string id;
  std::string queue;
  std::string task;
  std::string status;
  int priority;
  int64_t run_at;
};

void WriteSchema4Database(const std::filesystem::path& path, const std::vector<StoredRun>& runs) {
  RawDb db(path);
  MigrateTo(db, 4);
  for (const StoredRun& r : runs) {
    const bool running = r.status == "running";
    const bool finished = r.status != "pending" && !running;
    db.Exec(
        "INSERT INTO runs(id, queue, function, task, status, args, data, priority, created_at, "
        "run_at, started_at, finished_at, lease_until, runner, attempt, ttr_us) VALUES ('" +
        r.id + "', '" + r.queue + "', 'test.echo', '" + r.task + "', '" + r.status +
        "', '[]', '{}', " + std::to_string(r.priority) + ", 0, " + std::to_string(r.run_at) + ", " +
        (running || finished ? "1" : "NULL") + ", " + (finished ? "2" : "NULL") + ", " +
        (running ? "1000001" : "NULL") + ", '" + (running ? "old-runner" : "") + "', " +
        (running || finished ? "1" : "0") + ", 1000000)");
  }
  db.Exec(
      "INSERT INTO run_tallies(queue, task, status, n) "
      "SELECT queue, task, status, count(*) FROM runs GROUP BY queue, task, status");
}

std::vector<std::string> Ids(const std::vector<taskmill::Run>& runs) {
  std::vector<std::string> ids;
  for (const auto& r : runs) ids.push_back(r.id);
  return ids;
}

// Every page of a listing, checking that each page but the last is full.
std::vector<std::string> ListAllIds(Storage& storage, RunFilter filter) {
  std::vector<std::string> ids;
  for (int pages = 0; pages < 100; ++pages) {
    RunPage page = Unwrap(storage.RunList(filter));
    for (const auto& r : page.runs) ids.push_back(r.id);
    if (page.next_cursor.empty()) return ids;
    EXPECT_EQ(page.runs.size(), static_cast<size_t>(filter.limit)) << "a short page with a cursor";
    filter.cursor = page.next_cursor;
  }
  ADD_FAILURE() << "the cursor does not advance";
  return ids;
}

RunFilter ByStatus(RunStatus status, int limit, std::string queue = "") {
  RunFilter filter;
  filter.status = status;
  filter.limit = limit;
  filter.queue = std::move(queue);
  return filter;
}

// Migration 5 drops the index of every pending run and narrows the status index to
// finished runs: a database of schema 4 still claims (by priority, then run_at, over
// every queue but a paused one), lists by each status and counts as before.
TEST(SqliteStorage, ADatabaseOfSchema4ClaimsListsAndCountsAfterMigration5) {
  TempDir dir;
  auto path = dir.path() / "taskmill.db";
  // In seq order.
  WriteSchema4Database(path, {
                                 {"p1", "default", "", "pending", 0, 10},
                                 {"c1", "default", "digest", "completed", 0, 1},
                                 {"p2", "mail", "digest", "pending", 5, 30},
                                 {"r1", "default", "", "running", 0, 2},
                                 {"p3", "held", "", "pending", 9, 1},
                                 {"f1", "mail", "", "failed", 0, 3},
                                 {"p4", "mail", "", "pending", 0, 5},
                                 {"r2", "mail", "digest", "running", 0, 4},
                                 {"p5", "default", "", "pending", 5, 20},
                                 {"c2", "mail", "", "completed", 0, 6},
                                 {"p6", "default", "", "pending", 0, 1000000000},
                             });
  RawDb(path).Exec("INSERT INTO queues(name, paused) VALUES ('held', 1)");

  auto storage = Unwrap(OpenSqliteStorage({path.string(), "normal"}));
  EXPECT_THAT(RawDb(path).Column("SELECT version FROM schema_migrations ORDER BY version"),
              ElementsAreArray(ExpectedVersions()));
  EXPECT_THAT(
      RawDb(path).Column("SELECT name FROM sqlite_master WHERE type = 'index' AND "
                         "tbl_name = 'runs' AND name NOT LIKE 'sqlite_%' ORDER BY name"),
      ElementsAreArray({"runs_account_pending", "runs_account_task_seq", "runs_final_seq",
                        "runs_flow_live", "runs_flow_seq", "runs_id_queue", "runs_parent_live",
                        "runs_parent_seq", "runs_past_cap", "runs_queue_pending",
                        "runs_running_lease", "runs_task_scheduled", "runs_task_seq"}));

  StorageStats stats = Unwrap(storage->RunStats());
  EXPECT_EQ(stats.total, 11);
  EXPECT_EQ(stats.by_status[RunStatus::kPending], 6);
  EXPECT_EQ(stats.by_status[RunStatus::kRunning], 2);
  EXPECT_EQ(stats.by_status[RunStatus::kCompleted], 2);
  EXPECT_EQ(stats.by_status[RunStatus::kFailed], 1);
  EXPECT_EQ(Unwrap(storage->RunCountLive("digest")), 2);

  auto list = [&](RunFilter filter) { return ListAllIds(*storage, std::move(filter)); };
  EXPECT_THAT(list(ByStatus(RunStatus::kPending, 2)),
              ElementsAreArray({"p6", "p5", "p4", "p3", "p2", "p1"}));
  EXPECT_THAT(list(ByStatus(RunStatus::kPending, 2, "mail")), ElementsAreArray({"p4", "p2"}));
  EXPECT_THAT(list(ByStatus(RunStatus::kRunning, 1)), ElementsAreArray({"r2", "r1"}));
  EXPECT_THAT(list(ByStatus(RunStatus::kCompleted, 1)), ElementsAreArray({"c2", "c1"}));
  EXPECT_THAT(list(ByStatus(RunStatus::kFailed, 5)), ElementsAreArray({"f1"}));
  RunFilter digest = ByStatus(RunStatus::kPending, 5);
  digest.task = "digest";
  EXPECT_THAT(list(digest), ElementsAreArray({"p2"}));

  // Every queue but the paused one: priority first, then run_at, across queues; p6 is
  // not due yet.
  const TimePoint now{Duration{1000}};
  auto claimed = Unwrap(storage->RunTake({"new-runner", {}, 2, now}));
  EXPECT_THAT(Ids(claimed), ElementsAreArray({"p5", "p2"}));
  for (const auto& run : claimed) {
    EXPECT_EQ(run.status, RunStatus::kRunning);
    EXPECT_EQ(run.attempt, 1);
    EXPECT_EQ(run.runner, "new-runner");
  }
  EXPECT_THAT(Ids(Unwrap(storage->RunTake({"new-runner", {}, 10, now}))),
              ElementsAreArray({"p4", "p1"}));
  EXPECT_TRUE(Unwrap(storage->RunTake({"new-runner", {"mail"}, 10, now})).empty());

  // Finish a claimed run and a run that was running before the migration.
  RunFinish finish;
  finish.queue = "default";
  finish.id = "p5";
  finish.attempt = 1;
  finish.finished_at = now;
  RunFinish old = finish;
  old.id = "r1";
  old.status = RunStatus::kFailed;
  auto finished = Unwrap(storage->RunFinishBatch({finish, old}));
  ASSERT_EQ(finished.size(), 2u);
  EXPECT_TRUE(finished[0].accepted);
  EXPECT_TRUE(finished[1].accepted);

  EXPECT_THAT(list(ByStatus(RunStatus::kPending, 2)), ElementsAreArray({"p6", "p3"}));
  EXPECT_THAT(list(ByStatus(RunStatus::kRunning, 2)), ElementsAreArray({"r2", "p4", "p2", "p1"}));
  EXPECT_THAT(list(ByStatus(RunStatus::kCompleted, 2)), ElementsAreArray({"c2", "p5", "c1"}));
  EXPECT_THAT(list(ByStatus(RunStatus::kFailed, 2)), ElementsAreArray({"f1", "r1"}));
  stats = Unwrap(storage->RunStats());
  EXPECT_EQ(stats.total, 11);
  EXPECT_EQ(stats.by_status[RunStatus::kPending], 2);
  EXPECT_EQ(stats.by_status[RunStatus::kRunning], 4);
  EXPECT_EQ(stats.by_status[RunStatus::kCompleted], 3);
  EXPECT_EQ(stats.by_status[RunStatus::kFailed], 2);
  auto queues = Unwrap(storage->QueueList(now));
  ASSERT_EQ(queues.size(), 3u);
  EXPECT_EQ(queues[0].queue, "default");
  EXPECT_EQ(queues[0].pending, 1);
  EXPECT_EQ(queues[0].running, 1);
  EXPECT_EQ(queues[1].queue, "held");
  EXPECT_TRUE(queues[1].paused);
  EXPECT_EQ(queues[1].pending, 1);
  EXPECT_EQ(queues[2].queue, "mail");
  EXPECT_EQ(queues[2].pending, 0);
  EXPECT_EQ(queues[2].running, 3);

  // Resumed, the held queue's run is claimed too.
  Unwrap(storage->QueueSetPaused("held", false));
  EXPECT_THAT(Ids(Unwrap(storage->RunTake({"new-runner", {}, 10, now}))), ElementsAreArray({"p3"}));
}

// No index orders pending or running runs by seq: a listing by either status reads
// them through a partial index and sorts them, or (pending runs above
// list_pending_sorted_max for the queue filter) scans the table newest first. Both
// list newest first, and the cursor visits every run once, with and without a queue,
// task or creation filter.
TEST(SqliteStorage, ListingsOfPendingAndRunningRunsAreNewestFirstWithACursor) {
  for (int64_t sorted_max : {int64_t{20000}, int64_t{4}, int64_t{0}}) {
    SCOPED_TRACE("list_pending_sorted_max " + std::to_string(sorted_max));
    TempDir dir;
    SqliteOptions options{(dir.path() / "taskmill.db").string(), "normal"};
    options.list_pending_sorted_max = sorted_max;
    auto storage = Unwrap(OpenSqliteStorage(options));
    // 30 runs in two queues; every third of a task. Priorities make claims take runs
    // from all over the seq order.
    std::vector<taskmill::Run> runs;
    for (int i = 0; i < 30; ++i) {
      taskmill::Run run = SomeRun("run-" + std::to_string(100 + i));
      run.queue = i % 2 ? "odd" : "even";
      if (i % 3 == 0) run.task = "digest";
      run.priority = (i * 7) % 5;
      run.created_at = conformance::At(i);
      runs.push_back(run);
    }
    Unwrap(storage->RunPut({runs}));
    auto claimed = Unwrap(storage->RunTake({"runner", {}, 11, conformance::kT0}));
    ASSERT_EQ(claimed.size(), 11u);
    std::vector<std::string> running_ids = Ids(claimed);

    // What each listing must give: the matching runs in the reverse of their order of
    // insertion (seq).
    auto expected = [&](bool running, const std::string& queue, const std::string& task,
                        std::optional<TimePoint> created_after) {
      std::vector<std::string> ids;
      for (auto it = runs.rbegin(); it != runs.rend(); ++it) {
        bool is_running =
            std::find(running_ids.begin(), running_ids.end(), it->id) != running_ids.end();
        if (is_running != running) continue;
        if (!queue.empty() && it->queue != queue) continue;
        if (!task.empty() && it->task != task) continue;
        if (created_after && it->created_at < *created_after) continue;
        ids.push_back(it->id);
      }
      return ids;
    };
    for (RunStatus status : {RunStatus::kPending, RunStatus::kRunning}) {
      const bool running = status == RunStatus::kRunning;
      for (int limit : {1, 3, 19, 1000}) {
        SCOPED_TRACE(std::string(ToString(status)) + ", limit " + std::to_string(limit));
        EXPECT_EQ(ListAllIds(*storage, ByStatus(status, limit)),
                  expected(running, "", "", std::nullopt));
        EXPECT_EQ(ListAllIds(*storage, ByStatus(status, limit, "odd")),
                  expected(running, "odd", "", std::nullopt));
        RunFilter by_task = ByStatus(status, limit);
        by_task.task = "digest";
        EXPECT_EQ(ListAllIds(*storage, by_task), expected(running, "", "digest", std::nullopt));
        RunFilter recent = ByStatus(status, limit, "even");
        recent.created_after = conformance::At(12);
        EXPECT_EQ(ListAllIds(*storage, recent), expected(running, "even", "", conformance::At(12)));
      }
    }
  }
}

// The runs due later (the scheduled and retrying tabs) are read through the pending
// index, one range per priority, when they are few (at most list_pending_sorted_max),
// and by the scan newest first otherwise: both give the same runs, newest first.
TEST(SqliteStorage, ListingsOfRunsDueLaterGiveTheSameRunsWhetherFewOrMany) {
  for (int64_t sorted_max : {int64_t{20000}, int64_t{5}, int64_t{0}}) {
    SCOPED_TRACE("list_pending_sorted_max " + std::to_string(sorted_max));
    TempDir dir;
    SqliteOptions options{(dir.path() / "taskmill.db").string(), "normal"};
    options.list_pending_sorted_max = sorted_max;
    auto storage = Unwrap(OpenSqliteStorage(options));
    // 40 runs in two queues of three priorities: every fourth due later, and every
    // fourth of those already attempted (waiting for its retry).
    std::vector<taskmill::Run> runs;
    for (int i = 0; i < 40; ++i) {
      taskmill::Run run = SomeRun("run-" + std::to_string(100 + i));
      run.queue = i % 2 ? "odd" : "even";
      run.priority = i % 3;
      if (i % 4 == 0) run.run_at = conformance::At(100 + i);
      if (i % 16 == 0) run.attempt = 1;
      runs.push_back(run);
    }
    Unwrap(storage->RunPut({runs}));
    for (const std::string& queue : {std::string(), std::string("odd"), std::string("even")}) {
      for (bool attempted : {false, true}) {
        SCOPED_TRACE("queue '" + queue + "', attempted " + std::to_string(attempted));
        std::vector<std::string> expected;
        for (auto it = runs.rbegin(); it != runs.rend(); ++it) {
          if (it->run_at <= conformance::At(10) || (it->attempt > 0) != attempted) continue;
          if (!queue.empty() && it->queue != queue) continue;
          expected.push_back(it->id);
        }
        for (int limit : {1, 3, 1000}) {
          RunFilter later = ByStatus(RunStatus::kPending, limit, queue);
          later.run_at_after = conformance::At(10);
          later.attempted = attempted;
          EXPECT_EQ(ListAllIds(*storage, later), expected);
        }
      }
    }
  }
}

// Checkpoints run on their own thread whenever the log is long enough, and copy the
// log into the database while the writer goes on.
TEST(SqliteStorage, CheckpointsRunOnTheirOwnThreadAsTheLogGrows) {
  TempDir dir;
  auto path = dir.path() / "taskmill.db";
  std::mutex mu;
  std::condition_variable cv;
  int checkpoints = 0;                // guarded by mu
  int copied = 0;                     // guarded by mu
  std::thread::id checkpoint_thread;  // guarded by mu
  SqliteOptions options{path.string(), "normal"};
  options.checkpoint_pages = 8;
  options.on_checkpoint = [&](int, int checkpointed) {
    std::lock_guard lock(mu);
    ++checkpoints;
    copied += checkpointed;
    checkpoint_thread = std::this_thread::get_id();
    cv.notify_all();
  };
  auto storage = Unwrap(OpenSqliteStorage(options));
  auto put_batch = [&](int batch) {
    std::vector<taskmill::Run> runs;
    for (int i = 0; i < 200; ++i)
      runs.push_back(SomeRun(std::to_string(batch) + "-" + std::to_string(i)));
    Unwrap(storage->RunPut({std::move(runs)}));
  };
  for (int batch = 0; batch < 20; ++batch) put_batch(batch);
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return copied > 0; }))
        << "no checkpoint copied anything";
    EXPECT_NE(checkpoint_thread, std::this_thread::get_id());
  }
  // Another round: another checkpoint.
  int seen = 0;
  {
    std::lock_guard lock(mu);
    seen = checkpoints;
  }
  for (int batch = 20; batch < 40; ++batch) put_batch(batch);
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return checkpoints > seen; }));
  }
  EXPECT_EQ(Unwrap(storage->RunStats()).total, 40 * 200);
}

// With synchronous=full a commit does not fsync; a syncer thread does, and a durable
// write is answered only after the fsync that followed its commit. Claims are not
// durable writes: they never wait for one.
TEST(SqliteStorage, FullAnswersDurableWritesAfterTheLogIsSynced) {
  for (const char* synchronous : {"full", "normal"}) {
    SCOPED_TRACE(synchronous);
    TempDir dir;
    std::atomic<int> syncs = 0;
    SqliteOptions options{(dir.path() / "taskmill.db").string(), synchronous};
    options.on_log_synced = [&] { ++syncs; };
    auto storage = Unwrap(OpenSqliteStorage(options));
    const bool full = std::string_view(synchronous) == "full";

    Unwrap(storage->RunPut({{SomeRun("a")}}));
    const int after_first = syncs;
    EXPECT_EQ(after_first > 0, full);
    Unwrap(storage->RunPut({{SomeRun("b")}}));
    const int after_second = syncs;
    EXPECT_EQ(after_second > after_first, full) << "the second put was answered unsynced";

    RunTakeParams take;
    take.runner = "r";
    take.max = 2;
    take.now = conformance::At(100);
    EXPECT_EQ(Unwrap(storage->RunTake(take)).size(), 2u);
    EXPECT_EQ(syncs, after_second) << "a claim waited for an fsync";
  }
}

TEST(SqliteStorage, RefusesADatabaseWithANewerSchema) {
  TempDir dir;
  auto path = dir.path() / "taskmill.db";
  { Unwrap(OpenSqliteStorage({path.string()})); }
  int newer = kMigrations[std::size(kMigrations) - 1].version + 1;
  RawDb(path).Exec("INSERT INTO schema_migrations(version) VALUES (" + std::to_string(newer) + ")");

  auto reopened = OpenSqliteStorage({path.string()});
  ASSERT_FALSE(reopened.ok());
  EXPECT_EQ(reopened.status().code(), StatusCode::kFailedPrecondition)
      << reopened.status().ToString();
  EXPECT_THAT(reopened.status().message(), HasSubstr(path.string()));
  EXPECT_THAT(reopened.status().message(), HasSubstr("schema version " + std::to_string(newer)));
  EXPECT_THAT(reopened.status().message(), HasSubstr("newer"));
}

TEST(SqliteStorage, RejectsAnUnknownSynchronousMode) {
  TempDir dir;
  auto path = dir.path() / "taskmill.db";
  auto opened = OpenSqliteStorage({path.string(), "fastest"});
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), StatusCode::kInvalidArgument) << opened.status().ToString();
  EXPECT_THAT(opened.status().message(), HasSubstr("synchronous"));
  EXPECT_THAT(opened.status().message(), HasSubstr("fastest"));

  StorageOptions options;
  options.url = path.string() + "?synchronous=off";
  EXPECT_EQ(OpenStorage(options).status().code(), StatusCode::kInvalidArgument);
  options.url = path.string() + "?synchronous=normal";
  EXPECT_TRUE(OpenStorage(options).ok());
}

TEST(SqliteStorage, CreatesMissingDirectories) {
  TempDir dir;
  auto path = dir.path() / "a" / "b" / "c" / "taskmill.db";
  auto storage = Unwrap(OpenSqliteStorage({path.string()}));
  Unwrap(storage->RunPut({{SomeRun("deep")}}));
  EXPECT_TRUE(std::filesystem::exists(path));
}

TEST(OpenStorage, AcceptsSqliteUrlsAndBarePaths) {
  TempDir dir;
  auto absolute = dir.path() / "url.db";
  ASSERT_TRUE(absolute.is_absolute());
  {
    StorageOptions options;
    options.url = "sqlite://" + absolute.string();  // sqlite:///tmp/...
    auto storage = Unwrap(OpenStorage(options));
    Unwrap(storage->RunPut({{SomeRun("via-url")}}));
  }
  EXPECT_TRUE(std::filesystem::exists(absolute));
  {
    StorageOptions options;
    options.url = absolute.string();  // the same file as a bare path
    auto storage = Unwrap(OpenStorage(options));
    EXPECT_EQ(Unwrap(storage->RunGet("via-url")).id, "via-url");
  }
}

TEST(OpenStorage, RejectsOtherUrls) {
  struct Case {
    std::string url;
    std::string mentions;
  };
  std::vector<Case> cases = {
      // PostgreSQL URLs open that backend; an unknown parameter is refused before any
      // connection is tried.
      {"postgres://taskmill@db.example/taskmill?bogus=1", "'bogus'"},
      {"postgresql://taskmill@db.example/taskmill?synchronous=full", "'synchronous'"},
      {"foo://bar/baz.db", "foo://bar/baz.db"},
      {"mysql://localhost/taskmill", "mysql://localhost/taskmill"},
      {"", "empty"},
      {"sqlite://", "empty"},
  };
  for (const auto& c : cases) {
    StorageOptions options;
    options.url = c.url;
    auto opened = OpenStorage(options);
    ASSERT_FALSE(opened.ok()) << "'" << c.url << "' was accepted";
    EXPECT_EQ(opened.status().code(), StatusCode::kInvalidArgument)
        << c.url << ": " << opened.status().ToString();
    EXPECT_THAT(opened.status().message(), HasSubstr(c.mentions)) << c.url;
  }
}

TEST(OpenStorage, SqliteOptionsTravelInTheUrl) {
  auto options = Unwrap(SqliteOptionsFromUrl("sqlite:///data/x.db?synchronous=normal"));
  EXPECT_EQ(options.path, "/data/x.db");
  EXPECT_EQ(options.synchronous, "normal");
  options = Unwrap(SqliteOptionsFromUrl("relative/x.db"));
  EXPECT_EQ(options.path, "relative/x.db");
  EXPECT_EQ(options.synchronous, "full");
  options = Unwrap(SqliteOptionsFromUrl("/data/what?.db"));  // a '?' of the path
  EXPECT_EQ(options.path, "/data/what?.db");

  auto unknown = SqliteOptionsFromUrl("sqlite:///data/x.db?cache=big");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(unknown.status().message(), HasSubstr("cache"));

  TempDir dir;
  StorageOptions bad;
  bad.url = "sqlite://" + (dir.path() / "x.db").string() + "?synchronous=off";
  auto opened = OpenStorage(bad);
  ASSERT_FALSE(opened.ok());
  EXPECT_THAT(opened.status().message(), HasSubstr("synchronous"));
}

TEST(SqliteStorage, MigrateSaysWhatOpeningAppliedAndThenAppliesNothing) {
  TempDir dir;
  auto path = dir.path() / "taskmill.db";
  const int latest = std::stoi(ExpectedVersions().back());
  {
    auto storage = Unwrap(OpenSqliteStorage({path.string()}));
    auto first = Unwrap(storage->Migrate());
    EXPECT_EQ(first.before, 0);
    EXPECT_EQ(first.after, latest);
    EXPECT_EQ(static_cast<int>(first.applied.size()), static_cast<int>(ExpectedVersions().size()));
  }
  auto storage = Unwrap(OpenSqliteStorage({path.string()}));
  for (int i = 0; i < 2; ++i) {
    auto again = Unwrap(storage->Migrate());
    EXPECT_EQ(again.before, latest);
    EXPECT_EQ(again.after, latest);
    EXPECT_TRUE(again.applied.empty());
  }
  EXPECT_TRUE(storage->Capabilities().commit_notifications);
  EXPECT_TRUE(storage->Capabilities().holder_liveness);
}

TEST(SqliteStorage, ListsRunsByFlowAndParent) {
  TempDir dir;
  auto storage = Unwrap(OpenSqliteStorage({(dir.path() / "t.db").string(), "normal"}));
  taskmill::Run a = SomeRun("a"), b = SomeRun("b"), c = SomeRun("c");
  a.flow_id = "f1";
  b.flow_id = "f1";
  b.parent_id = "a";
  c.flow_id = "f2";
  Unwrap(storage->RunPut({{a, b, c}}));
  RunFilter by_flow;
  by_flow.flow_id = "f1";
  auto page = Unwrap(storage->RunList(by_flow));
  ASSERT_EQ(page.runs.size(), 2u);
  EXPECT_EQ(page.runs[0].id, "b");
  EXPECT_EQ(page.runs[1].id, "a");
  RunFilter by_parent;
  by_parent.parent_id = "a";
  page = Unwrap(storage->RunList(by_parent));
  ASSERT_EQ(page.runs.size(), 1u);
  EXPECT_EQ(page.runs[0].id, "b");
}

// Children a step staged as whole runs before migration 15 are each their own template
// after it: the step's finish releases them as they were staged, in that order.
TEST(SqliteStorage, ChildrenStagedBeforeMigration15AreReleasedByTheirStepsFinish) {
  TempDir dir;
  auto path = dir.path() / "taskmill.db";
  {
    RawDb db(path);
    MigrateTo(db, 14);
    // The step, running its first attempt, and its two children, staged as that
    // version staged them: whole runs (built in runs, then moved).
    db.Exec(
        "INSERT INTO runs(id, queue, function, status, args, data, created_at, run_at, "
        "started_at, lease_until, runner, attempt, ttr_us) VALUES ('step', 'default', "
        "'test.echo', 'running', '[]', '{}', 0, 0, 1, 9000000000000000, 'old-runner', 1, "
        "1000000)");
    db.Exec("INSERT INTO run_tallies(queue, task, status, n) VALUES ('default', '', 'running', 1)");
    for (const std::string child : {"b", "a"}) {
      db.Exec(
          "INSERT INTO runs(id, queue, function, status, args, data, created_at, run_at, ttr_us, "
          "parent_id) VALUES ('" +
          child + "', 'kids', 'test.add', 'pending', '{\"child_id\":\"" + child +
          "\"}', '{}', 5, 6, 1000000, 'step')");
    }
    const std::string columns =
        "id, queue, function, task, status, args, data, priority, account_id, "
        "auth_account_id, created_at, run_at, scheduled_at, started_at, finished_at, "
        "lease_until, runner, attempt, max_attempts, delay_us, delay_factor, max_delay_us, "
        "timeout_us, ttr_us, result, error, error_kind, progress_total, progress_succeeded, "
        "progress_failed, parent_id, flow_id, input_file, output_file, attempts";
    db.Exec("INSERT INTO staged_runs(seq, " + columns + ", parent_attempt) SELECT seq, " + columns +
            ", 1 FROM runs WHERE parent_id = 'step'");
    db.Exec("DELETE FROM runs WHERE parent_id = 'step'");
  }
  auto storage = Unwrap(OpenSqliteStorage({path.string()}));
  RunFinish done = conformance::FinishOf("step", 1, RunStatus::kCompleted, conformance::At(1));
  done.staged = StagedRuns::kRelease;
  ASSERT_TRUE(Unwrap(storage->RunFinishBatch({done})).at(0).accepted);
  ChildOutcomePage children = Unwrap(storage->RunListChildOutcomes("step", "", 10));
  ASSERT_EQ(children.children.size(), 2u);
  EXPECT_EQ(children.children[0].id, "b") << "released in the order staged";
  EXPECT_EQ(children.children[1].id, "a");
  EXPECT_EQ(children.children[1].child_key, "a");
  taskmill::Run a = Unwrap(storage->RunGet("a", "kids"));
  EXPECT_EQ(a.function, "test.add");
  EXPECT_EQ(a.status, RunStatus::kPending);
  EXPECT_EQ(a.run_at.time_since_epoch().count(), 6);
  EXPECT_EQ(a.parent_id, "step");
}

}  // namespace
}  // namespace taskmill::sqlite
