// Conformance tests of retention by age (Storage::RunPruneOlderThan): finished runs
// older than the cutoff go with what they own, newer ones and live ones stay, and the
// counts stay exact. The old runs finish in whole calendar months before the cutoff,
// which falls on a month's first instant, so a backend that drops whole months
// (PostgreSQL) removes exactly what one that deletes rows does.
#include <gmock/gmock.h>

#include <chrono>
#include <string>
#include <vector>

#include "storage/conformance/helpers.h"

namespace taskmill::conformance {

// Named in fixture.cpp's link table, so that linking the suite links this file (helpers.h).
const int kRetentionSubject = 0;

namespace {
using ::testing::UnorderedElementsAre;

constexpr int64_t kDay = 86400;

TEST_P(StorageConformance, RunPruneOlderThanRemovesOldFinishedRunsAndKeepsNewerAndLiveOnes) {
  // The cutoff: 2025-12-01T00:00:00Z. Old runs finish in October and November 2025.
  const TimePoint before = At(-31 * kDay);
  auto stored_final = [](Run r, RunStatus status, int64_t created, std::optional<int64_t> done,
                         std::string account) {
    r.status = status;
    r.created_at = At(created);
    r.run_at = At(created);
    if (done) r.finished_at = At(*done);
    r.account_id = std::move(account);
    return r;
  };
  Run old_with_file = stored_final(NewTaskRun("old-file", "nightly"), RunStatus::kCompleted,
                                   -70 * kDay, -70 * kDay + 60, "acme");
  old_with_file.input_file = "old-in";
  Run new_with_file = stored_final(NewTaskRun("new-file", "nightly"), RunStatus::kCompleted,
                                   -20 * kDay, -20 * kDay + 60, "acme");
  new_with_file.input_file = "new-in";
  for (const char* id : {"old-in", "new-in"}) {
    FileCreateParams file;
    file.id = id;
    file.name = "numbers.csv";
    file.now = At(-90 * kDay);
    Unwrap(storage().FileCreate(file));
  }
  RunPutParams with_files;
  with_files.runs = {old_with_file, new_with_file};
  with_files.commit_files = {"old-in", "new-in"};
  Unwrap(storage().RunPut(with_files));
  Put({
      stored_final(NewRun("old-failed"), RunStatus::kFailed, -45 * kDay, -40 * kDay, ""),
      // Stored final with no finish: its creation is what counts.
      stored_final(NewTaskRun("old-skipped", "nightly"), RunStatus::kDidNotStart, -80 * kDay,
                   std::nullopt, "acme"),
      stored_final(NewRun("new-stopped"), RunStatus::kStopped, -40 * kDay, -5 * kDay, "acme"),
      stored_final(NewRun("new-lost"), RunStatus::kLost, -2 * kDay, -1 * kDay, ""),
  });
  // A run that goes through a claim and a finish in November.
  Run finished = NewTaskRun("old-finished", "nightly");
  finished.created_at = finished.run_at = At(-61 * kDay);
  finished.account_id = "acme";
  // Live runs, however old, are never pruned.
  Run pending = NewRun("old-pending");
  pending.created_at = At(-100 * kDay);
  pending.run_at = At(10);  // not due yet
  Run running = NewRun("old-running");
  running.created_at = running.run_at = At(-100 * kDay);
  running.priority = 10;
  running.account_id = "acme";
  Put({finished, pending, running});
  std::vector<ClaimedRun> claimed = Take("runner-1", 2, At(-60 * kDay));
  ASSERT_THAT(Ids(claimed), UnorderedElementsAre("old-running", "old-finished"));
  for (const ClaimedRun& run : claimed) {
    if (run.id == "old-finished") {
      ASSERT_TRUE(Finish(run, RunStatus::kCompleted, At(-60 * kDay)));
    }
  }

  HistoryPruned pruned = Unwrap(storage().RunPruneOlderThan(before, kT0));
  EXPECT_EQ(pruned.runs, 4) << "old-file, old-failed, old-skipped, old-finished";
  EXPECT_FALSE(pruned.more);
  int64_t in_dropped = 0;
  for (const auto& [period, runs] : pruned.dropped) in_dropped += runs;
  EXPECT_LE(in_dropped, pruned.runs);

  RunFilter all;
  all.limit = 1000;
  EXPECT_THAT(Ids(ListAll(all)), UnorderedElementsAre("new-file", "new-stopped", "new-lost",
                                                      "old-pending", "old-running"));
  EXPECT_EQ(storage().RunGet("old-finished").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(storage().FileGet("old-in").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(storage().FileGet("new-in").ok());
  ExpectStatsMatchListing();
  // An account's counts: acme keeps new-file, new-stopped and old-running.
  StorageStats acme = Unwrap(storage().RunStats(std::string("acme")));
  EXPECT_EQ(acme.total, 3);
  EXPECT_EQ(CountOf(acme, RunStatus::kCompleted), 1);
  EXPECT_EQ(CountOf(acme, RunStatus::kStopped), 1);
  EXPECT_EQ(CountOf(acme, RunStatus::kRunning), 1);
  EXPECT_EQ(CountOf(acme, RunStatus::kDidNotStart), 0);
  StorageStats none = Unwrap(storage().RunStats(std::string()));
  EXPECT_EQ(none.total, 2) << "new-lost and old-pending";
  EXPECT_EQ(CountOf(none, RunStatus::kFailed), 0);

  // The ids of pruned runs are free again.
  Put({NewRun("old-failed")});
  EXPECT_EQ(Get("old-failed").status, RunStatus::kPending);

  // Nothing more to prune at that cutoff; runs finish later still.
  EXPECT_EQ(Unwrap(storage().RunPruneOlderThan(before, kT0)).runs, 0);
  std::vector<ClaimedRun> again = Take("runner-1", 1, kT0);
  ASSERT_EQ(again.size(), 1u);
  ASSERT_TRUE(Finish(again[0], RunStatus::kCompleted, At(1)));
  ExpectStatsMatchListing();
}

TEST_P(StorageConformance, RunPruneOlderThanRefusesACutoffAfterNow) {
  auto answer = storage().RunPruneOlderThan(At(10), kT0);
  ASSERT_FALSE(answer.ok());
  EXPECT_EQ(answer.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace taskmill::conformance
