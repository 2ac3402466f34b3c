#include "bulk/bulk_attempt.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <string_view>

#include "bulk/bulk_layout.h"
#include "bulk/checkpointer.h"
#include "bulk/row_appender.h"
#include "bulk/stored_file.h"
#include "core/lifecycle/run_events.h"
#include "csv/csv_reader.h"

namespace taskmill::bulk {
namespace {
namespace json = boost::json;

constexpr const char* kOperatorStop = "stopped by an operator";

// One cell check: a mandatory column, or a column with a verifier.
struct CellCheck {
  size_t index;
  std::string name;
  bool mandatory;
  const BulkVerifier* verifier;
};

// A copy of an input row, for processors that take several rows at once (the
// reader's views only live until its next record).
struct OwnedRow {
  std::string text;
  std::vector<std::pair<size_t, size_t>> spans;  // offset, size in text
  std::vector<bool> defined;
  std::vector<BulkCell> cells;  // views into text, built last
  int64_t line = 0;
  int64_t number = 0;
  std::string problem;  // set when the row is not sent to the processor
};

RunStatus StatusByCounters(int64_t succeeded, int64_t failed) {
  if (failed == 0) return RunStatus::kCompleted;
  if (succeeded == 0) return RunStatus::kFailed;
  return RunStatus::kPartial;
}

std::string OutputName(const std::string& input_name) {
  if (input_name.size() > 4 && input_name.ends_with(".csv")) {
    return input_name.substr(0, input_name.size() - 4) + "-output.csv";
  }
  return "output.csv";
}

class BulkAttempt {
 public:
  BulkAttempt(Engine& engine, const BulkOptions& options, const BulkSpec& spec,
              RowProcessor& processor, RunContext& context)
      : engine_(engine),
        storage_(engine.storage()),
        options_(options),
        spec_(spec),
        processor_(processor),
        context_(context),
        run_(context.run()),
        progress_every_(std::max<int64_t>(1, spec.progress_every.value_or(options.progress_every))),
        wait_after_row_(spec.wait_after_row.value_or(options.wait_after_row)) {}

  HandlerOutcome Run();

 private:
  enum class End { kRowsDone, kStopped, kStopOnError, kCancelled, kFailed };

  Status Start();
  Status OpenInput(int64_t skip);
  void SetUpOutput();
  enum class Read { kRecord, kEnd, kFailed };
  // The next input record into reader_->record(); kFailed sets end_error_.
  Read NextRecord();
  End ProcessRows();
  End ProcessBatches();
  End ProcessIterations();
  // The processor cannot go on (RowProcessor::fatal): user code is at fault.
  End ProcessorGaveUp() {
    end_error_ = processor_.fatal().message();
    end_kind_ = "user";
    return End::kFailed;
  }
  // The function could not process a row for a reason outside it (BulkResult::Retry,
  // e.g. its disk is full): not a failed row, which would end the run `failed` for
  // good, but a failed attempt, retried from this row.
  End RowRetried(const RowOutcome& outcome, int64_t line) {
    end_error_ = (line > 0 ? "line " + std::to_string(line) + ": " : std::string()) +
                 (outcome.result.message().empty() ? "the function asked to retry"
                                                   : outcome.result.message()) +
                 " (the attempt is retried from this row)";
    end_kind_ = "internal";
    return End::kFailed;
  }

  // Row outcomes. Each returns false when the run ends after this row.
  bool ApplyRow(const BulkRow& row, RowOutcome& outcome);
  bool ApplyIteration(RowOutcome& outcome, int64_t* rows_written);
  void ApplyFinish(RowOutcome& outcome);
  // Writes the input row mapped onto the output header, with `columns` merged in and
  // `error` set; returns whether the written error cell is non-empty.
  bool WriteInputRow(const BulkRow& row,
                     const std::vector<std::pair<std::string, std::string>>* columns,
                     std::string_view error);
  // Writes `row` (output-header order); returns whether its error cell is non-empty,
  // or sets `problem` and writes nothing when the row is too wide.
  bool WriteOutputRow(const std::vector<std::string>& row, std::string* problem);
  // A row of the output holding `columns` (no-input Merge); nullopt + problem when a
  // column is unknown.
  bool WriteColumnsRow(const std::vector<std::pair<std::string, std::string>>& columns,
                       std::string* problem);
  void WriteErrorRow(std::string_view error);
  void Emit();
  // Writes the current input row as the reader saw it (unchanged_), with the output's
  // other columns empty.
  void EmitUnchanged(const BulkRow& row);
  // Moves a full chunk_ to ready_chunks_ and starts the next one.
  void CutChunk();
  std::string FreshChunk();
  size_t PendingBytes() const { return ready_bytes_ + chunk_.size(); }
  // True when every checked cell passes; else false, with bad_fields_ set to "bad
  // field(s) a, b" (a bool per row, not a string built and destroyed for each).
  bool Verify(std::span<const BulkCell> cells);
  bool AttachFile(const std::string& path);

