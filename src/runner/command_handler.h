// runner/command_handler.h — a Handler that runs an external program once per attempt.
//
// The command gets the run's args appended to its argv, the run as one JSON line on
// stdin, and TASKMILL_* variables in its environment; its stdout and stderr are
// captured together up to a limit. Exit 0 completes the attempt; anything else fails
// it. When the attempt's CancellationToken fires (operator cancel, timeout, lost
// lease, shutdown) the command's process group gets SIGTERM, then SIGKILL after
// `kill_grace`. docs/commands.md is the user-facing description.
//
// The handler is immutable after construction and Execute is safe to call from many
// threads at once, one attempt per call; each call owns its child and reaps it before
// returning, even when it throws.
#pragma once

#include <taskmill/function.h>
#include <taskmill/model.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace taskmill {

struct CommandSpec {
  // The program and its first arguments; argv[0] is looked up in PATH (the child's,
  // so `env` may set it) unless it contains '/'. Must not be empty.
  std::vector<std::string> argv;
  // When true, runs /bin/sh -c argv[0] sh argv[1]... args...: the script sees the rest
  // of argv and the run's args as "$@". Default: false (no shell).
  bool shell = false;
  // Directory the command runs in. Default: empty, the server's own.
  std::string working_dir;
  // Added to the inherited environment, replacing variables of the same name.
  std::vector<std::pair<std::string, std::string>> env;
  // Bytes of stdout+stderr kept; the rest is read, counted and dropped, and
  // "…[N bytes truncated]" is appended. Default: 1 MiB.
  size_t output_limit = 1 << 20;
  // Time between SIGTERM and SIGKILL when the attempt is stopped. Default: 5 s.
  Duration kill_grace = std::chrono::seconds(5);

  // Names the first bad field: empty argv or argv[0], bad env names, negative grace.
  Status Validate() const;
};

// The spec of a command task (TaskDef::command, shell, working_dir, env); limits keep
// their defaults.
CommandSpec CommandSpecForTask(const TaskDef& task);

// A Handler that runs `spec` once per attempt. Its outcome:
//   exit 0            completed, result {"exit_code": 0}
//   exit N            failed, error "exit code N: <last output line>"
//   killed by signal  failed, error "killed by signal 9 (SIGKILL)"
//   cannot start      failed, error "command not found: NAME", "command not executable:
//                     PATH (Permission denied)", "working directory not usable: DIR (...)"
//                     (error_kind "internal" when the system is out of resources)
//   bad args          failed, error naming the offending args element
//   cancelled         failed, error_kind "stopped", error "stopped: <token reason>"
// `output` is the captured text in every case. A spec that fails Validate() fails
// every attempt with that message.
std::shared_ptr<Handler> MakeCommandHandler(CommandSpec spec);

}  // namespace taskmill
