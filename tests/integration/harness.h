// harness.h — real processes for integration tests: run the `taskmill` binary as a
// client command (or any other program, such as a remote runner), or start
// `taskmill serve` on a free port in a temporary directory.
// Waits are bounded waits on output or exit, never fixed sleeps.
#pragma once

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace taskmill::testing {

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
  boost::json::value Json() const;  // stdout parsed as JSON (null when it is not JSON)
};

// Runs `argv` (argv[0] is looked up in PATH unless it holds a '/') with `env` added to
// the environment, and waits for it to exit (at most `timeout`; then it is killed and
// exit_code is -1). exit_code is also -1 when the program could not be started.
CommandResult RunProcess(std::vector<std::string> argv,
                         const std::vector<std::pair<std::string, std::string>>& env = {},
                         std::chrono::seconds timeout = std::chrono::seconds(120));

// Runs `taskmill ARGS...` with TASKMILL_SERVER=server (when non-empty) and waits for
// it to exit, as RunProcess.
CommandResult Taskmill(const std::vector<std::string>& args, const std::string& server = "",
                       std::chrono::seconds timeout = std::chrono::seconds(120));

// Calls `done` every 20 ms until it returns true or `seconds` pass; returns whether it
// did. A wait on a state with a deadline in time, never a number of tries.
bool WaitUntil(std::chrono::duration<double> seconds, const std::function<bool()>& done);

// A fresh temporary directory, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// `taskmill serve` as a child process.
class Server {
 public:
  // Starts the server with `extra_args` plus --listen 127.0.0.1:0 and --data-dir, and
  // waits until it prints the URL it listens on.
  Server(const std::filesystem::path& data_dir, std::vector<std::string> extra_args = {});
  ~Server();
  const std::string& url() const { return url_; }
  bool started() const { return !url_.empty(); }
  const std::string& startup_output() const { return output_; }
  void Kill9();  // SIGKILL, then reap
  // SIGTERM, wait (at most 60 s, then SIGKILL), return the exit code (-1 if killed).
  int Terminate();
  int pid() const { return pid_; }
  void Signal(int sig);  // sends `sig` and returns at once
  // Waits up to `timeout` for the exit; returns the exit code (-1 when killed by a
  // signal), or -2 when it still runs (then it is still owned by this object).
  int Wait(std::chrono::seconds timeout);

 private:
  int pid_ = -1;
  int out_fd_ = -1;
  std::string url_;
  std::string output_;
};

}  // namespace taskmill::testing