  // Checkpoints.
  RunCheckpoint Snapshot(const char* phase);
  // Saves a checkpoint when one is due; false when the attempt must stop (a save
  // failed: the attempt is no longer current, or storage failed).
  bool MaybeCheckpoint();
  bool Throttle();
  void PublishProgress(const RunCheckpoint& checkpoint);

  Progress CurrentProgress() const;
  HandlerOutcome Finished(RunStatus status);
  HandlerOutcome Failed(const Status& status, std::string_view kind);
  HandlerOutcome Replay();

  Engine& engine_;
  Storage& storage_;
  const BulkOptions& options_;
  const BulkSpec& spec_;
  RowProcessor& processor_;
  RunContext& context_;
  const taskmill::Run& run_;
  const int64_t progress_every_;
  const Duration wait_after_row_;

  std::optional<CheckpointState> replay_;  // a finished attempt to report again

  // Input.
  std::unique_ptr<StoredFileSource> source_;
  std::unique_ptr<csv::Reader> reader_;
  BulkLayout layout_;
  std::vector<CellCheck> checks_;
  std::vector<std::string> bad_;  // scratch of Verify
  std::string bad_fields_;        // Verify's message
  std::string input_name_;

  // Output.
  std::vector<std::string> out_header_;
  BulkLayout out_layout_;
  std::vector<int> input_to_output_;  // per input column: output column or -1
  int error_index_ = -1;
  std::optional<size_t> added_error_;  // error_index_ when taskmill added the column
  std::vector<std::string_view> out_cells_;
  // Per output cell: known to need no CSV quotes (copied from an unquoted input cell).
  std::vector<char> out_plain_;
  // Per cell of the current input row: it was unquoted in the file. All false when
  // unknown (rows copied for a batch), which only costs a scan. Not filled when
  // all_plain_: no cell of the row was quoted.
  std::vector<char> in_plain_;
  bool all_plain_ = false;
  std::string seen_;  // per output column, '1' once it got a value
  size_t unseen_ = 0;
  // The output starts with the input's columns, in order, and its other columns are
  // not input columns: a row written back unchanged is then its input text followed
  // by row_tail_ (a comma per other column, and the line break).
  bool copies_input_ = false;
  std::string row_tail_;
  size_t unseen_inputs_ = 0;  // columns of seen_ below layout_.size() still '0'
  // The text of the current input row when it can be copied as it is: no quoted cell
  // (then the text is the cells joined by ','), as many cells as the header, and
  // copies_input_. Set by ProcessRows for one row at a time.
  std::optional<std::string_view> unchanged_;
  RowAppender appender_;
  std::vector<std::string> ready_chunks_;  // full chunks not yet handed to a checkpoint
  size_t ready_bytes_ = 0;
  std::string chunk_;  // the chunk being filled
  std::string output_file_;
  std::string output_name_;
  std::vector<std::string> remove_files_;
  bool attached_ = false;  // the output is a file the function produced (File())

  // Counters and position.
  int64_t rows_ = 0;  // input rows consumed / iterations done, as the checkpoint says
  int64_t succeeded_ = 0;
  int64_t failed_ = 0;
  int64_t written_ = 0;
  int64_t chunks_saved_ = 0;
  int64_t since_checkpoint_ = 0;
  json::value state_;                  // the function's
  std::string end_error_;              // why the run ended early (stop_on_error, a failure)
  std::string end_kind_ = "internal";  // error_kind of End::kFailed

