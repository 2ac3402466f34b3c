// Tests of the command handler with real processes. Nothing here sleeps to wait for
// a child: tests wait on events (a line in a FIFO the child writes, a pidfd becoming
// readable on exit) with generous deadlines that only matter when something is broken.
#include "runner/command_handler.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "runner/subprocess.h"

namespace taskmill {
namespace {
namespace json = boost::json;
namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;
using SteadyClock = std::chrono::steady_clock;

// Only reached when the code under test is broken; a healthy run takes milliseconds.
constexpr auto kGenerous = seconds(30);

Run MakeRun(json::value args = json::array()) {
  Run run;
  run.id = "run-42";
  run.queue = "reports";
  run.function = "report.build";
  run.account_id = "acct-7";
  run.attempt = 2;
  run.args = std::move(args);
  return run;
}

CommandSpec Spec(std::vector<std::string> argv) {
  CommandSpec spec;
  spec.argv = std::move(argv);
  return spec;
}

HandlerOutcome Execute(const CommandSpec& spec, const Run& run = MakeRun(),
                       std::shared_ptr<CancellationToken> token = nullptr) {
  if (!token) token = std::make_shared<CancellationToken>();
  RunContext ctx(run, token);
  return MakeCommandHandler(spec)->Execute(ctx);
}

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "taskmill-cmd-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  std::string Path(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

  std::string WriteFile(const std::string& name, const std::string& content, mode_t mode) {
    std::string file = Path(name);
    std::ofstream(file) << content;
    ::chmod(file.c_str(), mode);
    return file;
  }

 private:
  std::string path_;
};

// A FIFO the child writes one line to ("echo $$ > fifo"), so the test knows the child
// is up and learns its pids without polling the file system.
class Fifo {
 public:
  explicit Fifo(std::string path) : path_(std::move(path)) {
    EXPECT_EQ(::mkfifo(path_.c_str(), 0600), 0);
    // Opened first and non-blocking, so the child's open for writing never waits.
    fd_ = ::open(path_.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    EXPECT_GE(fd_, 0);
  }
  ~Fifo() { ::close(fd_); }
  const std::string& path() const { return path_; }

  // The first line written, or "" when none arrives within the deadline.
  std::string ReadLine(std::chrono::milliseconds timeout = kGenerous) {
    auto deadline = SteadyClock::now() + timeout;
    std::string data;
    while (data.find('\n') == std::string::npos) {
      auto left = std::chrono::duration_cast<milliseconds>(deadline - SteadyClock::now());
      if (left.count() <= 0) return "";
      pollfd pfd{fd_, POLLIN, 0};
      if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[256];
      ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n > 0) data.append(buf, n);
      if (n == 0) return "";  // the writer closed without a full line
    }
    return data.substr(0, data.find('\n'));
  }

 private:
  std::string path_;
  int fd_ = -1;
};

// True when `pid` has exited (zombie or gone) within the deadline. Works for processes
// that are not our children, such as orphaned grandchildren.
bool WaitForExit(pid_t pid, std::chrono::milliseconds timeout = kGenerous) {
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) return errno == ESRCH;
  pollfd pfd{pidfd, POLLIN, 0};
  int ready = ::poll(&pfd, 1, static_cast<int>(timeout.count()));
  ::close(pidfd);
  return ready == 1;
}

// True when `pid`, a child of this process, has been reaped: no zombie left behind.
bool Reaped(pid_t pid) {
  int status;
  return ::waitpid(pid, &status, WNOHANG) == -1 && errno == ECHILD;
}

int OpenFdCount() {
  int count = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator("/proc/self/fd")) ++count;
  return count;
}

// ---- completion, arguments, stdin, environment ---------------------------------

TEST(CommandHandlerTest, EchoGetsTheRunArgsAppended) {
  HandlerOutcome outcome =
      Execute(Spec({"echo", "hello"}), MakeRun(json::array{"big world", 42, -7, true, 1.5, 1e20}));
  EXPECT_EQ(outcome.status, RunStatus::kCompleted) << outcome.error;
  EXPECT_EQ(outcome.output, "hello big world 42 -7 true 1.5 1e+20\n");
  EXPECT_EQ(outcome.result, (json::value{{"exit_code", 0}}));
  EXPECT_EQ(outcome.error, "");
}

