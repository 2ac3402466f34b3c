#include "runner/command_handler.h"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <taskmill/run_enums.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <map>
#include <optional>

#include "process/process_groups.h"
#include "runner/subprocess.h"

extern char** environ;

namespace taskmill {
namespace json = boost::json;
namespace {

using SteadyClock = std::chrono::steady_clock;

// The CancellationToken offers neither an fd nor a callback, so the only way to notice
// a cancel while blocked in poll() would be a watcher thread per attempt that itself
// has to wake up periodically to learn that the attempt ended. Waking every 50 ms
// instead costs ~20 cheap syscalls per second per running command and bounds the
// reaction to a cancel at 50 ms. Output and exit wake the loop at once (pipe, pidfd).
constexpr auto kCancelPollInterval = std::chrono::milliseconds(50);
// After the command exits and its group is killed, output normally ends at once. A
// process that left the group (setsid) may still hold the pipe: stop reading then.
constexpr auto kOutputDrainLimit = std::chrono::seconds(2);
constexpr size_t kReadChunk = 64 * 1024;
// Reads per loop turn, so a child that writes without pause cannot starve the
// cancellation and exit checks.
constexpr int kMaxReadsPerTurn = 16;

std::string_view JsonKind(const json::value& v) {
  switch (v.kind()) {
    case json::kind::object:
      return "an object";
    case json::kind::array:
      return "an array";
    case json::kind::string:
      return "a string";
    case json::kind::bool_:
      return "a boolean";
    case json::kind::null:
      return "null";
    default:
      return "a number";
  }
}

// The run's args as extra argv entries: strings as they are, numbers and booleans as
// JSON text (integers in full, other numbers in their shortest exact form). Null and
// nested values are rejected: on a command line they would be indistinguishable from
// the strings "null" or "[1,2]", so they are almost surely a bug upstream.
Result<std::vector<std::string>> ArgsToArgv(const json::value& args) {
  std::vector<std::string> out;
  if (args.is_null()) return out;
  if (!args.is_array()) {
    return Status::InvalidArgument(
        "args must be a JSON array of strings, numbers or booleans to append to the command "
        "line; got " +
        std::string(JsonKind(args)));
  }
  const json::array& array = args.get_array();
  for (size_t i = 0; i < array.size(); ++i) {
    const json::value& arg = array[i];
    std::string where = "args[" + std::to_string(i) + "]";
    if (arg.is_string()) {
      std::string_view s = arg.get_string();
      if (s.find('\0') != std::string_view::npos) {
        return Status::InvalidArgument(where + " contains a NUL byte, which argv cannot carry");
      }
      out.emplace_back(s);
    } else if (arg.is_double()) {
      // Shortest round-trip form ("1.5", "1e+20"); boost::json would write "1.5E0".
      std::array<char, 32> text;
      auto [end, ec] = std::to_chars(text.data(), text.data() + text.size(), arg.get_double());
      out.emplace_back(text.data(), end);
    } else if (arg.is_number() || arg.is_bool()) {
      out.push_back(json::serialize(arg));
    } else {
      return Status::InvalidArgument(where + " is " + std::string(JsonKind(arg)) +
                                     "; accepted: string, number, boolean");
    }
  }
  return out;
}

// The server's environment, then the spec's, then the run's identity, as "NAME=value"
// entries. Sets `path` to the resulting PATH, which is where the program is looked up.
std::vector<std::string> ChildEnvironment(const CommandSpec& spec, const Run& run,
                                          std::string& path) {
  std::map<std::string, std::string> vars;
  for (char** entry = environ; entry && *entry; ++entry) {
    std::string_view text = *entry;
    size_t eq = text.find('=');
    if (eq == std::string_view::npos || eq == 0) continue;
    vars.insert_or_assign(std::string(text.substr(0, eq)), std::string(text.substr(eq + 1)));
  }
  for (const auto& [name, value] : spec.env) vars.insert_or_assign(name, value);
  vars.insert_or_assign("TASKMILL_RUN_ID", run.id);
  vars.insert_or_assign("TASKMILL_QUEUE", run.queue);
  vars.insert_or_assign("TASKMILL_ATTEMPT", std::to_string(run.attempt));
  vars.insert_or_assign("TASKMILL_ACCOUNT_ID", run.account_id);

  auto it = vars.find("PATH");
  path = it == vars.end() ? std::string() : it->second;
  std::vector<std::string> env;
  env.reserve(vars.size());
  for (const auto& [name, value] : vars) env.push_back(name + "=" + value);
  return env;
}

// A run of a flow (a step, a child, a callback): its args are an object, read on
// stdin with the run, not appended to argv; and what it prints last is its result
// (docs/flows.md, "Command steps").
bool OfFlow(const Run& run) {
  const json::object* data = run.data.if_object();
  return data != nullptr && (data->contains("flow") || data->contains("flow_callback"));
}

// The last non-blank line of the kept output, when it is a JSON object: a flow step's
// result ({"state": {...}, "children": [[id, definition], ...]}). Output cut at the
// output limit keeps no such line.
std::optional<json::value> ResultLine(const OutputCapture& capture, size_t limit) {
  if (capture.total_bytes() > limit) return std::nullopt;
  const std::string text = capture.Text();
  size_t end = text.find_last_not_of(" \t\r\n");
  if (end == std::string::npos) return std::nullopt;
  size_t begin = text.rfind('\n', end);
  begin = begin == std::string::npos ? 0 : begin + 1;
  boost::system::error_code ec;
  json::value line = json::parse(std::string_view(text).substr(begin, end + 1 - begin), ec);
  if (ec || !line.is_object()) return std::nullopt;
  return line;
}

HandlerOutcome Failed(std::string error, std::string_view error_kind = "") {
  HandlerOutcome outcome;
  outcome.status = RunStatus::kFailed;
  outcome.error = std::move(error);
  outcome.error_kind = error_kind;
  return outcome;
}

HandlerOutcome Stopped(const CancellationToken& token) {
  std::string reason = token.Reason();
  return Failed(reason.empty() ? "stopped" : "stopped: " + reason, ToString(ErrorKind::kStopped));
}

HandlerOutcome FromWaitStatus(int wait_status, const OutputCapture& capture) {
  HandlerOutcome outcome;
  if (wait_status == Subprocess::kWaitStatusLost) {
    outcome = Failed("exit status lost: the command was reaped elsewhere (is SIGCHLD ignored?)",
                     ToString(ErrorKind::kInternal));
  } else if (WIFEXITED(wait_status)) {
    int code = WEXITSTATUS(wait_status);
    if (code != 0) {
      std::string line = capture.LastLine();
      outcome = Failed("exit code " + std::to_string(code) + (line.empty() ? "" : ": " + line));
    }
    outcome.result = json::object{{"exit_code", code}};
  } else {
    int sig = WTERMSIG(wait_status);
    outcome = Failed("killed by signal " + std::to_string(sig) + " (" + SignalName(sig) + ")");
    outcome.result = json::object{{"signal", sig}};
  }
  return outcome;
}

class CommandHandler final : public Handler {
 public:
  explicit CommandHandler(CommandSpec spec) : spec_(std::move(spec)), valid_(spec_.Validate()) {}