  std::unique_ptr<Checkpointer> checkpointer_;
  std::vector<RowOutcome> outcomes_;
  RowOutcome outcome_;  // ProcessRows's, reused from row to row
};

// ---- start: start over, resume, or replay --------------------------------------------

Status BulkAttempt::Start() {
  auto stored = storage_.RunCheckpointGet(run_.id, run_.queue);
  if (!stored.ok()) return stored.status();
  std::optional<CheckpointState> resume;
  std::string old_output;
  if (*stored) {
    auto state = CheckpointState::Decode((*stored)->state);
    if (!state.ok()) {
      spdlog::warn("bulk run {}: {}; starting over", run_.id, state.status().message());
    } else if (state->phase == "done") {
      // Every row was processed by an attempt. If that attempt's finish is not what
      // the run recorded (it died or timed out after its last checkpoint), report its
      // outcome again; otherwise the run had ended and someone retried it: start over.
      const Attempt* previous = run_.attempts.empty() ? nullptr : &run_.attempts.back();
      if (previous && previous->number == (*stored)->attempt &&
          previous->outcome != state->status) {
        replay_ = std::move(*state);
        return Status::Ok();
      }
      old_output = state->output_file;
    } else if (!state->attached.empty()) {
      old_output = state->output_file;  // attaching a file was interrupted: redo it all
    } else {
      auto out = storage_.FileGet(state->output_file);
      if (out.ok() && out->chunks == state->chunks) {
        resume = std::move(*state);
      } else {
        spdlog::warn("bulk run {}: output file does not match the checkpoint; starting over",
                     run_.id);
        old_output = state->output_file;
      }
    }
  }
  if (old_output.empty() && !run_.output_file.empty() && !resume) old_output = run_.output_file;
  if (!old_output.empty()) remove_files_.push_back(old_output);

  if (resume) {
    rows_ = resume->rows;
    succeeded_ = resume->succeeded;
    failed_ = resume->failed;
    written_ = resume->written;
    output_file_ = resume->output_file;
    chunks_saved_ = resume->chunks;
    seen_ = resume->seen;
    state_ = std::move(resume->state);
  }
  if (!spec_.no_input()) TASKMILL_RETURN_IF_ERROR(OpenInput(rows_));
  SetUpOutput();
  // As many spare chunk buffers as the output the loop may buffer while a save is in
  // flight: when storage is slow, a checkpoint carries up to that many chunks, and
  // with fewer spares the next ones were fresh allocations, each page of them faulted
  // in (a quarter of a run's page faults, with 8).
  checkpointer_ = std::make_unique<Checkpointer>(
      storage_, [this](const RunCheckpoint& c) { PublishProgress(c); },
      options_.max_buffered_output / std::max<size_t>(1, options_.chunk_size) + 2);
  if (!resume) {
    // The first checkpoint creates the output file (with its header) and names it on
    // the run, so that even a run stopped at once has an output to download.
    output_file_ = NewRunId(engine_.clock().Now());
    appender_.Append(chunk_, out_header_);
    checkpointer_->Submit(Snapshot("rows"));
    TASKMILL_RETURN_IF_ERROR(checkpointer_->Wait());
  }
  return Status::Ok();
}

Status BulkAttempt::OpenInput(int64_t skip) {
  if (run_.input_file.empty()) {
    json::object details;
    details["code"] = "no_input_file";
    return Status::InvalidArgument(
        "function '" + run_.function + "' takes a CSV input and run '" + run_.id +
            "' has none; create it with a CSV (`taskmill create " + run_.function +
            " --input FILE`, or POST /api/v1/runs?function=" + run_.function +
            " with Content-Type: text/csv)",
        std::move(details));
  }
  auto info = storage_.FileGet(run_.input_file);
  if (!info.ok()) return info.status();
  input_name_ = info->name;
  // No read-ahead thread here (unlike the upload's validation): storage's writer is
  // busy with the output meanwhile, and on two cores a third busy thread made the
  // run slower, not faster (bench/bulk).
  source_ = std::make_unique<StoredFileSource>(storage_, info->id, info->chunks);
  csv::ReaderOptions reader_options;
  reader_options.max_record_size = options_.max_record_size;
  // Room for a whole chunk behind the unfinished record: the source then reads chunks
  // straight into the reader's buffer, without a copy of every byte.
  reader_options.read_size = 2 * options_.chunk_size;
  reader_ = std::make_unique<csv::Reader>(
      [this](char* buf, size_t cap) { return source_->Read(buf, cap); }, reader_options);
  try {
    auto header = reader_->Next();
    if (!header.ok()) return header.status();
    if (!*header) return Status::Internal("the stored input of run '" + run_.id + "' is empty");
    std::vector<std::string> names;
    for (const auto& f : reader_->record().fields) names.emplace_back(f.value);
    layout_ = BulkLayout(std::move(names), spec_.info.optional);
    std::vector<std::string> missing;
    for (const auto& column : spec_.info.mandatory) {
      if (layout_.Find(column) < 0) missing.push_back(column);
    }
    if (!missing.empty()) {
      // Checked at upload; the function's columns changed since.
      return Status::FailedPrecondition("the input lacks the mandatory column(s) " +
                                        JoinNames(missing) + " that " + run_.function +
                                        " now requires");
    }
    for (int64_t i = 0; i < skip; ++i) {
      auto more = reader_->Next();
      if (!more.ok()) return more.status();
      if (!*more) {
        return Status::Internal("the checkpoint of run '" + run_.id + "' is past the input's end");
      }
    }
  } catch (const StorageReadError& e) {
    return e.status();
  }
  for (size_t i = 0; i < layout_.size(); ++i) {
    const std::string& name = layout_.header()[i];
    bool mandatory = std::find(spec_.info.mandatory.begin(), spec_.info.mandatory.end(), name) !=
                     spec_.info.mandatory.end();
    auto verifier = spec_.verifiers.find(name);
    const BulkVerifier* fn = verifier == spec_.verifiers.end() ? nullptr : &verifier->second;
    if (mandatory || fn) checks_.push_back({i, name, mandatory, fn});
  }
  return Status::Ok();
}

void BulkAttempt::SetUpOutput() {
  static const std::vector<std::string> kNone;
  out_header_ = OutputHeader(spec_.no_input() ? kNone : layout_.header(), spec_.info.output_header,
                             spec_.header);
  out_layout_ = BulkLayout(out_header_, {});
  error_index_ = out_layout_.Find("error");
  // The `error` column is declared when the function's header, its extra columns or
  // the input name it; otherwise taskmill added it, and it goes when no row failed.
  auto names_error = [](const std::vector<std::string>& names) {
    return std::find(names.begin(), names.end(), "error") != names.end();
  };
  bool declared_error =
      spec_.header.empty()
          ? names_error(spec_.info.output_header) ||
                (!spec_.no_input() && names_error(layout_.header()))
          : names_error(spec_.header);
  added_error_.reset();
  if (!declared_error && error_index_ >= 0) added_error_ = static_cast<size_t>(error_index_);
  input_to_output_.clear();
  for (const auto& name : layout_.header()) input_to_output_.push_back(out_layout_.Find(name));
  out_cells_.assign(out_header_.size(), std::string_view());
  out_plain_.assign(out_header_.size(), 0);
  in_plain_.assign(layout_.size(), 0);
  if (seen_.size() != out_header_.size()) seen_.assign(out_header_.size(), '0');
  unseen_ = static_cast<size_t>(std::count(seen_.begin(), seen_.end(), '0'));
  copies_input_ = !spec_.no_input() && error_index_ >= static_cast<int>(layout_.size());
  for (size_t i = 0; i < input_to_output_.size(); ++i) {
    copies_input_ = copies_input_ && input_to_output_[i] == static_cast<int>(i);
  }
  row_tail_.assign(out_header_.size() - std::min(out_header_.size(), layout_.size()), ',');
  row_tail_.push_back('\n');
  unseen_inputs_ = static_cast<size_t>(
      std::count(seen_.begin(), seen_.begin() + std::min(seen_.size(), layout_.size()), '0'));
  output_name_ = OutputName(input_name_);
  chunk_ = FreshChunk();
}

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
      ++failed_;
    } else if (!Verify(cells)) {
      WriteInputRow(row, nullptr, bad_fields_);
      ++failed_;
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
        ++failed_;
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
  bool failed = false;
  switch (result.kind()) {
    case BulkResult::Kind::kStop:
    case BulkResult::Kind::kRetry:  // handled by the row loops, never applied
      return false;
    case BulkResult::Kind::kOk:
      WriteInputRow(row, nullptr, {});
      break;
    case BulkResult::Kind::kError:
      failed = WriteInputRow(row, nullptr, result.message().empty() ? "failed" : result.message());
      break;
    case BulkResult::Kind::kMerge:
      failed = WriteInputRow(row, &result.columns(), {});
      break;
    case BulkResult::Kind::kRows: {
      std::string problem;
      for (const auto& out_row : result.rows()) {
        if (out_row.size() > out_header_.size()) {
          problem = "the function returned a row of " + std::to_string(out_row.size()) +
                    " cells; the output header has " + std::to_string(out_header_.size());
          break;
        }
      }
      if (!problem.empty()) {
        failed = WriteInputRow(row, nullptr, problem);
      } else {
        for (const auto& out_row : result.rows()) failed |= WriteOutputRow(out_row, &problem);
      }
      break;
    }
    case BulkResult::Kind::kFile:
      failed = WriteInputRow(row, nullptr,
                             "the function returned a file; only functions without input may");
      break;
  }
  if (failed) {
    ++failed_;
  } else {
    ++succeeded_;
  }
  if (outcome.crashed && spec_.stop_on_error) {
    end_error_ = "stopped at line " + std::to_string(row.line()) + ": " + result.message() +
                 " (stop_on_error)";
    return false;
  }
  return true;
}

bool BulkAttempt::ApplyIteration(RowOutcome& outcome, int64_t* rows_written) {
  BulkResult& result = outcome.result;
  if (result.state()) state_ = std::move(*result.mutable_state());
  int64_t before = written_;
  bool go_on = true;
  switch (result.kind()) {
    case BulkResult::Kind::kStop:
    case BulkResult::Kind::kRetry:  // handled by ProcessIterations, never applied
      return false;
    case BulkResult::Kind::kOk:
      break;
    case BulkResult::Kind::kError:
      WriteErrorRow(result.message().empty() ? "failed" : result.message());
      ++failed_;
      break;
    case BulkResult::Kind::kMerge: {
      std::string problem;
      bool failed = WriteColumnsRow(result.columns(), &problem);
      if (!problem.empty()) {
        WriteErrorRow(problem);
        failed = true;
      }
      ++(failed ? failed_ : succeeded_);
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
        ++(failed ? failed_ : succeeded_);
      }
      break;
    case BulkResult::Kind::kFile:
      go_on = false;
      if (!AttachFile(result.path())) ++failed_;
      break;
  }
  *rows_written = written_ - before;
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

bool BulkAttempt::WriteInputRow(const BulkRow& row,
                                const std::vector<std::pair<std::string, std::string>>* columns,
                                std::string_view error) {
  // The appender quotes the output's very first field when it starts with a byte
  // order mark; that first field goes through it.
  if (unchanged_ && !columns && error.empty() && !appender_.at_start()) {
    EmitUnchanged(row);
    return false;
  }
  auto fill_input = [&] {
    std::fill(out_cells_.begin(), out_cells_.end(), std::string_view());
    std::fill(out_plain_.begin(), out_plain_.end(), 1);  // empty cells need no quotes
    for (size_t i = 0; i < row.size() && i < input_to_output_.size(); ++i) {
      if (input_to_output_[i] >= 0) {
        out_cells_[input_to_output_[i]] = row.cell(i).value;
        out_plain_[input_to_output_[i]] = all_plain_ || (i < in_plain_.size() && in_plain_[i]);
      }
    }
  };
  fill_input();
  std::string problem;
  if (columns) {
    for (const auto& [name, value] : *columns) {
      int at = out_layout_.Find(name);
      if (at < 0) {
        problem = "the function returned column '" + name + "', which is not in the output header";
        break;
      }
      out_cells_[at] = value;
      out_plain_[at] = 0;
    }
    if (!problem.empty()) {
      // Write the row as it came in, with the reason, rather than half merged.
      fill_input();
      error = problem;
    }
  }
  if (!error.empty()) {
    out_cells_[error_index_] = error;
    out_plain_[error_index_] = 0;
  }
  bool failed = !out_cells_[error_index_].empty();
  Emit();
  return failed;
}

bool BulkAttempt::WriteOutputRow(const std::vector<std::string>& row, std::string* problem) {
  if (row.size() > out_header_.size()) {
    *problem = "the function returned a row of " + std::to_string(row.size()) +
               " cells; the output header has " + std::to_string(out_header_.size());
    return true;
  }
  std::fill(out_cells_.begin(), out_cells_.end(), std::string_view());
  std::fill(out_plain_.begin(), out_plain_.end(), 0);
  for (size_t i = 0; i < row.size(); ++i) out_cells_[i] = row[i];
  bool failed = !out_cells_[error_index_].empty();
  Emit();
  return failed;
}

bool BulkAttempt::WriteColumnsRow(const std::vector<std::pair<std::string, std::string>>& columns,
                                  std::string* problem) {
  std::fill(out_cells_.begin(), out_cells_.end(), std::string_view());
  std::fill(out_plain_.begin(), out_plain_.end(), 0);
  for (const auto& [name, value] : columns) {
    int at = out_layout_.Find(name);
    if (at < 0) {
      *problem = "the function returned column '" + name + "', which is not in the output header";
      return true;
    }
    out_cells_[at] = value;
  }
  bool failed = !out_cells_[error_index_].empty();
  Emit();
  return failed;
}

void BulkAttempt::WriteErrorRow(std::string_view error) {
  std::fill(out_cells_.begin(), out_cells_.end(), std::string_view());
  std::fill(out_plain_.begin(), out_plain_.end(), 0);
  out_cells_[error_index_] = error;
  Emit();
}

void BulkAttempt::Emit() {
  if (unseen_ != 0) {
    for (size_t j = 0; j < out_cells_.size(); ++j) {
      if (!out_cells_[j].empty() && seen_[j] == '0') {
        seen_[j] = '1';
        --unseen_;
        if (j < layout_.size()) --unseen_inputs_;
      }
    }
  }
  appender_.Append(chunk_, out_cells_, out_plain_);
  ++written_;
  if (chunk_.size() >= options_.chunk_size) CutChunk();
}

// The bytes Emit would write for the row (its cells are unquoted, so the appender
// would copy them as they are), without filling out_cells_ and appending cell by cell.
void BulkAttempt::EmitUnchanged(const BulkRow& row) {
  if (unseen_inputs_ != 0) {
    for (size_t i = 0; i < row.size(); ++i) {
      if (!row.cell(i).value.empty() && seen_[i] == '0') {
        seen_[i] = '1';
        --unseen_;
        --unseen_inputs_;
      }
    }
  }
  chunk_.append(*unchanged_);
  chunk_.append(row_tail_);
  ++written_;
  if (chunk_.size() >= options_.chunk_size) CutChunk();
}

void BulkAttempt::CutChunk() {
  ready_bytes_ += chunk_.size();
  ready_chunks_.push_back(std::move(chunk_));
  chunk_ = FreshChunk();
}

// A chunk buffer the checkpointer has finished with, else a new one: fresh 256 KiB
// buffers would cost a page fault per 4 KiB every time.
std::string BulkAttempt::FreshChunk() {
  std::string chunk = checkpointer_ ? checkpointer_->TakeSpare() : std::string();
  chunk.clear();
  chunk.reserve(options_.chunk_size + (64 << 10));
  return chunk;
}

bool BulkAttempt::AttachFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    WriteErrorRow("cannot read the file " + path +
                  " that the function returned: " + std::strerror(errno));
    return false;
  }
  // The file replaces the output: a new output file, the current one removed in the
  // same commit as its first chunk.
  if (!checkpointer_->Wait().ok()) return false;
  ready_chunks_.clear();
  ready_bytes_ = 0;
  chunk_.clear();
  remove_files_.push_back(output_file_);
  output_file_ = NewRunId(engine_.clock().Now());
  output_name_ = "output" + std::string(path.ends_with(".csv") ? ".csv" : "");
  chunks_saved_ = 0;
  attached_ = true;
  std::string buffer(options_.chunk_size, '\0');
  for (;;) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    std::streamsize got = in.gcount();
    if (got > 0) {
      ready_chunks_.emplace_back(buffer.data(), static_cast<size_t>(got));
      ready_bytes_ += static_cast<size_t>(got);
    }
    if (!in) break;
    if (PendingBytes() >= options_.max_buffered_output) {
      checkpointer_->Submit(Snapshot("rows"));
      if (!checkpointer_->status().ok()) return false;
    }
  }
  if (in.bad()) {
    WriteErrorRow("cannot read the file " + path + ": " + std::strerror(errno));
    return false;
  }
  ++succeeded_;
  return true;
}