TEST(CommandHandlerTest, NullArgsAppendNothing) {
  EXPECT_EQ(Execute(Spec({"echo", "only"}), MakeRun(nullptr)).output, "only\n");
}

TEST(CommandHandlerTest, NonArrayArgsFailTheAttempt) {
  HandlerOutcome outcome = Execute(Spec({"echo"}), MakeRun(json::object{{"a", 1}}));
  EXPECT_EQ(outcome.status, RunStatus::kFailed);
  EXPECT_EQ(outcome.error,
            "args must be a JSON array of strings, numbers or booleans to append to the "
            "command line; got an object");
}

TEST(CommandHandlerTest, NestedOrNullArgsNameTheElement) {
  HandlerOutcome nested = Execute(Spec({"echo"}), MakeRun(json::array{"a", json::array{1}}));
  EXPECT_EQ(nested.status, RunStatus::kFailed);
  EXPECT_EQ(nested.error, "args[1] is an array; accepted: string, number, boolean");
  HandlerOutcome null = Execute(Spec({"echo"}), MakeRun(json::array{nullptr}));
  EXPECT_EQ(null.error, "args[0] is null; accepted: string, number, boolean");
}

TEST(CommandHandlerTest, StdinCarriesTheRunAsOneJsonLineThenEof) {
  taskmill::Run run = MakeRun();
  run.data = json::object{{"note", "caf\xC3\xA9 \"quoted\"\nline"}};
  // cat ends only when stdin is closed, so completing proves the close too.
  HandlerOutcome outcome = Execute(Spec({"cat"}), run);
  ASSERT_EQ(outcome.status, RunStatus::kCompleted) << outcome.error;
  EXPECT_EQ(outcome.output, json::serialize(ToJson(run)) + "\n");
  EXPECT_EQ(json::parse(outcome.output).at("id"), "run-42");
}

TEST(CommandHandlerTest, ChildThatNeverReadsLargeStdinCompletes) {
  // Far more than a pipe holds: writing it blindly would block, and the write after
  // the child exits would raise SIGPIPE and kill this test process.
  taskmill::Run run = MakeRun();
  run.data = json::object{{"blob", std::string(4 << 20, 'x')}};
  HandlerOutcome outcome = Execute(Spec({"true"}), run);
  EXPECT_EQ(outcome.status, RunStatus::kCompleted) << outcome.error;
}

TEST(CommandHandlerTest, ChildClosingStdinWhileRunningDoesNotRaiseSigpipe) {
  // The child lives on after closing stdin, so the handler's next write meets a pipe
  // without a reader (EPIPE) while it still supervises the child.
  taskmill::Run run = MakeRun();
  run.data = json::object{{"blob", std::string(4 << 20, 'x')}};
  CommandSpec spec = Spec({"/bin/sh", "-c", "exec 0<&-; head -c 50000000 /dev/zero"});
  spec.output_limit = 0;
  HandlerOutcome outcome = Execute(spec, run);
  EXPECT_EQ(outcome.status, RunStatus::kCompleted) << outcome.error;
  EXPECT_EQ(outcome.output, "\xE2\x80\xA6[50000000 bytes truncated]");
}

TEST(CommandHandlerTest, EnvironmentHasRunIdentitySpecAndInheritedVariables) {
  ::setenv("TASKMILL_TEST_INHERITED", "from-server", 1);
  ::setenv("TASKMILL_TEST_OVERRIDDEN", "from-server", 1);
  CommandSpec spec = Spec({"/bin/sh", "-c",
                           "echo \"$TASKMILL_RUN_ID|$TASKMILL_QUEUE|$TASKMILL_ATTEMPT|"
                           "$TASKMILL_ACCOUNT_ID|$TASKMILL_TEST_INHERITED|"
                           "$TASKMILL_TEST_OVERRIDDEN|$GREETING\""});
  spec.env = {{"TASKMILL_TEST_OVERRIDDEN", "from-spec"}, {"GREETING", "hi there"}};
  HandlerOutcome outcome = Execute(spec);
  ::unsetenv("TASKMILL_TEST_INHERITED");
  ::unsetenv("TASKMILL_TEST_OVERRIDDEN");
  EXPECT_EQ(outcome.output, "run-42|reports|2|acct-7|from-server|from-spec|hi there\n");
}

