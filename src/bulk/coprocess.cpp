#include "bulk/coprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <regex>
#include <string_view>
#include <thread>

#include "bulk/bulk_handler.h"
#include "bulk/jsonl_protocol.h"
#include "process/fd.h"
#include "process/process_groups.h"
#include "process/spawn.h"
#include "runner/subprocess.h"

extern char** environ;

namespace taskmill::bulk {
namespace {
namespace json = boost::json;

constexpr int kPollMillis = 100;  // how often a wait re-checks cancellation

// A child with three pipes. Owned by one thread.
class Child {
 public:
  static Result<std::unique_ptr<Child>> Spawn(const CoprocessSpec& spec,
                                              const std::vector<std::string>& env) {
    UniqueFd in_read, in_write, out_read, out_write, err_read, err_write;
    TASKMILL_RETURN_IF_ERROR(MakePipe(in_read, in_write));
    TASKMILL_RETURN_IF_ERROR(MakePipe(out_read, out_write));
    TASKMILL_RETURN_IF_ERROR(MakePipe(err_read, err_write));
    for (int fd : {in_write.get(), out_read.get(), err_read.get()}) {
      TASKMILL_RETURN_IF_ERROR(SetNonBlocking(fd));
    }

    std::vector<char*> argv;
    for (const auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    // As src/runner/subprocess.cpp (see process/spawn.h): an own process group, no
    // blocked or ignored signals inherited from the server (it blocks SIGTERM and
    // ignores SIGPIPE), and death with the server.
    ChildSpec request{.file = argv[0],
                      .search_path = true,
                      .argv = argv.data(),
                      .envp = envp.data(),
                      .stdin_fd = in_read.get(),
                      .stdout_fd = out_write.get(),
                      .stderr_fd = err_write.get(),
                      .dir_path = spec.working_dir.c_str()};
    pid_t pid = -1;
    int rc = SpawnChild(request, &pid);
    if (rc == ENOENT) {
      return Status::NotFound("co-process command not found: " + spec.argv[0] +
                              (spec.working_dir.empty() ? "" : " (in " + spec.working_dir + ")"));
    }
    if (rc != 0) {
      return Status::FailedPrecondition("cannot start co-process " + spec.argv[0] + ": " +
                                        ErrnoText(rc));
    }
    auto child = std::unique_ptr<Child>(new Child());
    child->pid_ = pid;
    child->stdin_ = std::move(in_write);
    child->stdout_ = std::move(out_read);
    child->stderr_ = std::move(err_read);
    return child;
  }

  ~Child() {
    if (!reaped_) {
      ::kill(-pid_, SIGKILL);
      process_groups::Untrack(pid_);
      while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
      }
    }
  }

  int stdin_fd() const { return stdin_.get(); }
  int stdout_fd() const { return stdout_.get(); }
  int stderr_fd() const { return stderr_.get(); }
  void CloseStdin() { stdin_.Reset(); }
  void CloseStdout() { stdout_.Reset(); }
  void CloseStderr() { stderr_.Reset(); }
  void Signal(int sig) {
    if (!reaped_) ::kill(-pid_, sig);
  }

  // Non-blocking write; bytes written, 0 when the pipe is full, -1 when the child
  // closed its stdin (never a SIGPIPE: process/fd.h).
  ssize_t Write(std::string_view data) { return WriteNoSigpipe(stdin_.get(), data); }

