// commit_bell.h — tells every process using a SQLite database of each commit to it
// (internal to the SQLite backend; Storage::WatchCommits).
//
// After each commit of its writer, a SqliteStorage rings the bell: it writes one byte
// to "<database>.commits", a file beside the database that stays. A CommitWatcher
// watches that file with inotify (IN_MODIFY), so it learns of a commit of any process
// with no polling while nothing happens.
//
// Why a file of its own rather than a watch on the write-ahead log: every page a
// commit writes is two writes to the log, and a watch on the log made each of them an
// inotify event, queued and woken for: 15% of the writer's time in a flow's children
// (docs/BENCHMARKS.md, "Third round of 2026-12-07"). The bell is one write per commit.
//
// SQLite calls the writer's commit hook once the commit is visible to readers, so a
// ring comes after the commit it tells of. The watcher checks `PRAGMA data_version` on
// a connection of its own before it calls back, which changes once a commit of another
// connection is visible: one call back for several rings read at once, none for a ring
// whose commit an earlier call back covered (it retries for a short while,
// kConfirmFor, as a safeguard). A process that writes the database without ringing
// (the sqlite3 shell, a build from before the bell) is found by the runners' poll.
#pragma once

#include <taskmill/status.h>
#include <taskmill/storage.h>

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>

namespace taskmill::sqlite {

class Connection;

// The bell's file, beside the database at `db_path`.
std::string CommitBellPath(const std::string& db_path);

// The ringing side, owned by the storage: rings after each commit of its writer.
class CommitBell {
 public:
  // Opens (creates) the bell of the database at `db_path`.
  static Result<CommitBell> Open(const std::string& db_path);
  CommitBell() = default;
  CommitBell(CommitBell&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  CommitBell& operator=(CommitBell&& other) noexcept {
    std::swap(fd_, other.fd_);
    return *this;
  }
  ~CommitBell();

  // One byte written: an IN_MODIFY event for every watcher. A failure is ignored
  // (the watchers' runners still poll).
  void Ring() const;

 private:
  int fd_ = -1;
};

class CommitWatcher final : public CommitWatch {
 public:
  // Watches the bell of the database at `db_path` (in WAL mode; the storage that
  // rings it is open). kUnavailable when the system offers no file watch (the caller
  // then polls).
  static Result<std::unique_ptr<CommitWatcher>> Start(const std::string& db_path,
                                                      std::function<void()> on_commit);
  ~CommitWatcher() override;  // stops the thread; waits for a call back in progress

 private:
  CommitWatcher() = default;
  void Loop();

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
