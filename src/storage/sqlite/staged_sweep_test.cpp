// The rows a flow's step staged are deleted once its attempt is over without a finish
// (a cancel, a flow's stop, an attempt lost to a crash): no call of the contract shows
// staged rows, so these tests count them in the file (the conformance suite checks
// that none is ever released).
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "storage/conformance/helpers.h"
#include "storage/sqlite/sqlite_storage.h"

namespace taskmill::sqlite {
namespace {

using conformance::At;
using conformance::ClaimTwoSteps;
using conformance::FailingFlowR;
using conformance::FinishOf;
using conformance::kT0;
using conformance::StageChildren;
using conformance::TempDir;
using conformance::Unwrap;

class StagedSweep : public ::testing::Test {
 protected:
  // testing::Test::Run() would otherwise hide taskmill::Run.
  using Run = ::taskmill::Run;

  void SetUp() override { Open(); }
  void TearDown() override { storage_.reset(); }

  void Open() {
    storage_.reset();
    storage_ = Unwrap(OpenSqliteStorage({path_, "normal"}));
  }
  Storage& storage() { return *storage_; }

  // The rows staged under `parent`, read from the file by a connection of its own.
  int64_t StagedOf(const std::string& parent) const {
    sqlite3* db = nullptr;
    int64_t n = -1;
    if (sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
      sqlite3_stmt* stmt = nullptr;
      if (sqlite3_prepare_v2(db, "SELECT count(*) FROM staged_children WHERE parent_id = ?1", -1,
                             &stmt, nullptr) == SQLITE_OK) {
        sqlite3_bind_text(stmt, 1, parent.c_str(), -1, SQLITE_TRANSIENT);
        if (sqlite3_step(stmt) == SQLITE_ROW) n = sqlite3_column_int64(stmt, 0);
      }
      sqlite3_finalize(stmt);
    }
    sqlite3_close(db);
    return n;
  }

  // Whether no row staged under `parent` is left within `seconds`: the rows of an
  // attempt that ended are deleted in the commits that follow its end.
  bool StagedGone(const std::string& parent, int seconds = 10) const {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (StagedOf(parent) != 0) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
  }

  void Stage(const ClaimedRun& parent, int count) {
    ASSERT_TRUE(StageChildren(storage(), parent, count).ok());
    ASSERT_EQ(StagedOf(parent.id), count);
  }

  std::pair<ClaimedRun, ClaimedRun> TwoSteps(int max_attempts = 1) {
    return ClaimTwoSteps(storage(), max_attempts);
  }

  TempDir dir_;
  std::string path_ = (dir_.path() / "taskmill.db").string();
  std::unique_ptr<Storage> storage_;
};

TEST_F(StagedSweep, ACancelDeletesWhatTheAttemptStaged) {
  auto [a, b] = TwoSteps();
  Stage(a, 2500);
  Stage(b, 3);
  Unwrap(storage().RunCancel("r:a", "default", At(1)));
  EXPECT_TRUE(StagedGone("r:a"));
  EXPECT_EQ(StagedOf("r:b"), 3) << "another step's attempt still runs";
}

TEST_F(StagedSweep, AFlowsStopDeletesWhatItsRunningStepsStaged) {
  auto [a, b] = TwoSteps();
  Stage(a, 1200);
  RunFinish failed = FailingFlowR(b, At(1));
  ASSERT_TRUE(Unwrap(storage().RunFinishBatch({failed})).at(0).accepted);
  ASSERT_EQ(Unwrap(storage().RunGet("r:a")).status, RunStatus::kStopped);
  EXPECT_TRUE(StagedGone("r:a"));
}

TEST_F(StagedSweep, TheOpenDeletesWhatLostAttemptsStagedAndKeepsRunningOnes) {
  auto [a, b] = TwoSteps(/*max_attempts=*/2);
  Stage(a, 2500);
  Stage(b, 3);
  // Attempt a's end kept its rows (a finish that leaves them, as a sweeper that knows
  // no flow decides): no finish of that attempt will ever come.
  RunFinish lost = FinishOf(a.id, a.attempt, RunStatus::kPending, At(1));
  lost.run_at = At(100);
  ASSERT_TRUE(Unwrap(storage().RunFinishBatch({lost})).at(0).accepted);
  ASSERT_EQ(StagedOf("r:a"), 2500);
  Open();
  EXPECT_EQ(StagedOf("r:a"), 0);
  EXPECT_EQ(StagedOf("r:b"), 3) << "step b's attempt still runs";
  RunFinish done = FinishOf(b.id, b.attempt, RunStatus::kCompleted, At(2));
  done.staged = StagedRuns::kRelease;
  ASSERT_TRUE(Unwrap(storage().RunFinishBatch({done})).at(0).accepted);
  std::vector<std::string> released;
  for (const ChildOutcome& child : Unwrap(storage().RunListChildOutcomes("r:b", "", 10)).children) {
    released.push_back(child.id);
  }
  EXPECT_EQ(released, (std::vector<std::string>{"r:b:0", "r:b:1", "r:b:2"}));
}

}  // namespace
}  // namespace taskmill::sqlite
