// Fault tests: kill -9 the server while runs execute, restart it, and check that every
// acknowledged run reaches a final status, none is lost or stuck, that only the runs
// in flight at the kill got a second attempt, and that runs claimed ahead of the slots
// (never started) go back to the queue with no attempt used.
// Every wait is a deadline in seconds on a state.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <taskmill/storage.h>

#include <fstream>
#include <iostream>
#include <map>
#include <set>

#include "integration/harness.h"

namespace taskmill::testing {
namespace {
namespace json = boost::json;
using std::chrono::seconds;

// A generous bound for states that come by themselves; the fast way is measured by
// bench/crash_recovery.sh, not asserted here.
constexpr seconds kSettle{120};

// Statuses by name, from one answer (-1 each when the server did not answer).
std::map<std::string, int64_t> Statuses(const std::string& server) {
  auto v = Taskmill({"stats", "--json"}, server).Json();
  std::map<std::string, int64_t> out;
  if (!v.is_object()) return out;
  for (const auto& [name, n] : v.at("statuses").as_object()) out[name] = n.to_number<int64_t>();
  return out;
}

// Pending plus running, from one answer: two separate reads could miss a run that went
// from running back to pending (a retry) between them. -1 when the server did not answer.
int64_t LiveRuns(const std::string& server) {
  auto s = Statuses(server);
  if (s.empty()) return -1;
  return s["pending"] + s["running"];
}

// Stores `total` runs of `run` through the batch endpoint; returns their ids.
std::set<std::string> Enqueue(const Server& server, const TempDir& dir, const json::object& run,
                              int total) {
  std::set<std::string> ids;
  for (int batch = 0; batch < total / 1000; ++batch) {
    json::array runs;
    for (int i = 0; i < 1000; ++i) runs.push_back(run);
    std::ofstream(dir.path() / "batch.json") << json::serialize(json::object{{"runs", runs}});
    auto r = Taskmill(
        {"api", "POST", "/api/v1/runs:batch", "--body-file", (dir.path() / "batch.json").string()},
        server.url());
    EXPECT_EQ(r.exit_code, 0) << r.err;
    auto stored = r.Json();
    if (!stored.is_object()) {
      ADD_FAILURE() << r.out.substr(0, 500) << r.err;
      return ids;
    }
    for (const auto& s : stored.at("runs").as_array())
      ids.insert(std::string(s.at("id").as_string()));
  }
  return ids;
}

// What the database of a killed server holds as running: id → (attempt, started).
struct Claim {
  int attempt = 0;
  bool started = true;
};
std::map<std::string, Claim> RunningAtKill(const std::filesystem::path& db_path) {
  std::map<std::string, Claim> out;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    ADD_FAILURE() << "cannot open " << db_path << ": " << sqlite3_errmsg(db);
    sqlite3_close(db);
    return out;
  }
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, "SELECT id, attempt, started FROM runs WHERE status = 'running'", -1,
                         &stmt, nullptr) != SQLITE_OK) {
    ADD_FAILURE() << sqlite3_errmsg(db);
  } else {
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      out[reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0))] =
          Claim{sqlite3_column_int(stmt, 1), sqlite3_column_int(stmt, 2) != 0};
    }
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return out;
}

// Every run, read from the database file.
std::map<std::string, Run> AllRuns(const std::filesystem::path& db_path) {
  std::map<std::string, Run> out;
  auto storage = OpenStorage({db_path.string() + "?synchronous=normal"});
  EXPECT_TRUE(storage.ok()) << storage.status().ToString();
  if (!storage.ok()) return out;
  RunFilter filter;
  filter.limit = 1000;
  for (;;) {
    auto page = (*storage)->RunList(filter);
    EXPECT_TRUE(page.ok());
    if (!page.ok()) break;
    for (auto& run : page->runs) out[run.id] = std::move(run);
    if (page->next_cursor.empty()) break;
    filter.cursor = page->next_cursor;
  }
  return out;
}

