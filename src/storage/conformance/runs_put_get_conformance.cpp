// Conformance tests of storing and reading runs: RunPut with each conflict mode, RunGet,
// and RunPutScheduled's once-per-instant launches. Written against the Storage
// interface alone, so every backend that instantiates StorageConformance runs them.
#include <gmock/gmock.h>

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "storage/conformance/helpers.h"

namespace taskmill::conformance {

// Named in fixture.cpp's link table, so that linking the suite links this file (helpers.h).
const int kRunsPutGetSubject = 0;

namespace {
namespace json = boost::json;
using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// ---- RunPut ---------------------------------------------------------------------------

TEST_P(StorageConformance, RunPutStoresEveryFieldAndReturnsRunsAsStored) {
  std::vector<Run> runs = {FullCompletedRun("full-completed"), FullRunningRun("full-running"),
                           NewRun("plain")};
  std::vector<Run> stored = Put(runs);
  ASSERT_EQ(stored.size(), runs.size());
  for (size_t i = 0; i < runs.size(); ++i) {
    EXPECT_RUN_EQ(stored[i], runs[i]);
    EXPECT_RUN_EQ(Get(runs[i].id, runs[i].queue), runs[i]);
  }
}

TEST_P(StorageConformance, RunPutEmptyBatchStoresNothing) {
  EXPECT_TRUE(Put({}).empty());
  EXPECT_EQ(Unwrap(storage().RunStats()).total, 0);
}

TEST_P(StorageConformance, RunPutConflictErrorRejectsTheWholeBatch) {
  Run original = NewRun("dup-run");
  original.args = json::array{"original"};
  Put({original});

  Run duplicate = NewRun("dup-run");
  duplicate.args = json::array{"duplicate"};
  RunPutParams params;
  params.runs = {NewRun("before-dup"), duplicate, NewRun("after-dup")};
  params.conflict = ConflictMode::kError;
  auto result = storage().RunPut(params);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kConflict) << result.status().ToString();
  EXPECT_THAT(result.status().message(), HasSubstr("dup-run"));

  EXPECT_EQ(storage().RunGet("before-dup").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(storage().RunGet("after-dup").status().code(), StatusCode::kNotFound);
  EXPECT_RUN_EQ(Get("dup-run"), original);
  StorageStats stats = Unwrap(storage().RunStats());
  EXPECT_EQ(stats.total, 1);
  EXPECT_EQ(CountOf(stats, RunStatus::kPending), 1);
  ExpectStatsMatchListing();
}

TEST_P(StorageConformance, RunPutConflictErrorRejectsDuplicatesInsideOneBatch) {
  RunPutParams params;
  params.runs = {NewRun("first"), NewRun("twice"), NewRun("twice")};
  auto result = storage().RunPut(params);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kConflict);
  EXPECT_EQ(storage().RunGet("first").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(storage().RunGet("twice").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Unwrap(storage().RunStats()).total, 0);
}

// Batches of many runs: a backend may insert them several per statement.
TEST_P(StorageConformance, RunPutOfHundredsStoresEveryFieldOfEachRun) {
  std::vector<Run> runs;
  for (int i = 0; i < 100; ++i) {
    std::string id = "bulk-put-" + std::to_string(i);
    Run r = i % 3 == 0 ? FullCompletedRun(id) : i % 3 == 1 ? FullRunningRun(id) : NewRun(id);
    r.priority = i;
    r.args = json::array{i};
    if (r.scheduled_at) r.scheduled_at = At(1000 + i);  // one launch per instant
    runs.push_back(std::move(r));
  }
  std::vector<Run> stored = Put(runs);
  ASSERT_EQ(stored.size(), runs.size());
  for (size_t i = 0; i < runs.size(); ++i) {
    SCOPED_TRACE(runs[i].id);
    EXPECT_RUN_EQ(stored[i], runs[i]);
    EXPECT_RUN_EQ(Get(runs[i].id, runs[i].queue), runs[i]);
  }
  ExpectStatsMatchListing();
}

TEST_P(StorageConformance, RunPutOfHundredsOfNewRunsStoresEachAsGiven) {
  // Runs as most are enqueued (no task, account, attempt or file), which a backend may
  // store with fewer values, every field they do set varying.
  std::vector<Run> runs;
  for (int i = 0; i < 100; ++i) {
    Run r = NewRun("new-run-" + std::to_string(i), i % 2 ? "default" : "other");
    r.priority = i % 7 - 3;
    r.args = json::array{i, "a\"b"};
    r.data = i % 3 ? json::value(json::object{{"i", i}}) : json::value(json::object{});
    r.run_at = At(i);
    r.created_at = At(-i);
    if (i % 4 == 0) r.retry = RetryPolicy{5, 2s, 1.5, 1min};
    if (i % 5 == 0) r.timeout = 30s;
    r.time_to_resolve = std::chrono::seconds(10 + i);
    runs.push_back(std::move(r));
  }
  std::vector<Run> stored = Put(runs);
  ASSERT_EQ(stored.size(), runs.size());
  for (size_t i = 0; i < runs.size(); ++i) {
    SCOPED_TRACE(runs[i].id);
    EXPECT_RUN_EQ(Get(runs[i].id, runs[i].queue), runs[i]);
  }
  ExpectStatsMatchListing();
}

TEST_P(StorageConformance, RunPutOfHundredsWithAConflictStoresNoneAndNamesIt) {
  Put({NewRun("stored-before")});
  auto batch = [&](const std::string& prefix) {
    std::vector<Run> runs;
    for (int i = 0; i < 100; ++i) runs.push_back(NewRun(prefix + std::to_string(i)));
    return runs;
  };
  RunPutParams taken;
  taken.runs = batch("taken-");
  taken.runs[50].id = "stored-before";
  auto result = storage().RunPut(taken);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kConflict) << result.status().ToString();
  EXPECT_THAT(result.status().message(), HasSubstr("stored-before"));