// ---- checkpoints ---------------------------------------------------------------------------

RunCheckpoint BulkAttempt::Snapshot(const char* phase) {
  RunCheckpoint c;
  c.queue = run_.queue;
  c.id = run_.id;
  c.attempt = run_.attempt;
  c.progress = CurrentProgress();
  c.now = engine_.clock().Now();
  c.output_file = output_file_;
  c.output_name = output_name_;
  c.output_first_chunk = chunks_saved_;
  if (!chunk_.empty()) CutChunk();
  c.output_chunks = std::move(ready_chunks_);
  ready_chunks_.clear();
  ready_bytes_ = 0;
  chunks_saved_ += static_cast<int64_t>(c.output_chunks.size());
  c.output_meta = attached_ ? json::value(json::object{{"attached", true}})
                            : OutputMeta(out_header_.size(), seen_, written_, added_error_);
  c.remove_files = std::move(remove_files_);
  remove_files_.clear();
  CheckpointState s;
  s.phase = phase;
  s.rows = rows_;
  s.succeeded = succeeded_;
  s.failed = failed_;
  s.written = written_;
  s.output_file = output_file_;
  s.chunks = chunks_saved_;
  s.seen = seen_;
  s.state = state_;
  if (attached_) s.attached = "1";
  c.state = s.Encode();
  return c;
}

