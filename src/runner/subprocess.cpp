#include "runner/subprocess.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "process/fd.h"
#include "process/process_groups.h"
#include "process/spawn.h"

namespace taskmill {
namespace {

bool HasNul(const std::string& s) { return s.find('\0') != std::string::npos; }

// execvp's lookup, done here rather than by posix_spawnp for two reasons: the child's
// PATH (which the task's env may set) is the one that should count, and we can tell
// "not found" from "found but not executable" before anything is started. `dir_fd`
// is the working directory, so relative paths resolve as they will in the child.
Result<std::string> ResolveProgram(const SpawnParams& params, int dir_fd) {
  const std::string& name = params.program;
  auto usable = [dir_fd](const std::string& candidate, int& err) {
    struct stat st;
    if (::fstatat(dir_fd, candidate.c_str(), &st, 0) != 0) {
      err = errno;
      return false;
    }
    if (S_ISDIR(st.st_mode)) {
      err = EISDIR;
      return false;
    }
    if (::faccessat(dir_fd, candidate.c_str(), X_OK, AT_EACCESS) != 0) {
      err = errno;
      return false;
    }
    return true;
  };

  if (name.find('/') != std::string::npos) {
    int err = 0;
    if (usable(name, err)) return name;
    if (err == ENOENT || err == ENOTDIR) return Status::NotFound("command not found: " + name);
    return Status::FailedPrecondition("command not executable: " + name + " (" + ErrnoText(err) +
                                      ")");
  }

  std::string path = params.search_path;
  if (path.empty()) {
    char buf[256];
    size_t n = ::confstr(_CS_PATH, buf, sizeof buf);
    path = (n > 0 && n <= sizeof buf) ? std::string(buf, n - 1) : "/bin:/usr/bin";
  }
  int denied_err = 0;  // like execvp: report EACCES only when nothing usable was found
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    std::string dir = path.substr(start, end - start);
    start = end + 1;
    std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + name;
    int err = 0;
    if (usable(candidate, err)) return candidate;
    if (err == EACCES || err == EISDIR) denied_err = err;
  }
  if (denied_err != 0) {
    return Status::FailedPrecondition("command not executable: " + name + " (" +
                                      ErrnoText(denied_err) + ")");
  }
  return Status::NotFound("command not found: " + name);
}

// The spawn's error after our checks passed: the file changed meanwhile, or the
// kernel refused it (no #! interpreter, wrong architecture, noexec mount, limits).
Status SpawnError(int err, const std::string& program, const std::string& resolved) {
  switch (err) {
    case ENOENT:
      return Status::FailedPrecondition("cannot execute " + resolved +
                                        ": No such file or directory (is its #! "
                                        "interpreter installed?)");
    case EACCES:
    case ENOEXEC:
    case EISDIR:
    case ETXTBSY:
    case ELIBBAD:
      return Status::FailedPrecondition("command not executable: " + program + " (" +
                                        ErrnoText(err) + ")");
    case E2BIG:
      return Status::InvalidArgument("command line or environment too long for " + program);
    case EAGAIN:
    case ENOMEM:
    case EMFILE:
    case ENFILE:
      return Status::Unavailable("cannot start " + program + ": " + ErrnoText(err));
    default:
      return Status::Internal("cannot start " + program + ": " + ErrnoText(err));
  }
}

std::vector<char*> CStrings(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (const auto& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

}  // namespace

Result<Subprocess> Subprocess::Spawn(const SpawnParams& params) {
  if (params.program.empty()) return Status::InvalidArgument("command is empty");
  if (HasNul(params.program) || HasNul(params.working_dir)) {
    return Status::InvalidArgument("command or working directory contains a NUL byte");
  }
  for (size_t i = 0; i < params.argv.size(); ++i) {
    if (HasNul(params.argv[i])) {
      return Status::InvalidArgument("argument " + std::to_string(i) + " contains a NUL byte");
    }
  }
  for (const auto& entry : params.env) {
    if (HasNul(entry)) {
      return Status::InvalidArgument("environment variable " + entry.substr(0, entry.find('=')) +
                                     " contains a NUL byte");
    }
  }

  // Opened here, not chdir-ed by name in the child, so a bad directory is reported as
  // such instead of as an exec error, and the lookup below sees the same directory.
  UniqueFd dir;
  if (!params.working_dir.empty()) {
    dir.Reset(::open(params.working_dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (dir.get() < 0 || ::faccessat(dir.get(), ".", X_OK, AT_EACCESS) != 0) {
      int err = errno;
      return Status::FailedPrecondition("working directory not usable: " + params.working_dir +
                                        " (" + ErrnoText(err) + ")");
    }
  }
  auto resolved = ResolveProgram(params, dir.get() >= 0 ? dir.get() : AT_FDCWD);
  if (!resolved.ok()) return resolved.status();

  UniqueFd stdin_read, stdin_write, output_read, output_write;
  TASKMILL_RETURN_IF_ERROR(MakePipe(stdin_read, stdin_write));
  TASKMILL_RETURN_IF_ERROR(MakePipe(output_read, output_write));
  // Only our ends: the child must see ordinary blocking pipes.
  TASKMILL_RETURN_IF_ERROR(SetNonBlocking(stdin_write.get()));
  TASKMILL_RETURN_IF_ERROR(SetNonBlocking(output_read.get()));

  std::vector<char*> argv = CStrings(params.argv);
  std::vector<char*> envp = CStrings(params.env);
  // process/spawn.h: an own process group (stopping the command reaches everything it
  // started), a clean signal mask and default dispositions (servers commonly ignore
  // SIGPIPE, which children would otherwise inherit), only fds 0-2, and death with the
  // server. Exec errors come back precisely, and the group exists on return.
  ChildSpec child{.file = resolved->c_str(),
                  .argv = argv.data(),
                  .envp = envp.data(),
                  .stdin_fd = stdin_read.get(),
                  .stdout_fd = output_write.get(),
                  .stderr_fd = output_write.get(),
                  .dir_fd = dir.get()};
  pid_t pid = -1;
  int err = SpawnChild(child, &pid);
  if (err != 0) return SpawnError(err, params.program, *resolved);

  Subprocess proc;
  proc.pid_ = pid;
  proc.stdin_fd_ = stdin_write.release();
  proc.output_fd_ = output_read.release();
  // A pidfd lets the owner sleep in poll() until the exit instead of polling waitpid.
  // Through syscall(): glibc 2.36's <sys/pidfd.h> lacks extern "C" and does not link
  // from C++.
  proc.pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (proc.pidfd_ >= 0 && proc.pidfd_ <= 2) {
    UniqueFd pidfd(proc.pidfd_);
    proc.pidfd_ = LiftAboveStdio(pidfd).ok() ? pidfd.release() : -1;
  }
  return proc;
}

Subprocess::Subprocess(Subprocess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      reaped_(std::exchange(other.reaped_, false)),
      stdin_fd_(std::exchange(other.stdin_fd_, -1)),
      output_fd_(std::exchange(other.output_fd_, -1)),
      pidfd_(std::exchange(other.pidfd_, -1)) {}

Subprocess::~Subprocess() { Release(); }

void Subprocess::Release() {
  if (pid_ > 0 && !reaped_) {
    ::kill(-pid_, SIGKILL);
    process_groups::Untrack(pid_);
    while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
  }
  CloseStdin();
  CloseOutput();
  if (pidfd_ >= 0) ::close(std::exchange(pidfd_, -1));
}

void Subprocess::CloseStdin() {
  if (stdin_fd_ >= 0) ::close(std::exchange(stdin_fd_, -1));
}

void Subprocess::CloseOutput() {
  if (output_fd_ >= 0) ::close(std::exchange(output_fd_, -1));
}

void Subprocess::SignalGroup(int sig) {
  // Once reaped, the group id may belong to someone else.
  if (pid_ > 0 && !reaped_) ::kill(-pid_, sig);
}

std::optional<int> Subprocess::TryReap() {
  if (pid_ <= 0 || reaped_) return std::nullopt;
  siginfo_t info{};
  int rc;
  do {
    rc = ::waitid(P_PID, pid_, &info, WEXITED | WNOHANG | WNOWAIT);
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) {
    // ECHILD: somebody else reaped it (SIGCHLD set to SIG_IGN reaps automatically).
    process_groups::Untrack(pid_);
    reaped_ = true;
    return kWaitStatusLost;
  }
  if (info.si_pid != pid_) return std::nullopt;  // still running
  ::kill(-pid_, SIGKILL);  // leftovers of the group; the zombie still reserves its id
  process_groups::Untrack(pid_);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  reaped_ = true;
  if (pidfd_ >= 0) ::close(std::exchange(pidfd_, -1));
  return status;
}

ssize_t Subprocess::WriteStdin(std::string_view data) {
  // Writing to a pipe the child closed raises SIGPIPE, which would kill the server.
  return WriteNoSigpipe(stdin_fd_, data);
}

std::string SignalName(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

// ---- OutputCapture ---------------------------------------------------------------

size_t AppendSanitizedUtf8(std::string_view in, size_t max_out, bool input_may_continue,
                           std::string& out) {
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
  size_t i = 0;
  size_t written = 0;
  while (i < in.size()) {
    auto byte = [&](size_t k) { return static_cast<unsigned char>(in[i + k]); };
    unsigned char lead = byte(0);
    size_t length = 0;  // of a valid sequence at i; 0 when the byte at i is invalid
    if (lead >= 0x01 && lead <= 0x7F) {
      length = 1;
    } else if (lead >= 0xC2 && lead <= 0xF4) {
      size_t need = lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
      // The second byte's range excludes overlong forms, surrogates and > U+10FFFF.
      unsigned char low = lead == 0xE0 ? 0xA0 : lead == 0xF0 ? 0x90 : 0x80;
      unsigned char high = lead == 0xED ? 0x9F : lead == 0xF4 ? 0x8F : 0xBF;
      size_t k = 1;
      for (; k < need && i + k < in.size(); ++k) {
        unsigned char b = byte(k);
        bool ok = k == 1 ? (b >= low && b <= high) : (b >= 0x80 && b <= 0xBF);
        if (!ok) break;
      }
      if (k == need) {
        length = need;
      } else if (i + k == in.size() && input_may_continue) {
        break;  // a character cut by the end of the input, not a bad one
      }
    }
    if (length > 0) {
      if (written + length > max_out) break;
      out.append(in.substr(i, length));
      written += length;
      i += length;
    } else {
      if (written + kReplacement.size() > max_out) break;
      out.append(kReplacement);
      written += kReplacement.size();
      i += 1;
    }
  }
  return i;
}

void OutputCapture::Append(std::string_view bytes) {
  total_ += bytes.size();
  if (kept_.size() < limit_) kept_.append(bytes.substr(0, limit_ - kept_.size()));
  if (bytes.size() >= kTailBytes) {
    tail_.assign(bytes.substr(bytes.size() - kTailBytes));
  } else {
    tail_.append(bytes);
    if (tail_.size() > 2 * kTailBytes) tail_.erase(0, tail_.size() - kTailBytes);
  }
}

std::string OutputCapture::Text() const {
  std::string text;
  bool more_followed = total_ > kept_.size();
  size_t represented = AppendSanitizedUtf8(kept_, limit_, more_followed, text);
  uint64_t dropped = total_ - represented;
  if (dropped > 0) text += "\xE2\x80\xA6[" + std::to_string(dropped) + " bytes truncated]";
  return text;
}

std::string OutputCapture::LastLine(size_t max_bytes) const {
  static constexpr std::string_view kSpace = " \t\r\n\v\f";
  std::string_view view = tail_;
  if (total_ > tail_.size()) {
    // The tail may start inside a character: skip its continuation bytes.
    size_t skip = 0;
    while (skip < 3 && skip < view.size() &&
           (static_cast<unsigned char>(view[skip]) & 0xC0) == 0x80) {
      ++skip;
    }
    view.remove_prefix(skip);
  }
  size_t end = view.find_last_not_of(kSpace);
  if (end == std::string_view::npos) return "";
  view = view.substr(0, end + 1);
  size_t newline = view.rfind('\n');
  if (newline != std::string_view::npos) view.remove_prefix(newline + 1);
  view.remove_prefix(view.find_first_not_of(kSpace));

  std::string line;
  size_t used = AppendSanitizedUtf8(view, max_bytes, false, line);
  if (used < view.size()) line += "\xE2\x80\xA6";
  return line;
}

}  // namespace taskmill
