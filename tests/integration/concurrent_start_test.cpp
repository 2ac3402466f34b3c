// Regression test: two `taskmill serve` processes started at the same moment on a fresh
// data directory, and one died with "database is locked" or "migration 3 failed: table
// api_tokens already exists". Four processes of different roles start at once on an
// empty data directory, twenty times over, and every one of them comes up: the ones
// with the api role answer /healthz, the runner-only ones (which serve no HTTP) say
// they serve, are still alive once all four are up, and stop cleanly on SIGTERM.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>

#include "integration/harness.h"

extern char** environ;

namespace taskmill::testing {
namespace {

using Clock = std::chrono::steady_clock;

// One `taskmill serve` child: stdout on a pipe (where it says it serves and where it
// listens), stderr (its log) in a file, for the failure message.
struct ServeProcess {
  std::string roles;
  pid_t pid = -1;
  int out_fd = -1;
  std::filesystem::path log;
  std::string output;
  std::string url;       // with the api role, once it listens
  bool serving = false;  // it printed "taskmill serving": set up and started
  bool exited = false;
  int exit_status = 0;

  bool api() const { return roles.find("api") != std::string::npos; }
  bool ready() const { return serving && (!api() || !url.empty()); }

  std::string Describe() const {
    std::ifstream in(log);
    std::stringstream err;
    err << in.rdbuf();
    return "serve --roles " + roles +
           (exited ? " exited (status " + std::to_string(exit_status) + ")" : "") +
           "\nstdout: " + output + "\nlog: " + err.str();
  }
};

ServeProcess Spawn(const std::filesystem::path& data_dir, const std::string& roles,
                   const std::filesystem::path& log) {
  ServeProcess p;
  p.roles = roles;
  p.log = log;
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return p;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_addopen(&actions, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<std::string> args = {TASKMILL_BINARY, "serve", "--data-dir", data_dir.string(),
                                   "--roles",       roles,   "--listen",   "127.0.0.1:0"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  if (rc != 0) {
    close(out[0]);
    return p;
  }
  p.pid = pid;
  p.out_fd = out[0];
  return p;
}

// Reads what the process prints until it is ready, it exits, or the deadline passes.
void AwaitReady(ServeProcess& p, Clock::time_point deadline) {
  char buf[4096];
  while (!p.ready() && p.out_fd >= 0 && Clock::now() < deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    pollfd pfd{p.out_fd, POLLIN, 0};
    if (poll(&pfd, 1, static_cast<int>(std::max<int64_t>(1, left.count()))) <= 0) continue;
    ssize_t n = read(p.out_fd, buf, sizeof buf);
    if (n <= 0) {
      close(p.out_fd);
      p.out_fd = -1;  // stdout closed: the process is exiting
      break;
    }
    p.output.append(buf, static_cast<size_t>(n));
    p.serving = p.output.find("taskmill serving") != std::string::npos;
    const std::string marker = "listening on ";
    if (auto at = p.output.find(marker); at != std::string::npos) {
      auto end = p.output.find('\n', at);
      if (end != std::string::npos)
        p.url = p.output.substr(at + marker.size(), end - at - marker.size());
    }
  }
}

// True while the process runs; reaps it (and records how it ended) once it has exited.
bool Alive(ServeProcess& p) {
  if (p.exited || p.pid <= 0) return false;
  int status = 0;
  if (waitpid(p.pid, &status, WNOHANG) == 0) return true;
  p.exited = true;
  p.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return false;
}

// SIGTERM, then waits for the exit until the deadline (then SIGKILL). The exit status.
int Stop(ServeProcess& p, Clock::time_point deadline) {
  if (p.pid <= 0) return -1;
  if (Alive(p)) {
    kill(p.pid, SIGTERM);
    while (Alive(p) && Clock::now() < deadline) {
      // Wait for the exit on the pipe (closed at exit), not on a timer.
      if (p.out_fd < 0) {
        pollfd none{-1, 0, 0};
        poll(&none, 0, 10);
        continue;
      }
      pollfd pfd{p.out_fd, POLLIN, 0};
      char buf[4096];
      if (poll(&pfd, 1, 100) > 0 && read(p.out_fd, buf, sizeof buf) <= 0) {
        close(p.out_fd);
        p.out_fd = -1;
      }
    }
    if (Alive(p)) {
      kill(p.pid, SIGKILL);
      int status = 0;
      waitpid(p.pid, &status, 0);
      p.exited = true;
      p.exit_status = -1;
    }
  }
  if (p.out_fd >= 0) close(p.out_fd);
  p.out_fd = -1;
  return p.exit_status;
}

TEST(ConcurrentStartTest, FourProcessesStartingTogetherOnAnEmptyDataDirAllComeUp) {
  constexpr int kRounds = 20;
  const std::vector<std::string> roles = {"scheduler,api", "runner", "api,scheduler,runner",
                                          "runner"};
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round + 1) + " of " + std::to_string(kRounds));
    TempDir dir;
    // Every other round the data directory exists and is empty; else the processes
    // create it together.
    auto data = dir.path() / "data";
    if (round % 2 == 0) std::filesystem::create_directories(data);
    std::vector<ServeProcess> processes;
    for (size_t i = 0; i < roles.size(); ++i) {
      processes.push_back(
          Spawn(data, roles[i], dir.path() / ("serve" + std::to_string(i) + ".log")));
      ASSERT_GT(processes.back().pid, 0) << "cannot start " << TASKMILL_BINARY;
    }
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    for (auto& p : processes) AwaitReady(p, deadline);
    bool all_up = true;
    for (auto& p : processes) {
      // Checked once all four are up: each is past its setup and still running.
      bool alive = Alive(p);
      EXPECT_TRUE(p.ready() && alive) << p.Describe();
      all_up = all_up && p.ready() && alive;
      if (p.ready() && alive && p.api()) {
        auto health = Taskmill({"api", "GET", "/healthz"}, p.url);
        EXPECT_EQ(health.exit_code, 0)
            << p.Describe() << "\n/healthz: " << health.out << health.err;
        EXPECT_NE(health.out.find("ok"), std::string::npos) << health.out;
      }
    }
    const auto stop_deadline = Clock::now() + std::chrono::seconds(30);
    for (auto& p : processes) {
      if (p.ready()) {
        EXPECT_EQ(Stop(p, stop_deadline), 0) << "SIGTERM should stop it cleanly\n" << p.Describe();
      } else {
        Stop(p, stop_deadline);
      }
    }
    if (!all_up) return;  // one failing round says it all
  }
}

}  // namespace
}  // namespace taskmill::testing
