// First-start setup under a lock, and how SQLite's failures for lack of space are
// reported. The multi-process form of the first is tests/integration/
// concurrent_start_test.cpp; the real full disk is tests/integration/disk_full_test.cpp.
#include "storage/sqlite/setup_lock.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <future>
#include <thread>
#include <vector>

#include "storage/conformance/storage_conformance.h"
#include "storage/sqlite/sqlite_db.h"
#include "storage/sqlite/sqlite_storage.h"

namespace taskmill::sqlite {
namespace {

using conformance::TempDir;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

TEST(SetupLock, ASecondHolderWaitsAndThenGivesUpNamingTheLockFile) {
  TempDir dir;
  const std::string db = (dir.path() / "taskmill.db").string();
  {
    auto held = SetupLock::Acquire(db, 1s);
    ASSERT_TRUE(held.ok()) << held.status().ToString();
    auto second = SetupLock::Acquire(db, 50ms);
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.status().code(), StatusCode::kUnavailable);
    EXPECT_THAT(second.status().message(), HasSubstr(SetupLock::PathFor(db)));
  }
  // Released with its holder.
  EXPECT_TRUE(SetupLock::Acquire(db, 50ms).ok());
}

// Regression: processes starting together on a fresh data directory died with
// "database is locked" or "migration 3 failed: table api_tokens already exists".
TEST(SetupLock, StoragesOpenedTogetherOnAFreshDirectoryAllOpen) {
  TempDir dir;
  const std::string db = (dir.path() / "data" / "taskmill.db").string();
  constexpr int kOpeners = 6;
  std::vector<std::future<Status>> opened;
  for (int i = 0; i < kOpeners; ++i) {
    opened.push_back(std::async(std::launch::async, [&db] {
      auto storage = OpenSqliteStorage({db, "normal"});
      if (!storage.ok()) return storage.status();
      auto tasks = (*storage)->TaskList();  // the schema is there
      return tasks.ok() ? Status::Ok() : tasks.status();
    }));
  }
  for (auto& f : opened) {
    Status s = f.get();
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
}

TEST(SqliteErrors, AFullDatabaseIsInsufficientStorageSayingDiskFull) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(":memory:", &db), SQLITE_OK);
  sqlite3_extended_result_codes(db, 1);
  // A page limit makes SQLite answer as it does when the disk is full.
  ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE t (v BLOB); PRAGMA max_page_count = 4;", nullptr,
                         nullptr, nullptr),
            SQLITE_OK);
  int rc = SQLITE_OK;
  for (int i = 0; i < 100 && rc == SQLITE_OK; ++i) {
    rc = sqlite3_exec(db, "INSERT INTO t VALUES (zeroblob(4096))", nullptr, nullptr, nullptr);
  }
  ASSERT_EQ(rc & 0xff, SQLITE_FULL);
  Status s = ErrorFrom(db, rc, "insert");
  EXPECT_EQ(s.code(), StatusCode::kInsufficientStorage);
  EXPECT_THAT(s.message(), HasSubstr("disk full"));
  sqlite3_close(db);
}

}  // namespace
}  // namespace taskmill::sqlite
