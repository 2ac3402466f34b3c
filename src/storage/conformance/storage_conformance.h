// storage_conformance.h — the one conformance suite that every storage backend must
// pass (river's riverdrivertest.Exercise).
//
// The suite is written against the taskmill::Storage interface alone. A backend
// joins it with one line in its own test file:
//
//   INSTANTIATE_TEST_SUITE_P(Postgres, StorageConformance,
//                            ::testing::Values(PostgresFactory()), StorageFactoryName);
//
// (src/storage/sqlite/sqlite_storage_test.cpp is the example to copy.)
//
// A StorageFactory creates a StorageFixture: a fresh, empty database owned by one test
// (a temporary directory for SQLite, a scratch schema for PostgreSQL) that is deleted
// when the fixture is destroyed. Reopen() closes the storage and opens the same
// database again, so the suite can check what survives a restart.
//
// Time: the suite passes fixed instants as `now` (kT0 = 2026-01-01T00:00:00Z); it never
// reads the wall clock and never sleeps.
#pragma once

#include <gtest/gtest.h>
#include <taskmill/storage.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <ostream>
#include <stdexcept>
#include <string>
#include <utility>

namespace taskmill::conformance {

// One test's database. Not thread-safe itself; the Storage it hands out is.
class StorageFixture {
 public:
  virtual ~StorageFixture() = default;  // closes the storage and deletes the data
  // The storage under test; the reference is valid until the next Reopen().
  virtual Storage& storage() = 0;
  // Closes the storage (destroying the Storage object) and opens the same database.
  virtual Status Reopen() = 0;
};

struct StorageFactory {
  std::string name;  // a test-name-safe backend name, e.g. "sqlite"
  std::function<Result<std::unique_ptr<StorageFixture>>()> create;
};

// Names instantiations after the backend: StorageConformance/RunTake.../sqlite.
std::string StorageFactoryName(const ::testing::TestParamInfo<StorageFactory>& info);
void PrintTo(const StorageFactory& factory, std::ostream* os);

// A fresh temporary directory, removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// 2026-01-01T00:00:00Z, the instant every test starts from.
inline constexpr TimePoint kT0{std::chrono::sys_days{std::chrono::year{2026} / 1 / 1}};
// kT0 plus a number of seconds (negative: before kT0).
constexpr TimePoint At(int64_t seconds) { return kT0 + std::chrono::seconds(seconds); }

// Thrown by Unwrap when a call that must succeed fails; GoogleTest reports it as a
// failure of the test that made the call and stops that test.
class UnexpectedStatus : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// "file:line". The call site comes from __builtin_FILE/__builtin_LINE rather than
// std::source_location, which libstdc++ offers clang only from clang 15 on (the
// ThreadSanitizer build is clang 14).
std::string Where(const char* file, int line);

// The value of a Result that must be OK, e.g. `Run run = Unwrap(storage.RunGet(id));`.
template <typename T>
T Unwrap(Result<T> result, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  if (!result.ok()) {
    throw UnexpectedStatus(Where(file, line) + ": " + result.status().ToString());
  }
  return std::move(result).value();
}
void Unwrap(const Status& status, const char* file = __builtin_FILE(), int line = __builtin_LINE());

// The value-parameterized suite; the tests live in storage_conformance.cpp.
class StorageConformance : public ::testing::TestWithParam<StorageFactory> {
 protected:
  // testing::Test::Run() would otherwise hide taskmill::Run inside every test body.
  using Run = ::taskmill::Run;

  void SetUp() override;
  void TearDown() override;

  Storage& storage() { return fixture_->storage(); }
  // Closes and reopens the database; storage() then refers to the new instance.
  void Reopen();

  // A pending anonymous run of function "test.echo" in queue "default", created and
  // due at kT0.
  static Run NewRun(std::string id, std::string queue = "default");
  // A run of task `task` (function "task.<task>").
  static Run NewTaskRun(std::string id, std::string task);
  // Stores runs with ConflictMode::kError and returns them as stored.
  std::vector<Run> Put(std::vector<Run> runs);
  Run Get(const std::string& id, const std::string& queue = "");
  std::vector<ClaimedRun> Take(const std::string& runner, int max, TimePoint now,
                               std::vector<std::string> queues = {});
  // Finishes one attempt with `status` at `finished_at`; returns whether it was accepted.
  bool Finish(const Run& claimed, RunStatus status, TimePoint finished_at);
  // Every run that matches `filter`, following cursors page by page (newest first).
  std::vector<Run> ListAll(RunFilter filter);
  // Checks that RunStats reports every status and that its counts equal the number of
  // runs RunList finds in each status.
  void ExpectStatsMatchListing();

 private:
  std::unique_ptr<StorageFixture> fixture_;
};

}  // namespace taskmill::conformance
