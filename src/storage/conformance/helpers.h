// helpers.h — values and checks shared by the conformance suite's test files (not
// installed: a backend's tests see only taskmill/testing/storage_conformance.h).
#pragma once

#include <taskmill/testing/storage_conformance.h>

#include <boost/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace taskmill::conformance {

// The ids of runs, in order.
std::vector<std::string> Ids(const std::vector<Run>& runs);

// Runs and task definitions are compared through their JSON form, which holds every
// field losslessly (model_test.cpp checks that field by field) and prints readably.
// (The defaulted Run::operator== is unusable while RetryPolicy has no operator==.)
std::string Json(const Run& run);
std::string Json(const Attempt& attempt);
std::string Json(const TaskDef& task);
std::string Time(TimePoint t);
std::string Time(const std::optional<TimePoint>& t);

#define EXPECT_RUN_EQ(a, b) EXPECT_EQ(Json(a), Json(b))

// The end of attempt `attempt` of run `id` in queue "default".
RunFinish FinishOf(std::string id, int attempt, RunStatus status, TimePoint finished_at);

// The count RunStats reports for `status`; -1 when it reports none.
int64_t CountOf(const StorageStats& stats, RunStatus status);

// A run with every field set to a value other than its default, as a runner would
// leave it after a first failed attempt and a second successful one.
Run FullCompletedRun(std::string id);
// A run in the middle of its second attempt (the launch after FullCompletedRun's).
Run FullRunningRun(std::string id);
// A flow's root as the engine stores it: running, held by no runner.
Run FlowRoot(const std::string& id);
// A pending run of the flow of root `flow`, with parent `parent`.
Run FlowMember(const std::string& id, const std::string& flow, const std::string& parent);
// A flow "r" with steps "r:a" and "r:b" stored and both claimed (by "runner" at kT0):
// answers their claims, a's first.
std::pair<ClaimedRun, ClaimedRun> ClaimTwoSteps(Storage& storage, int max_attempts = 1);
// Stages `count` children of `parent` ("<parent>:0", ...) under its claimed attempt.
Status StageChildren(Storage& storage, const ClaimedRun& parent, int count);
// The failed finish of `step`, a step of flow "r" (ClaimTwoSteps), that fails the flow
// and stops what else of it is live, as a step that cannot be retried does.
RunFinish FailingFlowR(const ClaimedRun& step, TimePoint at);
// A task definition with every field set to a value other than its default.
TaskDef FullTask(std::string name);

// The suite is a static library, and a linker takes an object file from a library
// only when something it already links refers to it. Each subject's file defines one
// of these; fixture.cpp's table refers to all of them, and every instantiation refers
// to fixture.cpp (StorageFactoryName), so one line links the whole suite.
extern const int kRunsPutGetSubject;
extern const int kListSubject;
extern const int kTakeSubject;
extern const int kFinishSubject;
extern const int kTalliesSubject;
extern const int kCatalogSubject;
extern const int kReopenSubject;
extern const int kFilesSubject;
extern const int kAccountsSubject;
extern const int kClaimsSubject;
extern const int kPendingSplitSubject;
extern const int kCapsSubject;
extern const int kLeaderTermSubject;
extern const int kRunnersSubject;
extern const int kFlowsSubject;
extern const int kFlowReopenSubject;
extern const int kRetentionSubject;
extern const int kStagedRunsSubject;

}  // namespace taskmill::conformance
