// bulk/row_results.h — what a bulk attempt makes of its functions' results: which
// rows count as succeeded or failed, what goes in the output's error column, and the
// run's final status, result and error. Pure functions of values: no storage, no I/O.
// BulkAttempt (bulk_attempt.h) applies them to the rows it reads and writes.
#pragma once

#include <taskmill/bulk.h>
#include <taskmill/function.h>
#include <taskmill/model.h>

#include <cstdint>
#include <string>

namespace taskmill::bulk {

// The counters of an attempt's rows.
struct RowTally {
  int64_t succeeded = 0;
  int64_t failed = 0;
  int64_t written = 0;  // output rows written

  void Count(bool row_failed) { ++(row_failed ? failed : succeeded); }
  int64_t rows() const { return succeeded + failed; }
  // completed when no row failed, failed when none succeeded, partial otherwise.
  RunStatus Status() const;
};

// How the output row of an input row's result is written: the input row with an
// error cell (empty for none), the input row with the result's columns merged in, or
// the result's own rows.
struct InputRowWrite {
  enum class Kind { kInput, kMerged, kRows } kind = Kind::kInput;
  std::string error;
};

// For a row of input and its result (not kStop or kRetry, which the row loops handle):
// what to write. `output_width` is the number of the output header's columns; a row
// of the result wider than it turns into the input row with an error.
InputRowWrite PlanInputRow(const BulkResult& result, size_t output_width);

// The error cell of a failed result (kError): its message, or "failed" without one.
std::string ErrorCell(const BulkResult& result);

// A result's message when a row's function threw and the spec says stop_on_error.
std::string StopOnErrorMessage(int64_t line, const std::string& message);
// The attempt's error when a row asks to be retried (BulkResult::Retry): not a failed
// row but a failed attempt, retried from this row.
std::string RowRetriedMessage(int64_t line, const std::string& message);

// The outcome of an attempt that went through its rows (or was stopped) with
// `status`: the result {rows, succeeded, failed, written, output_file}; the error is
// `end_error` when set, else for a run with failed rows "N of M rows failed; ...";
// a run whose rows all failed has error_kind "rows".
HandlerOutcome FinishedOutcome(RunStatus status, const RowTally& tally, const Progress& progress,
                               const std::string& output_file, const std::string& end_error);

}  // namespace taskmill::bulk