bool BulkAttempt::MaybeCheckpoint() {
  if (checkpointer_->failed()) {
    // Most often fenced out: another attempt owns the run. Stop at once rather than
    // at the next checkpoint, so that a zombie does as little work as possible.
    end_error_ = checkpointer_->status().message();
    return false;
  }
  if (since_checkpoint_ < progress_every_) {
    if (PendingBytes() <= options_.max_buffered_output) return true;
  } else if (checkpointer_->busy() && PendingBytes() <= options_.max_buffered_output) {
    return true;  // coalesce: the save in flight is still being written
  }
  checkpointer_->Submit(Snapshot("rows"));
  since_checkpoint_ = 0;
  Status saved = checkpointer_->status();
  if (!saved.ok()) {
    end_error_ = saved.message();
    return false;
  }
  return true;
}

bool BulkAttempt::Throttle() {
  if (wait_after_row_.count() <= 0) return true;
  return options_.sleep ? options_.sleep(context_, wait_after_row_)
                        : context_.SleepFor(wait_after_row_);
}

void BulkAttempt::PublishProgress(const RunCheckpoint& c) {
  engine_.events().Publish(RunEvent::Progressed(run_, c.progress));
}

Progress BulkAttempt::CurrentProgress() const {
  int64_t done = succeeded_ + failed_;
  // Input runs know their total from the upload; iterators count as they go.
  int64_t total = spec_.no_input() ? done : std::max(run_.progress.total, done);
  return {total, succeeded_, failed_};
}