  HandlerOutcome Execute(RunContext& ctx) override {
    if (!valid_.ok()) return Failed(valid_.message());
    auto args = OfFlow(ctx.run()) ? Result<std::vector<std::string>>(std::vector<std::string>{})
                                  : ArgsToArgv(ctx.args());
    if (!args.ok()) return Failed(args.status().message());
    if (ctx.cancelled()) return Stopped(ctx.cancellation());

    SpawnParams params;
    params.env = ChildEnvironment(spec_, ctx.run(), params.search_path);
    params.working_dir = spec_.working_dir;
    if (spec_.shell) {
      params.program = "/bin/sh";
      params.argv = {"/bin/sh", "-c", spec_.argv[0], "sh"};
    } else {
      params.program = spec_.argv[0];
      params.argv = {spec_.argv[0]};
    }
    params.argv.insert(params.argv.end(), spec_.argv.begin() + 1, spec_.argv.end());
    params.argv.insert(params.argv.end(), args->begin(), args->end());

    // The bulk CSV input will replace this with a streamed source; the loop below only
    // needs "bytes still to write".
    std::string input = json::serialize(ToJson(ctx.run()));
    input.push_back('\n');

    auto spawned = Subprocess::Spawn(params);
    if (!spawned.ok()) {
      const Status& s = spawned.status();
      bool ours = s.code() == StatusCode::kUnavailable || s.code() == StatusCode::kInternal;
      return Failed(s.message(), ours ? ToString(ErrorKind::kInternal) : "");
    }
    return Supervise(std::move(spawned).value(), input, ctx);
  }

