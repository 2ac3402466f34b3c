// A step's staged runs are released a part per commit (staged_runs.cpp): the part its
// finish commits, then the others, one commit after the other before the writer takes
// any other write. Meanwhile the step counts as live, and a crash in between leaves
// the rest for the next open to release.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <taskmill/testing/storage_conformance.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "storage/conformance/helpers.h"
#include "storage/run_pages.h"
#include "storage/sqlite/sqlite_storage.h"
#include "storage/sqlite/storage_impl.h"

namespace taskmill::sqlite {
namespace {

using conformance::At;
using conformance::ClaimTwoSteps;
using conformance::FailingFlowR;
using conformance::FinishOf;
using conformance::FlowMember;
using conformance::kT0;
using conformance::StageChildren;
using conformance::TempDir;
using conformance::Unwrap;

// More than one part.
constexpr int kChildren = 2 * SqliteStorage::kReleasedPerCommit + 100;

class StagedRelease : public ::testing::Test {
 protected:
  using Run = ::taskmill::Run;

  void Open(bool release_rest = true) {
    storage_.reset();
    SqliteOptions options{path_, "normal"};
    if (!release_rest) options.before_release_part = [] { return false; };
    storage_ = Unwrap(OpenSqliteStorage(options));
  }
  Storage& storage() { return *storage_; }

  std::vector<Run> ChildrenOf(const std::string& parent) {
    RunFilter filter;
    filter.parent_id = parent;
    return Unwrap(ListAllRuns(storage(), filter));
  }
  // The pending runs RunStats counts, which the release's tallies moved.
  int64_t PendingCounted() {
    return conformance::CountOf(Unwrap(storage().RunStats()), RunStatus::kPending);
  }

  // Claims up to `max` pending runs and completes them in one batch, each finish
  // carrying its claimed run as a runner's does; answers whether each one's parent
  // was told over, in claim order (unset: not told).
  std::vector<std::optional<bool>> Complete(TimePoint at, int max = 1000) {
    auto taken = Unwrap(storage().RunTake({.runner = "runner", .max = max, .now = at}));
    std::vector<RunFinish> done;
    for (const ClaimedRun& run : taken) {
      done.push_back(FinishOf(run.id, run.attempt, RunStatus::kCompleted, at));
      done.back().claimed = &run;
    }
    std::vector<std::optional<bool>> over;
    for (const RunFinishResult& result : Unwrap(storage().RunFinishBatch(done))) {
      over.push_back(result.parent_over);
    }
    return over;
  }
  // Claims and completes every pending run; answers whether a finish was told its
  // parent over.
  bool CompletePending(TimePoint at) {
    bool told_over = false;
    for (auto over = Complete(at); !over.empty(); over = Complete(at)) {
      for (const std::optional<bool>& o : over) told_over |= o.value_or(false);
    }
    return told_over;
  }

  RunFinish Released(const ClaimedRun& step, TimePoint at) {
    RunFinish f = FinishOf(step.id, step.attempt, RunStatus::kCompleted, at);
    f.staged = StagedRuns::kRelease;
    return f;
  }

  TempDir dir_;
  std::string path_ = (dir_.path() / "taskmill.db").string();
  std::unique_ptr<Storage> storage_;
};

TEST_F(StagedRelease, EveryPartIsCommittedBeforeTheNextWrite) {
  Open();
  auto [a, b] = ClaimTwoSteps(storage());
  ASSERT_TRUE(StageChildren(storage(), a, kChildren).ok());
  ASSERT_TRUE(Unwrap(storage().RunFinishBatch({Released(a, At(1))})).at(0).accepted);
  // Any write queued after the finish's answer comes after the whole release.
  Unwrap(storage().RunPut({.runs = {FlowMember("other", "other", "")}}));
  EXPECT_EQ(ChildrenOf("r:a").size(), static_cast<size_t>(kChildren));
  EXPECT_EQ(PendingCounted(), kChildren + 1);  // and "other"
}

TEST_F(StagedRelease, AStepIsLiveUntilItsReleaseIsDoneAndTheOpenEndsOneACrashCutShort) {
  Open(/*release_rest=*/false);
  auto [a, b] = ClaimTwoSteps(storage());
  ASSERT_TRUE(StageChildren(storage(), a, kChildren).ok());
  ASSERT_TRUE(Unwrap(storage().RunFinishBatch({Released(a, At(1))})).at(0).accepted);
  ASSERT_EQ(ChildrenOf("r:a").size(), static_cast<size_t>(SqliteStorage::kReleasedPerCommit));
  // Every child released so far completes: what is left to release still runs, and
  // no finish is told its step over.
  EXPECT_FALSE(CompletePending(At(2)));
  RunFinish last = FinishOf(b.id, b.attempt, RunStatus::kCompleted, At(3));
  RunFollowUp next;
  next.run = FlowMember("r:c", "r", "r");
  next.after = {"r:a", "r:b"};
  last.follow_ups.push_back(next);
  ASSERT_TRUE(Unwrap(storage().RunFinishBatch({last})).at(0).accepted);
  EXPECT_TRUE(storage().RunGet("r:c").status().IsNotFound())
      << "stored while step a still had runs to release";

  Open();  // after a crash: the open releases the rest
  std::vector<Run> children = ChildrenOf("r:a");
  EXPECT_EQ(children.size(), static_cast<size_t>(kChildren));
  int pending = 0;
  for (const Run& child : children) pending += child.status == RunStatus::kPending;
  EXPECT_EQ(pending, kChildren - SqliteStorage::kReleasedPerCommit);
  EXPECT_EQ(PendingCounted(), pending);
}

TEST_F(StagedRelease, TheFinishThatEndsAStepsLastChildIsToldItsStepIsOver) {
  Open();
  auto [a, b] = ClaimTwoSteps(storage());
  ASSERT_TRUE(StageChildren(storage(), a, 3).ok());
  ASSERT_TRUE(Unwrap(storage().RunFinishBatch({Released(a, At(1))})).at(0).accepted);
  EXPECT_THAT(Complete(At(2), 2), ::testing::ElementsAre(false, false));
  EXPECT_THAT(Complete(At(3)), ::testing::ElementsAre(true));
}

TEST_F(StagedRelease, AFlowsStopStopsTheRunsOfAReleaseUnderWayToo) {
  Open(/*release_rest=*/false);
  auto [a, b] = ClaimTwoSteps(storage());
  ASSERT_TRUE(StageChildren(storage(), a, kChildren).ok());
  ASSERT_TRUE(Unwrap(storage().RunFinishBatch({Released(a, At(1))})).at(0).accepted);
  RunFinish failed = FailingFlowR(b, At(2));
  ASSERT_TRUE(Unwrap(storage().RunFinishBatch({failed})).at(0).accepted);
  std::vector<Run> children = ChildrenOf("r:a");
  EXPECT_EQ(children.size(), static_cast<size_t>(kChildren));
  for (const Run& child : children) {
    ASSERT_EQ(child.status, RunStatus::kStopped) << child.id;
  }
  EXPECT_EQ(PendingCounted(), 0);
}

}  // namespace
}  // namespace taskmill::sqlite
