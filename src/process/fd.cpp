#include "process/fd.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>

#include <cerrno>

namespace taskmill {
Status LiftAboveStdio(UniqueFd& fd) {
  if (fd.get() > 2) return Status::Ok();
  int lifted = ::fcntl(fd.get(), F_DUPFD_CLOEXEC, 3);
  if (lifted < 0) return Status::Unavailable("cannot duplicate a pipe: " + ErrnoText(errno));
  fd.Reset(lifted);
  return Status::Ok();
}

std::string ErrnoText(int err) { return strerrordesc_np(err) ? strerrordesc_np(err) : "error"; }

Status MakePipe(UniqueFd& read_end, UniqueFd& write_end) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return Status::Unavailable("cannot create a pipe: " + ErrnoText(errno));
  }
  read_end.Reset(fds[0]);
  write_end.Reset(fds[1]);
  TASKMILL_RETURN_IF_ERROR(LiftAboveStdio(read_end));
  return LiftAboveStdio(write_end);
}

Status SetNonBlocking(int fd) {
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    return Status::Internal("cannot make a pipe non-blocking: " + ErrnoText(errno));
  }
  return Status::Ok();
}

ssize_t WriteNoSigpipe(int fd, std::string_view data) {
  if (fd < 0) return -1;
  sigset_t pipe_set, old_mask, pending;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);
  sigpending(&pending);
  // A SIGPIPE already pending on this thread is not ours to swallow.
  bool was_pending = sigismember(&pending, SIGPIPE);
  ssize_t n;
  do {
    n = ::write(fd, data.data(), data.size());
  } while (n < 0 && errno == EINTR);
  int write_errno = errno;
  if (n < 0 && write_errno == EPIPE && !was_pending) {
    struct timespec zero {};
    while (::sigtimedwait(&pipe_set, nullptr, &zero) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  if (n >= 0) return n;
  return write_errno == EAGAIN ? 0 : -1;
}

}  // namespace taskmill
