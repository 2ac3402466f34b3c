// Conformance tests of claiming runs and of their leases: RunTake's order, filters
// and exclusivity under concurrent runners, heartbeats that fence stale attempts, and
// RunListExpired. Written against the Storage interface alone, so every backend that
// instantiates StorageConformance runs them.
#include <gmock/gmock.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "storage/conformance/helpers.h"

namespace taskmill::conformance {

// Named in fixture.cpp's link table, so that linking the suite links this file (helpers.h).
const int kTakeSubject = 0;

namespace {
using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;

// ---- RunTake --------------------------------------------------------------------------

TEST_P(StorageConformance, RunTakeClaimsOnlyDuePendingRuns) {
  Run now_due = NewRun("due-now");
  Run later = NewRun("due-later");
  later.run_at = At(10);
  Run finished = NewRun("finished");
  finished.status = RunStatus::kCompleted;
  finished.run_at = At(-100);
  finished.finished_at = At(-50);
  Put({now_due, later, finished});

  EXPECT_THAT(Ids(Take("runner-1", 10, At(-1))), ElementsAre());
  EXPECT_THAT(Ids(Take("runner-1", 10, kT0)), ElementsAre("due-now"));
  EXPECT_THAT(Ids(Take("runner-1", 10, At(9))), ElementsAre());
  // run_at == now is due.
  EXPECT_THAT(Ids(Take("runner-1", 10, At(10))), ElementsAre("due-later"));
  EXPECT_THAT(Ids(Take("runner-1", 10, At(1000))), ElementsAre());
  EXPECT_EQ(Get("finished").status, RunStatus::kCompleted);
}

TEST_P(StorageConformance, RunTakeOrdersByPriorityThenRunAt) {
  auto make = [&](std::string id, int priority, int64_t run_at) {
    Run r = NewRun(std::move(id));
    r.priority = priority;
    r.run_at = At(run_at);
    return r;
  };
  std::vector<Run> runs = {make("p0-early", 0, -30), make("p5-late", 5, -1),
                           make("p5-early", 5, -2),  make("p1", 1, 0),
                           make("p-neg", -4, -100),  make("p0-late", 0, -10)};
  Put(runs);
  EXPECT_THAT(Ids(Take("runner-1", 2, kT0)), ElementsAre("p5-early", "p5-late"));
  EXPECT_THAT(Ids(Take("runner-1", 1, kT0)), ElementsAre("p1"));
  EXPECT_THAT(Ids(Take("runner-1", 10, kT0)), ElementsAre("p0-early", "p0-late", "p-neg"));
}

TEST_P(StorageConformance, RunTakeOfHundredsKeepsClaimOrderAndClaimsEachOnce) {
  // More runs than a backend may claim per statement, stored out of claim order.
  std::vector<Run> runs;
  std::vector<std::string> expected;
  for (int i = 0; i < 300; ++i) {
    Run r = NewRun("many-" + std::to_string(1000 + i));
    r.priority = 2 - i % 3;          // 2, 1, 0, 2, 1, 0, ...
    r.run_at = At(-1000 + 300 - i);  // later runs are due earlier
    runs.push_back(std::move(r));
  }
  for (int priority = 2; priority >= 0; --priority) {
    for (int i = 299; i >= 0; --i) {
      if (runs[static_cast<size_t>(i)].priority == priority) {
        expected.push_back(runs[static_cast<size_t>(i)].id);
      }
    }
  }
  Put(runs);
  std::vector<ClaimedRun> first = Take("runner-1", 250, kT0);
  std::vector<ClaimedRun> rest = Take("runner-2", 250, kT0);
  ASSERT_EQ(first.size(), 250u);
  ASSERT_EQ(rest.size(), 50u);
  std::vector<std::string> ids = Ids(first);
  for (const std::string& id : Ids(rest)) ids.push_back(id);
  EXPECT_EQ(ids, expected);
  for (const ClaimedRun& run : first) {
    EXPECT_EQ(run.status, RunStatus::kRunning);
    EXPECT_EQ(run.attempt, 1);
    EXPECT_EQ(run.runner, "runner-1");
  }
  EXPECT_EQ(CountOf(Unwrap(storage().RunStats()), RunStatus::kRunning), 300);
}

TEST_P(StorageConformance, RunTakeSetsLeaseAttemptAndRunner) {
  Run fast = NewRun("fast");
  fast.time_to_resolve = 30s;
  Run slow = NewRun("slow");
  slow.time_to_resolve = 10min;
  slow.run_at = At(-5);
  Put({fast, slow});

  std::vector<ClaimedRun> claimed = Take("runner-7", 5, At(3));
  ASSERT_EQ(claimed.size(), 2u);
  for (const auto& run : claimed) {
    SCOPED_TRACE(run.id);
    EXPECT_EQ(run.status, RunStatus::kRunning);
    EXPECT_EQ(run.attempt, 1);
    EXPECT_EQ(run.runner, "runner-7");
    EXPECT_EQ(Time(run.started_at), Time(At(3)));
    EXPECT_EQ(Time(run.lease_until), Time(At(3) + run.time_to_resolve));
    EXPECT_RUN_EQ(Get(run.id), run);
  }
  EXPECT_EQ(claimed[0].id, "slow");
  EXPECT_EQ(Time(claimed[0].lease_until), Time(At(3) + 10min));
  EXPECT_EQ(Time(claimed[1].lease_until), Time(At(33)));

  // A claim changes nothing but the claim fields.
  Run expected = fast;
  expected.status = RunStatus::kRunning;
  expected.attempt = 1;
  expected.runner = "runner-7";
  expected.started_at = At(3);
  expected.lease_until = At(33);
  EXPECT_RUN_EQ(Get("fast"), expected);

  StorageStats stats = Unwrap(storage().RunStats());
  EXPECT_EQ(CountOf(stats, RunStatus::kRunning), 2);
  EXPECT_EQ(CountOf(stats, RunStatus::kPending), 0);
}

TEST_P(StorageConformance, RunTakeHonoursMax) {
  std::vector<Run> runs;
  for (int i = 0; i < 5; ++i) runs.push_back(NewRun("max-" + std::to_string(i)));
  Put(runs);
  EXPECT_EQ(Take("runner-1", 0, kT0).size(), 0u);
  EXPECT_EQ(Take("runner-1", 3, kT0).size(), 3u);
  EXPECT_EQ(Take("runner-1", 3, kT0).size(), 2u);
  EXPECT_EQ(Take("runner-1", 3, kT0).size(), 0u);
}

TEST_P(StorageConformance, RunTakeSkipsPausedQueuesUntilResumed) {
  Run paused = NewRun("in-paused", "paused-queue");
  paused.priority = 100;
  Put({paused, NewRun("in-default")});
  Unwrap(storage().QueueSetPaused("paused-queue", true));

  EXPECT_THAT(Ids(Take("runner-1", 10, kT0)), ElementsAre("in-default"));
  EXPECT_THAT(Ids(Take("runner-1", 10, kT0, {"paused-queue"})), ElementsAre());
  EXPECT_EQ(Get("in-paused").status, RunStatus::kPending);

  Unwrap(storage().QueueSetPaused("paused-queue", false));
  EXPECT_THAT(Ids(Take("runner-1", 10, kT0)), ElementsAre("in-paused"));
}

TEST_P(StorageConformance, RunTakeFiltersByQueue) {
  Put({NewRun("a1", "qa"), NewRun("b1", "qb"), NewRun("c1", "qc"), NewRun("b2", "qb")});
  EXPECT_THAT(Ids(Take("runner-1", 10, kT0, {"qb"})), UnorderedElementsAre("b1", "b2"));
  EXPECT_THAT(Ids(Take("runner-1", 10, kT0, {"qa", "qc"})), UnorderedElementsAre("a1", "c1"));
  EXPECT_THAT(Ids(Take("runner-1", 10, kT0, {"no-such-queue"})), ElementsAre());
}

TEST_P(StorageConformance, RunTakeFromSomeQueuesKeepsClaimOrderAcrossThem) {
  auto make = [&](std::string id, std::string queue, int priority, int64_t run_at) {
    Run r = NewRun(std::move(id), std::move(queue));
    r.priority = priority;
    r.run_at = At(run_at);
    return r;
  };
  Put({make("a-p0-early", "qa", 0, -30), make("b-p5", "qb", 5, -1), make("a-p5", "qa", 5, -2),
       make("b-p0-late", "qb", 0, -10), make("a-later", "qa", 9, 10), make("z-p9", "qz", 9, -50)});
  // A queue named twice is served once; qz is not served at all.
  std::vector<ClaimedRun> first = Take("runner-1", 3, kT0, {"qa", "qb", "qa"});
  EXPECT_THAT(Ids(first), ElementsAre("a-p5", "b-p5", "a-p0-early"));
  for (const ClaimedRun& run : first) {
    SCOPED_TRACE(run.id);
    EXPECT_EQ(run.status, RunStatus::kRunning);
    EXPECT_EQ(run.attempt, 1);
    EXPECT_RUN_EQ(Get(run.id), run);
  }
  ExpectStatsMatchListing();
  EXPECT_THAT(Ids(Take("runner-1", 10, kT0, {"qb", "qa"})), ElementsAre("b-p0-late"));
  EXPECT_THAT(Ids(Take("runner-1", 10, At(10), {"qa"})), ElementsAre("a-later"));
  EXPECT_EQ(Get("z-p9").status, RunStatus::kPending);
  ExpectStatsMatchListing();
}

TEST_P(StorageConformance, RunTakeFromConcurrentRunnersClaimsEachRunOnce) {
  constexpr int kRuns = 1000;
  constexpr int kThreads = 4;
  std::vector<Run> runs;
  for (int i = 0; i < kRuns; ++i) {
    Run r = NewRun("concurrent-" + std::to_string(i));
    r.priority = i % 3;
    r.run_at = At(-(i % 17));
    runs.push_back(std::move(r));
  }
  for (size_t i = 0; i < runs.size(); i += 250) {
    Put(std::vector<Run>(runs.begin() + i, runs.begin() + std::min(runs.size(), i + 250)));
  }

  std::mutex mu;
  std::map<std::string, std::vector<std::string>> claimed_by;  // run id -> runners
  std::vector<std::string> errors;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::string runner = "runner-" + std::to_string(t);
      for (;;) {
        RunTakeParams params;
        params.runner = runner;
        params.max = 1 + t * 3;  // 1, 4, 7, 10
        params.now = kT0;
        auto claimed = storage().RunTake(params);
        std::lock_guard lock(mu);
        if (!claimed.ok()) {
          errors.push_back(claimed.status().ToString());
          return;
        }
        if (claimed->empty()) return;
        for (const auto& run : *claimed) {
          claimed_by[run.id].push_back(runner);
          if (run.runner != runner || run.attempt != 1) {
            errors.push_back(run.id + " claimed with runner " + run.runner + " attempt " +
                             std::to_string(run.attempt));
          }
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();

  EXPECT_THAT(errors, ElementsAre());
  EXPECT_EQ(claimed_by.size(), static_cast<size_t>(kRuns));
  for (const auto& [id, runners] : claimed_by) {
    EXPECT_EQ(runners.size(), 1u) << id << " was claimed " << runners.size() << " times";
    if (!runners.empty()) {
      EXPECT_EQ(Get(id).runner, runners[0]) << id;
    }
  }
  StorageStats stats = Unwrap(storage().RunStats());
  EXPECT_EQ(CountOf(stats, RunStatus::kRunning), kRuns);
  EXPECT_EQ(CountOf(stats, RunStatus::kPending), 0);
}

// ---- RunHeartbeatBatch ----------------------------------------------------------------

TEST_P(StorageConformance, RunHeartbeatExtendsTheLeaseOfTheCurrentAttempt) {
  Run run = NewRun("beating");
  run.time_to_resolve = 30s;
  Put({run});
  ClaimedRun claimed = Take("runner-1", 1, kT0).at(0);
  ASSERT_EQ(claimed.lease_until, At(30));

  auto beats = Unwrap(storage().RunHeartbeatBatch({{"default", "beating", 1, At(75)}}));
  EXPECT_THAT(beats, ElementsAre(true));
  EXPECT_EQ(Time(Get("beating").lease_until), Time(At(75)));
  EXPECT_THAT(Ids(Unwrap(storage().RunListExpired(At(60), 10))), ElementsAre());
}

TEST_P(StorageConformance, RunHeartbeatRejectsStaleCancelledAndUnknownRuns) {
  Run retried = NewRun("retried");
  retried.retry.max_attempts = 2;
  Put({retried, NewRun("current"), NewRun("cancelled")});
  std::vector<ClaimedRun> claimed = Take("runner-1", 3, kT0);
  ASSERT_EQ(claimed.size(), 3u);
  // "retried" fails its first attempt and is claimed again: attempt 2 is current.
  RunFinish retry;
  retry.queue = "default";
  retry.id = "retried";
  retry.attempt = 1;
  retry.status = RunStatus::kPending;
  retry.finished_at = At(1);
  retry.run_at = At(2);
  ASSERT_TRUE(Unwrap(storage().RunFinishBatch({retry})).at(0).accepted);
  ASSERT_EQ(Take("runner-2", 1, At(2)).at(0).attempt, 2);
  Unwrap(storage().RunCancel("cancelled", "default", At(3)));
  Run cancelled_before = Get("cancelled");
  Run retried_before = Get("retried");

  auto beats = Unwrap(storage().RunHeartbeatBatch({
      {"default", "current", 1, At(500)},
      {"default", "retried", 1, At(500)},  // stale attempt
      {"default", "retried", 3, At(500)},  // an attempt that never started
      {"default", "cancelled", 1, At(500)},
      {"default", "no-such-run", 1, At(500)},
      {"other-queue", "current", 1, At(500)},
      {"default", "retried", 2, At(400)},  // current
  }));
  EXPECT_THAT(beats, ElementsAre(true, false, false, false, false, false, true));
  EXPECT_EQ(Time(Get("current").lease_until), Time(At(500)));
  Run retried_after = Get("retried");
  EXPECT_EQ(Time(retried_after.lease_until), Time(At(400)));
  retried_after.lease_until = retried_before.lease_until;
  EXPECT_RUN_EQ(retried_after, retried_before);
  EXPECT_RUN_EQ(Get("cancelled"), cancelled_before);
  EXPECT_THAT(Unwrap(storage().RunHeartbeatBatch({})), ElementsAre());
}

// ---- RunListExpired -------------------------------------------------------------------

TEST_P(StorageConformance, RunListExpiredReturnsRunningRunsWithAnExpiredLease) {
  Run long_lease = NewRun("long-lease");
  long_lease.time_to_resolve = 60s;
  Run short_lease = NewRun("short-lease");
  short_lease.time_to_resolve = 10s;
  Run waiting = NewRun("waiting");
  waiting.run_at = At(-1000);
  waiting.priority = -1;  // taken last, so it stays pending below
  Put({long_lease, short_lease});
  ASSERT_EQ(Take("runner-1", 2, kT0).size(), 2u);
  Put({waiting});
  Run done = NewRun("done");
  done.status = RunStatus::kCompleted;
  done.lease_until = At(-500);  // stale data on a final run must not matter
  done.finished_at = At(-400);
  Put({done});

  EXPECT_THAT(Ids(Unwrap(storage().RunListExpired(At(5), 10))), ElementsAre());
  EXPECT_THAT(Ids(Unwrap(storage().RunListExpired(At(30), 10))), ElementsAre("short-lease"));
  EXPECT_THAT(Ids(Unwrap(storage().RunListExpired(At(61), 10))),
              UnorderedElementsAre("short-lease", "long-lease"));
  EXPECT_EQ(Unwrap(storage().RunListExpired(At(61), 1)).size(), 1u);

  Run expired = Unwrap(storage().RunListExpired(At(30), 10)).at(0);
  EXPECT_EQ(expired.status, RunStatus::kRunning);
  EXPECT_EQ(expired.attempt, 1);
  EXPECT_EQ(expired.runner, "runner-1");

  // A heartbeat renews the lease.
  ASSERT_THAT(Unwrap(storage().RunHeartbeatBatch({{"default", "short-lease", 1, At(100)}})),
              ElementsAre(true));
  EXPECT_THAT(Ids(Unwrap(storage().RunListExpired(At(61), 10))), ElementsAre("long-lease"));
}

}  // namespace
}  // namespace taskmill::conformance
