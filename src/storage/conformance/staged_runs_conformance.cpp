// Conformance tests of staged runs (Storage::RunStage, RunFinish::staged,
// RunListChildOutcomes): a flow's step stages its children while it runs; no claim,
// listing or count sees them until the finish of the attempt that staged them
// releases them, and the children's outcomes are then paged oldest first. Written against the
// Storage interface alone; a backend without the capability skips them.
#include <gmock/gmock.h>

#include <string>
#include <vector>

#include "storage/conformance/helpers.h"

namespace taskmill::conformance {
namespace json = boost::json;

// Named in fixture.cpp's link table, so that linking the suite links this file (helpers.h).
const int kStagedRunsSubject = 0;

namespace {

std::vector<Run> Children(const std::string& parent, std::vector<std::string> ids) {
  std::vector<Run> out;
  for (const std::string& id : ids) out.push_back(FlowMember(parent + ":" + id, "r", parent));
  return out;
}

RunFinish Ending(const Run& claimed, RunStatus status, StagedRuns staged) {
  RunFinish f = FinishOf(claimed.id, claimed.attempt, status, At(5));
  if (status == RunStatus::kPending) f.run_at = At(5);
  f.staged = staged;
  return f;
}

// The id of every child of `parent`, through RunListChildOutcomes pages of `limit`.
std::vector<std::string> InOrder(Storage& storage, const std::string& parent, int limit) {
  std::vector<std::string> ids;
  std::string cursor;
  do {
    ChildOutcomePage page = Unwrap(storage.RunListChildOutcomes(parent, cursor, limit));
    EXPECT_LE(static_cast<int>(page.children.size()), limit);
    for (const ChildOutcome& child : page.children) ids.push_back(child.id);
    cursor = page.next_cursor;
  } while (!cursor.empty());
  return ids;
}

}  // namespace

#define SKIP_UNLESS_STAGING()                                                  \
  if (!storage().Capabilities().staged_runs) GTEST_SKIP() << "no staged runs"; \
  static_assert(true)

TEST_P(StorageConformance, StagedRunsAreNeitherClaimedNorSeenUntilTheFinishReleasesThem) {
  SKIP_UNLESS_STAGING();
  Put({FlowRoot("r"), FlowMember("r:a", "r", "r")});
  ClaimedRun a = Take("runner", 1, kT0).at(0);
  ASSERT_EQ(a.id, "r:a");
  ASSERT_TRUE(
      storage().RunStage("default", "r:a", a.attempt, Children("r:a", {"0", "1", "2"})).ok());
  // Staged again (a batch sent twice) with one more: nothing twice.
  ASSERT_TRUE(
      storage().RunStage("default", "r:a", a.attempt, Children("r:a", {"1", "2", "3"})).ok());

  EXPECT_TRUE(Take("runner", 10, At(1)).empty());
  EXPECT_TRUE(storage().RunGet("r:a:0").status().IsNotFound());
  RunFilter of_step;
  of_step.parent_id = "r:a";
  EXPECT_TRUE(ListAll(of_step).empty());
  EXPECT_TRUE(InOrder(storage(), "r:a", 10).empty());
  ExpectStatsMatchListing();

  ASSERT_TRUE(
      Unwrap(storage().RunFinishBatch({Ending(a, RunStatus::kCompleted, StagedRuns::kRelease)}))
          .at(0)
          .accepted);
  EXPECT_EQ(Get("r:a:3").status, RunStatus::kPending);
  EXPECT_EQ(Get("r:a:3").parent_id, "r:a");
  // In the order staged, page by page.
  EXPECT_THAT(InOrder(storage(), "r:a", 2),
              ::testing::ElementsAre("r:a:0", "r:a:1", "r:a:2", "r:a:3"));
  EXPECT_EQ(ListAll(of_step).size(), 4u);
  ExpectStatsMatchListing();
  EXPECT_EQ(Take("runner", 10, At(6)).size(), 4u);
}

TEST_P(StorageConformance, StagingIsFencedByTheParentsAttemptAndChecksTheParent) {
  SKIP_UNLESS_STAGING();
  Put({FlowRoot("r"), FlowMember("r:a", "r", "r")});
  ClaimedRun a = Take("runner", 1, kT0).at(0);
  EXPECT_EQ(storage().RunStage("default", "r:a", a.attempt + 1, Children("r:a", {"0"})).code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(storage().RunStage("default", "r:a", a.attempt, Children("r:b", {"0"})).code(),
            StatusCode::kInvalidArgument);
  ASSERT_TRUE(Finish(a, RunStatus::kCompleted, At(2)));
  // A finished parent takes no more.
  EXPECT_EQ(storage().RunStage("default", "r:a", a.attempt, Children("r:a", {"0"})).code(),
            StatusCode::kFailedPrecondition);
  EXPECT_TRUE(storage().RunGet("r:a:0").status().IsNotFound());
}

TEST_P(StorageConformance, AFailedOrStoppedAttemptsStagedRunsAreNeverReleased) {
  SKIP_UNLESS_STAGING();
  Run step = FlowMember("r:a", "r", "r");
  step.retry.max_attempts = 3;
  Put({FlowRoot("r"), step});
  ClaimedRun first = Take("runner", 1, kT0).at(0);
  ASSERT_TRUE(
      storage().RunStage("default", "r:a", first.attempt, Children("r:a", {"0", "1"})).ok());
  // The attempt failed: a retry follows, and its children are dropped.
  ASSERT_TRUE(
      Unwrap(storage().RunFinishBatch({Ending(first, RunStatus::kPending, StagedRuns::kDrop)}))
          .at(0)
          .accepted);
  ClaimedRun second = Take("runner", 1, At(6)).at(0);
  ASSERT_EQ(second.id, "r:a");
  ASSERT_TRUE(
      storage().RunStage("default", "r:a", second.attempt, Children("r:a", {"0", "2"})).ok());
  // An operator stops it: what it staged is never released either.
  Unwrap(storage().RunCancel("r:a", "default", At(7)));
  Unwrap(storage().RunRetry("r:a", "default", At(8)));
  ClaimedRun third = Take("runner", 1, At(9)).at(0);
  ASSERT_TRUE(
      storage().RunStage("default", "r:a", third.attempt, Children("r:a", {"0", "3"})).ok());
  ASSERT_TRUE(
      Unwrap(storage().RunFinishBatch({Ending(third, RunStatus::kCompleted, StagedRuns::kRelease)}))
          .at(0)
          .accepted);
  EXPECT_THAT(InOrder(storage(), "r:a", 10), ::testing::ElementsAre("r:a:0", "r:a:3"));
  ExpectStatsMatchListing();
}

namespace {

// A completed finish at `at` that releases what its attempt staged.
RunFinish Released(const ClaimedRun& claimed, TimePoint at) {
  RunFinish f = FinishOf(claimed.id, claimed.attempt, RunStatus::kCompleted, at);
  f.staged = StagedRuns::kRelease;
  return f;
}

}  // namespace

// A stop ends the attempt, and what it staged goes with it. What a user checks: none of
// it was released, and running the step again (an operator's retry) with an attempt
// that stages nothing and releases brings none of it back. (That the staged rows are
// deleted, which no call of the contract shows, each backend's own tests check.)
TEST_P(StorageConformance, ACancelledStepsStagedRunsAreGoneWithIt) {
  SKIP_UNLESS_STAGING();
  Put({FlowRoot("r"), FlowMember("r:a", "r", "r")});
  ClaimedRun a = Take("runner", 1, kT0).at(0);
  ASSERT_EQ(a.id, "r:a");
  ASSERT_TRUE(storage().RunStage("default", "r:a", a.attempt, Children("r:a", {"0", "1"})).ok());
  Unwrap(storage().RunCancel("r:a", "default", At(1)));
  EXPECT_EQ(Get("r:a").status, RunStatus::kStopped);
  RunFilter of_step;
  of_step.parent_id = "r:a";
  EXPECT_TRUE(ListAll(of_step).empty());
  EXPECT_TRUE(InOrder(storage(), "r:a", 10).empty());
  // The stopped attempt stages no more.
  EXPECT_EQ(storage().RunStage("default", "r:a", a.attempt, Children("r:a", {"2"})).code(),
            StatusCode::kFailedPrecondition);

  Unwrap(storage().RunRetry("r:a", "default", At(2)));
  ClaimedRun again = Take("runner", 1, At(3)).at(0);
  ASSERT_EQ(again.id, "r:a");
  ASSERT_TRUE(Unwrap(storage().RunFinishBatch({Released(again, At(8))})).at(0).accepted);
  EXPECT_TRUE(InOrder(storage(), "r:a", 10).empty());
  EXPECT_TRUE(ListAll(of_step).empty());
  EXPECT_TRUE(Take("runner", 10, At(9)).empty());
  ExpectStatsMatchListing();
}

TEST_P(StorageConformance, AStoppedFlowsStagedRunsAreGoneWithIt) {
  SKIP_UNLESS_STAGING();
  Put({FlowRoot("r"), FlowMember("r:a", "r", "r"), FlowMember("r:b", "r", "r")});
  std::vector<ClaimedRun> claimed = Take("runner", 2, kT0);
  ASSERT_EQ(claimed.size(), 2u);
  const ClaimedRun& a = claimed[0].id == "r:a" ? claimed[0] : claimed[1];
  const ClaimedRun& b = claimed[0].id == "r:a" ? claimed[1] : claimed[0];
  ASSERT_TRUE(storage().RunStage("default", "r:a", a.attempt, Children("r:a", {"0", "1"})).ok());
  // Step b fails, and the flow's failure stops step a while it stages.
  RunFinish failed = Ending(b, RunStatus::kFailed, StagedRuns::kDrop);
  failed.settle = RunSettle{.queue = "default",
                            .id = "r",
                            .status = RunStatus::kFailed,
                            .result = nullptr,
                            .error = "step b failed",
                            .error_kind = "flow",
                            .when_idle = false,
                            .stop_live = true};
  ASSERT_TRUE(Unwrap(storage().RunFinishBatch({failed})).at(0).accepted);
  EXPECT_EQ(Get("r").status, RunStatus::kFailed);
  EXPECT_EQ(Get("r:a").status, RunStatus::kStopped);
  RunFilter of_step;
  of_step.parent_id = "r:a";
  EXPECT_TRUE(ListAll(of_step).empty());
  EXPECT_TRUE(InOrder(storage(), "r:a", 10).empty());

  Unwrap(storage().RunRetry("r:a", "default", At(6)));
  ClaimedRun again = Take("runner", 1, At(7)).at(0);
  ASSERT_EQ(again.id, "r:a");
  ASSERT_TRUE(Unwrap(storage().RunFinishBatch({Released(again, At(8))})).at(0).accepted);
  EXPECT_TRUE(InOrder(storage(), "r:a", 10).empty());
  EXPECT_TRUE(ListAll(of_step).empty());
  ExpectStatsMatchListing();
}

TEST_P(StorageConformance, AnAttemptReleasesOnlyWhatItStagedNotWhatALostOneKept) {
  SKIP_UNLESS_STAGING();
  Run step = FlowMember("r:a", "r", "r");
  step.retry.max_attempts = 2;
  Put({FlowRoot("r"), step});
  ClaimedRun first = Take("runner", 1, kT0).at(0);
  ASSERT_TRUE(
      storage().RunStage("default", "r:a", first.attempt, Children("r:a", {"0", "1"})).ok());
  // The attempt was lost, and its end left what it staged (kKeep).
  ASSERT_TRUE(
      Unwrap(storage().RunFinishBatch({Ending(first, RunStatus::kPending, StagedRuns::kKeep)}))
          .at(0)
          .accepted);
  ClaimedRun second = Take("runner", 1, At(6)).at(0);
  ASSERT_EQ(second.id, "r:a");
  ASSERT_TRUE(storage().RunStage("default", "r:a", second.attempt, Children("r:a", {"2"})).ok());
  ASSERT_TRUE(Unwrap(storage().RunFinishBatch({Released(second, At(8))})).at(0).accepted);
  EXPECT_THAT(InOrder(storage(), "r:a", 10), ::testing::ElementsAre("r:a:2"));
  ExpectStatsMatchListing();
}

TEST_P(StorageConformance, ReleaseSkipsARunAlreadyStored) {
  SKIP_UNLESS_STAGING();
  // A step run again after its children were stored (a retried flow): the same ids.
  Put({FlowRoot("r"), FlowMember("r:a", "r", "r"), FlowMember("r:a:0", "r", "r:a")});
  ClaimedRun a = Take("runner", 1, kT0, {"default"}).at(0);
  if (a.id != "r:a") {
    ASSERT_TRUE(Finish(a, RunStatus::kCompleted, At(1)));
    a = Take("runner", 1, At(1)).at(0);
  }
  ASSERT_EQ(a.id, "r:a");
  ASSERT_TRUE(storage().RunStage("default", "r:a", a.attempt, Children("r:a", {"0", "1"})).ok());
  ASSERT_TRUE(
      Unwrap(storage().RunFinishBatch({Ending(a, RunStatus::kCompleted, StagedRuns::kRelease)}))
          .at(0)
          .accepted);
  EXPECT_THAT(InOrder(storage(), "r:a", 10), ::testing::ElementsAre("r:a:0", "r:a:1"));
  ExpectStatsMatchListing();
}

TEST_P(StorageConformance, ListChildrenRefusesACursorItNeverGave) {
  SKIP_UNLESS_STAGING();
  EXPECT_EQ(storage().RunListChildOutcomes("r:a", "not-a-cursor", 10).status().code(),
            StatusCode::kInvalidArgument);
}

// What a flow's next step reads of each child: its status, the id its step gave it
// (a string as it is, another JSON value serialized, its run id when there is none)
// and its result, in the order stored, a page at a time.
TEST_P(StorageConformance, ChildOutcomesCarryStatusChildKeyAndResult) {
  SKIP_UNLESS_STAGING();
  Put({FlowRoot("r"), FlowMember("r:a", "r", "r")});
  ClaimedRun a = Take("runner", 1, kT0).at(0);
  ASSERT_EQ(a.id, "r:a");
  std::vector<Run> kids = Children("r:a", {"s", "7", "list", "none"});
  kids[0].args = json::object{{"child_id", "part-1"}, {"state", json::object{{"seen", true}}}};
  kids[1].args = json::object{{"child_id", 7}};
  kids[2].args = json::object{{"child_id", json::array{1, "b"}}};
  ASSERT_TRUE(storage().RunStage("default", "r:a", a.attempt, kids).ok());
  ASSERT_TRUE(Unwrap(storage().RunFinishBatch({Released(a, At(1))})).at(0).accepted);

  // "r:a:s" completes with a result, "r:a:7" fails, "r:a:list" completes with a
  // number, and "r:a:none" is still running.
  std::vector<ClaimedRun> claimed = Take("runner", 10, At(2));
  ASSERT_EQ(claimed.size(), 4u);
  std::vector<RunFinish> ends;
  for (const ClaimedRun& kid : claimed) {
    if (kid.id == "r:a:none") continue;
    RunFinish end = FinishOf(kid.id, kid.attempt,
                             kid.id == "r:a:7" ? RunStatus::kFailed : RunStatus::kCompleted, At(3));
    if (kid.id == "r:a:s") end.result = json::object{{"sum", 3}};
    if (kid.id == "r:a:list") end.result = 42;
    ends.push_back(end);
  }
  for (const RunFinishResult& r : Unwrap(storage().RunFinishBatch(ends))) ASSERT_TRUE(r.accepted);

  ChildOutcomePage first = Unwrap(storage().RunListChildOutcomes("r:a", "", 3));
  ASSERT_EQ(first.children.size(), 3u);
  ASSERT_FALSE(first.next_cursor.empty());
  const ChildOutcome& s = first.children[0];
  EXPECT_EQ(s.id, "r:a:s");
  EXPECT_EQ(s.status, RunStatus::kCompleted);
  EXPECT_EQ(s.child_key, "part-1");
  EXPECT_EQ(s.result, (json::object{{"sum", 3}}));
  EXPECT_EQ(first.children[1].id, "r:a:7");
  EXPECT_EQ(first.children[1].status, RunStatus::kFailed);
  EXPECT_EQ(first.children[1].child_key, "7");
  EXPECT_EQ(first.children[2].id, "r:a:list");
  EXPECT_EQ(first.children[2].status, RunStatus::kCompleted);
  EXPECT_EQ(first.children[2].child_key, R"([1,"b"])");
  EXPECT_EQ(first.children[2].result, json::value(42));

  ChildOutcomePage second = Unwrap(storage().RunListChildOutcomes("r:a", first.next_cursor, 3));
  ASSERT_EQ(second.children.size(), 1u);
  EXPECT_TRUE(second.next_cursor.empty());
  const ChildOutcome& none = second.children[0];
  EXPECT_EQ(none.id, "r:a:none");
  EXPECT_EQ(none.status, RunStatus::kRunning);
  EXPECT_EQ(none.child_key, "r:a:none");
  EXPECT_TRUE(none.result.is_null());
}

}  // namespace taskmill::conformance