 private:
  // Feeds stdin, collects output and watches for exit and cancellation until the child
  // is reaped and its output has ended. `proc`'s destructor kills and reaps the child
  // should anything here throw.
  HandlerOutcome Supervise(Subprocess proc, std::string_view input, RunContext& ctx) const {
    OutputCapture capture(spec_.output_limit);
    std::array<char, kReadChunk> buffer;
    std::optional<int> wait_status;
    std::optional<SteadyClock::time_point> drain_until;
    bool stopping = false;  // we signalled the child: the outcome is "stopped"
    bool killed = false;
    SteadyClock::time_point kill_at{};

    while (true) {
      auto now = SteadyClock::now();
      if (!wait_status) {
        wait_status = proc.TryReap();
        if (wait_status) {
          proc.CloseStdin();
          drain_until = now + kOutputDrainLimit;
        }
      }
      if (wait_status && (proc.output_fd() < 0 || now >= *drain_until || ctx.cancelled())) {
        break;
      }
      if (!wait_status && !stopping && ctx.cancelled()) {
        stopping = true;
        proc.SignalGroup(SIGTERM);
        kill_at = now + spec_.kill_grace;
      }
      if (stopping && !killed && now >= kill_at) {
        killed = true;
        proc.SignalGroup(SIGKILL);
      }

      auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(kCancelPollInterval);
      if (stopping && !killed) {
        timeout = std::min(timeout, std::chrono::ceil<std::chrono::milliseconds>(kill_at - now));
      }
      if (drain_until) {
        timeout =
            std::min(timeout, std::chrono::ceil<std::chrono::milliseconds>(*drain_until - now));
      }
      std::array<pollfd, 3> fds{};
      nfds_t count = 0;
      int output_slot = -1, stdin_slot = -1;
      if (proc.output_fd() >= 0) {
        output_slot = count;
        fds[count++] = {proc.output_fd(), POLLIN, 0};
      }
      if (proc.stdin_fd() >= 0) {
        stdin_slot = count;
        fds[count++] = {proc.stdin_fd(), POLLOUT, 0};
      }
      if (proc.exit_fd() >= 0) fds[count++] = {proc.exit_fd(), POLLIN, 0};
      int ready =
          ::poll(fds.data(), count, static_cast<int>(std::max<int64_t>(timeout.count(), 0)));
      if (ready <= 0) continue;  // timeout or EINTR: re-check the state above

      if (output_slot >= 0 && fds[output_slot].revents != 0) {
        for (int i = 0; i < kMaxReadsPerTurn; ++i) {
          ssize_t n = ::read(proc.output_fd(), buffer.data(), buffer.size());
          if (n > 0) {
            capture.Append(std::string_view(buffer.data(), n));
            continue;
          }
          if (n < 0 && errno == EINTR) continue;
          if (n < 0 && errno == EAGAIN) break;
          proc.CloseOutput();  // end of output (every writer closed it) or an error
          break;
        }
      }
      if (stdin_slot >= 0 && fds[stdin_slot].revents != 0) {
        ssize_t n = proc.WriteStdin(input);
        if (n >= 0) input.remove_prefix(n);
        if (n < 0 || input.empty()) proc.CloseStdin();  // EOF for the child, or it left
      }
    }

    HandlerOutcome outcome =
        stopping ? Stopped(ctx.cancellation()) : FromWaitStatus(*wait_status, capture);
    if (!stopping && process_groups::KilledForShutdown() && WIFSIGNALED(*wait_status) &&
        WTERMSIG(*wait_status) == SIGKILL) {
      // A forced stop killed the group before the runner told this attempt to stop:
      // the program did not fail, the server went away under it.
      outcome = Failed("stopped: the server is shutting down", ToString(ErrorKind::kInterrupted));
    }
    if (outcome.status == RunStatus::kCompleted && OfFlow(ctx.run())) {
      if (auto result = ResultLine(capture, spec_.output_limit))
        outcome.result = std::move(*result);
    }
    outcome.output = capture.Text();
    return outcome;
  }

  const CommandSpec spec_;
  const Status valid_;
};

}  // namespace

Status CommandSpec::Validate() const {
  if (argv.empty()) return Status::InvalidArgument("command: argv is empty; give the program");
  if (argv[0].empty()) return Status::InvalidArgument("command: argv[0] is empty");
  for (size_t i = 0; i < env.size(); ++i) {
    const std::string& name = env[i].first;
    if (name.empty() || name.find_first_of("=\0", 0, 2) != std::string::npos) {
      return Status::InvalidArgument("command: env[" + std::to_string(i) + "] name '" + name +
                                     "' is not a variable name (non-empty, without '=')");
    }
  }
  if (kill_grace < Duration::zero()) {
    return Status::InvalidArgument("command: kill_grace must not be negative");
  }
  return Status::Ok();
}

CommandSpec CommandSpecForTask(const TaskDef& task) {
  CommandSpec spec;
  spec.argv = task.command;
  spec.shell = task.shell;
  spec.working_dir = task.working_dir;
  spec.env = task.env;
  return spec;
}

std::shared_ptr<Handler> MakeCommandHandler(CommandSpec spec) {
  return std::make_shared<CommandHandler>(std::move(spec));
}

}  // namespace taskmill