  // Waits up to `grace` for the child to exit, then kills its group; returns the wait
  // status. Also kills what is left of the group after the exit.
  int Reap(Duration grace) {
    if (reaped_) return status_;
    auto deadline = std::chrono::steady_clock::now() + grace;
    for (;;) {
      // Not reaped yet (WNOWAIT): the zombie keeps the group id from being reused
      // until what is left of the group is killed below.
      siginfo_t info{};
      int rc = ::waitid(P_PID, pid_, &info, WEXITED | WNOHANG | WNOWAIT);
      if (rc == 0 && info.si_pid == pid_) break;
      if (rc < 0 && errno != EINTR) {
        status_ = -1;  // reaped elsewhere (SIGCHLD ignored)
        process_groups::Untrack(pid_);
        reaped_ = true;
        return status_;
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        ::kill(-pid_, SIGKILL);
        deadline = std::chrono::steady_clock::time_point::max();
      }
      // The child closed its output, so it is on its way out: a short wait suffices.
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    ::kill(-pid_, SIGKILL);  // whatever it started and left behind
    process_groups::Untrack(pid_);
    while (::waitpid(pid_, &status_, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
    return status_;
  }

 private:
  Child() = default;
  pid_t pid_ = -1;
  bool reaped_ = false;
  int status_ = 0;
  UniqueFd stdin_, stdout_, stderr_;
};

std::string DescribeExit(int status) {
  if (status < 0) return "exited (status unknown)";
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "was killed by " + SignalName(WTERMSIG(status));
  return "stopped";
}

class CoprocessProcessor final : public RowProcessor {
 public:
  CoprocessProcessor(std::shared_ptr<const CoprocessSpec> spec, const RunContext& context)
      : spec_(std::move(spec)), context_(context), stderr_(spec_->stderr_limit) {
    env_ = BuildEnv();
  }
  ~CoprocessProcessor() override { Close(); }

  size_t window() const override { return static_cast<size_t>(std::max(1, spec_->pipeline)); }

  void Process(std::span<const BulkRow> rows, const json::value& state,
               std::vector<RowOutcome>& out) override {
    json::value current = state;
    size_t next = 0;
    while (next < rows.size()) {
      if (!EnsureRunning()) return;
      requests_.clear();
      for (size_t i = next; i < rows.size(); ++i) {
        AppendRowRequest(requests_, rows[i], first_request_ ? &current : nullptr);
        first_request_ = false;
      }
      size_t wanted = rows.size() - next;
      std::string failure;
      bool cancelled = false;
      size_t got = Exchange(wanted, &failure, &cancelled);
      bool broken = false;
      for (size_t k = 0; k < got && !broken; ++k) {
        auto answer = ParseAnswer(answers_[k]);
        if (!answer.ok()) {
          // The stream is out of step with the rows: this row fails, the process goes.
          last_failure_ = "co-process protocol error: " + answer.status().message() +
                          " (answer: " + Shorten(answers_[k]) + ")";
          out.push_back(Crashed(last_failure_));
          Kill();
          next += k + 1;
          broken = true;
          continue;
        }
        consecutive_crashes_ = 0;
        if (answer->state()) current = *answer->state();
        out.push_back({std::move(*answer), false});
      }
      if (broken) {
        if (!CountCrash()) return;
        continue;
      }
      if (got == wanted) return;
      if (cancelled) return;
      // The process died (or closed its output) before answering row `next + got`.
      out.push_back(Crashed(failure));
      next += got + 1;
      if (!CountCrash()) return;
    }
  }

  RowOutcome Iterate(const json::value& state) override {
    if (!EnsureRunning()) return Crashed(fatal_.message());
    requests_.clear();
    AppendIterateRequest(requests_, first_request_ ? &state : nullptr);
    first_request_ = false;
    return ExchangeOne();
  }

  std::optional<RowOutcome> Finish(const BulkEnd& end) override {
    if (!fatal_.ok() || context_.cancelled()) return std::nullopt;
    if (!EnsureRunning()) return std::nullopt;
    requests_.clear();
    AppendFinishRequest(requests_, end.progress, first_request_ ? &end.state : nullptr);
    first_request_ = false;
    RowOutcome outcome = ExchangeOne();
    if (outcome.crashed) outcome.result = BulkResult::Error("finish: " + outcome.result.message());
    return outcome;
  }

  void Cleanup(const BulkEnd&) override {}
  Status fatal() const override { return fatal_; }
  std::string Output() override { return stderr_.Text(); }

  void Close() override {
    if (!child_) return;
    // End of input is the polite way to stop: the process finishes and exits.
    child_->CloseStdin();
    auto deadline = std::chrono::steady_clock::now() + spec_->kill_grace;
    bool terminated = false;
    while (child_->stdout_fd() >= 0 || child_->stderr_fd() >= 0) {
      if (std::chrono::steady_clock::now() >= deadline) {
        if (terminated) break;
        child_->Signal(SIGTERM);
        terminated = true;
        deadline = std::chrono::steady_clock::now() + spec_->kill_grace;
      }
      Drain(kPollMillis);
    }
    child_->Reap(terminated ? Duration{0} : spec_->kill_grace);
    child_.reset();
  }

 private:
  std::vector<std::string> BuildEnv() const {
    std::vector<std::pair<std::string, std::string>> vars;
    for (char** e = environ; e && *e; ++e) {
      std::string entry(*e);
      auto eq = entry.find('=');
      if (eq == std::string::npos) continue;
      vars.emplace_back(entry.substr(0, eq), entry.substr(eq + 1));
    }
    const Run& run = context_.run();
    std::vector<std::pair<std::string, std::string>> ours = spec_->env;
    ours.emplace_back("TASKMILL_PROTOCOL", "jsonl");
    ours.emplace_back("TASKMILL_RUN_ID", run.id);
    ours.emplace_back("TASKMILL_QUEUE", run.queue);
    ours.emplace_back("TASKMILL_FUNCTION", run.function);
    ours.emplace_back("TASKMILL_ATTEMPT", std::to_string(run.attempt));
    ours.emplace_back("TASKMILL_ACCOUNT_ID", run.account_id);
    ours.emplace_back("TASKMILL_AUTH_ACCOUNT_ID", run.auth_account_id);
    ours.emplace_back("TASKMILL_ARGS", json::serialize(run.args));
    for (auto& [name, value] : ours) {
      auto it =
          // `key`, not the binding: clang before 16 cannot capture a structured binding.
          std::find_if(vars.begin(), vars.end(),
                       [&key = name](const auto& v) { return v.first == key; });
      if (it != vars.end()) {
        it->second = value;
      } else {
        vars.emplace_back(name, value);
      }
    }
    std::vector<std::string> env;
    for (auto& [name, value] : vars) env.push_back(name + "=" + value);
    return env;
  }

  bool EnsureRunning() {
    if (!fatal_.ok()) return false;
    if (child_) return true;
    auto child = Child::Spawn(*spec_, env_);
    if (!child.ok()) {
      fatal_ = child.status();
      return false;
    }
    child_ = std::move(*child);
    first_request_ = true;
    stdout_buffer_.clear();
    return true;
  }

  static RowOutcome Crashed(std::string message) {
    return {BulkResult::Error(std::move(message)), true};
  }

  static std::string Shorten(const std::string& text) {
    return text.size() <= 120 ? text : text.substr(0, 120) + "...";
  }

  // Counts a crash; false once there were too many in a row (fatal_ is then set).
  bool CountCrash() {
    if (++consecutive_crashes_ > spec_->max_restarts) {
      fatal_ = Status::FailedPrecondition(
          "co-process " + spec_->argv[0] + " failed " + std::to_string(consecutive_crashes_) +
          " times in a row (max_restarts " + std::to_string(spec_->max_restarts) +
          "); last: " + last_failure_);
      return false;
    }
    return true;
  }

  void Kill() {
    if (!child_) return;
    child_->Signal(SIGKILL);
    child_->Reap(Duration{0});
    DrainStderr(std::chrono::milliseconds(500));
    child_.reset();
  }

  // Reads what is left on stderr (the last line names the failure) for at most
  // `limit`: a grandchild that left the group could hold the pipe open forever.
  void DrainStderr(Duration limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (child_->stderr_fd() >= 0 && std::chrono::steady_clock::now() < deadline) {
      Drain(kPollMillis);
    }
  }

  RowOutcome ExchangeOne() {
    std::string failure;
    bool cancelled = false;
    if (Exchange(1, &failure, &cancelled) == 1) {
      auto answer = ParseAnswer(answers_[0]);
      if (answer.ok()) {
        consecutive_crashes_ = 0;
        return {std::move(*answer), false};
      }
      Kill();
      failure = "co-process protocol error: " + answer.status().message() +
                " (answer: " + Shorten(answers_[0]) + ")";
      last_failure_ = failure;
    } else if (cancelled) {
      return Crashed("stopped");
    }
    CountCrash();
    return Crashed(failure);
  }

  // Sends requests_ and collects up to `wanted` answer lines into answers_. Returns
  // how many came. When fewer: *cancelled, or the process died and *failure says how
  // (the process is then gone).
  size_t Exchange(size_t wanted, std::string* failure, bool* cancelled) {
    answers_.clear();
    size_t written = 0;
    bool stdin_open = true;
    while (answers_.size() < wanted) {
      if (context_.cancelled()) {
        Kill();
        *cancelled = true;
        return answers_.size();
      }
      pollfd fds[3];
      nfds_t n = 0;
      int in_at = -1, out_at = -1, err_at = -1;
      if (stdin_open && written < requests_.size() && child_->stdin_fd() >= 0) {
        in_at = static_cast<int>(n);
        fds[n++] = {child_->stdin_fd(), POLLOUT, 0};
      }
      if (child_->stdout_fd() >= 0) {
        out_at = static_cast<int>(n);
        fds[n++] = {child_->stdout_fd(), POLLIN, 0};
      }
      if (child_->stderr_fd() >= 0) {
        err_at = static_cast<int>(n);
        fds[n++] = {child_->stderr_fd(), POLLIN, 0};
      }
      if (out_at < 0) break;  // no more answers can come
      int ready = ::poll(fds, n, kPollMillis);
      if (ready < 0 && errno != EINTR) break;
      if (ready <= 0) continue;
      if (in_at >= 0 && (fds[in_at].revents & (POLLOUT | POLLERR | POLLHUP))) {
        ssize_t w = child_->Write(std::string_view(requests_).substr(written));
        if (w < 0) {
          stdin_open = false;  // it stopped reading: collect what it answered, then EOF
        } else {
          written += static_cast<size_t>(w);
        }
      }
      if (err_at >= 0 && (fds[err_at].revents & (POLLIN | POLLHUP | POLLERR))) ReadStderr();
      if (fds[out_at].revents & (POLLIN | POLLHUP | POLLERR)) {
        if (!ReadStdout()) {
          child_->CloseStdout();
        }
      }
    }
    if (answers_.size() >= wanted) return wanted;
    // Output closed: the process ended (or will). Reap it for its exit status.
    int status = child_->Reap(spec_->kill_grace);
    DrainStderr(std::chrono::milliseconds(500));
    std::string last = stderr_.LastLine();
    *failure = "co-process " + spec_->argv[0] + " " + DescribeExit(status) + " before answering" +
               (last.empty() ? "" : ": " + last);
    last_failure_ = *failure;
    child_.reset();
    return answers_.size();
  }

  // Reads available stdout; splits complete lines into answers_. False at EOF.
  bool ReadStdout() {
    char buf[64 << 10];
    for (;;) {
      ssize_t r = ::read(child_->stdout_fd(), buf, sizeof buf);
      if (r > 0) {
        size_t scan_from = stdout_buffer_.size();
        stdout_buffer_.append(buf, static_cast<size_t>(r));
        size_t start = 0;
        for (size_t i = scan_from; i < stdout_buffer_.size(); ++i) {
          if (stdout_buffer_[i] == '\n') {
            answers_.emplace_back(stdout_buffer_, start, i - start);
            start = i + 1;
          }
        }
        stdout_buffer_.erase(0, start);
        continue;
      }
      if (r == 0) return false;
      if (errno == EINTR) continue;
      return errno == EAGAIN || errno == EWOULDBLOCK;
    }
  }

  void ReadStderr() {
    char buf[16 << 10];
    for (;;) {
      ssize_t r = ::read(child_->stderr_fd(), buf, sizeof buf);
      if (r > 0) {
        stderr_.Append(std::string_view(buf, static_cast<size_t>(r)));
        continue;
      }
      if (r < 0 && errno == EINTR) continue;
      if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) child_->CloseStderr();
      return;
    }
  }

  // Waits up to `millis` for output and reads it (stdout is discarded while closing).
  void Drain(int millis) {
    pollfd fds[2];
    nfds_t n = 0;
    int out_at = -1, err_at = -1;
    if (child_->stdout_fd() >= 0) {
      out_at = static_cast<int>(n);
      fds[n++] = {child_->stdout_fd(), POLLIN, 0};
    }
    if (child_->stderr_fd() >= 0) {
      err_at = static_cast<int>(n);
      fds[n++] = {child_->stderr_fd(), POLLIN, 0};
    }
    if (n == 0) return;
    if (::poll(fds, n, millis) <= 0) return;
    if (err_at >= 0 && fds[err_at].revents) ReadStderr();
    if (out_at >= 0 && fds[out_at].revents) {
      char buf[16 << 10];
      ssize_t r = ::read(child_->stdout_fd(), buf, sizeof buf);
      if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) child_->CloseStdout();
    }
  }

  std::shared_ptr<const CoprocessSpec> spec_;
  const RunContext& context_;
  std::vector<std::string> env_;
  std::unique_ptr<Child> child_;
  bool first_request_ = true;  // the next request is the process's first
  int consecutive_crashes_ = 0;
  std::string last_failure_;
  Status fatal_;
  OutputCapture stderr_;
  std::string requests_;
  std::vector<std::string> answers_;
  std::string stdout_buffer_;  // an answer line not yet complete
};

}  // namespace

std::unique_ptr<RowProcessor> MakeCoprocessProcessor(std::shared_ptr<const CoprocessSpec> spec,
                                                     const RunContext& context) {
  return std::make_unique<CoprocessProcessor>(std::move(spec), context);
}

namespace {
// The largest count a verifier may give a repetition ({m}, {m,}, {m,n}). std::regex
// unrolls a counted repetition into that many copies, and libstdc++'s parser overflows
// an int on a count past INT_MAX (undefined behaviour, found by the config fuzzer), so
// counts are checked before the pattern reaches it.
constexpr long kMaxRepetition = 1000;
constexpr size_t kMaxPatternSize = 512;  // characters of one verifier pattern

// The first repetition count over kMaxRepetition in `pattern`, if any. An escaped
// brace (\{) is a literal and is skipped.
std::optional<std::string> OversizedRepetition(std::string_view pattern) {
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '\\') {
      ++i;
      continue;
    }
    if (pattern[i] != '{') continue;
    for (size_t j = i + 1; j < pattern.size() && pattern[j] != '}'; ++j) {
      if (pattern[j] < '0' || pattern[j] > '9') continue;
      size_t end = j;
      while (end < pattern.size() && pattern[end] >= '0' && pattern[end] <= '9') ++end;
      std::string_view digits = pattern.substr(j, end - j);
      if (digits.size() > 4 || std::stol(std::string(digits)) > kMaxRepetition) {
        return std::string(digits);
      }
      j = end - 1;
    }
  }
  return std::nullopt;
}
}  // namespace

