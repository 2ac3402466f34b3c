#include "bulk/row_results.h"

#include <boost/json.hpp>

namespace taskmill::bulk {

RunStatus RowTally::Status() const {
  if (failed == 0) return RunStatus::kCompleted;
  if (succeeded == 0) return RunStatus::kFailed;
  return RunStatus::kPartial;
}

std::string ErrorCell(const BulkResult& result) {
  return result.message().empty() ? "failed" : result.message();
}

InputRowWrite PlanInputRow(const BulkResult& result, size_t output_width) {
  using Kind = InputRowWrite::Kind;
  switch (result.kind()) {
    case BulkResult::Kind::kOk:
    case BulkResult::Kind::kStop:
    case BulkResult::Kind::kRetry:
      return {Kind::kInput, {}};
    case BulkResult::Kind::kError:
      return {Kind::kInput, ErrorCell(result)};
    case BulkResult::Kind::kMerge:
      return {Kind::kMerged, {}};
    case BulkResult::Kind::kRows:
      for (const auto& row : result.rows()) {
        if (row.size() > output_width) {
          return {Kind::kInput, "the function returned a row of " + std::to_string(row.size()) +
                                    " cells; the output header has " +
                                    std::to_string(output_width)};
        }
      }
      return {Kind::kRows, {}};
    case BulkResult::Kind::kFile:
      return {Kind::kInput, "the function returned a file; only functions without input may"};
  }
  return {Kind::kInput, {}};
}

std::string StopOnErrorMessage(int64_t line, const std::string& message) {
  return "stopped at line " + std::to_string(line) + ": " + message + " (stop_on_error)";
}

std::string RowRetriedMessage(int64_t line, const std::string& message) {
  return (line > 0 ? "line " + std::to_string(line) + ": " : std::string()) +
         (message.empty() ? "the function asked to retry" : message) +
         " (the attempt is retried from this row)";
}

HandlerOutcome FinishedOutcome(RunStatus status, const RowTally& tally, const Progress& progress,
                               const std::string& output_file, const std::string& end_error) {
  HandlerOutcome out;
  out.status = status;
  out.progress = progress;
  boost::json::object result;
  result["rows"] = tally.rows();
  result["succeeded"] = tally.succeeded;
  result["failed"] = tally.failed;
  result["written"] = tally.written;
  result["output_file"] = output_file;
  out.result = std::move(result);
  if (!end_error.empty()) {
    out.error = end_error;
  } else if (status != RunStatus::kCompleted) {
    out.error = std::to_string(tally.failed) + " of " + std::to_string(tally.rows()) +
                " rows failed; the output's error column says why";
  }
  // A run whose rows failed is an answer, not a fault of taskmill or of the attempt.
  if (status == RunStatus::kFailed) out.error_kind = "rows";
  return out;
}

}  // namespace taskmill::bulk
