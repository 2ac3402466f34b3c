// End-to-end: a real `taskmill serve` whose flow is made of command steps (a shell
// script that prints the step's state and children, a Python child that reads its
// definition on stdin), failed, then reopened with `taskmill flow retry` and ended.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "integration/harness.h"

namespace taskmill::testing {
namespace {
namespace json = boost::json;

TEST(FlowCli, ACommandFlowFailsThenFlowRetryReopensItToTheEnd) {
  TempDir dir;
  const std::string gate = (dir.path() / "ready").string();
  const std::string config = (dir.path() / "taskmill.yaml").string();
  {
    std::ofstream out(config);
    out << "tasks:\n"
           "  check:\n"
           "    kind: single_shot\n"
           "    shell: true\n"
           "    command: [\"test -f '"
        << gate
        << "' || { echo 'not ready'; exit 3; }; echo checking; "
           "echo '{\\\"state\\\": {\\\"ready\\\": true}, \\\"children\\\": [[\\\"a\\\", 3], "
           "[\\\"b\\\", 4]]}'\"]\n"
           "  double:\n"
           "    kind: single_shot\n"
           "    shell: true\n"
           "    command: [\"python3 -c 'import json, sys; run = json.load(sys.stdin); "
           "print(json.dumps({\\\"double\\\": run[\\\"args\\\"][\\\"definition\\\"] * 2}))'\"]\n"
           "flows:\n"
           "  gated:\n"
           "    entrance: check\n"
           "    steps:\n"
           "      check: { func_name: task.check, child_func: task.double }\n";
  }
  Server server(dir.path() / "data", {"--config", config});
  ASSERT_TRUE(server.started()) << "server did not start:\n" << server.startup_output();

  auto failed = Taskmill({"flow", "start", "gated", "--wait", "--json"}, server.url(),
                         std::chrono::seconds(60));
  EXPECT_EQ(failed.exit_code, 1) << failed.out << failed.err;
  json::value ended = failed.Json();
  ASSERT_TRUE(ended.is_object()) << failed.out;
  EXPECT_EQ(ended.at("result"), "failed_over");
  EXPECT_EQ(ended.at("step"), "check");
  const std::string root(ended.at("run_id").as_string());

  // A step the flow did not fail at is refused, with a clear error and exit code.
  auto wrong = Taskmill({"flow", "retry", root, "nope"}, server.url());
  EXPECT_NE(wrong.exit_code, 0);
  EXPECT_NE(wrong.err.find("no step 'nope'"), std::string::npos) << wrong.err;

  std::ofstream(gate) << "ok\n";
  auto retried = Taskmill({"flow", "retry", root, "check", "--json"}, server.url());
  ASSERT_EQ(retried.exit_code, 0) << retried.out << retried.err;
  EXPECT_EQ(retried.Json().at("status"), "running");

  auto done = Taskmill({"run", root, "--wait", "--json"}, server.url(), std::chrono::seconds(60));
  ASSERT_EQ(done.exit_code, 0) << done.out << done.err;
  EXPECT_EQ(done.Json().at("status"), "completed") << done.out;
  EXPECT_EQ(done.Json().at("result").at("outcome"), "all_over");
  auto child = Taskmill({"run", root + ":check:b", "--json"}, server.url());
  ASSERT_EQ(child.exit_code, 0) << child.err;
  EXPECT_EQ(child.Json().at("result"), (json::object{{"double", 8}}));
  auto step = Taskmill({"run", root + ":check", "--json"}, server.url());
  EXPECT_EQ(step.Json().at("attempts").as_array().size(), 2u) << "the failed attempt is kept";
}

}  // namespace
}  // namespace taskmill::testing