// ---- outcomes ------------------------------------------------------------------------------

HandlerOutcome BulkAttempt::Finished(RunStatus status) {
  HandlerOutcome out;
  out.status = status;
  out.progress = CurrentProgress();
  json::object result;
  result["rows"] = succeeded_ + failed_;
  result["succeeded"] = succeeded_;
  result["failed"] = failed_;
  result["written"] = written_;
  result["output_file"] = output_file_;
  out.result = std::move(result);
  if (!end_error_.empty()) {
    out.error = end_error_;
  } else if (status != RunStatus::kCompleted) {
    out.error = std::to_string(failed_) + " of " + std::to_string(succeeded_ + failed_) +
                " rows failed; the output's error column says why";
  }
  // A run whose rows failed is an answer, not a fault of taskmill or of the attempt.
  if (status == RunStatus::kFailed) out.error_kind = "rows";
  return out;
}

HandlerOutcome BulkAttempt::Failed(const Status& status, std::string_view kind) {
  HandlerOutcome out;
  out.status = RunStatus::kFailed;
  out.progress = CurrentProgress();
  out.error = status.message();
  out.error_kind = std::string(kind);
  return out;
}

HandlerOutcome BulkAttempt::Replay() {
  succeeded_ = replay_->succeeded;
  failed_ = replay_->failed;
  written_ = replay_->written;
  output_file_ = replay_->output_file;
  end_error_ = replay_->error;
  auto status = ParseRunStatus(replay_->status).value_or(StatusByCounters(succeeded_, failed_));
  return Finished(status);
}