  RunPutParams twice;
  twice.runs = batch("twice-");
  twice.runs[41].id = twice.runs[40].id;
  result = storage().RunPut(twice);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kConflict) << result.status().ToString();
  EXPECT_THAT(result.status().message(), HasSubstr("twice-40"));

  EXPECT_EQ(storage().RunGet("taken-0").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(storage().RunGet("twice-99").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Unwrap(storage().RunStats()).total, 1);
  ExpectStatsMatchListing();
}

TEST_P(StorageConformance, RunPutConflictIgnoreReturnsTheStoredRun) {
  Run original = NewRun("same");
  original.args = json::array{"original"};
  original.priority = 1;
  Put({original});

  Run again = NewRun("same");
  again.args = json::array{"again"};
  again.priority = 9;
  RunPutParams params;
  params.runs = {again, NewRun("fresh")};
  params.conflict = ConflictMode::kIgnore;
  std::vector<Run> stored = Unwrap(storage().RunPut(params));
  ASSERT_EQ(stored.size(), 2u);
  EXPECT_RUN_EQ(stored[0], original);
  EXPECT_RUN_EQ(stored[1], NewRun("fresh"));
  EXPECT_RUN_EQ(Get("same"), original);
  StorageStats stats = Unwrap(storage().RunStats());
  EXPECT_EQ(CountOf(stats, RunStatus::kPending), 2);
  EXPECT_EQ(stats.total, 2);
}

TEST_P(StorageConformance, RunPutConflictOverwriteReplacesTheRun) {
  Run original = NewRun("replace-me");
  original.account_id = "account-7";  // FullCompletedRun's: a put replaces its own account's run
  Put({original});
  Run replacement = FullCompletedRun("replace-me");
  replacement.queue = "default";
  RunPutParams params;
  params.runs = {replacement};
  params.conflict = ConflictMode::kOverwrite;
  std::vector<Run> stored = Unwrap(storage().RunPut(params));
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_RUN_EQ(stored[0], replacement);
  EXPECT_RUN_EQ(Get("replace-me"), replacement);

  StorageStats stats = Unwrap(storage().RunStats());
  EXPECT_EQ(CountOf(stats, RunStatus::kPending), 0);
  EXPECT_EQ(CountOf(stats, RunStatus::kCompleted), 1);
  EXPECT_EQ(stats.total, 1);
  ExpectStatsMatchListing();
}

TEST_P(StorageConformance, RunPutConflictOverwriteIsRefusedWhileRunning) {
  Put({NewRun("busy")});
  std::vector<ClaimedRun> claimed = Take("runner-1", 1, kT0);
  ASSERT_EQ(claimed.size(), 1u);

  Run replacement = NewRun("busy");
  replacement.function = "other.function";
  RunPutParams params;
  params.runs = {NewRun("innocent"), replacement};
  params.conflict = ConflictMode::kOverwrite;
  auto result = storage().RunPut(params);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kConflict) << result.status().ToString();
  EXPECT_THAT(result.status().message(), HasSubstr("busy"));

