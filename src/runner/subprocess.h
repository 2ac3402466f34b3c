// runner/subprocess.h — process plumbing for handlers that run external programs.
//
// Subprocess starts one child in its own process group with a stdin pipe and one
// pipe that receives both stdout and stderr (so the two streams stay interleaved in
// the order the child wrote them); the child dies with the server (process/spawn.h)
// and its group is tracked until it is reaped (process/process_groups.h). It never
// installs a SIGCHLD handler: the server runs other children too, so each Subprocess
// waits for its own pid only. The owner of a Subprocess drives it (poll the fds,
// signal the group, TryReap); if the owner lets it go while the child still runs, the
// destructor kills the group and reaps the child, so an exception can never leave a
// zombie behind.
//
// OutputCapture keeps the first bytes of a possibly huge output stream, counts the
// rest, and hands back valid UTF-8 text.
//
// Thread-safety: a Subprocess or OutputCapture is used by one thread at a time.
// Spawning from many threads at once is safe: every fd taskmill opens is close-on-exec
// and the child closes all descriptors above 2 before exec.
#pragma once

#include <sys/types.h>
#include <taskmill/status.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace taskmill {

struct SpawnParams {
  // The program: looked up in `search_path` unless it contains '/'; a relative path
  // is relative to `working_dir`. argv[0] as the child sees it is `argv[0]`.
  std::string program;
  std::vector<std::string> argv;
  std::vector<std::string> env;  // "NAME=value" entries: the child's whole environment
  std::string search_path;       // PATH used to find `program`; empty: confstr(_CS_PATH)
  std::string working_dir;       // empty: inherit the server's
};

// A running (or finished, not yet released) child process. Move-only.
class Subprocess {
 public:
  // Starts the child. Errors name what was wrong:
  //   kNotFound           "command not found: NAME"
  //   kFailedPrecondition "command not executable: PATH (Permission denied)",
  //                       "working directory not usable: DIR (No such file or directory)"
  //   kInvalidArgument    NUL bytes in argv or env, empty program
  //   kUnavailable        the system is out of processes, fds or memory
  static Result<Subprocess> Spawn(const SpawnParams& params);

  Subprocess(Subprocess&& other) noexcept;
  Subprocess& operator=(Subprocess&&) = delete;
  Subprocess(const Subprocess&) = delete;
  ~Subprocess();  // unless reaped: SIGKILL to the group, then a blocking waitpid

  pid_t pid() const { return pid_; }
  // Non-blocking write end of the child's stdin; -1 once closed.
  int stdin_fd() const { return stdin_fd_; }
  // Non-blocking read end of the child's stdout+stderr; -1 once closed.
  int output_fd() const { return output_fd_; }
  // Becomes readable (POLLIN) when the child exits; -1 when the kernel has no pidfd
  // (Linux < 5.3), in which case callers poll TryReap() on a timer.
  int exit_fd() const { return pidfd_; }
  void CloseStdin();
  void CloseOutput();

  // Sends `sig` to the child's process group (the child and everything it started
  // that did not leave the group). No-op once the child is reaped.
  void SignalGroup(int sig);

  // Non-blocking. When the child has exited, SIGKILLs whatever is left in its process
  // group (an attempt's processes do not outlive it), reaps the child and returns its
  // wait status; nullopt while it runs or once reaped. The group is killed before the
  // reap because the zombie keeps the group id from being reused by an unrelated group.
  // kWaitStatusLost when someone else reaped the child (SIGCHLD set to SIG_IGN).
  std::optional<int> TryReap();
  static constexpr int kWaitStatusLost = -1;
  bool reaped() const { return reaped_; }

  // Writes as much of `data` as the pipe takes without blocking; returns the number of
  // bytes written, or -1 when the child closed its stdin (EPIPE, no SIGPIPE raised).
  ssize_t WriteStdin(std::string_view data);

 private:
  Subprocess() = default;
  void Release();

  pid_t pid_ = -1;
  bool reaped_ = false;
  int stdin_fd_ = -1;
  int output_fd_ = -1;
  int pidfd_ = -1;
};

// "SIGKILL" for 9; "signal 77" for numbers without a name.
std::string SignalName(int sig);

// Keeps the first `limit` bytes of a stream, counts and drops the rest, and remembers
// the stream's last line wherever it was. Memory is O(limit) however much is appended.
class OutputCapture {
 public:
  explicit OutputCapture(size_t limit) : limit_(limit) {}

  void Append(std::string_view bytes);
  uint64_t total_bytes() const { return total_; }

  // The kept text as valid UTF-8 of at most `limit` bytes: bytes that are not UTF-8,
  // and NUL, become U+FFFD (storage and JSON take text). When bytes were dropped,
  // "…[N bytes truncated]" follows, N counting every input byte not represented.
  std::string Text() const;

  // The last non-blank line of everything appended (not only of the kept part),
  // trimmed, valid UTF-8, cut after `max_bytes` with "…"; empty when there is none.
  std::string LastLine(size_t max_bytes = 300) const;

 private:
  static constexpr size_t kTailBytes = 4096;
  size_t limit_;
  uint64_t total_ = 0;
  std::string kept_;  // the first min(total_, limit_) raw bytes
  std::string tail_;  // the last <= 2 * kTailBytes raw bytes
};

// Replaces bytes that are not UTF-8, and NUL, with U+FFFD. Stops before the output
// would exceed `max_out` bytes. When `input_may_continue`, an incomplete sequence at
// the end is left unconsumed rather than replaced. Returns the input bytes consumed.
size_t AppendSanitizedUtf8(std::string_view in, size_t max_out, bool input_may_continue,
                           std::string& out);

}  // namespace taskmill
