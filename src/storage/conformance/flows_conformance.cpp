// Conformance tests of what an accepted finish brings into its commit (RunFollowUp,
// RunSettle): the runs of a flow that follow a step, stored only when their
// conditions hold (fan-in, children over, the flow still live), and the end of the
// flow's root. Written against the Storage interface alone.
#include <gmock/gmock.h>

#include <boost/json.hpp>
#include <memory>
#include <string>
#include <vector>

#include "storage/conformance/helpers.h"

namespace taskmill::conformance {

// Named in fixture.cpp's link table, so that linking the suite links this file (helpers.h).
const int kFlowsSubject = 0;

namespace {
namespace json = boost::json;

RunFollowUp FollowUp(Run run, std::vector<std::string> after, std::string while_live = "") {
  RunFollowUp up;
  up.run = std::move(run);
  up.after = std::move(after);
  up.while_live = std::move(while_live);
  return up;
}

RunFinish FinishWith(const Run& claimed, RunStatus status, std::vector<RunFollowUp> ups) {
  RunFinish f = FinishOf(claimed.id, claimed.attempt, status, At(5));
  f.follow_ups = std::move(ups);
  return f;
}

bool Stored(Storage& storage, const std::string& id) { return storage.RunGet(id).ok(); }

// The finish of the step run r:a of flow r that stores its children r:a:1 to r:a:3.
RunFinish StoresThreeChildren(const Run& a) {
  return FinishWith(a, RunStatus::kCompleted,
                    {FollowUp(FlowMember("r:a:1", "r", "r:a"), {}, "r"),
                     FollowUp(FlowMember("r:a:2", "r", "r:a"), {}, "r"),
                     FollowUp(FlowMember("r:a:3", "r", "r:a"), {}, "r")});
}

}  // namespace

TEST_P(StorageConformance, FollowUpIsStoredWithTheFinishAndOnlyOnce) {
  Put({FlowRoot("r"), FlowMember("r:a", "r", "r")});
  ClaimedRun a = Take("runner", 1, kT0).at(0);
  ASSERT_EQ(a.id, "r:a");
  RunFinish f =
      FinishWith(a, RunStatus::kCompleted, {FollowUp(FlowMember("r:b", "r", "r"), {"r:a"}, "r")});
  // A stale fence stores nothing.
  RunFinish stale = f;
  stale.attempt = a.attempt + 1;
  EXPECT_FALSE(Unwrap(storage().RunFinishBatch({stale})).at(0).accepted);
  EXPECT_FALSE(Stored(storage(), "r:b"));

  RunFinishResult stored = Unwrap(storage().RunFinishBatch({f})).at(0);
  EXPECT_TRUE(stored.accepted);
  // The runner claims again after a finish that stored runs: a backend may not say
  // it stored none.
  EXPECT_TRUE(FinishMayHaveStoredRuns(f, stored));
  Run b = Get("r:b");
  EXPECT_EQ(b.status, RunStatus::kPending);
  EXPECT_EQ(b.flow_id, "r");
  EXPECT_EQ(b.parent_id, "r");
  RunFilter by_flow;
  by_flow.flow_id = "r";
  EXPECT_EQ(ListAll(by_flow).size(), 3u);
  ExpectStatsMatchListing();
}

TEST_P(StorageConformance, FollowUpWaitsForEveryParentOfAFanIn) {
  Put({FlowRoot("r"), FlowMember("r:a", "r", "r"), FlowMember("r:b", "r", "r")});
  std::vector<ClaimedRun> claimed = Take("runner", 2, kT0);
  ASSERT_EQ(claimed.size(), 2u);
  Run join = FlowMember("r:c", "r", "r");
  // The first parent to finish finds the other running: c is not due.
  EXPECT_TRUE(Unwrap(storage().RunFinishBatch({FinishWith(claimed[0], RunStatus::kCompleted,
                                                          {FollowUp(join, {"r:a", "r:b"}, "r")})}))
                  .at(0)
                  .accepted);
  EXPECT_FALSE(Stored(storage(), "r:c"));
  // The second finds both over.
  EXPECT_TRUE(Unwrap(storage().RunFinishBatch({FinishWith(claimed[1], RunStatus::kCompleted,
                                                          {FollowUp(join, {"r:a", "r:b"}, "r")})}))
                  .at(0)
                  .accepted);
  EXPECT_EQ(Get("r:c").status, RunStatus::kPending);
  ExpectStatsMatchListing();
}

TEST_P(StorageConformance, FanInOfParentsFinishedInOneBatchStoresTheJoinOnce) {
  Put({FlowRoot("r"), FlowMember("r:a", "r", "r"), FlowMember("r:b", "r", "r")});
  std::vector<ClaimedRun> claimed = Take("runner", 2, kT0);
  ASSERT_EQ(claimed.size(), 2u);
  Run join = FlowMember("r:c", "r", "r");
  auto results = Unwrap(storage().RunFinishBatch(
      {FinishWith(claimed[0], RunStatus::kCompleted, {FollowUp(join, {"r:a", "r:b"}, "r")}),
       FinishWith(claimed[1], RunStatus::kCompleted, {FollowUp(join, {"r:a", "r:b"}, "r")})}));
  EXPECT_TRUE(results.at(0).accepted && results.at(1).accepted);
  RunFilter by_id;
  by_id.id = "r:c";
  EXPECT_EQ(ListAll(by_id).size(), 1u);
  ExpectStatsMatchListing();
}

TEST_P(StorageConformance, FollowUpWaitsForTheChildrenOfItsParent) {
  Put({FlowRoot("r"), FlowMember("r:a", "r", "r")});
  ClaimedRun a = Take("runner", 1, kT0).at(0);
  Run next = FlowMember("r:n", "r", "r");
  // The step adds two children and names its successor: the children are stored, the
  // successor waits for them.
  ASSERT_TRUE(Unwrap(storage().RunFinishBatch(
                         {FinishWith(a, RunStatus::kCompleted,
                                     {FollowUp(FlowMember("r:a:1", "r", "r:a"), {}, "r"),
                                      FollowUp(FlowMember("r:a:2", "r", "r:a"), {}, "r"),
                                      FollowUp(next, {"r:a"}, "r")})}))
                  .at(0)
                  .accepted);
  EXPECT_TRUE(Stored(storage(), "r:a:1"));
  EXPECT_TRUE(Stored(storage(), "r:a:2"));
  EXPECT_FALSE(Stored(storage(), "r:n"));
  std::vector<ClaimedRun> children = Take("runner", 2, At(1));
  ASSERT_EQ(children.size(), 2u);
  ASSERT_TRUE(Unwrap(storage().RunFinishBatch({FinishWith(children[0], RunStatus::kFailed,
                                                          {FollowUp(next, {"r:a"}, "r")})}))
                  .at(0)
                  .accepted);
  EXPECT_FALSE(Stored(storage(), "r:n")) << "a child is still running";
  ASSERT_TRUE(Unwrap(storage().RunFinishBatch({FinishWith(children[1], RunStatus::kCompleted,
                                                          {FollowUp(next, {"r:a"}, "r")})}))
                  .at(0)
                  .accepted);
  EXPECT_TRUE(Stored(storage(), "r:n"));
  ExpectStatsMatchListing();
}

// Each child of a step carries the step's successor and the flow's settle: of a batch
// of them, the last may be stale (its run stopped meanwhile), and what the accepted
// ones carried is stored all the same, once.
TEST_P(StorageConformance, ChildrenFinishedInOneBatchStartTheSuccessorOnceThoughTheLastIsStale) {
  Put({FlowRoot("r"), FlowMember("r:a", "r", "r")});
  ClaimedRun a = Take("runner", 1, kT0).at(0);
  Run next = FlowMember("r:n", "r", "r");
  ASSERT_TRUE(Unwrap(storage().RunFinishBatch({StoresThreeChildren(a)})).at(0).accepted);
  std::vector<ClaimedRun> children = Take("runner", 3, At(1));
  ASSERT_EQ(children.size(), 3u);
  Unwrap(storage().RunCancel(children[2].id, children[2].queue, At(2)));
  std::vector<RunFinish> batch;
  for (const ClaimedRun& child : children) {
    batch.push_back(FinishWith(child, RunStatus::kCompleted, {FollowUp(next, {"r:a"}, "r")}));
  }
  auto results = Unwrap(storage().RunFinishBatch(batch));
  ASSERT_EQ(results.size(), 3u);
  EXPECT_TRUE(results[0].accepted);
  EXPECT_TRUE(results[1].accepted);
  EXPECT_FALSE(results[2].accepted) << "its run was stopped";
  EXPECT_TRUE(Stored(storage(), "r:n")) << "every child of r:a is final";
  bool any_may_have_stored = false;
  for (size_t i = 0; i < batch.size(); ++i)
    any_may_have_stored |= FinishMayHaveStoredRuns(batch[i], results[i]);
  EXPECT_TRUE(any_may_have_stored) << "the batch stored r:n";
  EXPECT_EQ(Get("r").status, RunStatus::kRunning);
  ExpectStatsMatchListing();
}

// The children of a step share its successor (RunFinish::shared_follow_ups) rather
// than each carrying a copy: it is stored as if each had its own, from the instant of
// the finish that stores it.
TEST_P(StorageConformance, SharedFollowUpIsStoredOnceFromTheInstantOfTheFinishThatStoresIt) {
  Put({FlowRoot("r"), FlowMember("r:a", "r", "r")});
  ClaimedRun a = Take("runner", 1, kT0).at(0);
  ASSERT_TRUE(Unwrap(storage().RunFinishBatch({StoresThreeChildren(a)})).at(0).accepted);
  std::vector<ClaimedRun> children = Take("runner", 3, At(1));
  ASSERT_EQ(children.size(), 3u);
  Run next = FlowMember("r:n", "r", "r");
  next.created_at = next.run_at = At(0);  // the instant of none of the finishes
  const auto successor =
      std::make_shared<const std::vector<RunFollowUp>>(1, FollowUp(next, {"r:a"}, "r"));
  auto finish = [&](const ClaimedRun& child, int at) {
    RunFinish f = FinishOf(child.id, child.attempt, RunStatus::kCompleted, At(at));
    f.shared_follow_ups = successor;
    return f;
  };
  RunFinish first = finish(children[0], 6);
  auto results = Unwrap(storage().RunFinishBatch({first, finish(children[1], 7)}));
  EXPECT_TRUE(results.at(0).accepted && results.at(1).accepted);
  EXPECT_TRUE(FinishMayHaveStoredRuns(first, {.accepted = true})) << "it carries a follow-up";
  EXPECT_FALSE(Stored(storage(), "r:n")) << "a child of r:a is still running";

  EXPECT_TRUE(Unwrap(storage().RunFinishBatch({finish(children[2], 9)})).at(0).accepted);
  Run stored = Get("r:n");
  EXPECT_EQ(stored.status, RunStatus::kPending);
  EXPECT_EQ(stored.parent_id, "r");
  EXPECT_EQ(stored.created_at, At(9));
  EXPECT_EQ(stored.run_at, At(9));
  RunFilter by_id;
  by_id.id = "r:n";
  EXPECT_EQ(ListAll(by_id).size(), 1u);
  EXPECT_EQ(successor->at(0).run.created_at, At(0)) << "the shared follow-up is left as it was";
  ExpectStatsMatchListing();
}

TEST_P(StorageConformance, ChildrenFinishedInOneBatchEndTheFlowThoughTheLastIsStale) {
  Put({FlowRoot("r"), FlowMember("r:a", "r", "r"), FlowMember("r:b", "r", "r"),
       FlowMember("r:c", "r", "r")});
  std::vector<ClaimedRun> claimed = Take("runner", 3, kT0);
  ASSERT_EQ(claimed.size(), 3u);
  Unwrap(storage().RunCancel(claimed[2].id, claimed[2].queue, At(1)));
  RunSettle settle;
  settle.queue = "default";
  settle.id = "r";
  settle.status = RunStatus::kCompleted;
  settle.result = json::object{{"outcome", "all_over"}};
  std::vector<RunFinish> batch;
  for (const ClaimedRun& run : claimed) {
    batch.push_back(FinishWith(run, RunStatus::kCompleted, {}));
    batch.back().settle = settle;
  }
  auto results = Unwrap(storage().RunFinishBatch(batch));
  ASSERT_EQ(results.size(), 3u);
  EXPECT_FALSE(results[2].accepted);
  EXPECT_FALSE(results[2].settled);
  EXPECT_EQ(results[0].settled + results[1].settled, 1) << "one accepted finish ended the root";
  EXPECT_EQ(Get("r").status, RunStatus::kCompleted);
  ExpectStatsMatchListing();
}

TEST_P(StorageConformance, FollowUpOfAStoppedFlowIsNotStored) {
  Put({FlowRoot("r"), FlowMember("r:a", "r", "r")});
  ClaimedRun a = Take("runner", 1, kT0).at(0);
  Unwrap(storage().RunCancel("r", "default", At(1)));
  EXPECT_TRUE(
      Unwrap(storage().RunFinishBatch({FinishWith(
                 a, RunStatus::kCompleted, {FollowUp(FlowMember("r:b", "r", "r"), {"r:a"}, "r")})}))
          .at(0)
          .accepted);
  EXPECT_FALSE(Stored(storage(), "r:b"));
}

TEST_P(StorageConformance, SettleEndsTheRootWhenNothingOfTheFlowIsLive) {
  Put({FlowRoot("r"), FlowMember("r:a", "r", "r"), FlowMember("r:b", "r", "r")});
  std::vector<ClaimedRun> claimed = Take("runner", 2, kT0);
  ASSERT_EQ(claimed.size(), 2u);
  RunSettle settle;
  settle.queue = "default";
  settle.id = "r";
  settle.status = RunStatus::kCompleted;
  settle.result = json::object{{"outcome", "all_over"}};
  RunFinish first = FinishWith(claimed[0], RunStatus::kCompleted, {});
  first.settle = settle;
  ASSERT_TRUE(Unwrap(storage().RunFinishBatch({first})).at(0).accepted);
  EXPECT_EQ(Get("r").status, RunStatus::kRunning) << "r:b is still running";
  RunFinish last = FinishWith(claimed[1], RunStatus::kCompleted, {});
  last.settle = settle;
  ASSERT_TRUE(Unwrap(storage().RunFinishBatch({last})).at(0).accepted);
  Run root = Get("r");
  EXPECT_EQ(root.status, RunStatus::kCompleted);
  EXPECT_EQ(root.result, settle.result);
  EXPECT_EQ(Time(root.finished_at), Time(At(5)));
  ExpectStatsMatchListing();
}

// Every step is final, but one's child is not: the flow is live until it ends.
TEST_P(StorageConformance, SettleWaitsForTheLiveChildOfAFinalStep) {
  Put({FlowRoot("r"), FlowMember("r:a", "r", "r"), FlowMember("r:b", "r", "r")});
  std::vector<ClaimedRun> steps = Take("runner", 2, kT0);
  ASSERT_EQ(steps.size(), 2u);
  Put({FlowMember("r:a:c", "r", "r:a")});  // pending
  RunSettle settle;
  settle.queue = "default";
  settle.id = "r";
  settle.status = RunStatus::kCompleted;
  for (const ClaimedRun& step : steps) {
    RunFinish f = FinishWith(step, RunStatus::kCompleted, {});
    f.settle = settle;
    ASSERT_TRUE(Unwrap(storage().RunFinishBatch({f})).at(0).accepted);
  }
  EXPECT_EQ(Get("r").status, RunStatus::kRunning) << "r:a:c is still pending";
  std::vector<ClaimedRun> child = Take("runner", 1, kT0);
  ASSERT_EQ(child.size(), 1u);
  ASSERT_EQ(child[0].id, "r:a:c");
  EXPECT_EQ(Get("r").status, RunStatus::kRunning) << "r:a:c is running";
  RunFinish last = FinishWith(child[0], RunStatus::kCompleted, {});
  last.settle = settle;
  ASSERT_TRUE(Unwrap(storage().RunFinishBatch({last})).at(0).accepted);
  EXPECT_EQ(Get("r").status, RunStatus::kCompleted);
  ExpectStatsMatchListing();
}

TEST_P(StorageConformance, SettleStopsWhatIsLeftOfAFailedFlow) {
  Put({FlowRoot("r"), FlowMember("r:a", "r", "r"), FlowMember("r:b", "r", "r")});
  std::vector<ClaimedRun> claimed = Take("runner", 1, kT0);
  ASSERT_EQ(claimed.size(), 1u);
  Put({FlowMember("r:c", "r", "r:b")});  // pending
  RunFinish failed = FinishWith(claimed[0], RunStatus::kFailed, {});
  failed.settle = RunSettle{.queue = "default",
                            .id = "r",
                            .status = RunStatus::kFailed,
                            .result = nullptr,
                            .error = "step a failed",
                            .error_kind = "flow",
                            .when_idle = false,
                            .stop_live = true};
  ASSERT_TRUE(Unwrap(storage().RunFinishBatch({failed})).at(0).accepted);
  EXPECT_EQ(Get("r").status, RunStatus::kFailed);
  EXPECT_EQ(Get("r").error, "step a failed");
  std::string other = claimed[0].id == "r:a" ? "r:b" : "r:a";
  EXPECT_EQ(Get(other).status, RunStatus::kStopped);
  EXPECT_EQ(Get("r:c").status, RunStatus::kStopped);
  EXPECT_EQ(Get("r:c").error_kind, "stopped");
  ExpectStatsMatchListing();
}

TEST_P(StorageConformance, AFlowsRootHoldsNoSlotOfItsQueuesCap) {
  // The root is stored running but no runner holds it: with a cap of 2 on its queue,
  // two of its steps run at once, not one.
  Unwrap(storage().QueueSetConcurrency("narrow", 2));
  Run root = FlowRoot("r");
  root.queue = "narrow";
  Run a = FlowMember("r:a", "r", "r"), b = FlowMember("r:b", "r", "r"),
      c = FlowMember("r:c", "r", "r");
  a.queue = b.queue = c.queue = "narrow";
  Put({root, a, b, c});
  EXPECT_EQ(Take("runner", 10, At(1), {"narrow"}).size(), 2u);
  EXPECT_TRUE(Take("runner", 10, At(2), {"narrow"}).empty()) << "the queue is at its cap";
  ExpectStatsMatchListing();
}

}  // namespace taskmill::conformance
