// setup_lock.h — an exclusive lock on a file beside a database, held while a process
// sets the database up: creating the file, choosing its page size and WAL mode,
// applying migrations. Several processes started together on one data directory
// (`serve --roles scheduler,api` beside `serve --roles runner`) then set it up one
// after the other, and each sees the schema the one before it left.
//
// The lock is flock(2) on `<database>.setup-lock`, which is created when missing and
// never removed (removing it would let two processes lock two different files). The
// kernel drops the lock when its holder exits, even by kill -9, so a crashed start
// never blocks the next one. Not thread-safe; a SetupLock belongs to one thread.
#pragma once

#include <taskmill/status.h>

#include <chrono>
#include <string>

namespace taskmill::sqlite {

class SetupLock {
 public:
  // Takes the lock for `database_path`, waiting up to `timeout` for another process
  // that holds it. kUnavailable naming the lock file when the wait ran out; kInternal
  // when the lock file cannot be created (its directory must exist).
  static Result<SetupLock> Acquire(const std::string& database_path,
                                   std::chrono::milliseconds timeout);

  SetupLock(SetupLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  SetupLock& operator=(SetupLock&&) = delete;
  SetupLock(const SetupLock&) = delete;
  SetupLock& operator=(const SetupLock&) = delete;
  // Releases the lock.
  ~SetupLock();

  static std::string PathFor(const std::string& database_path) {
    return database_path + ".setup-lock";
  }

 private:
  explicit SetupLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace taskmill::sqlite