// Whether every run of `at_kill` has left the claim it held at the kill (a retry, a
// hand-back, or a final status), read through a storage of this test process.
bool ClaimsResolved(Storage& storage, const std::map<std::string, Claim>& at_kill) {
  for (const auto& [id, claim] : at_kill) {
    auto run = storage.RunGet(id);
    if (!run.ok()) return false;
    if (run->status == RunStatus::kRunning && run->attempt == claim.attempt) return false;
  }
  return true;
}

TEST(CrashTest, KillNineDuringLoadLosesNoAcknowledgedRun) {
  constexpr int kRuns = 10000;
  constexpr int kTimeToResolve = 2;
  TempDir dir;
  std::ofstream(dir.path() / "t.yaml") << "task_runner:\n  capacity: 32\n";
  std::vector<std::string> args = {"--config", (dir.path() / "t.yaml").string()};
  auto data = dir.path() / "data";
  const auto db_path = data / "taskmill.db";
  std::set<std::string> acknowledged;
  {
    Server server(data, args);
    ASSERT_TRUE(server.started()) << server.startup_output();
    // 10,000 short runs, two attempts each allowed, a 2 s lease.
    acknowledged = Enqueue(server, dir,
                           json::object{{"function", "demo.sleep"},
                                        {"args", json::array{0.01}},
                                        {"max_attempts", 2},
                                        {"time_to_resolve", kTimeToResolve}},
                           kRuns);
    ASSERT_EQ(acknowledged.size(), static_cast<size_t>(kRuns));
    // Kill while work is under way: some runs done, many still pending.
    ASSERT_TRUE(WaitUntil(kSettle, [&] { return Statuses(server.url())["completed"] >= 500; }))
        << "runs should complete while the server runs";
    server.Kill9();
  }
  // The runs the database holds as running right after the kill are the ones claimed
  // and not yet finished. The started ones were in flight: only these may get a second
  // attempt. The others were claimed ahead and never started.
  const auto at_kill = RunningAtKill(db_path);
  std::set<std::string> in_flight_at_kill;
  for (const auto& [id, claim] : at_kill) {
    if (claim.started) in_flight_at_kill.insert(id);
  }
  ASSERT_FALSE(in_flight_at_kill.empty()) << "the kill should land while runs execute";
  {
    Server server(data, args);
    ASSERT_TRUE(server.started()) << server.startup_output();
    const auto restarted = std::chrono::steady_clock::now();
    // No claim of the killed server outlives time_to_resolve + 2 s after the restart.
    auto observer = OpenStorage({db_path.string() + "?synchronous=normal"});
    ASSERT_TRUE(observer.ok()) << observer.status().ToString();
    const bool resolved =
        WaitUntil(seconds(kTimeToResolve + 2), [&] { return ClaimsResolved(**observer, at_kill); });
    EXPECT_TRUE(resolved)
        << "runs of the killed server still running "
        << std::chrono::duration<double>(std::chrono::steady_clock::now() - restarted).count()
        << " s after the restart";
    int64_t live = -1;
    ASSERT_TRUE(WaitUntil(kSettle, [&] { return (live = LiveRuns(server.url())) == 0; }))
        << live << " runs still pending or running after the restart (-1: no answer)";
    server.Terminate();
  }
  // Read the database directly: every acknowledged run is there and final.
  const auto runs = AllRuns(db_path);
  int completed = 0;
  std::set<std::string> retried, seen;
  for (const auto& [id, run] : runs) {
    seen.insert(id);
    EXPECT_TRUE(IsFinal(run.status)) << id << " is " << ToString(run.status);
    if (run.status == RunStatus::kCompleted) ++completed;
    if (run.attempts.size() > 1) {
      retried.insert(id);
      EXPECT_EQ(run.attempts[0].outcome, "lost") << "a second attempt only after a lost one";
    }
  }
  EXPECT_EQ(seen, acknowledged);
  EXPECT_EQ(completed, kRuns) << "every run completed (two attempts were allowed)";
  EXPECT_EQ(retried, in_flight_at_kill)
      << "every run in flight at the kill was retried, and no other";
}

