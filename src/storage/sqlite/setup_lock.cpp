#include "storage/sqlite/setup_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

namespace taskmill::sqlite {

Result<SetupLock> SetupLock::Acquire(const std::string& database_path,
                                     std::chrono::milliseconds timeout) {
  const std::string path = PathFor(database_path);
  // O_CLOEXEC: a command started later must not inherit, and so hold, the lock.
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return Status::Internal("storage: cannot create the lock file " + path + ": " +
                            std::strerror(errno));
  }
  // Setting up takes milliseconds; a holder that takes longer is stuck, and a wait
  // without end would hang this start with no word of why. flock has no timeout, so
  // it is tried again every few milliseconds until the deadline.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0) return SetupLock(fd);
    const int error = errno;
    if (error == EINTR) continue;
    if (error != EWOULDBLOCK) {
      ::close(fd);
      return Status::Internal("storage: cannot lock " + path + ": " + std::strerror(error));
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      ::close(fd);
      return Status::Unavailable("storage: another process has been setting up the database for " +
                                 std::to_string(timeout.count() / 1000) +
                                 " s (it holds the lock on " + path +
                                 "); is a taskmill process stuck starting on this data directory?");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

SetupLock::~SetupLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the last descriptor releases the flock
}

}  // namespace taskmill::sqlite
