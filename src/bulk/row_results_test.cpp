// The result handling of a bulk attempt, without storage: how rows count, what the
// error column says, and the run's final status and error.
#include "bulk/row_results.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace taskmill::bulk {
namespace {

TEST(RowTally, StatusFollowsTheCounters) {
  EXPECT_EQ((RowTally{.succeeded = 3, .failed = 0}).Status(), RunStatus::kCompleted);
  EXPECT_EQ((RowTally{.succeeded = 0, .failed = 0}).Status(), RunStatus::kCompleted);
  EXPECT_EQ((RowTally{.succeeded = 2, .failed = 1}).Status(), RunStatus::kPartial);
  EXPECT_EQ((RowTally{.succeeded = 0, .failed = 4}).Status(), RunStatus::kFailed);
}

TEST(RowTally, CountsEachRowOnce) {
  RowTally tally;
  tally.Count(false);
  tally.Count(true);
  tally.Count(false);
  EXPECT_EQ(tally.succeeded, 2);
  EXPECT_EQ(tally.failed, 1);
  EXPECT_EQ(tally.rows(), 3);
}

TEST(PlanInputRow, OkCopiesTheRowWithAnEmptyErrorCell) {
  InputRowWrite plan = PlanInputRow(BulkResult::Ok(), 3);
  EXPECT_EQ(plan.kind, InputRowWrite::Kind::kInput);
  EXPECT_EQ(plan.error, "");
}

TEST(PlanInputRow, AnErrorWithoutMessageSaysFailed) {
  EXPECT_EQ(PlanInputRow(BulkResult::Error(""), 3).error, "failed");
  EXPECT_EQ(PlanInputRow(BulkResult::Error("no such account"), 3).error, "no such account");
}

TEST(PlanInputRow, MergeAndRows) {
  EXPECT_EQ(PlanInputRow(BulkResult::Merge({{"status", "ok"}}), 3).kind,
            InputRowWrite::Kind::kMerged);
  InputRowWrite rows = PlanInputRow(BulkResult::WriteRows({{"a", "b"}, {"c"}}), 3);
  EXPECT_EQ(rows.kind, InputRowWrite::Kind::kRows);
  EXPECT_EQ(rows.error, "");
}

TEST(PlanInputRow, ARowWiderThanTheOutputFailsTheInputRow) {
  InputRowWrite plan = PlanInputRow(BulkResult::WriteRows({{"a"}, {"a", "b", "c", "d"}}), 3);
  EXPECT_EQ(plan.kind, InputRowWrite::Kind::kInput);
  EXPECT_EQ(plan.error, "the function returned a row of 4 cells; the output header has 3");
}

TEST(PlanInputRow, AFileIsOnlyForFunctionsWithoutInput) {
  InputRowWrite plan = PlanInputRow(BulkResult::File("/tmp/out.csv"), 3);
  EXPECT_EQ(plan.kind, InputRowWrite::Kind::kInput);
  EXPECT_EQ(plan.error, "the function returned a file; only functions without input may");
}

TEST(RowResultMessages, StopOnErrorAndRetryNameTheLine) {
  EXPECT_EQ(StopOnErrorMessage(7, "boom"), "stopped at line 7: boom (stop_on_error)");
  EXPECT_EQ(RowRetriedMessage(12, "disk full"),
            "line 12: disk full (the attempt is retried from this row)");
  EXPECT_EQ(RowRetriedMessage(0, ""),
            "the function asked to retry (the attempt is retried from this row)");
}

TEST(FinishedOutcome, CompletedHasTheCountsAndNoError) {
  RowTally tally{.succeeded = 5, .failed = 0, .written = 5};
  HandlerOutcome out = FinishedOutcome(RunStatus::kCompleted, tally, Progress{5, 5, 0}, "f1", "");
  EXPECT_EQ(out.status, RunStatus::kCompleted);
  EXPECT_EQ(out.error, "");
  EXPECT_EQ(out.error_kind, "");
  EXPECT_EQ(out.result, boost::json::parse(R"({"rows": 5, "succeeded": 5, "failed": 0,
      "written": 5, "output_file": "f1"})"));
  ASSERT_TRUE(out.progress.has_value());
  EXPECT_EQ(*out.progress, (Progress{5, 5, 0}));
}

TEST(FinishedOutcome, PartialPointsAtTheErrorColumn) {
  RowTally tally{.succeeded = 3, .failed = 2, .written = 5};
  HandlerOutcome out = FinishedOutcome(RunStatus::kPartial, tally, Progress{5, 3, 2}, "f1", "");
  EXPECT_EQ(out.error, "2 of 5 rows failed; the output's error column says why");
  EXPECT_EQ(out.error_kind, "");
}

TEST(FinishedOutcome, AllRowsFailedIsAnAnswerOfKindRows) {
  RowTally tally{.succeeded = 0, .failed = 2, .written = 2};
  HandlerOutcome out = FinishedOutcome(RunStatus::kFailed, tally, Progress{2, 0, 2}, "f1", "");
  EXPECT_EQ(out.error, "2 of 2 rows failed; the output's error column says why");
  EXPECT_EQ(out.error_kind, "rows");
}

TEST(FinishedOutcome, AnEarlyEndSaysWhy) {
  RowTally tally{.succeeded = 1, .failed = 1, .written = 2};
  HandlerOutcome out = FinishedOutcome(RunStatus::kPartial, tally, Progress{9, 1, 1}, "f1",
                                       "stopped at line 3: boom (stop_on_error)");
  EXPECT_EQ(out.error, "stopped at line 3: boom (stop_on_error)");
}

}  // namespace
}  // namespace taskmill::bulk
