// The output of a bulk attempt: input rows written back with their results merged in
// and the error column set, the function's own rows, chunks cut for checkpoints, and
// a file the function produced (BulkResult::File).

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "bulk/bulk_attempt_impl.h"

namespace taskmill::bulk {
namespace json = boost::json;

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
  ++tally_.written;
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
  ++tally_.written;
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
  ++tally_.succeeded;
  return true;
}

}  // namespace taskmill::bulk
