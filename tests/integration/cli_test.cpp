// End-to-end: a real `taskmill serve` (SQLite in a temp dir, the example config) driven
// by the real `taskmill` client commands, as a user would in the quick start.
#include <gtest/gtest.h>
#include <taskmill/clock.h>

#include <fstream>

#include "integration/harness.h"

namespace taskmill::testing {
namespace {
namespace json = boost::json;

const std::string kExampleConfig = std::string(TASKMILL_SOURCE_DIR) + "/examples/taskmill.yaml";

class CliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    // The example config's command task runs a script by a relative path.
    server_ = new Server(dir_->path() / "data", {"--config", kExampleConfig});
  }
  static void TearDownTestSuite() {
    delete server_;
    delete dir_;
  }
  void SetUp() override {
    ASSERT_TRUE(server_->started()) << "server did not start:\n" << server_->startup_output();
  }
  static CommandResult Run(const std::vector<std::string>& args) {
    return Taskmill(args, server_->url());
  }

  static TempDir* dir_;
  static Server* server_;
};
TempDir* CliTest::dir_ = nullptr;
Server* CliTest::server_ = nullptr;

TEST_F(CliTest, FunctionsListsTheExampleFunctions) {
  auto r = Run({"functions"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("demo.echo"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("demo.fail"), std::string::npos) << r.out;
}

TEST_F(CliTest, CreateEchoAndWaitPrintsTheCompletedRun) {
  auto r = Run({"create", "demo.echo", "--args", R"(["hello"])", "--wait", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  auto run = r.Json();
  ASSERT_TRUE(run.is_object()) << r.out;
  EXPECT_EQ(run.at("status"), "completed");
  EXPECT_EQ(run.at("result"), (json::array{"hello"}));
  EXPECT_EQ(run.at("attempts").as_array().size(), 1u);

  // Human output names the status too.
  auto human = Run({"create", "demo.echo", "--args", R"(["hi"])", "--wait"});
  EXPECT_EQ(human.exit_code, 0) << human.err;
  EXPECT_NE(human.out.find("completed"), std::string::npos) << human.out;
}

TEST_F(CliTest, FailingRunIsRetriedWithBackoffAndEndsFailed) {
  auto r = Run({"create", "demo.fail", "--max-attempts", "3", "--delay", "1", "--delay-factor", "2",
                "--wait", "--json"});
  EXPECT_EQ(r.exit_code, 1) << "a failed run exits 1 with --wait\n" << r.err;
  auto run = r.Json();
  ASSERT_TRUE(run.is_object()) << r.out;
  EXPECT_EQ(run.at("status"), "failed");
  const auto& attempts = run.at("attempts").as_array();
  ASSERT_EQ(attempts.size(), 3u);
  // The retries waited delay × factor^(k−1): 1 s, then 2 s.
  auto at = [](const json::value& v) {
    TimePoint t;
    EXPECT_TRUE(ParseTime(v.as_string(), &t));
    return t;
  };
  auto gap1 = at(attempts[1].at("started_at")) - at(attempts[0].at("finished_at"));
  auto gap2 = at(attempts[2].at("started_at")) - at(attempts[1].at("finished_at"));
  EXPECT_GE(gap1, std::chrono::seconds(1));
  EXPECT_GE(gap2, std::chrono::seconds(2));
  EXPECT_LT(gap1, gap2);
}

TEST_F(CliTest, StartRunsTheConfiguredCommandTask) {
  auto r = Run({"start", "nightly-report", "--wait", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  auto run = r.Json();
  EXPECT_EQ(run.at("status"), "completed");
  EXPECT_EQ(run.at("task"), "nightly-report");
  EXPECT_FALSE(run.at("attempts").as_array()[0].at("output").as_string().empty())
      << "the script's output is captured";
}

TEST_F(CliTest, RunsRunCancelRetryRmAndStats) {
  auto failed = Run({"create", "demo.fail", "--wait", "--json"}).Json();
  ASSERT_TRUE(failed.is_object());
  std::string failed_id(failed.at("id").as_string());

  auto list = Run({"runs", "--status", "failed", "--json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_NE(list.out.find(failed_id), std::string::npos);
  auto completed = Run({"runs", "--status", "completed", "--json"});
  EXPECT_EQ(completed.out.find(failed_id), std::string::npos);

  auto shown = Run({"run", failed_id, "--json"});
  ASSERT_EQ(shown.exit_code, 0);
  EXPECT_EQ(shown.Json().at("id"), failed_id.c_str());

  // A long run, cancelled while it runs.
  auto sleeping = Run({"create", "demo.sleep", "--args", "[600]", "--json"}).Json();
  std::string sleep_id(sleeping.at("id").as_string());
  auto cancelled = Run({"cancel", sleep_id, "--json"});
  ASSERT_EQ(cancelled.exit_code, 0) << cancelled.err;
  EXPECT_EQ(cancelled.Json().at("status"), "stopped");

  auto retried = Run({"retry", failed_id, "--json"});
  ASSERT_EQ(retried.exit_code, 0) << retried.err;
  EXPECT_NE(retried.Json().at("status"), "failed");

  auto removed = Run({"rm", sleep_id});
  EXPECT_EQ(removed.exit_code, 0) << removed.err;
  EXPECT_NE(Run({"run", sleep_id}).exit_code, 0) << "removed runs are gone";

  auto stats = Run({"stats", "--json"});
  ASSERT_EQ(stats.exit_code, 0);
  auto stats_json = stats.Json();
  const auto& statuses = stats_json.at("statuses").as_object();
  for (const char* s : {"pending", "running", "completed", "partial", "failed", "lost", "stopped",
                        "did_not_start", "unknown_task", "total"}) {
    EXPECT_TRUE(statuses.contains(s)) << s;
  }
}

TEST_F(CliTest, BadInputGetsAClearErrorAndStoresNothing) {
  auto before = Run({"stats", "--json"}).Json().at("statuses").at("total").to_number<int64_t>();
  auto unknown = Run({"create", "demo.nope"});
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_NE(unknown.err.find("demo.nope"), std::string::npos) << unknown.err;
  auto bad_args = Run({"create", "demo.echo", "--args", "[1,"});
  EXPECT_NE(bad_args.exit_code, 0);
  auto scalar = Run({"create", "demo.echo", "--args", "42"});
  EXPECT_NE(scalar.exit_code, 0);
  EXPECT_NE(scalar.err.find("args"), std::string::npos) << scalar.err;
  auto dup1 = Run({"create", "demo.echo", "--id", "same-id"});
  EXPECT_EQ(dup1.exit_code, 0) << dup1.err;
  auto dup2 = Run({"create", "demo.echo", "--id", "same-id"});
  EXPECT_NE(dup2.exit_code, 0);
  EXPECT_NE(dup2.err.find("same-id"), std::string::npos) << dup2.err;
  auto after = Run({"stats", "--json"}).Json().at("statuses").at("total").to_number<int64_t>();
  EXPECT_EQ(after, before + 1) << "only the first same-id run was stored";
}

TEST(ServeTest, ConfigWithUnknownKeyFailsNamingKeyAndLine) {
  TempDir dir;
  std::ofstream(dir.path() / "bad.yaml") << "task_runner:\n  capacity: 4\n  capacityy: 5\n";
  auto r = Taskmill({"serve", "--config", (dir.path() / "bad.yaml").string(), "--listen",
                     "127.0.0.1:0", "--data-dir", (dir.path() / "d").string()});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("bad.yaml:3"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("capacityy"), std::string::npos) << r.err;
}

TEST(ServeTest, ConfigWithWrongTypeFails) {
  TempDir dir;
  std::ofstream(dir.path() / "bad.yaml") << "task_runner:\n  capacity: lots\n";
  auto r = Taskmill({"serve", "--config", (dir.path() / "bad.yaml").string(), "--listen",
                     "127.0.0.1:0", "--data-dir", (dir.path() / "d").string()});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("capacity"), std::string::npos) << r.err;
}

TEST(ServeTest, CommandThatDoesNotExistFailsTheRunWithAClearError) {
  TempDir dir;
  std::ofstream(dir.path() / "t.yaml")
      << "tasks:\n  broken:\n    command: [\"no-such-command-xyz\"]\n";
  Server server(dir.path() / "d", {"--config", (dir.path() / "t.yaml").string()});
  ASSERT_TRUE(server.started()) << server.startup_output();
  auto r = Taskmill({"start", "broken", "--wait", "--json"}, server.url());
  EXPECT_EQ(r.exit_code, 1);
  auto run = r.Json();
  ASSERT_TRUE(run.is_object()) << r.out << r.err;
  EXPECT_EQ(run.at("status"), "failed");
  EXPECT_NE(std::string(run.at("error").as_string()).find("command not found"), std::string::npos)
      << run.at("error");
}

TEST(ServeTest, ClientReportsAnUnreachableServer) {
  auto r = Taskmill({"stats"}, "http://127.0.0.1:1");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("127.0.0.1:1"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace taskmill::testing