// Runs claimed ahead of the slots are stored running, but never started: after a kill
// -9 they go back to the queue with no attempt used, so that even with max_attempts 1
// every one of them completes. Only the attempts that really started are lost.
TEST(CrashTest, KillNineHandsBackClaimedAheadRunsUncharged) {
  constexpr int kRuns = 20000;
  constexpr int kTimeToResolve = 2;
  TempDir dir;
  auto data = dir.path() / "data";
  const auto db_path = data / "taskmill.db";
  std::set<std::string> acknowledged;
  {
    Server server(data);
    ASSERT_TRUE(server.started()) << server.startup_output();
    // A backlog first (the queue paused), so that the runner claims ahead all along.
    ASSERT_EQ(Taskmill({"queue", "pause", "default"}, server.url()).exit_code, 0);
    acknowledged = Enqueue(server, dir,
                           json::object{{"function", "demo.echo"},
                                        {"args", json::array{1}},
                                        {"time_to_resolve", kTimeToResolve}},
                           kRuns);
    ASSERT_EQ(acknowledged.size(), static_cast<size_t>(kRuns));
    ASSERT_EQ(Taskmill({"queue", "resume", "default"}, server.url()).exit_code, 0);
    ASSERT_TRUE(WaitUntil(kSettle, [&] { return Statuses(server.url())["completed"] >= 1000; }))
        << "runs should complete while the server runs";
    server.Kill9();
  }
  const auto at_kill = RunningAtKill(db_path);
  std::set<std::string> started, claimed_ahead;
  for (const auto& [id, claim] : at_kill) (claim.started ? started : claimed_ahead).insert(id);
  {
    Server server(data);
    ASSERT_TRUE(server.started()) << server.startup_output();
    auto observer = OpenStorage({db_path.string() + "?synchronous=normal"});
    ASSERT_TRUE(observer.ok()) << observer.status().ToString();
    EXPECT_TRUE(WaitUntil(seconds(kTimeToResolve + 2), [&] {
      return ClaimsResolved(**observer, at_kill);
    })) << "runs of the killed server still running time_to_resolve + 2 s after the restart";
    int64_t live = -1;
    ASSERT_TRUE(WaitUntil(kSettle, [&] { return (live = LiveRuns(server.url())) == 0; }))
        << live << " runs still pending or running after the restart (-1: no answer)";
    server.Terminate();
  }
  const auto runs = AllRuns(db_path);
  int completed = 0;
  std::set<std::string> lost;
  for (const auto& [id, run] : runs) {
    if (run.status == RunStatus::kCompleted) ++completed;
    if (run.status == RunStatus::kLost) lost.insert(id);
    EXPECT_TRUE(run.status == RunStatus::kCompleted || run.status == RunStatus::kLost)
        << id << " is " << ToString(run.status);
  }
  EXPECT_EQ(runs.size(), acknowledged.size());
  // Only an attempt that really started may count as lost (max_attempts 1).
  EXPECT_EQ(lost, started);
  for (const auto& id : claimed_ahead) {
    const taskmill::Run& run = runs.at(id);
    EXPECT_EQ(run.status, RunStatus::kCompleted) << id << " was claimed ahead at the kill";
    ASSERT_EQ(run.attempts.size(), 1u) << id << ": the claim that never started is no attempt";
    EXPECT_EQ(run.attempts[0].outcome, "completed");
  }
  EXPECT_EQ(completed, kRuns - static_cast<int>(started.size()));
  // What the kill caught is reported, not asserted: how much was claimed ahead at the
  // moment of the kill depends on the machine's pace.
  std::cout << "at the kill: " << started.size() << " started, " << claimed_ahead.size()
            << " claimed ahead\n";
}

}  // namespace
}  // namespace taskmill::testing
