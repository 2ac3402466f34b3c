// One attempt of a bulk run (RunBulkAttempt): start over, resume from the last
// checkpoint or replay a finished attempt whose finish was lost; save checkpoints;
// end with the attempt's outcome. The row loops are in bulk_row_loop.cpp, the output
// in bulk_output.cpp (bulk_attempt_impl.h).
#include "bulk/bulk_attempt.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "bulk/bulk_attempt_impl.h"
#include "core/lifecycle/run_events.h"

namespace taskmill::bulk {
namespace json = boost::json;
namespace {

std::string OutputName(const std::string& input_name) {
  if (input_name.size() > 4 && input_name.ends_with(".csv")) {
    return input_name.substr(0, input_name.size() - 4) + "-output.csv";
  }
  return "output.csv";
}

}  // namespace

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
    tally_.succeeded = resume->succeeded;
    tally_.failed = resume->failed;
    tally_.written = resume->written;
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
  bool declared_error = spec_.header.empty()
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
                            : OutputMeta(out_header_.size(), seen_, tally_.written, added_error_);
  c.remove_files = std::move(remove_files_);
  remove_files_.clear();
  CheckpointState s;
  s.phase = phase;
  s.rows = rows_;
  s.succeeded = tally_.succeeded;
  s.failed = tally_.failed;
  s.written = tally_.written;
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
  int64_t done = tally_.succeeded + tally_.failed;
  // Input runs know their total from the upload; iterators count as they go.
  int64_t total = spec_.no_input() ? done : std::max(run_.progress.total, done);
  return {total, tally_.succeeded, tally_.failed};
}

// ---- outcomes ------------------------------------------------------------------------------

HandlerOutcome BulkAttempt::Finished(RunStatus status) {
  return FinishedOutcome(status, tally_, CurrentProgress(), output_file_, end_error_);
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
  tally_.succeeded = replay_->succeeded;
  tally_.failed = replay_->failed;
  tally_.written = replay_->written;
  output_file_ = replay_->output_file;
  end_error_ = replay_->error;
  auto status = ParseRunStatus(replay_->status).value_or(tally_.Status());
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
    RunStatus status = tally_.Status();
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
