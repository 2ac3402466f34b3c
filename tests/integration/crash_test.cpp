// Fault test: kill -9 the server while runs execute, restart it, and check that every
// acknowledged run reaches a final status, none is lost or stuck, and only the runs
// that were in flight at the kill got a second attempt.
#include "integration/harness.h"

#include <taskmill/storage.h>

#include <gtest/gtest.h>

#include <fstream>
#include <set>

namespace taskmill::testing {
namespace {
namespace json = boost::json;

int64_t StatOf(const std::string& server, const char* status) {
  auto r = Taskmill({"stats", "--json"}, server);
  auto v = r.Json();
  if (!v.is_object()) return -1;
  return v.at("statuses").at(status).to_number<int64_t>();
}

// Pending plus running, from one answer: two separate reads could miss a run that went
// from running back to pending (a retry) between them.
int64_t LiveRuns(const std::string& server) {
  auto r = Taskmill({"stats", "--json"}, server);
  auto v = r.Json();
  if (!v.is_object()) return -1;
  const auto& statuses = v.at("statuses");
  return statuses.at("pending").to_number<int64_t>() + statuses.at("running").to_number<int64_t>();
}

TEST(CrashTest, KillNineDuringLoadLosesNoAcknowledgedRun) {
  constexpr int kRuns = 10000;
  constexpr int kCapacity = 32;
  TempDir dir;
  std::ofstream(dir.path() / "t.yaml") << "task_runner:\n  capacity: " << kCapacity << "\n";
  std::vector<std::string> args = {"--config", (dir.path() / "t.yaml").string()};
  auto data = dir.path() / "data";
  std::set<std::string> acknowledged;
  {
    Server server(data, args);
    ASSERT_TRUE(server.started()) << server.startup_output();
    // 10,000 short runs, two attempts each allowed, a 2 s lease so that the runs in
    // flight at the kill are found lost soon after the restart.
    for (int batch = 0; batch < kRuns / 1000; ++batch) {
      json::array runs;
      for (int i = 0; i < 1000; ++i) {
        runs.push_back(json::object{{"function", "demo.sleep"},
                                    {"args", json::array{0.01}},
                                    {"max_attempts", 2},
                                    {"time_to_resolve", 2}});
      }
      std::string body = json::serialize(json::object{{"runs", runs}});
      std::ofstream(dir.path() / "batch.json") << body;
      auto r = Taskmill({"api", "POST", "/api/v1/runs:batch", "--body-file",
                         (dir.path() / "batch.json").string()},
                        server.url());
      ASSERT_EQ(r.exit_code, 0) << r.err;
      auto stored = r.Json();
      ASSERT_TRUE(stored.is_object()) << r.out.substr(0, 500) << r.err;
      for (const auto& run : stored.at("runs").as_array()) {
        acknowledged.insert(std::string(run.at("id").as_string()));
      }
    }
    ASSERT_EQ(acknowledged.size(), static_cast<size_t>(kRuns));
    // Kill while work is under way: some runs done, many still pending.
    for (int i = 0; i < 600 && StatOf(server.url(), "completed") < 500; ++i) {
      Taskmill({"runs", "--limit", "1", "--json"}, server.url());  // paces the bounded wait
    }
    server.Kill9();
  }
  // The runs the database holds as running right after the kill are the ones in flight:
  // claimed, and their outcome not yet stored. Only these may get a second attempt.
  std::set<std::string> in_flight_at_kill;
  {
    auto storage = OpenStorage({(data / "taskmill.db").string(), "normal"});
    ASSERT_TRUE(storage.ok()) << storage.status().ToString();
    RunFilter running;
    running.status = RunStatus::kRunning;
    running.limit = 1000;
    auto page = (*storage)->RunList(running);
    ASSERT_TRUE(page.ok());
    for (const auto& run : page->runs) in_flight_at_kill.insert(run.id);
    ASSERT_FALSE(in_flight_at_kill.empty()) << "the kill should land while runs execute";
  }
  {
    Server server(data, args);
    ASSERT_TRUE(server.started()) << server.startup_output();
    // Wait (bounded) until nothing is pending or running.
    bool settled = false;
    for (int i = 0; i < 3000 && !settled; ++i) {
      settled = LiveRuns(server.url()) == 0;
    }
    ASSERT_TRUE(settled) << "runs still pending or running after the restart";
    server.Terminate();
  }
  // Read the database directly: every acknowledged run is there and final.
  auto storage = OpenStorage({(data / "taskmill.db").string(), "normal"});
  ASSERT_TRUE(storage.ok()) << storage.status().ToString();
  int completed = 0, second_attempts = 0;
  std::set<std::string> seen;
  RunFilter filter;
  filter.limit = 1000;
  for (;;) {
    auto page = (*storage)->RunList(filter);
    ASSERT_TRUE(page.ok());
    for (const auto& run : page->runs) {
      seen.insert(run.id);
      EXPECT_TRUE(IsFinal(run.status)) << run.id << " is " << ToString(run.status);
      if (run.status == RunStatus::kCompleted) ++completed;
      if (run.attempts.size() > 1) {
        ++second_attempts;
        EXPECT_EQ(run.attempts[0].outcome, "lost") << "a second attempt only after a lost one";
        EXPECT_TRUE(in_flight_at_kill.contains(run.id))
            << run.id << " was retried but was not in flight at the kill";
      }
    }
    if (page->next_cursor.empty()) break;
    filter.cursor = page->next_cursor;
  }
  EXPECT_EQ(seen, acknowledged);
  EXPECT_EQ(completed, kRuns) << "every run completed (two attempts were allowed)";
  EXPECT_EQ(second_attempts, static_cast<int>(in_flight_at_kill.size()))
      << "every run in flight at the kill was retried, and no other";
}

}  // namespace
}  // namespace taskmill::testing
