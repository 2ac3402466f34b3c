// Conformance tests of accounts in storage: a run put never reads or changes another
// account's run whatever its conflict mode, and statistics, queues and a task's latest
// run can be read for one account, counting only its runs. Written against the
// Storage interface alone, so every backend that instantiates StorageConformance
// runs them.
#include <gmock/gmock.h>

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "storage/conformance/helpers.h"

namespace taskmill::conformance {

// Named in fixture.cpp's link table, so that linking the suite links this file (helpers.h).
const int kAccountsSubject = 0;

namespace {
namespace json = boost::json;
using ::testing::HasSubstr;

Run Owned(Run run, std::string account, std::string secret = "") {
  run.account_id = std::move(account);
  run.auth_account_id = run.account_id;
  if (!secret.empty()) run.data = json::object{{"secret", secret}};
  return run;
}

RunPutParams PutOf(std::vector<Run> runs, ConflictMode mode) {
  RunPutParams params;
  params.runs = std::move(runs);
  params.conflict = mode;
  return params;
}

int64_t Count(const StorageStats& stats, RunStatus status) {
  auto it = stats.by_status.find(status);
  return it == stats.by_status.end() ? 0 : it->second;
}

}  // namespace

TEST_P(StorageConformance, RunPutNeverAnswersNorReplacesAnotherAccountsRun) {
  Put({Owned(NewRun("doneA", "shared"), "alpha", "alpha-secret")});
  const Run stored = Get("doneA", "shared");

  for (ConflictMode mode :
       {ConflictMode::kError, ConflictMode::kIgnore, ConflictMode::kOverwrite}) {
    SCOPED_TRACE(std::string(ToString(mode)));
    auto put = storage().RunPut(PutOf({Owned(NewRun("doneA", "shared"), "beta", "beta")}, mode));
    ASSERT_FALSE(put.ok());
    EXPECT_EQ(put.status().code(), StatusCode::kConflict);
    // Worded as for kError: nothing of the stored run is in the answer.
    EXPECT_THAT(put.status().message(), HasSubstr("already exists"));
    EXPECT_THAT(put.status().ToString(), ::testing::Not(HasSubstr("alpha")));
    EXPECT_EQ(Get("doneA", "shared"), stored) << "the stored run is unchanged";
  }

  // A batch with one such run stores nothing at all.
  auto batch = storage().RunPut(
      PutOf({Owned(NewRun("fresh", "shared"), "beta"), Owned(NewRun("doneA", "shared"), "beta")},
            ConflictMode::kOverwrite));
  EXPECT_EQ(batch.status().code(), StatusCode::kConflict);
  EXPECT_EQ(storage().RunGet("fresh", "shared").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Get("doneA", "shared"), stored);

  // The same id in another queue is another run; the owner keeps its modes.
  Put({Owned(NewRun("doneA", "elsewhere"), "beta")});
  auto ignored = Unwrap(storage().RunPut(
      PutOf({Owned(NewRun("doneA", "shared"), "alpha", "again")}, ConflictMode::kIgnore)));
  ASSERT_EQ(ignored.size(), 1u);
  EXPECT_EQ(ignored[0], stored) << "ignore answers the owner its own run";
  Unwrap(storage().RunPut(
      PutOf({Owned(NewRun("doneA", "shared"), "alpha", "replaced")}, ConflictMode::kOverwrite)));
  EXPECT_EQ(Get("doneA", "shared").data, (json::object{{"secret", "replaced"}}));
}

TEST_P(StorageConformance, RunStatsOfAnAccountCountOnlyItsRuns) {
  Put({Owned(NewTaskRun("a1", "nightly"), "alpha"), Owned(NewRun("a2"), "alpha"),
       Owned(NewRun("b1"), "beta"), Owned(NewRun("b2"), "beta"), Owned(NewRun("b3"), "beta"),
       NewRun("n1")});
  // A claim and a finish move the account's counts, as they move the global ones.
  // Claimed in put order: a1, a2, b1 and b2; b3 and n1 stay pending.
  auto claimed = Take("runner-1", 4, kT0);
  ASSERT_EQ(claimed.size(), 4u);
  for (const Run& run : claimed) {
    if (run.id == "b1") {
      ASSERT_TRUE(Finish(run, RunStatus::kFailed, At(1)));
    }
    if (run.id == "a2") {
      ASSERT_TRUE(Finish(run, RunStatus::kCompleted, At(1)));
    }
  }
  Unwrap(storage().RunRemove("b3", "default"));

  StorageStats all = Unwrap(storage().RunStats());
  EXPECT_EQ(all.total, 5);
  StorageStats alpha = Unwrap(storage().RunStats("alpha"));
  EXPECT_EQ(alpha.total, 2);
  EXPECT_EQ(Count(alpha, RunStatus::kRunning), 1);
  EXPECT_EQ(Count(alpha, RunStatus::kCompleted), 1);
  EXPECT_EQ(Count(alpha, RunStatus::kFailed), 0);
  EXPECT_EQ(alpha.by_status.size(), std::size(kAllRunStatuses)) << "zeros included";
  EXPECT_EQ(alpha.by_task["nightly"][RunStatus::kRunning], 1);
  StorageStats beta = Unwrap(storage().RunStats("beta"));
  EXPECT_EQ(beta.total, 2);
  EXPECT_EQ(Count(beta, RunStatus::kFailed), 1);
  EXPECT_EQ(Count(beta, RunStatus::kRunning), 1);
  EXPECT_EQ(Unwrap(storage().RunStats("")).total, 1) << "runs of no account";
  EXPECT_EQ(Unwrap(storage().RunStats("nobody")).total, 0);

  // Counts survive a restart (they are stored, not kept in memory).
  Reopen();
  EXPECT_EQ(Unwrap(storage().RunStats("alpha")).total, 2);
}

TEST_P(StorageConformance, QueueListOfAnAccountShowsOnlyItsQueuesAndRuns) {
  Run alpha_old = Owned(NewRun("a-old", "shared"), "alpha");
  alpha_old.run_at = At(-100);
  Run beta_older = Owned(NewRun("b-older", "shared"), "beta");
  beta_older.run_at = At(-500);
  Run alpha_new = Owned(NewRun("a-new", "shared"), "alpha");
  alpha_new.run_at = At(-10);
  Put({alpha_old, beta_older, alpha_new, Owned(NewRun("b-own", "beta-only"), "beta"),
       Owned(NewRun("a-later", "later"), "alpha")});
  Unwrap(storage().QueueSetPaused("shared", true));
  Unwrap(storage().QueueSetPaused("idle", true));

  auto alpha = Unwrap(storage().QueueList(kT0, "alpha"));
  ASSERT_EQ(alpha.size(), 2u) << "beta-only and idle are not alpha's";
  EXPECT_EQ(alpha[0].queue, "later");
  EXPECT_EQ(alpha[1].queue, "shared");
  EXPECT_EQ(alpha[1].pending, 2);
  EXPECT_EQ(alpha[1].running, 0);
  EXPECT_TRUE(alpha[1].paused);
  ASSERT_TRUE(alpha[1].oldest_pending_run_at);
  EXPECT_EQ(FormatTime(*alpha[1].oldest_pending_run_at), FormatTime(At(-100)))
      << "beta's older run is not alpha's";

  auto all = Unwrap(storage().QueueList(kT0));
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[3].queue, "shared");
  EXPECT_EQ(all[3].pending, 3);
  EXPECT_EQ(FormatTime(*all[3].oldest_pending_run_at), FormatTime(At(-500)));
  EXPECT_TRUE(Unwrap(storage().QueueList(kT0, "nobody")).empty());
}

