// serve_process.h — `taskmill serve` as a child process for the soak test, with what
// the soak needs beyond tests/integration/harness.h: the process id (its CPU use is
// read from /proc), the server's log kept in a file (shown when the test fails), and a
// SIGTERM whose exit is awaited with a deadline instead of forever, since a wedged
// server does not exit.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace taskmill::testing {

class ServeProcess {
 public:
  // Starts `taskmill serve ARGS... --listen 127.0.0.1:0 --data-dir DATA_DIR` in the
  // source directory (the example config names its scripts relative to it), stdout and
  // stderr appended to `log`, and waits at most 60 s for the URL it listens on.
  ServeProcess(const std::filesystem::path& data_dir, const std::filesystem::path& log,
               std::vector<std::string> args);
  ~ServeProcess();  // SIGKILL when still running
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;

  bool started() const { return !url_.empty(); }
  const std::string& url() const { return url_; }
  int pid() const { return pid_; }

  // CPU time (user + system) the process has used so far, from /proc/<pid>/stat;
  // nullopt once it is gone.
  std::optional<std::chrono::duration<double>> CpuTime() const;

  // Sends SIGTERM and waits at most `within` for the exit. Returns the exit code
  // (128 + signal when a signal ended it), or nullopt when the process was still
  // running at the deadline (it is then left running; the destructor kills it).
  std::optional<int> TerminateWithin(std::chrono::duration<double> within);
  void Kill9();

  // The last `bytes` of the server's log.
  std::string LogTail(size_t bytes = 4000) const;

 private:
  std::optional<int> Reap(bool wait);
  int pid_ = -1;
  std::filesystem::path log_;
  std::string url_;
};

}  // namespace taskmill::testing
