// Conformance test of durability: everything a backend stores survives closing the
// storage and opening the same database again (StorageFixture::Reopen). Written
// against the Storage interface alone, so every backend that instantiates
// StorageConformance runs it.
#include <gmock/gmock.h>

#include <vector>

#include "storage/conformance/helpers.h"

namespace taskmill::conformance {

// Named in fixture.cpp's link table, so that linking the suite links this file (helpers.h).
const int kReopenSubject = 0;

namespace {
using namespace std::chrono_literals;
using ::testing::ElementsAre;

// ---- durability -----------------------------------------------------------------------

TEST_P(StorageConformance, EverythingSurvivesReopening) {
  Run failed = NewRun("failed");
  failed.priority = 1;
  Put({FullCompletedRun("full"), failed, NewRun("running")});
  std::vector<ClaimedRun> claimed_runs = Take("runner-1", 2, kT0);
  ASSERT_THAT(Ids(claimed_runs), ElementsAre("failed", "running"));
  ASSERT_TRUE(Finish(claimed_runs[0], RunStatus::kFailed, At(1)));
  ClaimedRun claimed = claimed_runs[1];
  Put({NewRun("pending")});
  Unwrap(storage().TaskUpsert(FullTask("nightly")));
  Unwrap(storage().StatePut("cursor", "42"));
  Unwrap(storage().QueueSetPaused("frozen", true));
  ASSERT_TRUE(Unwrap(storage().LeaderAttemptElect("scheduler", "node-a", kT0, 60s)));
  Run scheduled = NewTaskRun("scheduled", "cron");
  scheduled.scheduled_at = At(60);
  ASSERT_TRUE(PutScheduled(scheduled));

  RunFilter all;
  all.limit = 1000;
  std::vector<Run> runs_before = ListAll(all);
  StorageStats stats_before = Unwrap(storage().RunStats());

  Reopen();

  std::vector<Run> runs_after = ListAll(all);
  ASSERT_EQ(runs_after.size(), runs_before.size());
  for (size_t i = 0; i < runs_before.size(); ++i) EXPECT_RUN_EQ(runs_after[i], runs_before[i]);
  StorageStats stats_after = Unwrap(storage().RunStats());
  EXPECT_EQ(stats_after.by_status, stats_before.by_status);
  EXPECT_EQ(stats_after.total, stats_before.total);
  EXPECT_EQ(Json(Unwrap(storage().TaskGet("nightly"))), Json(FullTask("nightly")));
  EXPECT_EQ(Unwrap(storage().StateGet("cursor")), "42");
  bool frozen_paused = false;
  for (const auto& q : Unwrap(storage().QueueList(kT0))) {
    if (q.queue == "frozen") frozen_paused = q.paused;
  }
  EXPECT_TRUE(frozen_paused);
  EXPECT_FALSE(Unwrap(storage().LeaderAttemptElect("scheduler", "node-b", At(30), 60s)));
  EXPECT_TRUE(Unwrap(storage().LeaderAttemptElect("scheduler", "node-a", At(30), 60s)));
  scheduled.id = "scheduled-again";
  EXPECT_FALSE(PutScheduled(scheduled));

  // The claim and its fencing token survive: the runner can still finish its attempt.
  EXPECT_THAT(Unwrap(storage().RunHeartbeatBatch({{"default", "running", 1, At(90)}})),
              ElementsAre(true));
  EXPECT_TRUE(Finish(claimed, RunStatus::kCompleted, At(91)));
  EXPECT_EQ(Get("running").status, RunStatus::kCompleted);
  ExpectStatsMatchListing();
}

}  // namespace
}  // namespace taskmill::conformance
