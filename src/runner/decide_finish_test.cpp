// The runner's decision at the end of an attempt: retry (with backoff) or final.
#include <gtest/gtest.h>

#include "runner/runner.h"

namespace taskmill {
namespace {

using std::chrono::seconds;

Run RunWithAttempts(int attempt, int max_attempts) {
  Run run;
  run.id = "r";
  run.attempt = attempt;
  run.retry.max_attempts = max_attempts;
  run.retry.delay = seconds(2);
  run.retry.delay_factor = 2;
  return run;
}

HandlerOutcome Failed(std::string error_kind) {
  HandlerOutcome outcome;
  outcome.status = RunStatus::kFailed;
  outcome.error = "it failed";
  outcome.error_kind = std::move(error_kind);
  return outcome;
}

TEST(DecideFinishTest, AFailureWithAttemptsLeftIsRetriedAfterTheBackoff) {
  TimePoint now{seconds(1000)};
  RunFinish finish = DecideFinish(RunWithAttempts(2, 3), Failed("user"), now);
  EXPECT_EQ(finish.status, RunStatus::kPending);
  EXPECT_EQ(finish.run_at, now + seconds(4)) << "delay 2 s, factor 2, after the 2nd attempt";
}

TEST(DecideFinishTest, TheLastAttemptIsFinal) {
  RunFinish finish = DecideFinish(RunWithAttempts(3, 3), Failed("user"), TimePoint{});
  EXPECT_EQ(finish.status, RunStatus::kFailed);
}

TEST(DecideFinishTest, AStoppedRunIsNotRetried) {
  EXPECT_EQ(DecideFinish(RunWithAttempts(1, 3), Failed("stopped"), TimePoint{}).status,
            RunStatus::kFailed);
}

TEST(DecideFinishTest, ABulkRunWhoseRowsFailedIsNotRetried) {
  // Another attempt would fail the same rows again and rewrite the same report.
  EXPECT_EQ(DecideFinish(RunWithAttempts(1, 3), Failed("rows"), TimePoint{}).status,
            RunStatus::kFailed);
}

}  // namespace
}  // namespace taskmill