HandlerOutcome BulkAttempt::Run() {
  Status started = Start();
  if (!started.ok()) {
    processor_.Close();
    bool user = started.IsInvalidArgument() || started.code() == StatusCode::kFailedPrecondition;
    HandlerOutcome out = Failed(started, user ? "user" : "internal");
    out.output = processor_.Output();
    return out;
  }
  if (replay_) {
    processor_.Close();
    return Replay();
  }

  End end = spec_.no_input() ? ProcessIterations() : ProcessRows();
  HandlerOutcome out;
  if (end == End::kRowsDone || end == End::kStopped || end == End::kStopOnError) {
    Progress progress = CurrentProgress();
    if (auto finish = processor_.Finish(BulkEnd{state_, progress, context_})) {
      ApplyFinish(*finish);
    }
    RunStatus status = StatusByCounters(succeeded_, failed_);
    RunCheckpoint last = Snapshot("done");
    // The outcome goes into the last checkpoint, for a replay if the finish is lost.
    auto state = CheckpointState::Decode(last.state);
    if (state.ok()) {
      HandlerOutcome preview = Finished(status);
      state->status = std::string(ToString(status));
      state->error = preview.error;
      last.state = state->Encode();
    }
    checkpointer_->Submit(std::move(last));
    Status saved = checkpointer_->Wait();
    if (!saved.ok()) {
      out = Failed(saved, saved.code() == StatusCode::kFailedPrecondition ? "lost" : "internal");
    } else {
      out = Finished(status);
      processor_.Cleanup(BulkEnd{state_, progress, context_, status});
    }
  } else if (end == End::kCancelled) {
    // Keep what was written up to here: downloadable now, resumed by a retry.
    checkpointer_->Submit(Snapshot("rows"));
    (void)checkpointer_->Wait();
    std::string reason = context_.cancellation().Reason();
    if (reason == kOperatorStop) {
      Progress progress = CurrentProgress();
      processor_.Cleanup(BulkEnd{state_, progress, context_, RunStatus::kStopped});
    }
    out = Failed(Status::FailedPrecondition("stopped: " + reason), "stopped");
  } else {
    Status saved = checkpointer_->status();
    if (saved.ok()) {
      // Still the current attempt (the processor gave up, or the input could not be
      // read): save the progress so that a retry resumes from here.
      checkpointer_->Submit(Snapshot("rows"));
      saved = checkpointer_->Wait();
    } else if (saved.code() == StatusCode::kFailedPrecondition) {
      end_kind_ = "lost";  // fenced out: another attempt owns the run now
    }
    out = Failed(Status::Internal(end_error_.empty() ? saved.message() : end_error_), end_kind_);
  }
  processor_.Close();
  out.output = processor_.Output();
  return out;
}

}  // namespace

HandlerOutcome RunBulkAttempt(Engine& engine, const BulkOptions& options, const BulkSpec& spec,
                              RowProcessor& processor, RunContext& context) {
  try {
    BulkAttempt attempt(engine, options, spec, processor, context);
    return attempt.Run();
  } catch (const std::exception& e) {
    processor.Close();
    HandlerOutcome out;
    out.status = RunStatus::kFailed;
    out.error = std::string("bulk attempt failed: ") + e.what();
    out.error_kind = "internal";
    return out;
  }
}

}  // namespace taskmill::bulk
