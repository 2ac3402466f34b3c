// The record of command process groups: a server that starts kills the groups that a
// server on the same data directory left behind when it died, and only those: never
// the groups of a server still running, never a process that reuses a recorded id.
// Real processes (sleep) in real process groups; waits are waitpid on killed children.
#include "process/process_groups.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "process/spawn.h"

namespace taskmill::process_groups {
namespace {
namespace fs = std::filesystem;

// `sleep 60` leading a group of its own, started without taskmill's spawn so that
// nothing tracks it.
pid_t StartSleepGroup() {
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  char sleep_name[] = "sleep", seconds[] = "60";
  char* argv[] = {sleep_name, seconds, nullptr};
  pid_t pid = -1;
  EXPECT_EQ(posix_spawnp(&pid, "sleep", nullptr, &attr, argv, environ), 0);
  posix_spawnattr_destroy(&attr);
  return pid;
}

// Whether `pid` (a child of this process) was killed by SIGKILL; reaps it.
bool ReapKilled(pid_t pid) {
  int status = 0;
  EXPECT_EQ(waitpid(pid, &status, 0), pid);
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

// Whether `pid` (a child of this process) runs and no SIGKILL is on its way to it (a
// kill is pending until the process is scheduled, so its exit alone would race).
bool StillRunning(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, WNOHANG) != 0) return false;
  std::ifstream file("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(file, line)) {
    if (line.starts_with("SigPnd:") || line.starts_with("ShdPnd:")) {
      unsigned long long mask = std::stoull(line.substr(7), nullptr, 16);
      if (mask & (1ULL << (SIGKILL - 1))) return false;
    }
  }
  return true;
}

class ProcessGroupsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/taskmill-groups-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    data_ = pattern;
    root_ = data_ / "command-groups";
    fs::create_directories(root_);
  }
  void TearDown() override {
    CloseRecord();
    std::error_code ignored;
    fs::remove_all(data_, ignored);
  }

  // The record a server `name` would leave with one group in it.
  void Record(const std::string& name, pid_t pgid, long long start) {
    std::ofstream(root_ / (name + ".lock"));
    fs::create_directories(root_ / name);
    std::ofstream(root_ / name / (std::to_string(pgid) + "." + std::to_string(start)));
  }

  fs::path data_;
  fs::path root_;
};

TEST_F(ProcessGroupsTest, GroupLeftByADeadServerIsKilledAtStart) {
  pid_t pid = StartSleepGroup();
  ASSERT_GT(pid, 0);
  Record("4000000.1", pid, ProcessStartTime(pid));
  ASSERT_TRUE(OpenRecord(data_.string()).ok());
  EXPECT_TRUE(ReapKilled(pid));
  EXPECT_FALSE(fs::exists(root_ / "4000000.1"));
  EXPECT_FALSE(fs::exists(root_ / "4000000.1.lock"));
}

TEST_F(ProcessGroupsTest, RecordedIdNowUsedByAnotherProcessIsNotKilled) {
  pid_t pid = StartSleepGroup();
  ASSERT_GT(pid, 0);
  // The recorded leader started earlier: this process only reuses its id.
  Record("4000001.1", pid, ProcessStartTime(pid) - 1);
  ASSERT_TRUE(OpenRecord(data_.string()).ok());
  EXPECT_TRUE(StillRunning(pid));
  kill(pid, SIGKILL);
  ReapKilled(pid);
}

TEST_F(ProcessGroupsTest, GroupsOfARunningServerAreLeftAlone) {
  pid_t pid = StartSleepGroup();
  ASSERT_GT(pid, 0);
  Record("4000002.1", pid, ProcessStartTime(pid));
  // That server holds its lock (another open file description: a lock of its own).
  int lock = open((root_ / "4000002.1.lock").c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(lock, 0);
  ASSERT_EQ(flock(lock, LOCK_EX | LOCK_NB), 0);
  ASSERT_TRUE(OpenRecord(data_.string()).ok());
  EXPECT_TRUE(StillRunning(pid));
  EXPECT_TRUE(fs::exists(root_ / "4000002.1"));
  close(lock);
  kill(pid, SIGKILL);
  ReapKilled(pid);
}

TEST_F(ProcessGroupsTest, SpawnedChildIsRecordedUntilUntracked) {
  ASSERT_TRUE(OpenRecord(data_.string()).ok());
  int pipe_fds[2];
  ASSERT_EQ(pipe2(pipe_fds, O_CLOEXEC), 0);
  char sleep_name[] = "sleep", seconds[] = "60";
  char* argv[] = {sleep_name, seconds, nullptr};
  ChildSpec spec{.file = "sleep",
                 .search_path = true,
                 .argv = argv,
                 .envp = environ,
                 .stdin_fd = pipe_fds[0],
                 .stdout_fd = pipe_fds[1],
                 .stderr_fd = pipe_fds[1]};
  pid_t pid = -1;
  ASSERT_EQ(SpawnChild(spec, &pid), 0);
  close(pipe_fds[0]);
  close(pipe_fds[1]);
  EXPECT_EQ(getpgid(pid), pid) << "the child leads a group of its own";
  std::string record = std::to_string(pid) + "." + std::to_string(ProcessStartTime(pid));
  std::string self = std::to_string(getpid()) + "." + std::to_string(ProcessStartTime(getpid()));
  EXPECT_TRUE(fs::exists(root_ / self / record));
  KillAll();
  Untrack(pid);
  EXPECT_TRUE(ReapKilled(pid));
  EXPECT_FALSE(fs::exists(root_ / self / record));
}

}  // namespace
}  // namespace taskmill::process_groups
