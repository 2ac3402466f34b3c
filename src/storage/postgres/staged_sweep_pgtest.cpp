// staged_sweep_pgtest.cpp — the rows a flow's step staged are deleted once its attempt
// is over without a finish (a cancel, a flow's stop, an attempt lost to a crash): no
// call of the contract shows staged rows, so these tests count them in staged_runs
// (the conformance suite checks that none is ever released).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "storage/conformance/helpers.h"
#include "storage/postgres/pg_conn.h"
#include "storage/postgres/postgres_storage.h"
#include "storage/postgres/testing/pg_test_server.h"

namespace taskmill::postgres {
namespace {

using conformance::At;
using conformance::ClaimTwoSteps;
using conformance::FailingFlowR;
using conformance::FinishOf;
using conformance::kT0;
using conformance::StageChildren;
using conformance::Unwrap;
using testing::PgTestServer;

class PostgresStagedSweep : public ::testing::Test {
 protected:
  // testing::Test::Run() would otherwise hide taskmill::Run.
  using Run = ::taskmill::Run;

  void SetUp() override {
    auto server = PgTestServer::Shared();
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    static const Status database = (*server)->CreateDatabase("taskmill_staged").status();
    ASSERT_TRUE(database.ok()) << database.ToString();
    url_ = Unwrap((*server)->CreateSchema("taskmill_staged", PgTestServer::UniqueName("staged")));
    Open();
    probe_ = Unwrap(Connection::Open(url_));
  }

  void Open() {
    storage_.reset();
    storage_ = Unwrap(OpenStorage(StorageOptions{url_}));
  }
  Storage& storage() { return *storage_; }

  // The rows staged under `parent`, committed.
  int64_t StagedOf(const std::string& parent) {
    auto rows =
        probe_->Exec("SELECT count(*) FROM staged_runs WHERE parent_id = $1", Params().Add(parent));
    return rows.ok() ? rows->Int(0, 0) : -1;
  }

  void Stage(const ClaimedRun& parent, int count) {
    ASSERT_TRUE(StageChildren(storage(), parent, count).ok());
    ASSERT_EQ(StagedOf(parent.id), count);
  }

  std::pair<ClaimedRun, ClaimedRun> TwoSteps(int max_attempts = 1) {
    return ClaimTwoSteps(storage(), max_attempts);
  }

  std::string url_;
  std::unique_ptr<Storage> storage_;
  std::unique_ptr<Connection> probe_;
};

TEST_F(PostgresStagedSweep, ACancelDeletesWhatTheAttemptStagedInItsCommit) {
  auto [a, b] = TwoSteps();
  Stage(a, 2500);
  Stage(b, 3);
  Unwrap(storage().RunCancel("r:a", "default", At(1)));
  EXPECT_EQ(StagedOf("r:a"), 0);
  EXPECT_EQ(StagedOf("r:b"), 3) << "another step's attempt still runs";
}

TEST_F(PostgresStagedSweep, AFlowsStopDeletesWhatItsRunningStepsStagedInItsCommit) {
  auto [a, b] = TwoSteps();
  Stage(a, 1200);
  RunFinish failed = FailingFlowR(b, At(1));
  ASSERT_TRUE(Unwrap(storage().RunFinishBatch({failed})).at(0).accepted);
  ASSERT_EQ(Unwrap(storage().RunGet("r:a")).status, RunStatus::kStopped);
  EXPECT_EQ(StagedOf("r:a"), 0);
}

TEST_F(PostgresStagedSweep, TheOpenDeletesWhatLostAttemptsStagedAndKeepsRunningOnes) {
  auto [a, b] = TwoSteps(/*max_attempts=*/2);
  Stage(a, 12000);  // more than one batch of the sweep
  Stage(b, 3);
  // Attempt a's end kept its rows (a finish that leaves them, as a sweeper that knows
  // no flow decides): no finish of that attempt will ever come.
  RunFinish lost = FinishOf(a.id, a.attempt, RunStatus::kPending, At(1));
  lost.run_at = At(100);
  ASSERT_TRUE(Unwrap(storage().RunFinishBatch({lost})).at(0).accepted);
  ASSERT_EQ(StagedOf("r:a"), 12000);
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
}  // namespace taskmill::postgres