TEST(CommandHandlerTest, ProgramIsLookedUpInTheSpecPath) {
  TempDir dir;
  dir.WriteFile("taskmill-probe", "#!/bin/sh\necho probe \"$@\"\n", 0755);
  CommandSpec spec = Spec({"taskmill-probe", "a"});
  spec.env = {{"PATH", dir.path() + ":/usr/bin:/bin"}};
  HandlerOutcome outcome = Execute(spec);
  EXPECT_EQ(outcome.status, RunStatus::kCompleted) << outcome.error;
  EXPECT_EQ(outcome.output, "probe a\n");
}

TEST(CommandHandlerTest, StdoutAndStderrAreInterleavedInOrder) {
  HandlerOutcome outcome =
      Execute(Spec({"/bin/sh", "-c", "echo out1; echo err1 >&2; echo out2; echo err2 >&2"}));
  EXPECT_EQ(outcome.output, "out1\nerr1\nout2\nerr2\n");
}

TEST(CommandHandlerTest, ShellTrueRunsAScriptWithArgvAndArgsAsPositionals) {
  CommandSpec spec = Spec({"echo \"$0:$1:$2\" | tr a-z A-Z", "first"});
  spec.shell = true;
  HandlerOutcome outcome = Execute(spec, MakeRun(json::array{"second"}));
  EXPECT_EQ(outcome.status, RunStatus::kCompleted) << outcome.error;
  EXPECT_EQ(outcome.output, "SH:FIRST:SECOND\n");
}

TEST(CommandHandlerTest, WithoutShellMetacharactersAreLiteral) {
  HandlerOutcome outcome = Execute(Spec({"echo", "$HOME", "a;b", "*"}));
  EXPECT_EQ(outcome.output, "$HOME a;b *\n");
}

TEST(CommandHandlerTest, WorkingDirIsWhereTheCommandRunsAndFindsRelativePrograms) {
  TempDir dir;
  dir.WriteFile("here.sh", "#!/bin/sh\npwd\n", 0755);
  CommandSpec spec = Spec({"./here.sh"});
  spec.working_dir = dir.path();
  HandlerOutcome outcome = Execute(spec);
  EXPECT_EQ(outcome.status, RunStatus::kCompleted) << outcome.error;
  EXPECT_EQ(outcome.output, fs::canonical(dir.path()).string() + "\n");
}

TEST(CommandHandlerTest, OnlyStdioDescriptorsReachTheChild) {
  // Without close-on-exec, as a careless library in the server might open it.
  int leaky = ::open("/dev/null", O_RDONLY);
  ASSERT_GE(leaky, 3);
  HandlerOutcome outcome = Execute(Spec({"ls", "/proc/self/fd"}));
  ::close(leaky);
  // 3 is the directory ls itself opened to list /proc/self/fd.
  EXPECT_EQ(outcome.output, "0\n1\n2\n3\n");
}

// ---- failures -------------------------------------------------------------------

TEST(CommandHandlerTest, NonZeroExitFailsWithCodeAndLastOutputLine) {
  HandlerOutcome outcome = Execute(
      Spec({"/bin/sh", "-c", "echo first; echo '  disk quota exceeded  ' >&2; echo; exit 3"}));
  EXPECT_EQ(outcome.status, RunStatus::kFailed);
  EXPECT_EQ(outcome.error, "exit code 3: disk quota exceeded");
  EXPECT_EQ(outcome.error_kind, "");
  EXPECT_EQ(outcome.output, "first\n  disk quota exceeded  \n\n");
  EXPECT_EQ(outcome.result, (json::value{{"exit_code", 3}}));
}

TEST(CommandHandlerTest, NonZeroExitWithoutOutputNamesOnlyTheCode) {
  HandlerOutcome outcome = Execute(Spec({"false"}));
  EXPECT_EQ(outcome.status, RunStatus::kFailed);
  EXPECT_EQ(outcome.error, "exit code 1");
}