Result<std::map<std::string, BulkVerifier, std::less<>>> CompileVerifiers(
    const std::map<std::string, std::string, std::less<>>& patterns) {
  std::map<std::string, BulkVerifier, std::less<>> out;
  for (const auto& [column, pattern] : patterns) {
    // std::regex parses and matches by recursion: a bounded pattern bounds its depth.
    if (pattern.size() > kMaxPatternSize) {
      return Status::InvalidArgument("verifier of column '" + column + "': the pattern has " +
                                     std::to_string(pattern.size()) + " characters, over " +
                                     std::to_string(kMaxPatternSize));
    }
    if (auto count = OversizedRepetition(pattern)) {
      return Status::InvalidArgument("verifier of column '" + column + "': the repetition count " +
                                     *count + " is over " + std::to_string(kMaxRepetition));
    }
    std::shared_ptr<const std::regex> re;
    try {
      re = std::make_shared<const std::regex>(pattern, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      return Status::InvalidArgument("verifier of column '" + column + "': '" + pattern +
                                     "' is not a valid regular expression (" + e.what() + ")");
    }
    out[column] = [re](std::string_view value) {
      return std::regex_match(value.begin(), value.end(), *re);
    };
  }
  return out;
}

}  // namespace taskmill::bulk

namespace taskmill {

Status CoprocessSpec::Validate() const {
  auto error = [&](const std::string& message) {
    return Status::InvalidArgument("co-process function '" + info.name + "': " + message);
  };
  if (argv.empty() || argv[0].empty()) return error("process must name the program to run");
  if (pipeline < 1 || pipeline > 10000) return error("pipeline must be between 1 and 10000");
  if (max_restarts < 0) return error("max_restarts must not be negative");
  if (kill_grace.count() < 0) return error("kill_grace must not be negative");
  auto verifiers_compiled = bulk::CompileVerifiers(verifiers);
  if (!verifiers_compiled.ok()) return error(verifiers_compiled.status().message());
  bulk::BulkSpec spec{info,          header,         std::move(*verifiers_compiled),
                      stop_on_error, progress_every, wait_after_row};
  return bulk::ValidateSpec(spec);
}

Status RegisterCoprocessFunction(FunctionRegistry& registry, std::shared_ptr<BulkRuntime> runtime,
                                 CoprocessSpec spec) {
  if (!runtime) return Status::InvalidArgument("RegisterCoprocessFunction: runtime is null");
  TASKMILL_RETURN_IF_ERROR(runtime->options().Validate());
  TASKMILL_RETURN_IF_ERROR(spec.Validate());
  spec.info.handler_kind = "coprocess";
  auto verifiers = bulk::CompileVerifiers(spec.verifiers);
  if (!verifiers.ok()) return verifiers.status();
  bulk::BulkSpec bulk_spec{spec.info,          spec.header,         std::move(*verifiers),
                           spec.stop_on_error, spec.progress_every, spec.wait_after_row};
  FunctionInfo info = spec.info;
  auto shared = std::make_shared<const CoprocessSpec>(std::move(spec));
  auto factory = [shared](const RunContext& context) {
    return bulk::MakeCoprocessProcessor(shared, context);
  };
  return registry.Register(std::move(info), std::make_shared<bulk::BulkHandler>(
                                                std::move(runtime), std::move(bulk_spec), factory));
}

}  // namespace taskmill
