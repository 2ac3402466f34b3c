// wal_watcher.h — tells of commits to a SQLite database in WAL mode made by any
// process (internal to the SQLite backend; Storage::WatchCommits).
//
// Every commit appends frames to the write-ahead log, so a watch on the log's
// directory (inotify, IN_MODIFY and IN_CREATE of the "-wal" file) learns of a commit
// as it is written, with no polling while nothing happens. The frames are written
// before the commit is visible to readers (SQLite updates the shared wal-index after
// the write, and after the fsync with synchronous=full), so after an event the watcher
// checks `PRAGMA data_version` on a connection of its own, which changes once a commit
// of another connection is visible, and calls back only then, retrying for a short
// while (kConfirmFor) when the commit is not visible yet. A write to the log that is
// not a commit (a transaction spilling pages, a checkpoint restarting the log) calls
// nothing back.
#pragma once

#include <taskmill/status.h>
#include <taskmill/storage.h>

#include <functional>
#include <memory>
#include <string>
#include <thread>

namespace taskmill::sqlite {

class Connection;

class WalWatcher final : public CommitWatch {
 public:
  // Watches the database at `db_path` (in WAL mode). kUnavailable when the system
  // offers no file watch (the caller then polls).
  static Result<std::unique_ptr<WalWatcher>> Start(const std::string& db_path,
                                                   std::function<void()> on_commit);
  ~WalWatcher() override;  // stops the thread; waits for a call back in progress

 private:
  WalWatcher() = default;
  void Loop();

  std::string db_path_;
  std::string wal_name_;  // the log's file name, as inotify reports it
  std::function<void()> on_commit_;
  // The watcher's own connection, and the data_version it last saw: read before
  // Start returns, so that every commit after it is one the watcher tells of.
  std::unique_ptr<Connection> conn_;
  int64_t seen_ = 0;
  int inotify_fd_ = -1;
  int stop_fd_ = -1;  // an eventfd: written once to stop the thread
  std::thread thread_;
};

}  // namespace taskmill::sqlite
