// `taskmill bench --processes` and `taskmill bench steady` as docs/cli.md describes them,
// on embedded database files (the PostgreSQL figures come from bench/peers and bench/pg).
// What they measure is not asserted here: only that they run and report what they say.
#include <gtest/gtest.h>

#include <sstream>

#include "integration/harness.h"

namespace taskmill::testing {
namespace {
namespace json = boost::json;

TEST(BenchCliTest, DrainByRunnerProcessesFinishesEveryRun) {
  TempDir dir;
  auto r = Taskmill({"bench", "--runs", "3000", "--processes", "2", "--trickle", "5", "--dir",
                     (dir.path() / "b").string(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json::value v = r.Json();
  ASSERT_TRUE(v.is_object()) << r.out;
  const auto& out = v.as_object();
  EXPECT_EQ(out.at("processes").as_int64(), 2);
  EXPECT_EQ(out.at("runs").as_int64(), 3000);
  EXPECT_GT(out.at("drain_runs_per_sec").to_number<double>(), 0);
}

TEST(BenchCliTest, SteadyReportsEveryIntervalAndDrainsWhatItEnqueues) {
  TempDir dir;
  auto r = Taskmill({"bench", "steady", "--storage", (dir.path() / "s.db").string(), "--rate",
                     "200", "--seconds", "2", "--every", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream lines(r.out);
  std::string line;
  std::vector<json::object> reports;
  while (std::getline(lines, line)) reports.push_back(json::parse(line).as_object());
  ASSERT_EQ(reports.size(), 2u) << r.out;
  EXPECT_EQ(reports[0].at("t").as_int64(), 1);
  EXPECT_EQ(reports[1].at("t").as_int64(), 2);
  EXPECT_GT(reports[1].at("finished").as_int64(), 0);
  EXPECT_TRUE(reports[1].contains("backlog"));
}

TEST(BenchCliTest, SteadyWithoutStorageFailsNamingTheOption) {
  auto r = Taskmill({"bench", "steady", "--rate", "10"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--storage"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace taskmill::testing
