// Conformance tests of concurrency caps: a task's (TaskDef::max_concurrency) and a
// queue's (QueueSetConcurrency) bound the runs running at once, whoever claims them,
// and a run held back by a cap does not hold back the runs after it. Written against
// the Storage interface alone, so every backend that instantiates StorageConformance
// runs them.
#include <gmock/gmock.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "storage/conformance/helpers.h"

namespace taskmill::conformance {

// Named in fixture.cpp's link table, so that linking the suite links this file (helpers.h).
const int kCapsSubject = 0;

namespace {
using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;

TaskDef CappedTask(const std::string& name, int cap) {
  TaskDef task;
  task.name = name;
  task.function = "task." + name;
  task.max_concurrency = cap;
  return task;
}

// `n` runs of `task` named <prefix>1..<prefix>n, due one millisecond apart from kT0.
std::vector<Run> TaskRuns(const std::string& prefix, const std::string& task, int n) {
  std::vector<Run> runs;
  for (int i = 1; i <= n; ++i) {
    Run r;
    r.id = prefix + std::to_string(i);
    r.function = "task." + task;
    r.task = task;
    r.created_at = kT0;
    r.run_at = kT0 + std::chrono::milliseconds(i);
    runs.push_back(r);
  }
  return runs;
}

int64_t Running(Storage& storage) {
  return CountOf(Unwrap(storage.RunStats()), RunStatus::kRunning);
}

TEST_P(StorageConformance, ATaskCapBoundsItsRunningRuns) {
  Unwrap(storage().TaskUpsert(CappedTask("capped", 2)));
  EXPECT_EQ(Unwrap(storage().TaskGet("capped")).max_concurrency, 2) << "the cap is stored";
  Put(TaskRuns("c", "capped", 5));

  auto first = Take("runner-1", 10, At(1));
  EXPECT_THAT(Ids(first), ElementsAre("c1", "c2"));
  EXPECT_THAT(Ids(Take("runner-2", 10, At(2))), ElementsAre()) << "the task is at its cap";

  ASSERT_TRUE(Finish(first[0], RunStatus::kCompleted, At(3)));
  EXPECT_THAT(Ids(Take("runner-2", 10, At(4))), ElementsAre("c3")) << "one slot freed";
  EXPECT_THAT(Ids(Take("runner-1", 10, At(5))), ElementsAre());

  // Lifting the cap (a task stored without one) lets the rest go.
  Unwrap(storage().TaskUpsert(CappedTask("capped", 0)));
  EXPECT_THAT(Ids(Take("runner-1", 10, At(6))), ElementsAre("c4", "c5"));
  ExpectStatsMatchListing();
}

TEST_P(StorageConformance, AQueueCapBoundsItsRunningRuns) {
  Unwrap(storage().QueueSetConcurrency("narrow", 2));
  std::vector<Run> runs;
  for (int i = 1; i <= 5; ++i) {
    Run r = NewRun("q" + std::to_string(i), "narrow");
    r.run_at = kT0 + std::chrono::milliseconds(i);
    runs.push_back(r);
  }
  Put(runs);

  auto first = Take("runner-1", 10, At(1), {"narrow"});
  EXPECT_THAT(Ids(first), ElementsAre("q1", "q2"));
  EXPECT_THAT(Ids(Take("runner-2", 10, At(2))), ElementsAre()) << "the queue is at its cap";

  ASSERT_TRUE(Finish(first[1], RunStatus::kFailed, At(3)));
  EXPECT_THAT(Ids(Take("runner-2", 10, At(4))), ElementsAre("q3")) << "one slot freed";

  bool listed = false;
  for (const QueueStats& q : Unwrap(storage().QueueList(At(5)))) {
    if (q.queue != "narrow") continue;
    listed = true;
    EXPECT_EQ(q.max_concurrency, 2);
    EXPECT_EQ(q.running, 2);
  }
  EXPECT_TRUE(listed);

  Unwrap(storage().QueueSetConcurrency("narrow", 0));
  EXPECT_THAT(Ids(Take("runner-1", 10, At(6))), ElementsAre("q4", "q5")) << "the cap is lifted";
  EXPECT_EQ(storage().QueueSetConcurrency("narrow", -1).code(), StatusCode::kInvalidArgument);
  ExpectStatsMatchListing();
}

TEST_P(StorageConformance, ClaimsAheadOfTheSlotsTakeTheirPlaceUnderACap) {
  Unwrap(storage().TaskUpsert(CappedTask("capped", 2)));
  Put(TaskRuns("c", "capped", 4));
  RunTakeParams params{"runner-1", {}, 10, At(1), /*start=*/0};
  EXPECT_THAT(Ids(Unwrap(storage().RunTake(params))), ElementsAre("c1", "c2"));
  EXPECT_THAT(Ids(Take("runner-2", 10, At(2))), ElementsAre());
  // Handed back uncharged, they free their places.
  EXPECT_THAT(Ids(Unwrap(storage().RunReleaseUnstarted(At(100), 10))),
              UnorderedElementsAre("c1", "c2"));
  EXPECT_THAT(Ids(Take("runner-2", 10, At(101))), ElementsAre("c1", "c2"));
}

// A backend may claim runs past a queue's cap (CapClaim::kPastCap): they hold no
// slot, so a claim of another runner finds the queue full as before, and one starts
// only in the slot of a run whose finish its start shares a commit with. A backend
// that claims none past a cap claims as it would without `caps`.
TEST_P(StorageConformance, RunsClaimedPastACapHoldNoSlotOfIt) {
  Unwrap(storage().QueueSetConcurrency("narrow", 2));
  std::vector<Run> runs;
  for (int i = 1; i <= 20; ++i) {
    Run r = NewRun("q" + std::to_string(i), "narrow");
    r.run_at = kT0 + std::chrono::milliseconds(i);
    runs.push_back(r);
  }
  Put(runs);

  std::vector<CapClaim> caps;
  RunTakeParams params{"runner-1", {"narrow"}, 30, At(10)};
  params.caps = &caps;
  std::vector<ClaimedRun> claimed = Unwrap(storage().RunTake(params));
  const bool past_cap = std::find(caps.begin(), caps.end(), CapClaim::kPastCap) != caps.end();
  if (!past_cap) {
    EXPECT_THAT(Ids(claimed), ElementsAre("q1", "q2")) << "the queue's cap, as without caps";
    return;
  }
  // The two slots, then a bounded number of runs past the cap, in claim order.
  ASSERT_GE(claimed.size(), 4u) << "this test needs two runs past the cap";
  ASSERT_LT(claimed.size(), 20u) << "runs past a cap are bounded";
  ASSERT_EQ(caps.size(), claimed.size());
  for (size_t i = 0; i < claimed.size(); ++i) {
    EXPECT_EQ(claimed[i].id, "q" + std::to_string(i + 1));
    EXPECT_EQ(caps[i], i < 2 ? CapClaim::kSlot : CapClaim::kPastCap) << i;
  }
  EXPECT_THAT(Ids(Take("runner-2", 10, At(11), {"narrow"})), ElementsAre())
      << "the queue is at its cap";
  EXPECT_THAT(Ids(Unwrap(storage().RunTake(params))), ElementsAre())
      << "as many runs are past the cap as the backend claims";

  // q1 ends and q3 takes its slot, in one commit (the start queued first).
  Unwrap(storage().RunStartBatch({{"narrow", "q3", claimed[2].attempt}}));
  ASSERT_TRUE(Finish(claimed[0], RunStatus::kCompleted, At(12)));
  EXPECT_THAT(Ids(Take("runner-2", 10, At(13), {"narrow"})), ElementsAre())
      << "q2 and q3 hold the slots";

  // q4 goes back uncharged, and still waits for a slot.
  Unwrap(storage().RunHandBack({{"narrow", "q4", claimed[3].attempt}}));
  Run q4 = Get("q4", "narrow");
  EXPECT_EQ(q4.status, RunStatus::kPending);
  EXPECT_EQ(q4.retry.max_attempts, q4.attempt + 1) << "no attempt used";
  EXPECT_TRUE(q4.attempts.empty());
  EXPECT_THAT(Ids(Take("runner-2", 10, At(14), {"narrow"})), ElementsAre());
  ASSERT_TRUE(Finish(claimed[1], RunStatus::kCompleted, At(15)));
  EXPECT_THAT(Ids(Take("runner-2", 10, At(16), {"narrow"})), ElementsAre("q4"));
  ExpectStatsMatchListing();
}

TEST_P(StorageConformance, CapsHoldAcrossConcurrentTakers) {
  Unwrap(storage().TaskUpsert(CappedTask("capped", 2)));
  Unwrap(storage().QueueSetConcurrency("narrow", 3));
  std::vector<Run> runs = TaskRuns("c", "capped", 20);
  for (int i = 1; i <= 20; ++i) {
    Run r = NewRun("q" + std::to_string(i), "narrow");
    runs.push_back(r);
  }
  Put(runs);

  // Several runners claim at once, again and again: at no point do more run than
  // the caps allow, and each finishes what it claimed so that others get a turn.
  std::atomic<int> finished{0};
  std::atomic<bool> over_cap{false};
  std::vector<std::thread> takers;
  for (int t = 0; t < 4; ++t) {
    takers.emplace_back([&, t] {
      const std::string runner = "runner-" + std::to_string(t);
      const auto deadline = std::chrono::steady_clock::now() + 20s;
      while (finished.load() < 40 && std::chrono::steady_clock::now() < deadline) {
        auto claimed = storage().RunTake({runner, {}, 3, At(1)});
        if (!claimed.ok() || claimed->empty()) {
          std::this_thread::yield();
          continue;
        }
        RunFilter filter;
        filter.status = RunStatus::kRunning;
        filter.limit = 1000;
        int capped = 0, narrow = 0;
        for (const Run& r : Unwrap(storage().RunList(filter)).runs) {
          capped += r.task == "capped";
          narrow += r.queue == "narrow";
        }
        if (capped > 2 || narrow > 3) over_cap = true;
        std::vector<RunFinish> finishes;
        for (const Run& r : *claimed) {
          RunFinish f = FinishOf(r.id, r.attempt, RunStatus::kCompleted, At(2));
          f.queue = r.queue;
          finishes.push_back(f);
        }
        auto done = storage().RunFinishBatch(finishes);
        if (done.ok()) finished += static_cast<int>(claimed->size());
      }
    });
  }
  for (auto& t : takers) t.join();
  EXPECT_EQ(finished.load(), 40) << "every run ran, within 20 s";
  EXPECT_FALSE(over_cap.load()) << "more runs were running than a cap allows";
  EXPECT_EQ(Running(storage()), 0);
  ExpectStatsMatchListing();
}

TEST_P(StorageConformance, ARunHeldBackByACapDoesNotHoldBackOthers) {
  Unwrap(storage().TaskUpsert(CappedTask("capped", 1)));
  Unwrap(storage().QueueSetConcurrency("narrow", 1));
  // The capped task's runs and the capped queue's come first in claim order.
  std::vector<Run> runs = TaskRuns("c", "capped", 3);
  for (Run& r : runs) r.priority = 5;
  for (int i = 1; i <= 3; ++i) {
    Run r = NewRun("q" + std::to_string(i), "narrow");
    r.priority = 5;
    runs.push_back(r);
  }
  Run free = NewRun("free");
  free.run_at = kT0 + 10ms;
  runs.push_back(free);
  Run other = NewTaskRun("other", "uncapped");
  other.run_at = kT0 + 20ms;
  runs.push_back(other);
  Put(runs);

  EXPECT_THAT(Ids(Take("runner-1", 4, At(1))), UnorderedElementsAre("c1", "q1", "free", "other"));
  EXPECT_THAT(Ids(Take("runner-1", 4, At(2))), ElementsAre());
  ExpectStatsMatchListing();
}

// A finish and the claim after it in one call (Storage::RunFinishThenTake): the claim
// takes the room the finishes freed under a cap, and the run a finish stored.
TEST_P(StorageConformance, AClaimAfterFinishesTakesTheRoomAndTheRunsTheyLeave) {
  Unwrap(storage().QueueSetConcurrency("narrow", 2));
  std::vector<Run> runs;
  for (int i = 1; i <= 4; ++i) {
    Run r = NewRun("q" + std::to_string(i), "narrow");
    r.run_at = kT0 + std::chrono::milliseconds(i);
    runs.push_back(r);
  }
  Put(runs);
  auto first = Take("runner-1", 10, At(1), {"narrow"});
  ASSERT_THAT(Ids(first), ElementsAre("q1", "q2"));

  // Both finish; the claim of the same call finds the queue's room free again, and the
  // follow-up one of them stores (another queue's run) due.
  auto finish_of = [](const ClaimedRun& run, RunStatus status) {
    RunFinish f = FinishOf(run.id, run.attempt, status, At(2));
    f.queue = run.queue;
    return f;
  };
  RunFinish done = finish_of(first[0], RunStatus::kCompleted);
  RunFollowUp next;
  next.run = NewRun("after", "other");
  next.run.run_at = At(2);
  done.follow_ups.push_back(next);
  std::vector<RunFinish> finishes{done, finish_of(first[1], RunStatus::kFailed)};
  RunTakeParams take{"runner-1", {"narrow", "other"}, 10, At(3)};
  int answers = 0;
  std::vector<std::string> taken;
  auto finished = Unwrap(
      storage().RunFinishThenTake(finishes, take, [&](Result<std::vector<ClaimedRun>> claimed) {
        ++answers;
        ASSERT_TRUE(claimed.ok()) << claimed.status().ToString();
        taken = Ids(*claimed);
      }));
  EXPECT_EQ(answers, 1);
  ASSERT_EQ(finished.size(), 2u);
  EXPECT_TRUE(finished[0].accepted);
  EXPECT_TRUE(finished[1].accepted);
  EXPECT_THAT(taken, UnorderedElementsAre("q3", "q4", "after"));
  EXPECT_EQ(Get("q1").status, RunStatus::kCompleted);
  EXPECT_EQ(Get("q3").status, RunStatus::kRunning);
  ExpectStatsMatchListing();
}

}  // namespace
}  // namespace taskmill::conformance
