// End-to-end: a real `taskmill serve` with the remote-runner example config, and the
// example Python worker (examples/remote-runner/runner.py) as a real process serving
// the `remote` queue over HTTP, while runs are created with the real CLI.
#include <gtest/gtest.h>

#include <string>
#include <thread>

#include "integration/harness.h"

namespace taskmill::testing {
namespace {
namespace json = boost::json;

const std::string kRemoteConfig =
    std::string(TASKMILL_SOURCE_DIR) + "/examples/remote-runner/taskmill.yaml";
const std::string kRunner = std::string(TASKMILL_SOURCE_DIR) + "/examples/remote-runner/runner.py";

TEST(RemoteRunnerTest, PythonWorkerCompletesAndFailsRunsOfItsQueue) {
  TempDir dir;
  Server server(dir.path() / "data", {"--config", kRemoteConfig});
  ASSERT_TRUE(server.started()) << "server did not start:\n" << server.startup_output();

  // The worker handles exactly three runs, then exits; the bound only guards a hang.
  CommandResult worker;
  std::thread worker_thread([&] {
    worker = RunProcess({"python3", kRunner, "--server", server.url(), "--queue", "remote", "--id",
                         "it-python", "--once", "3", "--wait", "5"},
                        {}, std::chrono::seconds(120));
  });

  // Waited for through the CLI: the worker claims it from its long-poll.
  auto first =
      Taskmill({"create", "py.add", "--queue", "remote", "--args", "[1, 2, 3]", "--wait", "--json"},
               server.url(), std::chrono::seconds(90));
  // The function's queue is the default; these two are created before anyone waits.
  auto second = Taskmill({"create", "py.add", "--args", "[40, 2]", "--json"}, server.url());
  auto third = Taskmill({"create", "py.fail", "--args", R"(["x"])", "--json"}, server.url());
  worker_thread.join();
  EXPECT_EQ(worker.exit_code, 0) << "runner.py:\n" << worker.err;

  ASSERT_EQ(first.exit_code, 0) << first.err << first.out;
  json::value run = first.Json();
  ASSERT_TRUE(run.is_object()) << first.out;
  EXPECT_EQ(run.at("status"), "completed");
  EXPECT_EQ(run.at("result"), 6);
  EXPECT_EQ(run.at("queue"), "remote");
  EXPECT_EQ(run.at("attempts").at(0).at("runner"), "it-python");

  ASSERT_EQ(second.exit_code, 0) << second.err;
  ASSERT_EQ(third.exit_code, 0) << third.err;
  EXPECT_EQ(second.Json().at("queue"), "remote");
  auto shown = [&](const CommandResult& created) {
    std::string id(created.Json().at("id").as_string());
    auto r = Taskmill({"run", id, "--wait", "--json"}, server.url(), std::chrono::seconds(90));
    json::value value = r.Json();
    EXPECT_TRUE(value.is_object()) << r.out << r.err;
    return value.is_object() ? value : json::value(json::object());
  };
  json::value added = shown(second);
  EXPECT_EQ(added.at("status"), "completed");
  EXPECT_EQ(added.at("result"), 42);
  json::value failed = shown(third);
  EXPECT_EQ(failed.at("status"), "failed");
  EXPECT_EQ(failed.at("error"), R"(RuntimeError: py.fail always fails (args: ["x"]))");
  EXPECT_EQ(failed.at("error_kind"), "user");
  EXPECT_NE(std::string(failed.at("attempts").at(0).at("output").as_string()).find("Traceback"),
            std::string::npos);

  // The server lists the worker it heard from beside its own runner.
  auto runners = Taskmill({"api", "GET", "/api/v1/runners"}, server.url());
  ASSERT_EQ(runners.exit_code, 0) << runners.err;
  json::value listed = runners.Json();
  ASSERT_TRUE(listed.is_object()) << runners.out;
  bool local = false;
  bool remote = false;
  for (const auto& runner : listed.at("runners").as_array()) {
    if (runner.at("kind") == "local") {
      local = true;
      EXPECT_EQ(runner.at("queues"), json::parse(R"(["default"])"));
    }
    if (runner.at("id") == "it-python") {
      remote = true;
      EXPECT_EQ(runner.at("kind"), "remote");
      EXPECT_EQ(runner.at("queues"), json::parse(R"(["remote"])"));
      EXPECT_EQ(runner.at("used"), 0);
    }
  }
  EXPECT_TRUE(local) << runners.out;
  EXPECT_TRUE(remote) << runners.out;
}

}  // namespace
}  // namespace taskmill::testing