TEST(CommandHandlerTest, DeathBySignalIsNamed) {
  HandlerOutcome outcome = Execute(Spec({"/bin/sh", "-c", "kill -9 $$"}));
  EXPECT_EQ(outcome.status, RunStatus::kFailed);
  EXPECT_EQ(outcome.error, "killed by signal 9 (SIGKILL)");
}

TEST(CommandHandlerTest, CommandNotFound) {
  HandlerOutcome outcome = Execute(Spec({"nosuchcmd-taskmill"}));
  EXPECT_EQ(outcome.status, RunStatus::kFailed);
  EXPECT_EQ(outcome.error, "command not found: nosuchcmd-taskmill");
  EXPECT_EQ(outcome.error_kind, "");
  EXPECT_EQ(outcome.output, "");
}

TEST(CommandHandlerTest, CommandPathNotFound) {
  EXPECT_EQ(Execute(Spec({"/nonexistent/bin/tool"})).error,
            "command not found: /nonexistent/bin/tool");
}

TEST(CommandHandlerTest, CommandNotExecutable) {
  TempDir dir;
  std::string file = dir.WriteFile("plain.txt", "not a program\n", 0644);
  HandlerOutcome outcome = Execute(Spec({file}));
  EXPECT_EQ(outcome.status, RunStatus::kFailed);
  EXPECT_EQ(outcome.error, "command not executable: " + file + " (Permission denied)");
  EXPECT_EQ(Execute(Spec({dir.path()})).error,
            "command not executable: " + dir.path() + " (Is a directory)");
}

TEST(CommandHandlerTest, MissingInterpreterIsReportedAsSuch) {
  TempDir dir;
  std::string script = dir.WriteFile("s.sh", "#!/nonexistent/interpreter\n", 0755);
  EXPECT_EQ(Execute(Spec({script})).error,
            "cannot execute " + script +
                ": No such file or directory (is its #! interpreter installed?)");
}

TEST(CommandHandlerTest, BadWorkingDirFailsBeforeStarting) {
  CommandSpec spec = Spec({"pwd"});
  spec.working_dir = "/nonexistent/dir";
  HandlerOutcome outcome = Execute(spec);
  EXPECT_EQ(outcome.status, RunStatus::kFailed);
  EXPECT_EQ(outcome.error,
            "working directory not usable: /nonexistent/dir (No such file or directory)");
}

TEST(CommandHandlerTest, InvalidSpecFailsEveryAttempt) {
  EXPECT_EQ(Execute(Spec({})).error, "command: argv is empty; give the program");
  CommandSpec spec = Spec({"echo"});
  spec.env = {{"A=B", "c"}};
  EXPECT_EQ(Execute(spec).error,
            "command: env[0] name 'A=B' is not a variable name (non-empty, without '=')");
}

// ---- output limit ---------------------------------------------------------------

TEST(CommandHandlerTest, OutputBeyondTheLimitIsCountedAndMarked) {
  CommandSpec spec = Spec({"printf", "abcdefghij"});
  spec.output_limit = 4;
  EXPECT_EQ(Execute(spec).output, "abcd\xE2\x80\xA6[6 bytes truncated]");
}

TEST(CommandHandlerTest, HundredMegabytesOfOutputStayWithinTheLimit) {
  rusage before{};
  ::getrusage(RUSAGE_SELF, &before);
  HandlerOutcome outcome = Execute(Spec({"head", "-c", "100000000", "/dev/zero"}));
  rusage after{};
  ::getrusage(RUSAGE_SELF, &after);

  // Completing at all shows the pipe was drained past the limit (head would block).
  ASSERT_EQ(outcome.status, RunStatus::kCompleted) << outcome.error;
  // NUL bytes are stored as U+FFFD (3 bytes), so 1 MiB holds 349525 of them.
  std::string marker = "\xE2\x80\xA6[" + std::to_string(100000000 - 349525) + " bytes truncated]";
  ASSERT_EQ(outcome.output.size(), 349525 * 3 + marker.size());
  EXPECT_EQ(outcome.output.substr(0, 3), "\xEF\xBF\xBD");
  EXPECT_EQ(outcome.output.substr(outcome.output.size() - marker.size()), marker);
  // ru_maxrss is in KiB; keeping the whole output would add over 100 MB.
  EXPECT_LT(after.ru_maxrss - before.ru_maxrss, 32 * 1024);
}

