// taskmill/testing/storage_conformance.h — the conformance suite that every storage
// backend must pass (as river's riverdrivertest does for its drivers).
//
// The suite is written against the taskmill::Storage interface alone (docs/storage.md
// explains the contract method by method). It is installed with the package as the
// static library taskmill::storage_conformance (CMake) and needs GoogleTest. A backend
// runs the whole suite with one line in one of its test files:
//
//   TASKMILL_STORAGE_CONFORMANCE(MyBackend, MyBackendFactory());
//
// and links the test binary with taskmill::storage_conformance and GTest::gtest_main:
//
//   find_package(taskmill REQUIRED COMPONENTS conformance)
//   target_link_libraries(my_backend_test PRIVATE my_backend
//                         taskmill::storage_conformance GTest::gtest_main)
//
// The tests are then named MyBackend/StorageConformance.<Test>/<factory name>, and
// --gtest_filter='MyBackend/*' runs them. examples/custom-storage/ is a complete
// backend that passes the suite this way.
//
// A StorageFactory creates a StorageFixture: a fresh, empty database owned by one test
// (a temporary directory for SQLite, a scratch schema for a server database, a new
// in-memory store) that is deleted when the fixture is destroyed.
//
// Subjects (one source file each): storing and reading runs; listing; claiming, leases
// and fencing; finishing, cancelling, retrying and removing; tallies (statistics,
// pruning, a task's latest run); the catalog (queues, tasks, leaders, state, tokens);
// files and bulk checkpoints; accounts; claims ahead of the slots; and durability.
// Every subject is required: the suite skips nothing. The one that asks most of a
// backend is durability, which closes the storage and opens the same database again
// (StorageFixture::Reopen). A backend that keeps its data in memory meets it by handing
// out a new Storage object over the same store, which is what its own users see when
// they drop one Storage and open another in the same process.
//
// Time: the suite passes fixed instants as `now` (kT0 = 2026-01-01T00:00:00Z); it never
// reads the wall clock and never sleeps. One test claims from four threads at once
// (Storage methods must be thread-safe).
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
#include <vector>

namespace taskmill::conformance {

// One test's database. Not thread-safe itself; the Storage it hands out is.
class StorageFixture {
 public:
  virtual ~StorageFixture() = default;  // closes the storage and deletes the data
  // The storage under test; the reference is valid until the next Reopen().
  virtual Storage& storage() = 0;
  // Closes the storage (destroying the Storage object, so that whatever it buffers is
  // flushed or lost as it would be at a restart) and opens the same database again.
  // Everything a call acknowledged before must be found by the new Storage.
  virtual Status Reopen() = 0;
};

// How the suite makes the fixture of each test.
struct StorageFactory {
  // A test-name-safe backend name (letters, digits, _), e.g. "sqlite_full"; it ends
  // each test's name.
  std::string name;
  // Called once per test; an error fails that test with the factory's name and the
  // status.
  std::function<Result<std::unique_ptr<StorageFixture>>()> create;
};

// Names instantiations after the backend: StorageConformance/RunTake.../sqlite.
std::string StorageFactoryName(const ::testing::TestParamInfo<StorageFactory>& info);
void PrintTo(const StorageFactory& factory, std::ostream* os);

// A fresh temporary directory, removed with its contents on destruction (for backends
// that keep files).
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

// The value-parameterized suite. Its tests live in the library's source files, one per
// subject; TASKMILL_STORAGE_CONFORMANCE instantiates all of them for a backend.
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
  // Stores one launch with RunPutScheduled, fenced with the term of the lease
  // "scheduler" (taken for "conformance" when no one holds it); returns whether it
  // was stored.
  bool PutScheduled(const Run& run);
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

// Runs the whole suite against the backends the factories make, at namespace scope:
//
//   TASKMILL_STORAGE_CONFORMANCE(Memory, MemoryFactory());
//   TASKMILL_STORAGE_CONFORMANCE(Sqlite, SqliteFactory("full"), SqliteFactory("normal"));
//
// `prefix` names the instantiation (Memory/StorageConformance.RunPut.../memory). The
// factories are StorageFactory values, evaluated before main. Naming
// StorageFactoryName is also what links the suite's test files into the binary (the
// suite is a static library; fixture.cpp refers to every subject's file).
#define TASKMILL_STORAGE_CONFORMANCE(prefix, ...)                                      \
  using ::taskmill::conformance::StorageConformance;                                   \
  INSTANTIATE_TEST_SUITE_P(prefix, StorageConformance, ::testing::Values(__VA_ARGS__), \
                           ::taskmill::conformance::StorageFactoryName)