  EXPECT_EQ(storage().RunGet("innocent").status().code(), StatusCode::kNotFound);
  EXPECT_RUN_EQ(Get("busy"), claimed[0]);
  auto beats = Unwrap(storage().RunHeartbeatBatch({{"default", "busy", 1, At(100)}}));
  EXPECT_THAT(beats, ElementsAre(true));
  ExpectStatsMatchListing();
}

TEST_P(StorageConformance, RunPutAllowsTheSameIdInTwoQueues) {
  Run first = NewRun("shared-id", "queue-1");
  first.function = "first.fn";
  Run second = NewRun("shared-id", "queue-2");
  second.function = "second.fn";
  Put({first});
  Put({second});

  EXPECT_RUN_EQ(Get("shared-id", "queue-1"), first);
  EXPECT_RUN_EQ(Get("shared-id", "queue-2"), second);
  Run any = Get("shared-id");
  EXPECT_THAT(any.queue, ::testing::AnyOf("queue-1", "queue-2"));
  EXPECT_EQ(storage().RunGet("shared-id", "queue-3").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Unwrap(storage().RunStats()).total, 2);
}

// ---- RunGet ---------------------------------------------------------------------------

TEST_P(StorageConformance, RunGetFindsByIdWithAndWithoutQueue) {
  Run run = NewRun("lookup", "special");
  Put({run});
  EXPECT_RUN_EQ(Get("lookup"), run);
  EXPECT_RUN_EQ(Get("lookup", "special"), run);

  auto wrong_queue = storage().RunGet("lookup", "default");
  EXPECT_EQ(wrong_queue.status().code(), StatusCode::kNotFound);
  auto missing = storage().RunGet("no-such-run");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("no-such-run"));
}

// ---- RunPutScheduled ------------------------------------------------------------------

TEST_P(StorageConformance, RunPutScheduledStoresEachLaunchOnce) {
  Run launch = NewTaskRun("launch-1", "every-minute");
  launch.scheduled_at = At(60);
  launch.run_at = At(60);
  EXPECT_TRUE(PutScheduled(launch));
  EXPECT_RUN_EQ(Get("launch-1"), launch);

  // A second scheduler fires the same instant with a fresh id.
  Run duplicate = launch;
  duplicate.id = "launch-1-again";
  duplicate.args = json::array{"duplicate"};
  EXPECT_FALSE(PutScheduled(duplicate));
  EXPECT_EQ(storage().RunGet("launch-1-again").status().code(), StatusCode::kNotFound);
  EXPECT_RUN_EQ(Get("launch-1"), launch);
  EXPECT_EQ(Unwrap(storage().RunStats()).total, 1);

  // RunPut cannot store a second run of the same launch either, whatever the mode.
  for (ConflictMode mode : {ConflictMode::kError, ConflictMode::kIgnore}) {
    RunPutParams params;
    params.runs = {duplicate};
    params.conflict = mode;
    auto put = storage().RunPut(params);
    ASSERT_FALSE(put.ok()) << ToString(mode);
    EXPECT_EQ(put.status().code(), StatusCode::kConflict) << put.status().ToString();
    EXPECT_THAT(put.status().message(), HasSubstr("every-minute"));
  }
  EXPECT_EQ(storage().RunGet("launch-1-again").status().code(), StatusCode::kNotFound);

  // The same instant survives the run finishing.
  ClaimedRun claimed = Take("runner-1", 1, At(60)).at(0);
  ASSERT_TRUE(Finish(claimed, RunStatus::kCompleted, At(61)));
  EXPECT_FALSE(PutScheduled(duplicate));

  Run next = NewTaskRun("launch-2", "every-minute");
  next.scheduled_at = At(120);
  EXPECT_TRUE(PutScheduled(next));
  Run other_task = NewTaskRun("other-launch", "every-hour");
  other_task.scheduled_at = At(60);
  EXPECT_TRUE(PutScheduled(other_task));
  StorageStats stats = Unwrap(storage().RunStats());
  EXPECT_EQ(stats.total, 3);
  ExpectStatsMatchListing();
}

}  // namespace
}  // namespace taskmill::conformance