TEST(CommandHandlerTest, FailureMessageUsesTheLastLineEvenPastTheLimit) {
  CommandSpec spec = Spec({"/bin/sh", "-c",
                           "echo start; head -c 5000 /dev/zero; echo; "
                           "echo 'the real reason'; exit 4"});
  spec.output_limit = 16;
  HandlerOutcome outcome = Execute(spec);
  EXPECT_EQ(outcome.error, "exit code 4: the real reason");
  EXPECT_LE(outcome.output.size(), 16u + std::string("\xE2\x80\xA6[99999 bytes truncated]").size());
}

// ---- cancellation and process groups ---------------------------------------------

struct Started {
  std::future<HandlerOutcome> outcome;
  std::shared_ptr<CancellationToken> token;
};

// Runs the spec on another thread, as the runner does.
Started Start(CommandSpec spec) {
  auto token = std::make_shared<CancellationToken>();
  auto outcome = std::async(std::launch::async, [spec = std::move(spec), token] {
    return Execute(spec, MakeRun(), token);
  });
  return {std::move(outcome), token};
}

TEST(CommandHandlerTest, CancelStopsASleepWithSigtermAndReapsIt) {
  TempDir dir;
  Fifo fifo(dir.Path("started"));
  CommandSpec spec = Spec({"/bin/sh", "-c", "echo $$ > " + fifo.path() + "; exec sleep 1000"});
  spec.kill_grace = seconds(60);  // far beyond the wait below: SIGTERM must do it
  Started started = Start(spec);
  pid_t pid = std::stoi(fifo.ReadLine());

  started.token->Cancel("operator");
  ASSERT_EQ(started.outcome.wait_for(kGenerous), std::future_status::ready);
  HandlerOutcome outcome = started.outcome.get();
  EXPECT_EQ(outcome.status, RunStatus::kFailed);
  EXPECT_EQ(outcome.error_kind, "stopped");
  EXPECT_EQ(outcome.error, "stopped: operator");
  EXPECT_TRUE(Reaped(pid));
}

TEST(CommandHandlerTest, ChildIgnoringSigtermGetsSigkillAfterTheGrace) {
  TempDir dir;
  Fifo fifo(dir.Path("started"));
  CommandSpec spec =
      Spec({"/bin/sh", "-c", "trap '' TERM; sleep 1000 & echo $$ $! > " + fifo.path() + "; wait"});
  spec.kill_grace = milliseconds(200);
  Started started = Start(spec);
  std::istringstream pids(fifo.ReadLine());
  pid_t shell_pid = 0, sleep_pid = 0;
  pids >> shell_pid >> sleep_pid;
  ASSERT_GT(sleep_pid, 0);

  auto cancelled_at = SteadyClock::now();
  started.token->Cancel("timeout");
  ASSERT_EQ(started.outcome.wait_for(kGenerous), std::future_status::ready);
  auto elapsed = SteadyClock::now() - cancelled_at;
  HandlerOutcome outcome = started.outcome.get();
  EXPECT_EQ(outcome.error_kind, "stopped");
  EXPECT_EQ(outcome.error, "stopped: timeout");
  EXPECT_GE(elapsed, milliseconds(200));  // SIGKILL never comes before the grace ends
  EXPECT_TRUE(Reaped(shell_pid));
  EXPECT_TRUE(WaitForExit(sleep_pid));
}

TEST(CommandHandlerTest, CancelKillsGrandchildrenInTheGroup) {
  TempDir dir;
  Fifo fifo(dir.Path("started"));
  CommandSpec spec = Spec({"/bin/sh", "-c", "sleep 1000 & echo $! > " + fifo.path() + "; wait"});
  Started started = Start(spec);
  pid_t grandchild = std::stoi(fifo.ReadLine());

  started.token->Cancel("operator");
  ASSERT_EQ(started.outcome.wait_for(kGenerous), std::future_status::ready);
  EXPECT_EQ(started.outcome.get().error_kind, "stopped");
  EXPECT_TRUE(WaitForExit(grandchild));
}

