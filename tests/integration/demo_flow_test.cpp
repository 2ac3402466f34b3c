// The flow of demo functions that docs/flows.md offers to try, run by a real
// `taskmill serve` and the real client: demo.split adds the children the flow's args
// ask for, and a count it cannot take fails the flow naming the field.
#include <gtest/gtest.h>

#include <fstream>

#include "integration/harness.h"

namespace taskmill::testing {
namespace {
namespace json = boost::json;

// docs/flows.md: the flow to try without writing a function.
constexpr const char* kConfig = R"(flows:
  try:
    entrance: wait
    steps:
      wait:  { func_name: demo.consume, next: [split] }      # runs 5 s
      split: { func_name: demo.split, child_func: demo.sleep, max_concurrency: 2, next: [done] }
      done:  { func_name: demo.echo }
)";

TEST(DemoFlowTest, SplitAddsTheChildrenTheArgsAskForAndABadCountFailsTheFlow) {
  TempDir dir;
  const auto config = dir.path() / "taskmill.yaml";
  std::ofstream(config) << kConfig;
  Server server(dir.path() / "data", {"--config", config.string()});
  ASSERT_TRUE(server.started()) << server.startup_output();

  auto done = Taskmill({"flow", "start", "try", "--args", R"({"children": 4})", "--wait", "--json"},
                       server.url());
  ASSERT_EQ(done.exit_code, 0) << done.err << done.out;
  json::value result = done.Json();
  ASSERT_TRUE(result.is_object()) << done.out;
  EXPECT_EQ(result.at("result"), "all_over") << done.out;
  EXPECT_EQ(result.at("state"), json::parse(R"({"children": 4})")) << done.out;
  const std::string root(result.at("run_id").as_string());
  auto shown = Taskmill({"flow", "show", root, "--once"}, server.url());
  ASSERT_EQ(shown.exit_code, 0) << shown.err << shown.out;
  EXPECT_NE(shown.out.find("4 done, 0 failed, 0 running of 4"), std::string::npos) << shown.out;

  auto bad = Taskmill({"flow", "start", "try", "--args", R"({"children": -1})", "--wait", "--json"},
                      server.url());
  EXPECT_EQ(bad.exit_code, 1) << bad.err << bad.out;
  json::value failed = bad.Json();
  ASSERT_TRUE(failed.is_object()) << bad.out;
  EXPECT_EQ(failed.at("result"), "failed_over");
  EXPECT_EQ(failed.at("step"), "split");
  EXPECT_NE(std::string(failed.at("error").as_string()).find("args.children"), std::string::npos)
      << bad.out;
}

}  // namespace
}  // namespace taskmill::testing
