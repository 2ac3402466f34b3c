// bulk/bulk_attempt_impl.h — the class behind RunBulkAttempt (bulk_attempt.h).
//
// One BulkAttempt runs one attempt of a bulk run on the calling thread. Its methods
// live by subject:
//   bulk_attempt.cpp   start over, resume or replay; checkpoints; the attempt's outcome
//   bulk_row_loop.cpp  the row loops (rows, batches, iterations), verifying cells, and
//                      applying each result (decisions in row_results.h)
//   bulk_output.cpp    writing the output: rows, the error column, chunks, files
// Not thread-safe: one attempt, one thread.
#pragma once

#include <taskmill/bulk.h>
#include <taskmill/engine.h>

#include <boost/json.hpp>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bulk/bulk_layout.h"
#include "bulk/checkpointer.h"
#include "bulk/row_appender.h"
#include "bulk/row_processor.h"
#include "bulk/row_results.h"
#include "bulk/stored_file.h"
#include "csv/csv_reader.h"

namespace taskmill::bulk {

// The cancellation reason of an operator's stop (POST /runs/{id}/stop).
inline constexpr const char* kOperatorStop = "stopped by an operator";

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
    end_error_ = RowRetriedMessage(line, outcome.result.message());
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
  RowTally tally_;    // succeeded, failed and written rows
  int64_t chunks_saved_ = 0;
  int64_t since_checkpoint_ = 0;
  boost::json::value state_;           // the function's
  std::string end_error_;              // why the run ended early (stop_on_error, a failure)
  std::string end_kind_ = "internal";  // error_kind of End::kFailed

  std::unique_ptr<Checkpointer> checkpointer_;
  std::vector<RowOutcome> outcomes_;
  RowOutcome outcome_;  // ProcessRows's, reused from row to row
};

}  // namespace taskmill::bulk
