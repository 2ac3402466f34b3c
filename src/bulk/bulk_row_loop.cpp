// The row loops of a bulk attempt: read the stored input row by row (or call the
// iterator), verify the cells, hand rows to the processor one by one or in batches,
// and apply each result: what to write and how it counts (row_results.h).

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "bulk/bulk_attempt_impl.h"

namespace taskmill::bulk {
namespace json = boost::json;

// ---- the row loops ---------------------------------------------------------------------

// Reader::Advance rather than Next: a Result per row (its Status and JSON details
// built and destroyed) was a measurable share of the row loop.
BulkAttempt::Read BulkAttempt::NextRecord() {
  try {
    if (reader_->Advance()) return Read::kRecord;
    if (reader_->status().ok()) return Read::kEnd;
    end_error_ = "the stored input is not valid CSV: " + reader_->status().message();
    return Read::kFailed;
  } catch (const StorageReadError& e) {
    end_error_ = e.status().message();
    return Read::kFailed;
  }
}

BulkAttempt::End BulkAttempt::ProcessRows() {
  // A throttled co-process gains nothing from sending rows ahead.
  if (processor_.window() > 1 && wait_after_row_.count() == 0) return ProcessBatches();
  std::vector<BulkCell> cells;
  int64_t number = rows_;
  for (;;) {
    if (context_.cancelled()) return End::kCancelled;
    Read read = NextRecord();
    if (read == Read::kFailed) return End::kFailed;
    if (read == Read::kEnd) return End::kRowsDone;
    const csv::Record& record = reader_->record();
    cells.resize(record.fields.size());
    for (size_t i = 0; i < record.fields.size(); ++i) {
      cells[i] = {record.fields[i].value, !record.fields[i].undefined()};
    }
    all_plain_ = !record.any_quoted;
    if (!all_plain_) {
      in_plain_.resize(record.fields.size());
      for (size_t i = 0; i < record.fields.size(); ++i) in_plain_[i] = !record.fields[i].quoted;
    }
    unchanged_.reset();
    if (copies_input_ && !record.any_quoted && cells.size() == layout_.size()) {
      unchanged_ = record.text;
    }
    BulkRow row(layout_, cells, record.line, ++number);
    bool go_on = true;
    if (cells.size() != layout_.size()) {
      // Rejected at upload; kept so that a hand-made input cannot break the loop.
      WriteInputRow(row, nullptr,
                    "the row has " + std::to_string(cells.size()) + " cells; the header has " +
                        std::to_string(layout_.size()));
      ++tally_.failed;
    } else if (!Verify(cells)) {
      WriteInputRow(row, nullptr, bad_fields_);
      ++tally_.failed;
    } else {
      if (!processor_.ProcessOne(row, state_, outcome_)) {
        if (context_.cancelled()) return End::kCancelled;
        return ProcessorGaveUp();
      }
      if (outcome_.result.kind() == BulkResult::Kind::kRetry) {
        return RowRetried(outcome_, row.line());
      }
      go_on = ApplyRow(row, outcome_);
      if (outcome_.result.kind() == BulkResult::Kind::kStop) {
        return End::kStopped;  // a Stop() row is neither written nor counted
      }
    }
    unchanged_.reset();
    ++rows_;
    if (!go_on) return End::kStopOnError;
    ++since_checkpoint_;
    if (!MaybeCheckpoint()) return End::kFailed;
    if (!Throttle()) return End::kCancelled;
  }
}

BulkAttempt::End BulkAttempt::ProcessBatches() {
  const size_t window = processor_.window();
  std::vector<OwnedRow> batch(window);
  std::vector<BulkRow> sent;
  std::vector<size_t> sent_index;  // batch position of each sent row
  int64_t number = rows_;
  bool input_done = false;
  while (!input_done) {
    if (context_.cancelled()) return End::kCancelled;
    // Read up to `window` rows, copying them; verification failures are not sent.
    size_t n = 0;
    sent.clear();
    sent_index.clear();
    while (n < window) {
      Read read = NextRecord();
      if (read == Read::kFailed) return End::kFailed;
      if (read == Read::kEnd) {
        input_done = true;
        break;
      }
      const csv::Record& record = reader_->record();
      OwnedRow& owned = batch[n++];
      owned.text.clear();
      owned.spans.clear();
      owned.defined.clear();
      owned.problem.clear();
      for (const auto& f : record.fields) {
        owned.spans.emplace_back(owned.text.size(), f.value.size());
        owned.text.append(f.value);
        owned.defined.push_back(!f.undefined());
      }
      owned.cells.resize(owned.spans.size());
      for (size_t i = 0; i < owned.spans.size(); ++i) {
        owned.cells[i] = {
            std::string_view(owned.text).substr(owned.spans[i].first, owned.spans[i].second),
            owned.defined[i]};
      }
      owned.line = record.line;
      owned.number = ++number;
      if (owned.cells.size() != layout_.size()) {
        owned.problem = "the row has " + std::to_string(owned.cells.size()) +
                        " cells; the header has " + std::to_string(layout_.size());
      } else {
        if (!Verify(owned.cells)) owned.problem = bad_fields_;
      }
    }
    for (size_t i = 0; i < n; ++i) {
      if (!batch[i].problem.empty()) continue;
      sent.emplace_back(layout_, batch[i].cells, batch[i].line, batch[i].number);
      sent_index.push_back(i);
    }
    outcomes_.clear();
    if (!sent.empty()) processor_.Process(sent, state_, outcomes_);
    // Apply in file order; stop at the first sent row without a result. The copies do
    // not keep whether a cell was quoted: their output cells are scanned.
    std::fill(in_plain_.begin(), in_plain_.end(), 0);
    all_plain_ = false;
    size_t next_sent = 0;
    for (size_t i = 0; i < n; ++i) {
      BulkRow row(layout_, batch[i].cells, batch[i].line, batch[i].number);
      bool go_on = true;
      if (!batch[i].problem.empty()) {
        WriteInputRow(row, nullptr, batch[i].problem);
        ++tally_.failed;
      } else {
        if (next_sent >= outcomes_.size()) {
          if (context_.cancelled()) return End::kCancelled;
          return ProcessorGaveUp();
        }
        RowOutcome& outcome = outcomes_[next_sent++];
        if (outcome.result.kind() == BulkResult::Kind::kRetry) {
          return RowRetried(outcome, row.line());
        }
        go_on = ApplyRow(row, outcome);
        if (!go_on && outcome.result.kind() == BulkResult::Kind::kStop) return End::kStopped;
      }
      ++rows_;
      if (!go_on) return End::kStopOnError;
      ++since_checkpoint_;
    }
    if (!MaybeCheckpoint()) return End::kFailed;
  }
  return End::kRowsDone;
}

BulkAttempt::End BulkAttempt::ProcessIterations() {
  for (;;) {
    if (context_.cancelled()) return End::kCancelled;
    RowOutcome outcome = processor_.Iterate(state_);
    if (!processor_.fatal().ok()) return ProcessorGaveUp();
    if (context_.cancelled() && outcome.crashed) return End::kCancelled;
    if (outcome.result.kind() == BulkResult::Kind::kRetry) return RowRetried(outcome, 0);
    int64_t rows_written = 0;
    bool stop = outcome.result.kind() == BulkResult::Kind::kStop;
    bool go_on = ApplyIteration(outcome, &rows_written);
    ++rows_;
    if (!go_on) return stop ? End::kStopped : End::kStopOnError;
    since_checkpoint_ += std::max<int64_t>(1, rows_written);
    if (!MaybeCheckpoint()) return End::kFailed;
    if (!Throttle()) return End::kCancelled;
  }
}

bool BulkAttempt::Verify(std::span<const BulkCell> cells) {
  bad_.clear();
  for (const CellCheck& check : checks_) {
    const BulkCell& cell = cells[check.index];
    if (cell.value.empty()) {
      // An empty optional cell is simply absent; an empty mandatory one is not.
      if (check.mandatory) bad_.push_back(check.name);
      continue;
    }
    if (!check.verifier) continue;
    bool ok = false;
    try {
      ok = (*check.verifier)(cell.value);
    } catch (...) {
      ok = false;  // a verifier that throws rejects the value (Kazoo)
    }
    if (!ok) bad_.push_back(check.name);
  }
  if (bad_.empty()) return true;
  bad_fields_ = "bad field(s) " + JoinNames(bad_);
  return false;
}

// ---- applying outcomes -------------------------------------------------------------------

bool BulkAttempt::ApplyRow(const BulkRow& row, RowOutcome& outcome) {
  BulkResult& result = outcome.result;
  if (result.state()) state_ = std::move(*result.mutable_state());
  // kStop and kRetry are handled by the row loops, never applied.
  if (result.kind() == BulkResult::Kind::kStop || result.kind() == BulkResult::Kind::kRetry) {
    return false;
  }
  InputRowWrite plan = PlanInputRow(result, out_header_.size());
  bool failed = false;
  switch (plan.kind) {
    case InputRowWrite::Kind::kInput:
      failed = WriteInputRow(row, nullptr, plan.error);
      break;
    case InputRowWrite::Kind::kMerged:
      failed = WriteInputRow(row, &result.columns(), {});
      break;
    case InputRowWrite::Kind::kRows: {
      std::string problem;
      for (const auto& out_row : result.rows()) failed |= WriteOutputRow(out_row, &problem);
      break;
    }
  }
  tally_.Count(failed);
  if (outcome.crashed && spec_.stop_on_error) {
    end_error_ = StopOnErrorMessage(row.line(), result.message());
    return false;
  }
  return true;
}

bool BulkAttempt::ApplyIteration(RowOutcome& outcome, int64_t* rows_written) {
  BulkResult& result = outcome.result;
  if (result.state()) state_ = std::move(*result.mutable_state());
  int64_t before = tally_.written;
  bool go_on = true;
  switch (result.kind()) {
    case BulkResult::Kind::kStop:
    case BulkResult::Kind::kRetry:  // handled by ProcessIterations, never applied
      return false;
    case BulkResult::Kind::kOk:
      break;
    case BulkResult::Kind::kError:
      WriteErrorRow(ErrorCell(result));
      ++tally_.failed;
      break;
    case BulkResult::Kind::kMerge: {
      std::string problem;
      bool failed = WriteColumnsRow(result.columns(), &problem);
      if (!problem.empty()) {
        WriteErrorRow(problem);
        failed = true;
      }
      tally_.Count(failed);
      break;
    }
    case BulkResult::Kind::kRows:
      for (const auto& row : result.rows()) {
        std::string problem;
        bool failed = WriteOutputRow(row, &problem);
        if (!problem.empty()) {
          WriteErrorRow(problem);
          failed = true;
        }
        tally_.Count(failed);
      }
      break;
    case BulkResult::Kind::kFile:
      go_on = false;
      if (!AttachFile(result.path())) ++tally_.failed;
      break;
  }
  *rows_written = tally_.written - before;
  // An iterator that throws has no next row to move on to: calling it again with
  // the same state would fail the same way, so the run ends here.
  if (outcome.crashed) {
    end_error_ = "stopped after the function failed: " + result.message();
    return false;
  }
  return go_on;
}

void BulkAttempt::ApplyFinish(RowOutcome& outcome) {
  BulkResult& result = outcome.result;
  if (result.state()) state_ = std::move(*result.mutable_state());
  std::string problem;
  switch (result.kind()) {
    case BulkResult::Kind::kError:
      WriteErrorRow(result.message());
      break;
    case BulkResult::Kind::kMerge:
      WriteColumnsRow(result.columns(), &problem);
      break;
    case BulkResult::Kind::kRows:
      for (const auto& row : result.rows()) WriteOutputRow(row, &problem);
      break;
    default:
      break;
  }
  if (!problem.empty()) WriteErrorRow("finish: " + problem);
}

}  // namespace taskmill::bulk
