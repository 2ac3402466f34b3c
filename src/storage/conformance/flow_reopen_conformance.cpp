// Conformance tests of a failed flow reopened (RunReopen: the root back to running and
// runs retried with it, all or nothing) and of the runs a settle stores with the end
// of the root (RunSettle::then). Written against the Storage interface alone.
#include <gmock/gmock.h>

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "storage/conformance/helpers.h"

namespace taskmill::conformance {

// Named in fixture.cpp's link table, so that linking the suite links this file (helpers.h).
const int kFlowReopenSubject = 0;

namespace {
namespace json = boost::json;

RunSettle FailFlow() {
  return RunSettle{.queue = "default",
                   .id = "r",
                   .status = RunStatus::kFailed,
                   .result = json::object{{"outcome", "failed_over"}},
                   .error = "step a failed",
                   .error_kind = "flow",
                   .when_idle = false,
                   .stop_live = true};
}

}  // namespace

TEST_P(StorageConformance, SettleStoresItsThenRunsOnlyWhenItEndsTheRoot) {
  Put({FlowRoot("r"), FlowMember("r:a", "r", "r"), FlowMember("r:b", "r", "r")});
  std::vector<ClaimedRun> claimed = Take("runner", 2, kT0);
  ASSERT_EQ(claimed.size(), 2u);
  RunSettle settle;
  settle.queue = "default";
  settle.id = "r";
  settle.result = json::object{{"outcome", "all_over"}};
  Run over = FlowMember("r::over", "", "r");  // not a member of the flow: no flow_id
  settle.then = {over};
  RunFinish first = FinishOf(claimed[0].id, claimed[0].attempt, RunStatus::kCompleted, At(5));
  first.settle = settle;
  ASSERT_TRUE(Unwrap(storage().RunFinishBatch({first})).at(0).accepted);
  EXPECT_FALSE(storage().RunGet("r::over").ok()) << "the flow is not over: nothing stored";
  RunFinish last = FinishOf(claimed[1].id, claimed[1].attempt, RunStatus::kCompleted, At(6));
  last.settle = settle;
  auto results = Unwrap(storage().RunFinishBatch({last}));
  ASSERT_TRUE(results.at(0).accepted);
  EXPECT_TRUE(results.at(0).settled);
  EXPECT_EQ(Get("r").status, RunStatus::kCompleted);
  EXPECT_EQ(Get("r::over").status, RunStatus::kPending);
  EXPECT_EQ(Get("r::over").parent_id, "r");
  ExpectStatsMatchListing();
}

TEST_P(StorageConformance, ReopenPutsAFailedRootBackToRunningAndRetriesRunsInOneCommit) {
  Put({FlowRoot("r"), FlowMember("r:a", "r", "r"), FlowMember("r:b", "r", "r")});
  std::vector<ClaimedRun> claimed = Take("runner", 1, kT0);
  ASSERT_EQ(claimed.size(), 1u);
  const std::string failed_id = claimed[0].id;
  const std::string stopped_id = failed_id == "r:a" ? "r:b" : "r:a";
  RunFinish failed = FinishOf(failed_id, claimed[0].attempt, RunStatus::kFailed, At(5));
  failed.error = "boom";
  failed.settle = FailFlow();
  ASSERT_TRUE(Unwrap(storage().RunFinishBatch({failed})).at(0).accepted);
  ASSERT_EQ(Get("r").status, RunStatus::kFailed);
  ASSERT_EQ(Get(stopped_id).status, RunStatus::kStopped);

  // All or nothing: a live or absent run among them changes nothing.
  Put({FlowMember("r:live", "r", "r")});
  EXPECT_EQ(storage().RunReopen("r", "default", {failed_id, "r:live"}, At(6)).status().code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(storage().RunReopen("r", "default", {failed_id, "r:absent"}, At(6)).status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(Get("r").status, RunStatus::kFailed);
  EXPECT_EQ(Get(failed_id).status, RunStatus::kFailed);
  Unwrap(storage().RunCancel("r:live", "default", At(6)));

  Run root = Unwrap(storage().RunReopen("r", "default", {failed_id, stopped_id}, At(7)));
  EXPECT_EQ(root.status, RunStatus::kRunning);
  EXPECT_TRUE(root.result.is_null());
  EXPECT_EQ(root.error, "");
  EXPECT_FALSE(root.finished_at.has_value());
  EXPECT_EQ(Get("r").status, RunStatus::kRunning);
  Run step = Get(failed_id);
  EXPECT_EQ(step.status, RunStatus::kPending);
  EXPECT_EQ(step.error, "");
  EXPECT_FALSE(step.finished_at.has_value());
  EXPECT_EQ(step.attempts.size(), 1u) << "its attempts are kept";
  EXPECT_GE(step.retry.max_attempts, step.attempt + 1);
  EXPECT_EQ(Time(step.run_at), Time(At(7)));
  EXPECT_EQ(Get(stopped_id).status, RunStatus::kPending);
  // A live root cannot be reopened.
  EXPECT_EQ(storage().RunReopen("r", "default", {}, At(8)).status().code(),
            StatusCode::kFailedPrecondition);
  // The retried step is claimed again with the next attempt.
  std::vector<ClaimedRun> again = Take("runner", 2, At(8));
  ASSERT_EQ(again.size(), 2u);
  ExpectStatsMatchListing();
}

}  // namespace taskmill::conformance