TEST(CommandHandlerTest, BackgroundProcessHoldingTheOutputDoesNotOutliveTheAttempt) {
  // The shell exits at once, but its background sleep still holds the output pipe.
  HandlerOutcome outcome = Execute(Spec({"/bin/sh", "-c", "sleep 1000 & echo $!"}));
  ASSERT_EQ(outcome.status, RunStatus::kCompleted) << outcome.error;
  EXPECT_TRUE(WaitForExit(std::stoi(outcome.output)));
}

TEST(CommandHandlerTest, CancelledBeforeStartRunsNothing) {
  TempDir dir;
  auto token = std::make_shared<CancellationToken>();
  token->Cancel("shutdown");
  HandlerOutcome outcome = Execute(Spec({"touch", dir.Path("ran")}), MakeRun(), token);
  EXPECT_EQ(outcome.error, "stopped: shutdown");
  EXPECT_FALSE(fs::exists(dir.Path("ran")));
}

// ---- concurrency and resources ---------------------------------------------------

TEST(CommandHandlerTest, ConcurrentAttemptsKeepTheirOwnOutput) {
  auto handler =
      MakeCommandHandler(Spec({"/bin/sh", "-c", "cat >/dev/null; echo $TASKMILL_RUN_ID"}));
  std::vector<std::future<std::string>> outputs;
  for (int i = 0; i < 8; ++i) {
    outputs.push_back(std::async(std::launch::async, [handler, i] {
      taskmill::Run run = MakeRun();
      run.id = "run-" + std::to_string(i);
      RunContext ctx(run, std::make_shared<CancellationToken>());
      return handler->Execute(ctx).output;
    }));
  }
  for (int i = 0; i < 8; ++i) EXPECT_EQ(outputs[i].get(), "run-" + std::to_string(i) + "\n");
}

TEST(CommandHandlerTest, NoDescriptorIsLeakedByAnyOutcome) {
  int before = OpenFdCount();
  Execute(Spec({"echo"}));
  Execute(Spec({"false"}));
  Execute(Spec({"nosuchcmd-taskmill"}));
  CommandSpec bad_dir = Spec({"pwd"});
  bad_dir.working_dir = "/nonexistent";
  Execute(bad_dir);
  EXPECT_EQ(OpenFdCount(), before);
}

// ---- OutputCapture ----------------------------------------------------------------

TEST(OutputCaptureTest, InvalidUtf8AndNulBecomeReplacementCharacters) {
  OutputCapture capture(100);
  capture.Append(std::string("ok \xC3\xA9 \xFF x\0y \xED\xA0\x80", 15));
  EXPECT_EQ(capture.Text(),
            "ok \xC3\xA9 \xEF\xBF\xBD x\xEF\xBF\xBDy \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(OutputCaptureTest, CharacterCutByTheLimitCountsAsTruncated) {
  OutputCapture capture(4);
  capture.Append("abc\xC3\xA9z");  // the limit falls inside é
  EXPECT_EQ(capture.Text(), "abc\xE2\x80\xA6[3 bytes truncated]");
}

TEST(OutputCaptureTest, AppendsSplitInsideACharacterJoinUp) {
  OutputCapture capture(100);
  capture.Append("\xE2\x82");
  capture.Append("\xAC!");
  EXPECT_EQ(capture.Text(), "\xE2\x82\xAC!");
}

TEST(OutputCaptureTest, LastLineSkipsBlankLinesAndIsCapped) {
  OutputCapture capture(8);
  capture.Append("first\n" + std::string(10000, '-') + "\n  " + std::string(400, 'e') +
                 "  \n\n \n");
  EXPECT_EQ(capture.LastLine(10), "eeeeeeeeee\xE2\x80\xA6");
  EXPECT_EQ(OutputCapture(8).LastLine(), "");
}

}  // namespace
}  // namespace taskmill
