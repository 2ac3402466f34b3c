// Conformance tests of the derived states of pending runs: due, scheduled (not yet
// due, never attempted) and waiting for a retry (not yet due, attempted before), as
// RunPendingSplit counts them and RunList's filter lists them, for one account or all.
#include <gmock/gmock.h>

#include <set>
#include <string>
#include <vector>

#include "storage/conformance/helpers.h"
#include "storage/conformance/storage_conformance.h"

namespace taskmill::conformance {

const int kPendingSplitSubject = 0;
namespace {

Run Later(Run run, TimePoint at, std::string account = "") {
  run.run_at = at;
  run.account_id = std::move(account);
  run.auth_account_id = run.account_id;
  return run;
}

std::set<std::string> IdSet(const std::vector<Run>& runs) {
  std::set<std::string> out;
  for (const Run& run : runs) out.insert(run.id);
  return out;
}

}  // namespace

TEST_P(StorageConformance, PendingRunsSplitIntoDueScheduledAndRetrying) {
  Run retry = NewRun("retry");
  retry.retry.max_attempts = 3;
  Put({retry});
  auto claimed = Take("runner-1", 1, kT0);
  ASSERT_EQ(claimed.size(), 1u);
  RunFinish finish;
  finish.queue = claimed[0].queue;
  finish.id = claimed[0].id;
  finish.attempt = claimed[0].attempt;
  finish.status = RunStatus::kPending;  // a failed attempt that will be retried
  finish.finished_at = At(1);
  finish.run_at = At(60);
  finish.error = "boom";
  ASSERT_TRUE(Unwrap(storage().RunFinishBatch({finish}))[0].accepted);
  Put({NewRun("due"), Later(NewRun("soon"), At(30)), Later(NewRun("later"), At(90), "alpha"),
       Later(NewRun("alpha-due"), At(-5), "alpha")});

  PendingSplit all = Unwrap(storage().RunPendingSplit(std::nullopt, At(10), 1000));
  EXPECT_EQ(all.due, 2);
  EXPECT_EQ(all.scheduled, 2);
  EXPECT_EQ(all.retrying, 1);
  EXPECT_EQ(all.counted, 5);
  PendingSplit alpha = Unwrap(storage().RunPendingSplit("alpha", At(10), 1000));
  EXPECT_EQ(alpha.due, 1);
  EXPECT_EQ(alpha.scheduled, 1);
  EXPECT_EQ(alpha.retrying, 0);
  PendingSplit none = Unwrap(storage().RunPendingSplit("", At(10), 1000));
  EXPECT_EQ(none.counted, 3) << "runs of no account";
  EXPECT_EQ(none.retrying, 1);
  // Once every run_at has passed, every pending run is due.
  EXPECT_EQ(Unwrap(storage().RunPendingSplit(std::nullopt, At(100), 1000)).due, 5);
  // The limit bounds how many are read.
  PendingSplit bounded = Unwrap(storage().RunPendingSplit(std::nullopt, At(10), 2));
  EXPECT_EQ(bounded.counted, 2);
  EXPECT_EQ(bounded.due + bounded.scheduled + bounded.retrying, 2);

  // The listing's filter finds the same runs.
  RunFilter scheduled;
  scheduled.status = RunStatus::kPending;
  scheduled.run_at_after = At(10);
  scheduled.attempted = false;
  EXPECT_EQ(IdSet(ListAll(scheduled)), (std::set<std::string>{"soon", "later"}));
  RunFilter retrying = scheduled;
  retrying.attempted = true;
  EXPECT_EQ(IdSet(ListAll(retrying)), (std::set<std::string>{"retry"}));
  RunFilter due;
  due.status = RunStatus::kPending;
  due.run_at_not_after = At(10);
  EXPECT_EQ(IdSet(ListAll(due)), (std::set<std::string>{"due", "alpha-due"}));
  due.account_id = "alpha";
  EXPECT_EQ(IdSet(ListAll(due)), (std::set<std::string>{"alpha-due"}));
}

TEST_P(StorageConformance, RunMakeDueBringsAPendingRunsTimeForward) {
  Put({Later(NewRun("soon"), At(300)), NewRun("done")});
  Run made = Unwrap(storage().RunMakeDue("soon", "", At(10)));
  EXPECT_EQ(made.run_at, At(10));
  EXPECT_EQ(made.status, RunStatus::kPending);
  EXPECT_EQ(Unwrap(storage().RunPendingSplit(std::nullopt, At(10), 100)).due, 2);
  // A run already due keeps its place.
  EXPECT_EQ(Unwrap(storage().RunMakeDue("soon", "default", At(20))).run_at, At(10));
  auto claimed = Take("runner-1", 1, At(20), {"default"});
  ASSERT_EQ(claimed.size(), 1u);
  auto running = storage().RunMakeDue(claimed[0].id, "default", At(21));
  EXPECT_EQ(running.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(storage().RunMakeDue("nobody", "", At(21)).status().code(), StatusCode::kNotFound);
  ExpectStatsMatchListing();
}

}  // namespace taskmill::conformance
