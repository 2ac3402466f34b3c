// Conformance tests of claims that start at once or wait ahead of the slots, and of
// the sweep's view of them: a claim that never started goes back to pending with no
// attempt used, and only a started attempt can expire into a lost one. Also of claims
// of the queues named and of those whose names start with a prefix. Written against
// the Storage interface alone, so every backend that instantiates StorageConformance
// runs them.
#include <gmock/gmock.h>

#include <string>
#include <vector>

#include "storage/conformance/helpers.h"

namespace taskmill::conformance {

// Named in fixture.cpp's link table, so that linking the suite links this file (helpers.h).
const int kClaimsSubject = 0;

namespace {
using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;

// Stores three runs due in order a, b, c, each with a 10 s lease, and claims them all
// with one call that starts the first `start` of them.
std::vector<ClaimedRun> ClaimThree(Storage& storage, int start) {
  RunPutParams put;
  for (const char* id : {"a", "b", "c"}) {
    Run r;
    r.id = id;
    r.function = "test.echo";
    r.created_at = kT0;
    r.run_at = kT0 + std::chrono::milliseconds(static_cast<int>(put.runs.size()));
    r.time_to_resolve = 10s;
    put.runs.push_back(r);
  }
  Unwrap(storage.RunPut(std::move(put)));
  RunTakeParams params{"runner-1", {}, 3, At(1), start};
  return Unwrap(storage.RunTake(params));
}

TEST_P(StorageConformance, ClaimsAheadOfTheSlotsGoBackUnchargedWhenTheirLeaseEnds) {
  auto claimed = ClaimThree(storage(), 1);
  ASSERT_THAT(Ids(claimed), ElementsAre("a", "b", "c"));
  for (const auto& run : claimed) {
    EXPECT_EQ(run.status, RunStatus::kRunning);
    EXPECT_EQ(run.attempt, 1);
  }
  // Before the leases end, nothing is swept.
  EXPECT_THAT(Ids(Unwrap(storage().RunReleaseUnstarted(At(5), 10))), ElementsAre());
  // "b" started meanwhile; "c" never did.
  Unwrap(storage().RunStartBatch({{"default", "b", 1}}));

  EXPECT_THAT(Ids(Unwrap(storage().RunReleaseUnstarted(At(20), 10))), ElementsAre("c"));
  Run c = Get("c");
  EXPECT_EQ(c.status, RunStatus::kPending);
  EXPECT_EQ(c.attempt, 1) << "the fencing token never goes back";
  EXPECT_EQ(c.retry.max_attempts, 2) << "the claim used no attempt";
  EXPECT_TRUE(c.attempts.empty()) << "a claim that never started is no attempt";
  EXPECT_EQ(c.run_at, kT0 + 2ms) << "it keeps its place in the queue";
  EXPECT_EQ(c.runner, "");
  EXPECT_FALSE(c.lease_until.has_value());
  // Only started attempts expire into lost ones.
  EXPECT_THAT(Ids(Unwrap(storage().RunListExpired(At(20), 10))), UnorderedElementsAre("a", "b"));
  ExpectStatsMatchListing();

  // A late finish of the handed-back claim is a stale fence once it is claimed again.
  auto again = Take("runner-2", 1, At(21));
  ASSERT_THAT(Ids(again), ElementsAre("c"));
  EXPECT_EQ(again[0].attempt, 2);
  EXPECT_FALSE(Finish(claimed[2], RunStatus::kCompleted, At(22)));
  EXPECT_TRUE(Finish(again[0], RunStatus::kCompleted, At(22)));
  Run done = Get("c");
  EXPECT_EQ(done.status, RunStatus::kCompleted);
  ASSERT_EQ(done.attempts.size(), 1u);
  EXPECT_EQ(done.attempts[0].number, 2);
}

TEST_P(StorageConformance, AFinishedClaimAheadIsNotHandedBackAndAStartIsFenced) {
  auto claimed = ClaimThree(storage(), 0);
  ASSERT_EQ(claimed.size(), 3u);
  // A finish says the attempt started; a stale or repeated start changes nothing.
  EXPECT_TRUE(Finish(claimed[0], RunStatus::kCompleted, At(2)));
  Unwrap(storage().RunStartBatch({{"default", "a", 1},
                                  {"default", "b", 7},
                                  {"default", "b", 1},
                                  {"default", "b", 1},
                                  {"default", "nope", 1}}));
  EXPECT_THAT(Ids(Unwrap(storage().RunReleaseUnstarted(At(20), 10))), ElementsAre("c"));
  EXPECT_EQ(Get("a").status, RunStatus::kCompleted);
  EXPECT_EQ(Get("b").status, RunStatus::kRunning);
  EXPECT_THAT(Ids(Unwrap(storage().RunListExpired(At(20), 10))), ElementsAre("b"));
}

TEST_P(StorageConformance, ClaimsStartAtOnceByDefault) {
  Put({NewRun("a")});
  auto claimed = Take("runner-1", 1, At(1));
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_THAT(Ids(Unwrap(storage().RunReleaseUnstarted(At(1000), 10))), ElementsAre());
  EXPECT_THAT(Ids(Unwrap(storage().RunListExpired(At(1000), 10))), ElementsAre("a"));
}

// A runner of named queues also serves the capped children of its flows, whose queues
// it cannot name (RunTakeParams::queue_prefixes): each such queue is claimed from as a
// named one, paused and capped alike, and the queues merely near the prefix are not.
TEST_P(StorageConformance, AClaimTakesFromTheQueuesStartingWithItsPrefixes) {
  Unwrap(storage().QueueSetConcurrency("flow:f:step:r1", 1));
  Unwrap(storage().QueueSetPaused("flow:f:step:r3", true));
  std::vector<Run> runs;
  auto add = [&](const std::string& id, const std::string& queue, TimePoint run_at) {
    Run r = NewRun(id, queue);
    r.run_at = run_at;
    runs.push_back(r);
  };
  add("named", "flows", kT0);
  add("capped-1", "flow:f:step:r1", kT0 + 1ms);
  add("capped-2", "flow:f:step:r1", kT0 + 2ms);
  add("child", "flow:f:step:r2", kT0 + 3ms);
  add("paused", "flow:f:step:r3", kT0 + 4ms);
  add("other-flow", "flow:g:step:r1", kT0);
  add("no-colon", "flow:f", kT0);
  add("unnamed", "other", kT0);
  // Not due yet: the next run of the queues served is the child's, not the earlier
  // ones of a paused queue or of a queue not served.
  add("later-child", "flow:f:step:r2", At(100));
  add("later-paused", "flow:f:step:r3", At(50));
  add("later-other", "flow:g:step:r1", At(60));
  Put(runs);

  TimePoint next = kT0;
  RunTakeParams params;
  params.runner = "runner-1";
  params.queues = {"flows"};
  params.queue_prefixes = {"flow:f:"};
  params.max = 10;
  params.now = At(1);
  params.next_run_at = &next;
  auto claimed = Unwrap(storage().RunTake(params));
  EXPECT_THAT(Ids(claimed), ElementsAre("named", "capped-1", "child"))
      << "one run of the capped queue, none of the paused one, none of the queues not served";
  EXPECT_EQ(next, At(100)) << "the next run of the queues served";

  // The capped queue gives its next run once the first is over; the paused one none.
  ASSERT_TRUE(Finish(claimed[1], RunStatus::kCompleted, At(2)));
  params.now = At(3);
  params.next_run_at = nullptr;
  EXPECT_THAT(Ids(Unwrap(storage().RunTake(params))), ElementsAre("capped-2"));
  Unwrap(storage().QueueSetPaused("flow:f:step:r3", false));
  EXPECT_THAT(Ids(Unwrap(storage().RunTake(params))), ElementsAre("paused"));

  // With no cap left anywhere (a backend may claim another way then), the same.
  Unwrap(storage().QueueSetConcurrency("flow:f:step:r1", 0));
  Put({NewRun("uncapped", "flow:f:step:r4"), NewRun("unnamed-2", "other")});
  params.now = At(4);
  EXPECT_THAT(Ids(Unwrap(storage().RunTake(params))), ElementsAre("uncapped"));

  // The prefixes widen named queues only: a claim of every queue takes the rest.
  EXPECT_THAT(Ids(Take("runner-2", 10, At(5))),
              UnorderedElementsAre("other-flow", "no-colon", "unnamed", "unnamed-2"));
  ExpectStatsMatchListing();
}

}  // namespace
}  // namespace taskmill::conformance
