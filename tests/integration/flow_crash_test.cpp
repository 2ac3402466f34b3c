// kill -9 in the middle of a flow, during a step and during its children: the flow
// resumes in a new process and completes, and nothing that had finished runs again.
// Real processes on a real SQLite file; every wait is a deadline in seconds.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "integration/harness.h"

extern char** environ;

namespace taskmill::testing {
namespace {

std::vector<std::string> Lines(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

int Count(const std::vector<std::string>& lines, std::string_view prefix,
          std::string_view contains = "") {
  int n = 0;
  for (const std::string& l : lines) {
    n += l.starts_with(prefix) && l.find(contains) != std::string::npos;
  }
  return n;
}

// Starts the probe, waits until `ready` holds on its marks, kills it with SIGKILL, then
// resumes the flow in a new process and checks what ran twice; then `also` on the marks.
void KillThenResume(const std::function<bool(const std::vector<std::string>&)>& ready,
                    const std::function<void(const std::vector<std::string>&)>& also = {}) {
  TempDir dir;
  const std::string db = (dir.path() / "flows.db").string();
  const std::filesystem::path marks = dir.path() / "marks.txt";
  std::vector<std::string> args = {TASKMILL_FLOW_PROBE, db, marks.string()};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  ASSERT_EQ(posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ), 0);
  bool reached = WaitUntil(std::chrono::seconds(60), [&] { return ready(Lines(marks)); });
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(reached) << "the flow did not reach the point of the kill in time";

  CommandResult resumed = RunProcess({TASKMILL_FLOW_PROBE, db, marks.string(), "resume"}, {},
                                     std::chrono::seconds(120));
  EXPECT_EQ(resumed.exit_code, 0) << resumed.out << resumed.err;
  EXPECT_TRUE(resumed.out.ends_with("completed\n")) << resumed.out;  // after the log lines

  std::vector<std::string> lines = Lines(marks);
  std::set<std::string> done_before;
  for (const std::string& l : lines) {
    if (l.starts_with("done ")) done_before.insert(l.substr(5));
  }
  EXPECT_FALSE(done_before.empty());
  for (const std::string& id : done_before) {
    EXPECT_EQ(std::count(lines.begin(), lines.end(), "resume start " + id), 0)
        << id << " had finished before the kill and ran again";
  }
  // Every child ran to its end in one process or the other, and the last step once.
  EXPECT_EQ(Count(lines, "resume start ", ":last"), 1);
  EXPECT_EQ(Count(lines, "first start ", ":last"), 0);
  if (also) also(lines);
}

TEST(FlowCrash, KillDuringTheChildrenResumesWithoutRerunningFinishedWork) {
  KillThenResume([](const std::vector<std::string>& lines) {
    return Count(lines, "first start ", ":make:c") >= 40;
  });
}

// The step had staged a batch of its children when it was killed: none of them ran
// before the step's finish, and after the resume every child ran exactly once.
TEST(FlowCrash, KillWhileAStepStagesItsChildrenRunsEachChildOnce) {
  KillThenResume(
      [](const std::vector<std::string>& lines) { return Count(lines, "first staged ") >= 1; },
      [](const std::vector<std::string>& lines) {
        EXPECT_EQ(Count(lines, "first start ", ":make:c"), 0)
            << "a staged child ran before its step finished";
        std::string root;
        for (const std::string& l : lines) {
          if (l.starts_with("root ")) root = l.substr(5);
        }
        ASSERT_FALSE(root.empty());
        for (int i = 0; i < 1200; ++i) {
          const std::string mark = "resume start " + root + ":make:c" + std::to_string(i);
          EXPECT_EQ(std::count(lines.begin(), lines.end(), mark), 1) << mark;
        }
      });
}

TEST(FlowCrash, KillDuringAStepResumesWithoutRerunningTheStepsBefore) {
  KillThenResume([](const std::vector<std::string>& lines) {
    return Count(lines, "first start ", ":make") >= 1;
  });
}

}  // namespace
}  // namespace taskmill::testing
