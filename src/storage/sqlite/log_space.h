// log_space.h — keeps the write-ahead log from filling a small disk. Between
// checkpoints the log grows up to SqliteOptions::checkpoint_pages (64 MiB); on a disk
// with less room than that it would fill the disk long before the data does, and then
// no checkpoint could copy it into the database. LogSpace decides when the writer must
// checkpoint itself instead of leaving it to the checkpoint thread:
//   - when the disk has less room left than twice what the log holds (looked at once
//     per MiB of log growth), and
//   - after a write failed for lack of space, until a checkpoint has copied the whole
//     log; the writer then starts the log over in the space it already has, and
//     journal_size_limit truncates it.
// It also decides how far the log is cut back when it starts over (LogBound): on a
// disk with room for the log at its working size many times over, not below that
// size, so that the file's blocks are written over rather than freed and allocated
// again after every checkpoint; otherwise to SqliteOptions::log_size_limit.
// Used by the writer thread (OutgrowsDisk, CheckpointOnWriter) and the checkpoint
// thread (CheckpointedWhole); the shared state is atomic.
#pragma once

#include <sqlite3.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

namespace taskmill::sqlite {

class LogSpace {
 public:
  // `database_path`: its directory's disk is watched. `page_size` of the database.
  // `short_bound`: the bytes the log is cut back to when it starts over on a disk
  // short of room; `working_bytes`: the log's size between checkpoints.
  LogSpace(std::string database_path, int64_t page_size, int64_t short_bound,
           int64_t working_bytes);

  // After each commit on the writer: true when the writer should checkpoint now.
  bool CheckpointNeeded(int log_pages) {
    return short_of_space_.load(std::memory_order_relaxed) || OutgrowsDisk(log_pages);
  }
  // A write failed for lack of space: logs it once, and checkpoints are wanted.
  void NoteFull();
  // A PASSIVE checkpoint on the writer's connection `db`, between two transactions:
  // with no write in progress it can copy the whole log (on the checkpoint thread,
  // commits landing meanwhile kept it from ever copying it whole, and the log grew
  // into the space freed for it). `on_checkpoint` as SqliteOptions's.
  void CheckpointOnWriter(sqlite3* db, const std::function<void(int, int)>& on_checkpoint);
  // A checkpoint of the checkpoint thread copied `checkpointed` of `log_frames` frames.
  void CheckpointDone(int log_frames, int checkpointed);
  // The bytes the log is cut back to when it starts over (journal_size_limit): the
  // working size while the disk has room for it 8 times over, else the short bound.
  // Looked at as often as the disk is (once per MiB of log growth).
  int64_t LogBound() const {
    return roomy_.load(std::memory_order_relaxed) ? working_bound_ : short_bound_;
  }

 private:
  bool OutgrowsDisk(int log_pages);
  // Free bytes on the database's disk, or -1 when they cannot be told.
  int64_t Room() const;
  void NoteRoom(int64_t room);

  const std::string path_;
  const int64_t page_size_;
  const int64_t short_bound_;
  const int64_t working_bound_;
  std::atomic<bool> roomy_{false};
  int64_t checked_step_ = 0;  // MiB of log last looked at; writer thread only
  // A write failed for lack of space (or the log outgrew the disk) and no checkpoint
  // has copied the whole log since.
  std::atomic<bool> short_of_space_{false};
};

}  // namespace taskmill::sqlite
