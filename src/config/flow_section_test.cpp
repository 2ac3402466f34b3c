// The `flows:` section: our keys and the TaskFlow seed's, and the load-time rules
// (cycles, unknown and unreachable steps) reported with file, line and path.
#include <gtest/gtest.h>

#include <string>

#include "config/config.h"

namespace taskmill::config {
namespace {

std::string ErrorOf(std::string_view yaml) {
  Result<Config> result = LoadString(yaml, "taskmill.yaml");
  EXPECT_FALSE(result.ok()) << "expected an error for:\n" << yaml;
  if (result.ok()) return "";
  EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
  return result.status().message();
}

TEST(FlowSection, ReadsTheIssueExample) {
  Result<Config> config = LoadString(R"(
flows:
  ingest:
    entrance: fetch
    steps:
      fetch: { func_name: web.fetch, max_attempts: 3, timeout: 5, next: [parse] }
      parse: { func_name: data.split, child_func: data.sum_line, max_concurrency: 10,
               exit_on_failed: true, next: [store] }
      store: { func_name: db.write }
)",
                                     "taskmill.yaml");
  ASSERT_TRUE(config.ok()) << config.status().message();
  ASSERT_EQ(config->flows.size(), 1u);
  const FlowDef& flow = config->flows[0];
  EXPECT_EQ(flow.name, "ingest");
  EXPECT_EQ(flow.entrance, "fetch");
  ASSERT_EQ(flow.steps.size(), 3u);
  EXPECT_EQ(flow.steps[0].function, "web.fetch");
  EXPECT_EQ(flow.steps[0].retry.max_attempts, 3);
  EXPECT_EQ(flow.steps[0].timeout, std::chrono::seconds(5));
  EXPECT_EQ(flow.steps[1].child_function, "data.sum_line");
  EXPECT_EQ(flow.steps[1].max_concurrency, 10);
  EXPECT_TRUE(flow.steps[1].exit_on_failed);
  EXPECT_EQ(flow.Successors("parse"), std::vector<std::string>{"store"});
  EXPECT_EQ(flow.Predecessors("store"), std::vector<std::string>{"parse"});
}

TEST(FlowSection, AcceptsTheSeedNames) {
  Result<Config> config = LoadString(R"(
flows:
  example:
    default_entrance: :flow1
    steps:
      flow1:
        max_concurrency: 10
        exit_on_failed?: false
        task_func: flow1.parent
        child_task_func: flow1.child
        task_retry_limit: 3
        task_timeout: 5000
        next: :flow2
      flow2: { task_func: flow2.parent, next: all_over }
)",
                                     "taskmill.yaml");
  ASSERT_TRUE(config.ok()) << config.status().message();
  const FlowStep& step = config->flows[0].steps[0];
  EXPECT_EQ(config->flows[0].entrance, "flow1");
  EXPECT_EQ(step.function, "flow1.parent");
  EXPECT_EQ(step.child_function, "flow1.child");
  EXPECT_EQ(step.retry.max_attempts, 4);  // a limit of 3 retries
  EXPECT_EQ(step.timeout, std::chrono::milliseconds(5000));
  EXPECT_FALSE(step.exit_on_failed);
  EXPECT_EQ(step.next, std::vector<std::string>{"flow2"});
  EXPECT_TRUE(config->flows[0].Successors("flow2").empty());
}

TEST(FlowSection, FanInWaitsForEveryStepListed) {
  Result<Config> config = LoadString(R"(
flows:
  join:
    entrance: a
    steps:
      a: { func_name: t.a, next: [b, c] }
      b: { func_name: t.b }
      c: { func_name: t.c }
      d: { func_name: t.d, after: [b, c] }
)",
                                     "taskmill.yaml");
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->flows[0].Predecessors("d"), (std::vector<std::string>{"b", "c"}));
}

TEST(FlowSection, CycleIsNamedWithFileAndLine) {
  std::string error = ErrorOf(R"(flows:
  loop:
    entrance: start
    steps:
      start: { func_name: t.start, next: [a] }
      a: { func_name: t.a, next: [b] }
      b: { func_name: t.b, next: [a] }
)");
  EXPECT_NE(error.find("taskmill.yaml:6: flows.loop.steps.a.next: cycle: a → b → a"),
            std::string::npos)
      << error;
}

TEST(FlowSection, UnknownStepIsNamed) {
  std::string error = ErrorOf(R"(flows:
  f:
    entrance: a
    steps:
      a: { func_name: t.a, next: [nope] }
)");
  EXPECT_NE(error.find("taskmill.yaml:5: flows.f.steps.a.next: unknown step 'nope'"),
            std::string::npos)
      << error;
}

TEST(FlowSection, UnreachableStepIsNamed) {
  std::string error = ErrorOf(R"(flows:
  f:
    entrance: a
    steps:
      a: { func_name: t.a }
      island: { func_name: t.i }
)");
  EXPECT_NE(error.find("taskmill.yaml:6: flows.f.steps.island: unreachable from the entrance 'a'"),
            std::string::npos)
      << error;
}

TEST(FlowSection, UnknownKeyAndMissingFunction) {
  std::string error = ErrorOf(R"(flows:
  f:
    entrance: a
    steps:
      a: { func_nam: t.a }
)");
  EXPECT_NE(error.find("taskmill.yaml:5: flows.f.steps.a.func_nam: unknown key"), std::string::npos)
      << error;
  error = ErrorOf(R"(flows:
  f:
    entrance: a
    steps:
      a: { max_attempts: 2 }
)");
  EXPECT_NE(error.find("flows.f.steps.a.func_name: every step needs a func_name"),
            std::string::npos)
      << error;
}

}  // namespace
}  // namespace taskmill::config
