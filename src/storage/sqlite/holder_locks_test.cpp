// Liveness by lock files: a holder whose process ended (here: whose storage closed
// without detaching, as a crash leaves it) is known dead at once, so its runs are
// swept and its leader lease taken before their leases end.
#include "storage/sqlite/holder_locks.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "storage/conformance/storage_conformance.h"
#include "storage/sqlite/sqlite_storage.h"

namespace taskmill::sqlite {
namespace {
using namespace std::chrono_literals;
using conformance::At;
using conformance::kT0;
using conformance::TempDir;
using conformance::Unwrap;

TEST(HolderLocksTest, AHolderIsAliveWhileAttachedDeadAfterItsEndAndUnknownWithoutAFile) {
  TempDir dir;
  HolderLocks checker(dir.path() / "locks");
  EXPECT_FALSE(checker.IsDead("runner:1")) << "no file: unknown";
  {
    HolderLocks holder(dir.path() / "locks");
    Unwrap(holder.Attach("runner:1"));
    Unwrap(holder.Attach("runner:1"));  // twice is fine
    EXPECT_FALSE(checker.IsDead("runner:1"));
    EXPECT_FALSE(checker.Attach("runner:1").ok()) << "one live holder per id";
  }  // closed without Detach, as a killed process leaves it
  EXPECT_TRUE(checker.IsDead("runner:1"));
  // Detached: the file is gone, so the holder is unknown again.
  HolderLocks holder(dir.path() / "locks");
  Unwrap(holder.Attach("scheduler/odd id"));
  holder.Detach("scheduler/odd id");
  EXPECT_FALSE(checker.IsDead("scheduler/odd id"));
}

Run PendingRun(std::string id) {
  Run run;
  run.id = std::move(id);
  run.function = "test.echo";
  run.created_at = kT0;
  run.run_at = kT0;
  run.time_to_resolve = 60s;
  return run;
}

TEST(HolderLocksTest, TheRunsAndTheLeaseOfADeadHolderAreHandledBeforeTheirLeasesEnd) {
  TempDir dir;
  const std::string path = (dir.path() / "taskmill.db").string();
  {
    auto crashed = Unwrap(OpenSqliteStorage({path, "normal"}));
    Unwrap(crashed->HolderAttach("runner-a"));
    Unwrap(crashed->HolderAttach("scheduler-a"));
    RunPutParams put;
    put.runs = {PendingRun("started"), PendingRun("ahead")};
    Unwrap(crashed->RunPut(std::move(put)));
    RunTakeParams take{"runner-a", {}, 2, At(1), 1};
    ASSERT_EQ(Unwrap(crashed->RunTake(take)).size(), 2u);
    ASSERT_TRUE(Unwrap(crashed->LeaderAttemptElect("scheduler", "scheduler-a", At(1), 15s)));
    // While it lives, nothing of it is taken.
    auto other = Unwrap(OpenSqliteStorage({path, "normal"}));
    EXPECT_TRUE(Unwrap(other->RunListExpired(At(2), 10)).empty());
    EXPECT_FALSE(Unwrap(other->LeaderAttemptElect("scheduler", "scheduler-b", At(2), 15s)));
  }  // closed without detaching: the process died
  auto restarted = Unwrap(OpenSqliteStorage({path, "normal"}));
  // Long before the 60 s leases and the 15 s leader lease end.
  auto released = Unwrap(restarted->RunReleaseUnstarted(At(2), 10));
  ASSERT_EQ(released.size(), 1u);
  EXPECT_EQ(released[0].id, "ahead");
  EXPECT_EQ(released[0].status, RunStatus::kPending);
  auto expired = Unwrap(restarted->RunListExpired(At(2), 10));
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].id, "started");
  EXPECT_TRUE(Unwrap(restarted->LeaderAttemptElect("scheduler", "scheduler-b", At(2), 15s)));
}

}  // namespace
}  // namespace taskmill::sqlite
