// sqlite_storage.h — the embedded storage backend: one SQLite file in WAL mode.
//
// Writes go to one writer thread that commits everything that arrived meanwhile in
// one transaction (group commit); each caller is answered after that commit, and with
// synchronous=full a durable write only once a syncer thread has fsynced the log
// holding it (one fsync for every commit made meanwhile, not one per run). Reads use a pool of
// read-only connections and never wait for the writer; checkpoints run on a thread of their own.
// Thread-safe.
#pragma once

#include <taskmill/storage.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace taskmill::sqlite {

struct SqliteOptions {
  std::string path;                  // database file; its directory is created
  std::string synchronous = "full";  // "full" (default) or "normal"
  // The write-ahead log is copied back into the database file (a checkpoint) by a
  // thread of its own once it holds this many pages, rather than by the commit that
  // crossed SQLite's own threshold: that commit, and every writer queued behind it,
  // would wait for the copy and its fsync. 4,000 pages (64 MiB at 16 KiB a page):
  // a page written by many commits meanwhile (the tallies, the ends of the indexes)
  // is copied once; at 1,000 the checkpoint thread's copying slowed the drain by 4%
  // on two cores (docs/BENCHMARKS.md).
  int checkpoint_pages = 4000;
  // Once a checkpoint has copied the whole log, the writer starts the log over, and
  // its first commit then truncates the file (SQLite's journal_size_limit): on a disk
  // with room for the log at its working size (checkpoint_pages) 8 times over, to
  // that size, so that its blocks are written over rather than freed and allocated
  // again after every checkpoint (1.09x the children of a flow, docs/BENCHMARKS.md);
  // on a disk with less room, to this many bytes, or to that commit's frames when
  // they are more: there the log is not left at its peak size for good, which on a
  // small disk held most of the space. Default: 4 MiB (256 pages of 16 KiB).
  int64_t log_size_limit = int64_t{4} << 20;
  // Called on the checkpoint thread after each checkpoint with the frames in the log
  // and the frames copied (for tests and benchmarks).
  std::function<void(int log_frames, int checkpointed_frames)> on_checkpoint;
  // Called on the syncer thread after each fsync of the log (synchronous=full),
  // before the writes it made durable are answered (for tests).
  std::function<void()> on_log_synced;
  // Called on the writer thread before each part of a release of staged runs after
  // the part its finish commits (staged_runs.cpp); false leaves the rest of that
  // release under way, as a crash there would (for tests).
  std::function<bool()> before_release_part;
  // A listing of pending runs (no task filter) reads the pending runs of its queue
  // filter through runs_queue_pending and sorts them by seq while their tally is at
  // most this; above it, it scans the table newest first, where pending runs are then
  // dense. No index orders pending runs by seq (it would cost every put and claim a
  // B-tree operation). Tests lower it to take both ways cheaply.
  int64_t list_pending_sorted_max = 20000;
};

// Commit statistics for metrics and benchmarks.
struct WriterStats {
  uint64_t commits = 0;
  uint64_t operations = 0;  // write calls served
  uint64_t commit_micros_total = 0;
};

Result<std::unique_ptr<Storage>> OpenSqliteStorage(const SqliteOptions& options);

// The options a SQLite storage URL names: "sqlite:///abs/path/taskmill.db",
// "sqlite://relative.db" or a bare path, each optionally followed by query parameters
// (`?synchronous=normal`; `synchronous` is "full" or "normal"). kInvalidArgument, naming
// the URL, for an empty path or an unknown parameter.
Result<SqliteOptions> SqliteOptionsFromUrl(std::string_view url);

}  // namespace taskmill::sqlite
