// Conformance tests of the end of a run's attempts: RunFinishBatch (with retries,
// errors, progress and fencing of stale finishes), RunCancel, RunRetry and
// RunRemove. Written against the Storage interface alone, so every backend that
// instantiates StorageConformance runs them.
#include <gmock/gmock.h>

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "storage/conformance/helpers.h"

namespace taskmill::conformance {

// Named in fixture.cpp's link table, so that linking the suite links this file (helpers.h).
const int kFinishSubject = 0;

namespace {
namespace json = boost::json;
using namespace std::chrono_literals;
using ::testing::ElementsAre;

// ---- RunFinishBatch -------------------------------------------------------------------

TEST_P(StorageConformance, RunFinishCompletesAndRecordsTheAttempt) {
  Run run = NewRun("finishing");
  run.run_at = At(-5);
  Put({run});
  ClaimedRun claimed = Take("runner-1", 1, At(10)).at(0);

  RunFinish finish;
  finish.queue = "default";
  finish.id = "finishing";
  finish.attempt = claimed.attempt;
  finish.status = RunStatus::kCompleted;
  finish.finished_at = At(12) + 345us;
  finish.result = json::object{{"rows", 3}, {"message", "fine"}};
  finish.outcome = "completed";
  // Characters JSON must escape, and some it need not.
  finish.output = "hello\nworld\n \"quoted\" back\\slash \t\x01 caf\u00e9 \u2713";
  finish.progress = Progress{3, 3, 0};
  auto results = Unwrap(storage().RunFinishBatch({finish}));
  ASSERT_EQ(results.size(), 1u);
  EXPECT_TRUE(results[0].accepted);

  Run stored = Get("finishing");
  EXPECT_EQ(stored.status, RunStatus::kCompleted);
  EXPECT_EQ(Time(stored.finished_at), Time(At(12) + 345us));
  EXPECT_EQ(stored.result, finish.result);
  EXPECT_EQ(stored.error, "");
  EXPECT_EQ(stored.progress, (Progress{3, 3, 0}));
  EXPECT_EQ(Time(stored.lease_until), Time(std::nullopt));
  EXPECT_EQ(stored.runner, "");
  EXPECT_EQ(stored.attempt, 1);
  EXPECT_EQ(Time(stored.started_at), Time(At(10)));
  EXPECT_EQ(Time(stored.run_at), Time(At(-5))) << "a finish must not move run_at";
  ASSERT_EQ(stored.attempts.size(), 1u);
  Attempt expected{1, "runner-1", At(10), At(12) + 345us, "completed", "", finish.output};
  EXPECT_EQ(Json(stored.attempts[0]), Json(expected));
  EXPECT_TRUE(stored.attempts[0] == expected);

  // The run is over: a second finish of the same attempt is rejected.
  finish.status = RunStatus::kFailed;
  EXPECT_FALSE(Unwrap(storage().RunFinishBatch({finish})).at(0).accepted);
  EXPECT_RUN_EQ(Get("finishing"), stored);
  ExpectStatsMatchListing();
}

TEST_P(StorageConformance, RunFinishRecordsErrors) {
  Put({NewRun("failing")});
  ClaimedRun claimed = Take("runner-9", 1, kT0).at(0);
  RunFinish finish;
  finish.queue = claimed.queue;
  finish.id = claimed.id;
  finish.attempt = claimed.attempt;
  finish.status = RunStatus::kFailed;
  finish.finished_at = At(4);
  finish.error = "division by zero";
  finish.error_kind = "user";
  finish.outcome = "failed";
  ASSERT_TRUE(Unwrap(storage().RunFinishBatch({finish})).at(0).accepted);

  Run stored = Get("failing");
  EXPECT_EQ(stored.status, RunStatus::kFailed);
  EXPECT_EQ(stored.error, "division by zero");
  EXPECT_EQ(stored.error_kind, "user");
  EXPECT_EQ(stored.result, json::value(nullptr));
  ASSERT_EQ(stored.attempts.size(), 1u);
  EXPECT_EQ(stored.attempts[0].outcome, "failed");
  EXPECT_EQ(stored.attempts[0].error, "division by zero");
  EXPECT_EQ(stored.attempts[0].runner, "runner-9");
  EXPECT_EQ(Time(stored.attempts[0].finished_at), Time(At(4)));
}

TEST_P(StorageConformance, RunFinishRetryThenStaleFinishIsRejected) {
  Run run = NewRun("flaky");
  run.retry = RetryPolicy{3, 30s, 2.0, std::nullopt};
  Put({run});
  ClaimedRun first = Take("runner-1", 1, kT0).at(0);
  ASSERT_EQ(first.attempt, 1);

  RunFinish retry;
  retry.queue = "default";
  retry.id = "flaky";
  retry.attempt = 1;
  retry.status = RunStatus::kPending;
  retry.finished_at = At(5);
  retry.run_at = At(35);
  retry.error = "connection refused";
  retry.error_kind = "user";
  retry.outcome = "failed";
  ASSERT_TRUE(Unwrap(storage().RunFinishBatch({retry})).at(0).accepted);

  Run pending = Get("flaky");
  EXPECT_EQ(pending.status, RunStatus::kPending);
  EXPECT_EQ(Time(pending.run_at), Time(At(35)));
  EXPECT_EQ(Time(pending.finished_at), Time(std::nullopt))
      << "a run waiting for a retry is not finished";
  EXPECT_EQ(Time(pending.lease_until), Time(std::nullopt));
  EXPECT_EQ(pending.attempt, 1);
  ASSERT_EQ(pending.attempts.size(), 1u);
  EXPECT_EQ(pending.attempts[0].number, 1);
  EXPECT_EQ(pending.attempts[0].outcome, "failed");
  EXPECT_EQ(pending.attempts[0].error, "connection refused");
  EXPECT_EQ(Time(pending.attempts[0].finished_at), Time(At(5)));

  EXPECT_THAT(Ids(Take("runner-2", 1, At(34))), ElementsAre()) << "not due before run_at";
  ClaimedRun second = Take("runner-2", 1, At(35)).at(0);
  EXPECT_EQ(second.attempt, 2);
  EXPECT_EQ(second.runner, "runner-2");
  EXPECT_EQ(Time(second.started_at), Time(At(35)));
  Run before_stale = Get("flaky");

  // The first runner wakes up and reports success for attempt 1: rejected.
  RunFinish stale;
  stale.queue = "default";
  stale.id = "flaky";
  stale.attempt = 1;
  stale.status = RunStatus::kCompleted;
  stale.finished_at = At(40);
  stale.result = json::object{{"stale", true}};
  stale.progress = Progress{9, 9, 0};
  auto results = Unwrap(storage().RunFinishBatch({stale}));
  EXPECT_FALSE(results.at(0).accepted);
  EXPECT_RUN_EQ(Get("flaky"), before_stale);
  Status stale_progress = storage().RunProgress("flaky", "default", 1, {5, 5, 0});
  EXPECT_EQ(stale_progress.code(), StatusCode::kFailedPrecondition) << stale_progress.ToString();
  EXPECT_RUN_EQ(Get("flaky"), before_stale);

  RunFinish done;
  done.queue = "default";
  done.id = "flaky";
  done.attempt = 2;
  done.status = RunStatus::kCompleted;
  done.finished_at = At(50);
  done.outcome = "completed";
  ASSERT_TRUE(Unwrap(storage().RunFinishBatch({done})).at(0).accepted);
  Run finished = Get("flaky");
  EXPECT_EQ(finished.status, RunStatus::kCompleted);
  EXPECT_EQ(finished.error, "") << "the error of an earlier attempt is not the run's error";
  ASSERT_EQ(finished.attempts.size(), 2u);
  EXPECT_EQ(finished.attempts[0].number, 1);
  EXPECT_EQ(finished.attempts[0].runner, "runner-1");
  EXPECT_EQ(finished.attempts[1].number, 2);
  EXPECT_EQ(finished.attempts[1].runner, "runner-2");
  EXPECT_EQ(Time(finished.attempts[1].started_at), Time(At(35)));
  EXPECT_EQ(Time(finished.attempts[1].finished_at), Time(At(50)));
  EXPECT_EQ(finished.attempts[1].outcome, "completed");
  ExpectStatsMatchListing();
}

// A finish may carry the run its claim returned (the runner's do), so that the
// storage need not read the run back. It stores what the same finish without it
// stores, earlier attempts included, and the fence still rejects it once stale.
TEST_P(StorageConformance, RunFinishCarryingItsClaimStoresTheSameAsOneWithout) {
  for (const char* id : {"carried", "plain"}) {
    Run run = NewRun(id);
    run.retry = RetryPolicy{3, 30s, 2.0, std::nullopt};
    Put({run});
  }
  // Attempt 1 fails and is retried, attempt 2 completes, each on another runner.
  std::vector<ClaimedRun> last;
  for (int attempt = 1; attempt <= 2; ++attempt) {
    const TimePoint at = At(100 * attempt);
    last = Take("runner-" + std::to_string(attempt), 2, at);
    ASSERT_EQ(Ids(last), (std::vector<std::string>{"carried", "plain"}));
    std::vector<RunFinish> finishes;
    for (const ClaimedRun& claimed : last) {
      RunFinish f = FinishOf(claimed.id, attempt,
                             attempt == 1 ? RunStatus::kPending : RunStatus::kCompleted, at + 5s);
      f.run_at = At(150);
      f.outcome = attempt == 1 ? "failed" : "completed";
      f.error = attempt == 1 ? "connection \"refused\"" : "";
      f.output = "line 1\nline 2";
      f.result = attempt == 1 ? json::value(nullptr) : json::value(json::object{{"rows", 2}});
      if (claimed.id == "carried") f.claimed = &claimed;
      finishes.push_back(std::move(f));
    }
    auto results = Unwrap(storage().RunFinishBatch(finishes));
    EXPECT_TRUE(results.at(0).accepted) << "attempt " << attempt;
    EXPECT_TRUE(results.at(1).accepted) << "attempt " << attempt;
  }
  Run carried = Get("carried");
  Run plain = Get("plain");
  ASSERT_EQ(carried.attempts.size(), 2u);
  EXPECT_EQ(carried.attempts[0].runner, "runner-1");
  EXPECT_EQ(carried.attempts[1].runner, "runner-2");
  plain.id = carried.id;
  EXPECT_RUN_EQ(carried, plain);

  // Attempt 2 is over: carrying its claim does not get it past the fence.
  RunFinish again = FinishOf("carried", 2, RunStatus::kFailed, At(300));
  again.claimed = &last.at(0);
  EXPECT_FALSE(Unwrap(storage().RunFinishBatch({again})).at(0).accepted);
  // Nor does a claimed run of another attempt stand for this one's.
  Put({NewRun("mismatched")});
  ClaimedRun current = Take("runner-3", 1, At(400)).at(0);
  ClaimedRun other = current;
  other.attempt = 7;
  other.runner = "runner-elsewhere";
  RunFinish finish = FinishOf("mismatched", current.attempt, RunStatus::kCompleted, At(401));
  finish.claimed = &other;
  EXPECT_TRUE(Unwrap(storage().RunFinishBatch({finish})).at(0).accepted);
  Run stored = Get("mismatched");
  ASSERT_EQ(stored.attempts.size(), 1u);
  EXPECT_EQ(stored.attempts[0].runner, "runner-3");
  EXPECT_RUN_EQ(Get("carried"), carried);
  ExpectStatsMatchListing();
}

TEST_P(StorageConformance, RunFinishBatchAnswersEachFinishInOrder) {
  Put({NewRun("one"), NewRun("two"), NewRun("pending-only")});
  std::vector<ClaimedRun> claimed = Take("runner-1", 2, kT0);
  ASSERT_EQ(claimed.size(), 2u);
  std::vector<RunFinish> finishes = {
      FinishOf("one", 1, RunStatus::kCompleted, At(1)),
      FinishOf("no-such-run", 1, RunStatus::kCompleted, At(1)),
      FinishOf("pending-only", 1, RunStatus::kCompleted, At(1)),
      FinishOf("two", 1, RunStatus::kPartial, At(2)),
      FinishOf("one", 1, RunStatus::kFailed, At(3)),
  };
  auto results = Unwrap(storage().RunFinishBatch(finishes));
  ASSERT_EQ(results.size(), 5u);
  EXPECT_TRUE(results[0].accepted);
  EXPECT_FALSE(results[1].accepted);
  EXPECT_FALSE(results[2].accepted) << "a pending run has no attempt to finish";
  EXPECT_TRUE(results[3].accepted);
  EXPECT_FALSE(results[4].accepted) << "the attempt was already finished";
  EXPECT_EQ(Get("one").status, RunStatus::kCompleted);
  EXPECT_EQ(Get("two").status, RunStatus::kPartial);
  EXPECT_EQ(Get("pending-only").status, RunStatus::kPending);
  EXPECT_EQ(Get("pending-only").attempts.size(), 0u);
  ExpectStatsMatchListing();
}

TEST_P(StorageConformance, RunProgressIsStoredAndKeptByAFinishWithoutProgress) {
  Put({NewRun("bulk")});
  ClaimedRun claimed = Take("runner-1", 1, kT0).at(0);
  Unwrap(storage().RunProgress("bulk", "default", claimed.attempt, {1000, 990, 10}));
  EXPECT_EQ(Get("bulk").progress, (Progress{1000, 990, 10}));
  Unwrap(storage().RunProgress("bulk", "default", claimed.attempt, {2000, 1980, 20}));
  EXPECT_EQ(Get("bulk").progress, (Progress{2000, 1980, 20}));

  ASSERT_TRUE(Finish(claimed, RunStatus::kPartial, At(9)));
  Run stored = Get("bulk");
  EXPECT_EQ(stored.status, RunStatus::kPartial);
  EXPECT_EQ(stored.progress, (Progress{2000, 1980, 20}));

  Status after_finish = storage().RunProgress("bulk", "default", claimed.attempt, {1, 1, 0});
  EXPECT_FALSE(after_finish.ok());
  EXPECT_EQ(Get("bulk").progress, (Progress{2000, 1980, 20}));
}

TEST_P(StorageConformance, RunFinishStoresProgress) {
  Put({NewRun("counted")});
  ClaimedRun claimed = Take("runner-1", 1, kT0).at(0);
  RunFinish finish;
  finish.queue = "default";
  finish.id = "counted";
  finish.attempt = claimed.attempt;
  finish.status = RunStatus::kCompleted;
  finish.finished_at = At(1);
  finish.progress = Progress{int64_t{1} << 40, (int64_t{1} << 40) - 1, 1};
  ASSERT_TRUE(Unwrap(storage().RunFinishBatch({finish})).at(0).accepted);
  EXPECT_EQ(Get("counted").progress, (Progress{int64_t{1} << 40, (int64_t{1} << 40) - 1, 1}));
}

// ---- RunCancel ------------------------------------------------------------------------

TEST_P(StorageConformance, RunCancelStopsAPendingRun) {
  Run run = NewRun("to-cancel");
  run.run_at = At(60);
  Put({run});
  Run cancelled = Unwrap(storage().RunCancel("to-cancel", "", At(5)));
  EXPECT_EQ(cancelled.status, RunStatus::kStopped);
  EXPECT_EQ(Time(cancelled.finished_at), Time(At(5)));
  EXPECT_EQ(cancelled.attempts.size(), 0u);
  EXPECT_RUN_EQ(Get("to-cancel"), cancelled);
  EXPECT_THAT(Ids(Take("runner-1", 10, At(1000))), ElementsAre());
  ExpectStatsMatchListing();
}

TEST_P(StorageConformance, RunCancelStopsARunningRunAndFencesItsAttempt) {
  Put({NewRun("running-cancel")});
  ClaimedRun claimed = Take("runner-1", 1, kT0).at(0);
  Run cancelled = Unwrap(storage().RunCancel("running-cancel", "default", At(7)));
  EXPECT_EQ(cancelled.status, RunStatus::kStopped);
  EXPECT_EQ(Time(cancelled.finished_at), Time(At(7)));
  EXPECT_EQ(Time(cancelled.lease_until), Time(std::nullopt));
  // The interrupted attempt stays in the launch log.
  ASSERT_EQ(cancelled.attempts.size(), 1u);
  EXPECT_EQ(cancelled.attempts[0].number, 1);
  EXPECT_EQ(cancelled.attempts[0].runner, "runner-1");
  EXPECT_EQ(Time(cancelled.attempts[0].started_at), Time(kT0));
  EXPECT_EQ(Time(cancelled.attempts[0].finished_at), Time(At(7)));
  EXPECT_RUN_EQ(Get("running-cancel"), cancelled);

  // The runner learns about it through its heartbeat, and its finish is rejected.
  EXPECT_THAT(Unwrap(storage().RunHeartbeatBatch({{"default", "running-cancel", 1, At(60)}})),
              ElementsAre(false));
  EXPECT_FALSE(Finish(claimed, RunStatus::kCompleted, At(8)));
  EXPECT_RUN_EQ(Get("running-cancel"), cancelled);
  EXPECT_THAT(Ids(Unwrap(storage().RunListExpired(At(10'000), 10))), ElementsAre());
  ExpectStatsMatchListing();
}

TEST_P(StorageConformance, RunCancelRefusesAFinalRun) {
  Run done = NewRun("done");
  done.status = RunStatus::kCompleted;
  done.finished_at = At(1);
  Put({done});
  auto result = storage().RunCancel("done", "", At(2));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kFailedPrecondition) << result.status().ToString();
  EXPECT_RUN_EQ(Get("done"), done);

  Put({NewRun("twice")});
  Unwrap(storage().RunCancel("twice", "", At(1)));
  EXPECT_EQ(storage().RunCancel("twice", "", At(2)).status().code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(Time(Get("twice").finished_at), Time(At(1)));
  EXPECT_EQ(storage().RunCancel("no-such-run", "", At(2)).status().code(), StatusCode::kNotFound);
  ExpectStatsMatchListing();
}

// ---- RunRetry -------------------------------------------------------------------------

TEST_P(StorageConformance, RunRetryPutsAFinalRunBackWithOneMoreAttempt) {
  Put({NewRun("exhausted")});  // max_attempts 1
  ClaimedRun claimed = Take("runner-1", 1, kT0).at(0);
  RunFinish fail;
  fail.queue = "default";
  fail.id = "exhausted";
  fail.attempt = claimed.attempt;
  fail.status = RunStatus::kFailed;
  fail.finished_at = At(1);
  fail.error = "out of memory";
  fail.error_kind = "user";
  fail.result = json::object{{"partial", true}};
  ASSERT_TRUE(Unwrap(storage().RunFinishBatch({fail})).at(0).accepted);

  Run retried = Unwrap(storage().RunRetry("exhausted", "default", At(100)));
  EXPECT_EQ(retried.status, RunStatus::kPending);
  EXPECT_EQ(Time(retried.run_at), Time(At(100)));
  EXPECT_EQ(Time(retried.finished_at), Time(std::nullopt));
  EXPECT_EQ(retried.error, "");
  EXPECT_EQ(retried.attempt, 1);
  EXPECT_GE(retried.retry.max_attempts, retried.attempt + 1) << "one more attempt is allowed";
  ASSERT_EQ(retried.attempts.size(), 1u) << "the launch log is kept";
  EXPECT_RUN_EQ(Get("exhausted"), retried);

  EXPECT_THAT(Ids(Take("runner-1", 1, At(99))), ElementsAre());
  ClaimedRun again = Take("runner-2", 1, At(100)).at(0);
  EXPECT_EQ(again.attempt, 2);
  ASSERT_TRUE(Finish(again, RunStatus::kCompleted, At(101)));
  Run done = Get("exhausted");
  EXPECT_EQ(done.status, RunStatus::kCompleted);
  EXPECT_EQ(done.attempts.size(), 2u);
  ExpectStatsMatchListing();
}

TEST_P(StorageConformance, RunRetryOfAStoppedRunThatNeverStarted) {
  Put({NewRun("stopped-early")});
  Unwrap(storage().RunCancel("stopped-early", "default", At(1)));
  Run retried = Unwrap(storage().RunRetry("stopped-early", "", At(2)));
  EXPECT_EQ(retried.status, RunStatus::kPending);
  EXPECT_GE(retried.retry.max_attempts, retried.attempt + 1);
  EXPECT_EQ(Take("runner-1", 1, At(2)).at(0).attempt, 1);
  ExpectStatsMatchListing();
}

TEST_P(StorageConformance, RunRetryRefusesPendingRunningAndUnknownRuns) {
  Run busy = NewRun("busy");
  busy.priority = 1;
  Put({NewRun("waiting"), busy});
  ASSERT_THAT(Ids(Take("runner-1", 1, kT0)), ElementsAre("busy"));
  for (const std::string id : {"waiting", "busy"}) {
    Run before = Get(id);
    auto result = storage().RunRetry(id, "default", At(5));
    ASSERT_FALSE(result.ok()) << id;
    EXPECT_EQ(result.status().code(), StatusCode::kFailedPrecondition)
        << result.status().ToString();
    EXPECT_RUN_EQ(Get(id), before);
  }
  EXPECT_EQ(storage().RunRetry("no-such-run", "", At(5)).status().code(), StatusCode::kNotFound);
  ExpectStatsMatchListing();
}

// ---- RunRemove ------------------------------------------------------------------------

TEST_P(StorageConformance, RunRemoveDeletesFinishedAndPendingRuns) {
  Put({NewRun("finished"), NewRun("pending")});
  ClaimedRun claimed = Take("runner-1", 1, kT0).at(0);
  ASSERT_TRUE(Finish(claimed, RunStatus::kCompleted, At(1)));
  std::string finished_id = claimed.id;
  std::string pending_id = finished_id == "finished" ? "pending" : "finished";

  Unwrap(storage().RunRemove(finished_id, "default"));
  EXPECT_EQ(storage().RunGet(finished_id).status().code(), StatusCode::kNotFound);
  Unwrap(storage().RunRemove(pending_id, ""));
  EXPECT_EQ(storage().RunGet(pending_id).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Unwrap(storage().RunStats()).total, 0);
  EXPECT_EQ(storage().RunRemove("finished", "").code(), StatusCode::kNotFound);
  ExpectStatsMatchListing();
}

TEST_P(StorageConformance, RunRemoveIsRefusedWhileRunning) {
  Put({NewRun("in-flight")});
  ClaimedRun claimed = Take("runner-1", 1, kT0).at(0);
  Status removed = storage().RunRemove("in-flight", "default");
  EXPECT_EQ(removed.code(), StatusCode::kFailedPrecondition) << removed.ToString();
  EXPECT_RUN_EQ(Get("in-flight"), claimed);
  ExpectStatsMatchListing();
}

TEST_P(StorageConformance, RunRemoveWithAQueueRemovesOnlyThatQueuesRun) {
  Put({NewRun("twin", "left")});
  Put({NewRun("twin", "right")});
  Unwrap(storage().RunRemove("twin", "left"));
  EXPECT_EQ(storage().RunGet("twin", "left").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Get("twin", "right").queue, "right");
  EXPECT_EQ(storage().RunRemove("twin", "left").code(), StatusCode::kNotFound);
  ExpectStatsMatchListing();
}

}  // namespace
}  // namespace taskmill::conformance
