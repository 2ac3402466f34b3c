#include "storage/sqlite/sqlite_storage.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

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
    db.Exec(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, "
        "applied_at TEXT NOT NULL DEFAULT (datetime('now')))");
    for (const auto& m : kMigrations) {
      if (m.version > 3) break;
      db.Exec(m.sql);
      db.Exec("INSERT INTO schema_migrations(version) VALUES (" + std::to_string(m.version) + ")");
    }
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

// Checkpoints run on their own thread whenever the log is long enough, and copy the
// log into the database while the writer goes on.
TEST(SqliteStorage, CheckpointsRunOnTheirOwnThreadAsTheLogGrows) {
  TempDir dir;
  auto path = dir.path() / "taskmill.db";
  std::mutex mu;
  std::condition_variable cv;
  int checkpoints = 0;  // guarded by mu
  int copied = 0;       // guarded by mu
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
  options.url = path.string();
  options.synchronous = "off";
  EXPECT_EQ(OpenStorage(options).status().code(), StatusCode::kInvalidArgument);
  options.synchronous = "normal";
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
      {"postgres://taskmill@db.example/taskmill", "PostgreSQL"},
      {"postgresql://taskmill@db.example/taskmill", "PostgreSQL"},
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

}  // namespace
}  // namespace taskmill::sqlite
