// Conformance tests of what storage counts: RunStats through every kind of change,
// RunPrune's per-task history, RunLatestOfTask and RunCountLive. Written against the
// Storage interface alone, so every backend that instantiates StorageConformance
// runs them.
#include <gmock/gmock.h>

#include <map>
#include <string>
#include <vector>

#include "storage/conformance/helpers.h"

namespace taskmill::conformance {

// Named in fixture.cpp's link table, so that linking the suite links this file (helpers.h).
const int kTalliesSubject = 0;

namespace {
using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;

// ---- RunStats -------------------------------------------------------------------------

TEST_P(StorageConformance, RunStatsReportsEveryStatusOfAnEmptyStorage) {
  StorageStats stats = Unwrap(storage().RunStats());
  EXPECT_EQ(stats.total, 0);
  ASSERT_EQ(stats.by_status.size(), std::size(kAllRunStatuses));
  for (RunStatus status : kAllRunStatuses) {
    EXPECT_EQ(CountOf(stats, status), 0) << ToString(status);
  }
}

TEST_P(StorageConformance, RunStatsCountsStayExactThroughEveryKindOfChange) {
  // 12 pending runs of task "mix", one did_not_start and one unknown_task of "other".
  std::vector<Run> runs;
  for (int i = 0; i < 12; ++i) {
    Run r = NewTaskRun("a" + std::to_string(i), "mix");
    r.run_at = At(-100 + i);
    runs.push_back(std::move(r));
  }
  Run skipped = NewTaskRun("b0", "other");
  skipped.status = RunStatus::kDidNotStart;
  skipped.finished_at = At(-10);
  Run unknown = NewTaskRun("b1", "other");
  unknown.status = RunStatus::kUnknownTask;
  unknown.finished_at = At(-5);
  runs.push_back(skipped);
  runs.push_back(unknown);
  Put(runs);
  ExpectStatsMatchListing();

  std::vector<ClaimedRun> claimed = Take("runner-1", 8, kT0);  // a0..a7
  ASSERT_THAT(Ids(claimed), ElementsAre("a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7"));
  ASSERT_TRUE(Finish(claimed[0], RunStatus::kCompleted, At(1)));
  ASSERT_TRUE(Finish(claimed[1], RunStatus::kPartial, At(2)));
  ASSERT_TRUE(Finish(claimed[2], RunStatus::kFailed, At(3)));
  ASSERT_TRUE(Finish(claimed[3], RunStatus::kLost, At(4)));
  RunFinish retry = FinishOf("a4", 1, RunStatus::kPending, At(4));
  retry.run_at = At(100);
  ASSERT_TRUE(Unwrap(storage().RunFinishBatch({retry})).at(0).accepted);
  ExpectStatsMatchListing();

  Unwrap(storage().RunCancel("a5", "default", At(5)));  // running
  Unwrap(storage().RunCancel("a8", "default", At(6)));  // pending
  EXPECT_FALSE(Finish(claimed[4], RunStatus::kCompleted, At(7))) << "stale attempt";
  EXPECT_FALSE(Finish(claimed[5], RunStatus::kCompleted, At(7))) << "cancelled";
  Unwrap(storage().RunRetry("a2", "default", At(7)));  // failed -> pending
  Unwrap(storage().RunRemove("a0", "default"));        // completed, removed
  EXPECT_EQ(storage().RunRemove("a6", "default").code(), StatusCode::kFailedPrecondition);
  ExpectStatsMatchListing();

  RunPutParams overwrite;
  overwrite.runs = {NewTaskRun("a1", "mix")};  // partial -> pending
  overwrite.conflict = ConflictMode::kOverwrite;
  Unwrap(storage().RunPut(overwrite));
  RunPutParams ignore;
  ignore.runs = {NewTaskRun("a9", "mix")};
  ignore.conflict = ConflictMode::kIgnore;
  Unwrap(storage().RunPut(ignore));
  RunPutParams conflicting;
  conflicting.runs = {NewTaskRun("x", "mix"), NewTaskRun("a9", "mix")};
  EXPECT_FALSE(storage().RunPut(conflicting).ok());
  RunPutParams refused_overwrite;
  refused_overwrite.runs = {NewTaskRun("y", "mix"), NewTaskRun("a6", "mix")};
  refused_overwrite.conflict = ConflictMode::kOverwrite;
  EXPECT_FALSE(storage().RunPut(refused_overwrite).ok()) << "a6 is running";
  Run scheduled = NewTaskRun("s1", "cron");
  scheduled.scheduled_at = At(60);
  EXPECT_TRUE(PutScheduled(scheduled));
  scheduled.id = "s1-again";
  EXPECT_FALSE(PutScheduled(scheduled));
  ExpectStatsMatchListing();

  // Finished runs of "mix": a3 lost (t4), a5 stopped (t5), a8 stopped (t6); of "other":
  // b0 (t-10), b1 (t-5). Keeping one per task removes a3, a5 and b0.
  EXPECT_EQ(Unwrap(storage().RunPrune(1)), 3);
  ExpectStatsMatchListing();

  std::map<RunStatus, int64_t> expected = {
      {RunStatus::kPending, 7}, {RunStatus::kRunning, 2},     {RunStatus::kCompleted, 0},
      {RunStatus::kPartial, 0}, {RunStatus::kFailed, 0},      {RunStatus::kLost, 0},
      {RunStatus::kStopped, 1}, {RunStatus::kDidNotStart, 0}, {RunStatus::kUnknownTask, 1}};
  StorageStats stats = Unwrap(storage().RunStats());
  EXPECT_EQ(stats.by_status, expected);
  EXPECT_EQ(stats.total, 11);
  EXPECT_EQ(Unwrap(storage().RunCountLive("mix")), 8);

  Reopen();
  stats = Unwrap(storage().RunStats());
  EXPECT_EQ(stats.by_status, expected);
  EXPECT_EQ(stats.total, 11);
  ExpectStatsMatchListing();
}

// ---- RunPrune -------------------------------------------------------------------------

TEST_P(StorageConformance, RunPruneKeepsTheNewestFinishedRunsPerTaskAndNeverAnonymousRuns) {
  auto finished = [](Run r, RunStatus status, int64_t finished_at) {
    r.status = status;
    r.finished_at = At(finished_at);
    return r;
  };
  auto anonymous = [&](std::string id, std::string function) {
    Run r = NewRun(std::move(id));
    r.function = std::move(function);
    return r;
  };
  // Stored in this order; finish times deliberately differ from the storing order.
  Put({finished(NewTaskRun("t1-a", "t1"), RunStatus::kCompleted, 40),
       finished(NewTaskRun("t1-b", "t1"), RunStatus::kFailed, 10),
       finished(NewTaskRun("t1-c", "t1"), RunStatus::kCompleted, 30),
       finished(NewTaskRun("t1-d", "t1"), RunStatus::kStopped, 20), NewTaskRun("t1-pending", "t1"),
       finished(NewTaskRun("t2-a", "t2"), RunStatus::kFailed, 1),
       finished(NewTaskRun("t2-b", "t2"), RunStatus::kFailed, 2),
       finished(anonymous("f1-a", "fn.one"), RunStatus::kCompleted, 1),
       finished(anonymous("f1-b", "fn.one"), RunStatus::kCompleted, 2),
       finished(anonymous("f1-c", "fn.one"), RunStatus::kCompleted, 3),
       finished(anonymous("f2-a", "fn.two"), RunStatus::kLost, 1)});
  Run running = NewTaskRun("t1-running", "t1");
  running.priority = 10;
  Put({running});
  ASSERT_THAT(Ids(Take("runner-1", 1, kT0)), ElementsAre("t1-running"));

  EXPECT_EQ(Unwrap(storage().RunPrune(2)), 2);
  RunFilter all;
  all.limit = 1000;
  EXPECT_THAT(Ids(ListAll(all)),
              UnorderedElementsAre("t1-a", "t1-c", "t1-pending", "t1-running", "t2-a", "t2-b",
                                   "f1-a", "f1-b", "f1-c", "f2-a"));
  EXPECT_EQ(Unwrap(storage().RunPrune(2)), 0) << "nothing more to prune";
  ExpectStatsMatchListing();

  EXPECT_EQ(Unwrap(storage().RunPrune(0)), 4);
  EXPECT_THAT(Ids(ListAll(all)),
              UnorderedElementsAre("t1-pending", "t1-running", "f1-a", "f1-b", "f1-c", "f2-a"));
  ExpectStatsMatchListing();
}

// ---- RunLatestOfTask, RunCountLive ----------------------------------------------------

TEST_P(StorageConformance, RunLatestOfTaskAndRunCountLive) {
  EXPECT_EQ(Unwrap(storage().RunLatestOfTask("report")), std::nullopt);
  EXPECT_EQ(Unwrap(storage().RunCountLive("report")), 0);

  Run first = NewTaskRun("report-1", "report");
  Put({first});
  Run second = NewTaskRun("report-2", "report");
  second.created_at = At(10);
  second.run_at = At(10);
  Put({second});
  Run other = NewTaskRun("other-1", "other");
  other.created_at = At(20);
  Put({other});
  Run anonymous = NewRun("anonymous-1");
  anonymous.created_at = At(30);
  Put({anonymous});

  auto latest = Unwrap(storage().RunLatestOfTask("report"));
  ASSERT_TRUE(latest.has_value());
  EXPECT_RUN_EQ(*latest, second);
  EXPECT_EQ(Unwrap(storage().RunCountLive("report")), 2);
  EXPECT_EQ(Unwrap(storage().RunCountLive("other")), 1);

  ClaimedRun claimed = Take("runner-1", 1, kT0, {}).at(0);
  ASSERT_EQ(claimed.id, "report-1");
  EXPECT_EQ(Unwrap(storage().RunCountLive("report")), 2) << "running runs are live";
  ASSERT_TRUE(Finish(claimed, RunStatus::kCompleted, At(1)));
  EXPECT_EQ(Unwrap(storage().RunCountLive("report")), 1);
  Unwrap(storage().RunCancel("report-2", "", At(2)));
  EXPECT_EQ(Unwrap(storage().RunCountLive("report")), 0);
  EXPECT_EQ(Unwrap(storage().RunLatestOfTask("report"))->id, "report-2");
}

}  // namespace
}  // namespace taskmill::conformance
