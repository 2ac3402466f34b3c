// The command line as docs/cli.md describes it: the options every command takes work
// before or after the command, and each row of the exit-status table is what a user
// gets (docs/errors.md's test covers each refused input class as well).
#include <gtest/gtest.h>

#include "integration/harness.h"

namespace taskmill::testing {
namespace {

class CliExitTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    server_ = new Server(dir_->path() / "data");
  }
  static void TearDownTestSuite() {
    delete server_;
    delete dir_;
  }
  void SetUp() override { ASSERT_TRUE(server_->started()) << server_->startup_output(); }
  static const std::string& url() { return server_->url(); }

  static TempDir* dir_;
  static Server* server_;
};
TempDir* CliExitTest::dir_ = nullptr;
Server* CliExitTest::server_ = nullptr;

TEST_F(CliExitTest, GlobalOptionsWorkBeforeAndAfterTheCommand) {
  // No $TASKMILL_SERVER: the server comes from --server alone.
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--server", url(), "stats", "--json"},
           {"--json", "--server", url(), "stats"},
           {"stats", "--server", url(), "--json"},
           {"--server", url(), "stats", "--json", "--token", ""},
       }) {
    auto r = Taskmill(args);
    EXPECT_EQ(r.exit_code, 0) << args[0] << " " << args[1] << ": " << r.err;
    EXPECT_TRUE(r.Json().is_object()) << "--json was honoured: " << r.out;
  }
  // Nested commands too.
  auto paused = Taskmill({"queue", "pause", "q1", "--server", url(), "--json"});
  EXPECT_EQ(paused.exit_code, 0) << paused.err;
  EXPECT_TRUE(paused.Json().is_object()) << paused.out;
  auto resumed = Taskmill({"--json", "--server", url(), "queue", "resume", "q1"});
  EXPECT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_TRUE(resumed.Json().is_object()) << resumed.out;
}

TEST_F(CliExitTest, ExitZeroOnSuccess) {
  EXPECT_EQ(Taskmill({"create", "demo.echo", "--wait"}, url()).exit_code, 0);
  EXPECT_EQ(Taskmill({"api", "GET", "/api/v1/stats"}, url()).exit_code, 0);
}

TEST_F(CliExitTest, ExitOneWhenAWaitedRunDidNotComplete) {
  EXPECT_EQ(Taskmill({"create", "demo.fail", "--wait"}, url()).exit_code, 1);
}

TEST_F(CliExitTest, ExitTwoForUsageErrorsAndRejectedRequests) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"no-such-command"},
           {"stats", "--no-such-option"},
           {"run"},  // missing argument
           {"create", "demo.echo", "--in", "-5"},
           {"create", "demo.echo", "--in", "soon"},
           {"task", "enable", "no-such-task"},  // 404
           {"queue", "pause", "bad q!"},        // 4xx
           {"api", "GET", "/api/v1/nope"},      // 404
           {"api", "BOGUS", "/x"},              // not an HTTP method
       }) {
    auto r = Taskmill(args, url());
    EXPECT_EQ(r.exit_code, 2) << args[0] << (args.size() > 1 ? " " + args[1] : "") << ": " << r.err;
    EXPECT_EQ(r.err.find("cannot reach"), std::string::npos) << r.err;
  }
}

TEST_F(CliExitTest, NegativeDelayNamesAReadableBound) {
  auto r = Taskmill({"create", "demo.echo", "--in", "-5"}, url());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--in"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("0 or more"), std::string::npos) << r.err;
  EXPECT_LT(r.err.size(), 300u) << "no 309-digit bound: " << r.err;
}

TEST_F(CliExitTest, TokenWithALineBreakIsRefusedBeforeSending) {
  for (const auto& token : {std::string("abc\r\nX-Injected: 1"), std::string("abc\ndef")}) {
    auto r = Taskmill({"--token", token, "stats"}, url());
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("control character"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("X-Injected"), std::string::npos) << "the token is not echoed";
  }
  // From the environment as well.
  auto r = RunProcess({TASKMILL_BINARY, "stats"},
                      {{"TASKMILL_SERVER", url()}, {"TASKMILL_TOKEN", "abc\r\nX-Injected: 1"}});
  EXPECT_EQ(r.exit_code, 2) << r.err;
}

TEST(CliExit, ExitThreeWhenTheServerCannotBeReached) {
  auto r = Taskmill({"--server", "http://127.0.0.1:1", "stats"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("cannot reach"), std::string::npos) << r.err;
}

TEST(CliExit, RunnerProcessServesMetricsAndHealthOnListen) {
  TempDir dir;
  Server runner(dir.path() / "d", {"--roles", "runner"});
  ASSERT_TRUE(runner.started()) << runner.startup_output();
  auto health = Taskmill({"api", "GET", "/healthz"}, runner.url());
  EXPECT_EQ(health.exit_code, 0) << health.err;
  EXPECT_NE(health.out.find("ok"), std::string::npos) << health.out;
  auto metrics = Taskmill({"api", "GET", "/metrics"}, runner.url());
  EXPECT_EQ(metrics.exit_code, 0) << metrics.err;
  EXPECT_NE(metrics.out.find("taskmill_"), std::string::npos);
  // Nothing else: the api role is not played here.
  EXPECT_EQ(Taskmill({"api", "GET", "/api/v1/stats"}, runner.url()).exit_code, 2);
}

}  // namespace
}  // namespace taskmill::testing
