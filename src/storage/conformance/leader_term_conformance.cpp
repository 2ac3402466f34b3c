// Conformance tests of the leader lease's term and of the fence a leader's launches
// carry (LeaderLease::term, RunPutScheduled): a stale leader's writes are refused.
// Written against the Storage interface alone.
#include <gmock/gmock.h>

#include <string>
#include <vector>

#include "storage/conformance/helpers.h"

namespace taskmill::conformance {

// Named in fixture.cpp's link table (helpers.h).
const int kLeaderTermSubject = 0;

namespace {
using namespace std::chrono_literals;
using ::testing::HasSubstr;

int64_t TermOf(Storage& storage, const std::string& lease) {
  auto held = Unwrap(storage.LeaderGet(lease));
  return held ? held->term : -1;
}

TEST_P(StorageConformance, LeaderTermChangesWithTheHolderAndNotOnRenewal) {
  auto elect = [&](const std::string& holder, TimePoint now) {
    return Unwrap(storage().LeaderAttemptElect("scheduler", holder, now, 30s));
  };
  ASSERT_TRUE(elect("node-a", kT0));
  EXPECT_EQ(TermOf(storage(), "scheduler"), 1) << "the first holder's term";
  ASSERT_TRUE(elect("node-a", At(20)));
  EXPECT_EQ(TermOf(storage(), "scheduler"), 1) << "a renewal keeps the term";
  ASSERT_TRUE(elect("node-a", At(60)));
  EXPECT_EQ(TermOf(storage(), "scheduler"), 1) << "renewed late, but no one took it meanwhile";
  ASSERT_TRUE(elect("node-b", At(100)));
  EXPECT_EQ(TermOf(storage(), "scheduler"), 2) << "taken over after expiry";
  ASSERT_TRUE(elect("node-a", At(140)));
  EXPECT_EQ(TermOf(storage(), "scheduler"), 3) << "taken back: a new term, not the old one";
  Unwrap(storage().LeaderResign("scheduler", "node-a"));
  EXPECT_EQ(Unwrap(storage().LeaderGet("scheduler")), std::nullopt);
  ASSERT_TRUE(elect("node-a", At(141)));
  EXPECT_EQ(TermOf(storage(), "scheduler"), 4)
      << "a resignation ends the term, even when the same holder takes it again";
  ASSERT_TRUE(Unwrap(storage().LeaderAttemptElect("sweeper", "node-a", At(141), 30s)));
  EXPECT_EQ(TermOf(storage(), "sweeper"), 1) << "each lease counts its own terms";
}

TEST_P(StorageConformance, RunPutScheduledRefusesTheWritesOfAStaleLeader) {
  ASSERT_TRUE(Unwrap(storage().LeaderAttemptElect("scheduler", "node-a", kT0, 30s)));
  const LeaderFence stale{"scheduler", TermOf(storage(), "scheduler")};
  // node-a stalls past its lease; node-b takes over.
  ASSERT_TRUE(Unwrap(storage().LeaderAttemptElect("scheduler", "node-b", At(31), 30s)));
  const LeaderFence current{"scheduler", TermOf(storage(), "scheduler")};
  ASSERT_NE(stale.term, current.term);

  Run first = NewTaskRun("first", "every-minute");
  first.scheduled_at = At(60);
  Run second = NewTaskRun("second", "every-hour");
  second.scheduled_at = At(60);
  auto refused = storage().RunPutScheduled({first, second}, stale);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition)
      << refused.status().ToString();
  EXPECT_THAT(refused.status().message(), HasSubstr("scheduler"));
  EXPECT_EQ(Unwrap(storage().RunStats()).total, 0) << "nothing of a refused batch is stored";

  std::vector<Run> stored = Unwrap(storage().RunPutScheduled({first, second}, current));
  EXPECT_EQ(Ids(stored), (std::vector<std::string>{"first", "second"}));

  // A resignation ends the term: the resigned leader's fence no longer holds.
  Unwrap(storage().LeaderResign("scheduler", "node-b"));
  Run third = NewTaskRun("third", "every-minute");
  third.scheduled_at = At(120);
  EXPECT_EQ(storage().RunPutScheduled({third}, current).status().code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(storage().RunPutScheduled({third}, LeaderFence{"never-held", 0}).status().code(),
            StatusCode::kFailedPrecondition)
      << "a lease no one holds fences every write";
  EXPECT_EQ(Unwrap(storage().RunStats()).total, 2);
}

TEST_P(StorageConformance, RunPutScheduledSkipsTakenInstantsAndStoresTheRestInOneCall) {
  Run minute = NewTaskRun("minute-1", "every-minute");
  minute.scheduled_at = At(60);
  ASSERT_TRUE(PutScheduled(minute));
  const LeaderFence fence{"scheduler", TermOf(storage(), "scheduler")};

  Run again = minute;  // another scheduler's copy of the same instant
  again.id = "minute-1-again";
  Run next = NewTaskRun("minute-2", "every-minute");
  next.scheduled_at = At(120);
  Run same_id = NewRun("minute-1");  // no instant: kept single by its (queue, id)
  Run anonymous = NewRun("plain");
  std::vector<Run> stored =
      Unwrap(storage().RunPutScheduled({again, next, same_id, anonymous}, fence));
  EXPECT_EQ(Ids(stored), (std::vector<std::string>{"minute-2", "plain"}));
  EXPECT_RUN_EQ(Get("minute-2"), next);
  EXPECT_EQ(storage().RunGet("minute-1-again").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Unwrap(storage().RunStats()).total, 3);
  ExpectStatsMatchListing();
}

}  // namespace
}  // namespace taskmill::conformance
