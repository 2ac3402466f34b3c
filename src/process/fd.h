// process/fd.h — the descriptors of a child's pipes: ownership, creation, and a write
// that a child closing its end cannot turn into a SIGPIPE for the server.
//
// Used by every program taskmill starts (commands: runner/subprocess.cpp,
// co-processes: bulk/coprocess.cpp), with spawn.h and process_groups.h.
// Thread-safety: a UniqueFd is owned by one thread; the functions are thread-safe.
#pragma once

#include <sys/types.h>
#include <taskmill/status.h>
#include <unistd.h>

#include <string>
#include <string_view>
#include <utility>

namespace taskmill {

// Owns one file descriptor.
class UniqueFd {
 public:
  explicit UniqueFd(int fd = -1) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) Reset(std::exchange(o.fd_, -1));
    return *this;
  }
  ~UniqueFd() { Reset(); }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  void Reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_;
};

// strerror's text of `err`.
std::string ErrnoText(int err);

// Moves `fd` above 2, keeping close-on-exec. A server started with a closed stdin
// would otherwise get pipe fd 0, and dup2-ing a child's stdin onto 0 would then
// clobber the pipe meant to become its fd 1.
Status LiftAboveStdio(UniqueFd& fd);

// A close-on-exec pipe, both ends above descriptor 2 (LiftAboveStdio).
Status MakePipe(UniqueFd& read_end, UniqueFd& write_end);

// Makes `fd` non-blocking.
Status SetNonBlocking(int fd);

// Writes what the pipe takes now: the bytes written, 0 when the pipe is full, -1 when
// the child closed its end (or another error). SIGPIPE is blocked on this thread for
// the write (never touching the process-wide disposition) and a signal the write
// raised is consumed, so it never reaches the server.
ssize_t WriteNoSigpipe(int fd, std::string_view data);

}  // namespace taskmill
