// `taskmill prune --older-than AGE` (docs/cli.md): removes once the finished runs older
// than the age from the storage of --storage, says what went, leaves live and newer
// runs, and refuses an age it cannot read.
#include <gtest/gtest.h>
#include <taskmill/storage.h>

#include <chrono>

#include "integration/harness.h"

namespace taskmill::testing {
namespace {
using namespace std::chrono_literals;

TEST(CliPrune, RemovesFinishedRunsOlderThanTheAgeOnceAndSaysHowMany) {
  TempDir dir;
  const std::string db = (dir.path() / "taskmill.db").string();
  {
    auto storage = OpenStorage({.url = db});
    ASSERT_TRUE(storage.ok()) << storage.status().ToString();
    const TimePoint now = SystemClock::Instance().Now();
    auto run = [&](const std::string& id, RunStatus status, Duration age) {
      taskmill::Run r;
      r.id = id;
      r.function = "demo.echo";
      r.status = status;
      r.created_at = r.run_at = now - age;
      if (IsFinal(status)) r.finished_at = now - age;
      return r;
    };
    RunPutParams params;
    params.runs = {run("old-1", RunStatus::kCompleted, 24h * 100),
                   run("old-2", RunStatus::kFailed, 24h * 40),
                   run("new", RunStatus::kCompleted, 24h * 2),
                   run("old-pending", RunStatus::kPending, 24h * 100)};
    ASSERT_TRUE((*storage)->RunPut(params).ok());
  }

  auto pruned = Taskmill({"prune", "--storage", db, "--older-than", "30d"});
  ASSERT_EQ(pruned.exit_code, 0) << pruned.err;
  EXPECT_NE(pruned.out.find("removed 2 finished runs older than "), std::string::npos)
      << pruned.out;

  auto again = Taskmill({"prune", "--storage", db, "--older-than", "1w", "--json"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.Json().at("runs_removed").to_number<int64_t>(), 0) << again.out;

  auto storage = OpenStorage({.url = db});
  ASSERT_TRUE(storage.ok());
  EXPECT_FALSE((*storage)->RunGet("old-1").ok());
  EXPECT_FALSE((*storage)->RunGet("old-2").ok());
  EXPECT_TRUE((*storage)->RunGet("new").ok());
  EXPECT_TRUE((*storage)->RunGet("old-pending").ok()) << "live runs are never pruned";
}

TEST(CliPrune, RefusesAnAgeItCannotRead) {
  TempDir dir;
  const std::string db = (dir.path() / "taskmill.db").string();
  auto bad = Taskmill({"prune", "--storage", db, "--older-than", "30 days"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--older-than: '30 days' is not an age"), std::string::npos) << bad.err;
  auto missing = Taskmill({"prune", "--storage", db});
  EXPECT_NE(missing.exit_code, 0) << "--older-than is required";
}

}  // namespace
}  // namespace taskmill::testing