TEST_P(StorageConformance, RunListByIdFindsTheRunOfOneAccountAmongQueues) {
  Put({Owned(NewRun("same", "q1"), "alpha"), Owned(NewRun("same", "q2"), "beta"),
       Owned(NewRun("other", "q2"), "beta")});
  RunFilter filter;
  filter.id = "same";
  filter.account_id = "beta";
  std::vector<Run> found = ListAll(filter);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].queue, "q2");
  filter.account_id.clear();
  EXPECT_EQ(ListAll(filter).size(), 2u);
  filter.id = "missing";
  EXPECT_TRUE(ListAll(filter).empty());
}

TEST_P(StorageConformance, RunLatestOfTaskForAnAccountSkipsOtherAccountsRuns) {
  Run a1 = Owned(NewTaskRun("a1", "nightly"), "alpha");
  Run n1 = NewTaskRun("n1", "nightly");
  Put({a1});
  Put({n1});
  Put({Owned(NewTaskRun("b1", "nightly"), "beta")});
  EXPECT_EQ(Unwrap(storage().RunLatestOfTask("nightly"))->id, "b1");
  auto alpha = Unwrap(storage().RunLatestOfTask("nightly", "alpha"));
  ASSERT_TRUE(alpha);
  EXPECT_EQ(alpha->id, "a1");
  EXPECT_EQ(Unwrap(storage().RunLatestOfTask("nightly", ""))->id, "n1");
  EXPECT_FALSE(Unwrap(storage().RunLatestOfTask("nightly", "gamma")));
  EXPECT_FALSE(Unwrap(storage().RunLatestOfTask("weekly", "alpha")));
}

}  // namespace taskmill::conformance
