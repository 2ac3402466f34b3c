// Configuration values that would abort the server or exhaust its memory are refused
// with a message naming the line.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "config/config.h"

namespace taskmill::config {
namespace {
using ::testing::HasSubstr;

std::string ErrorOf(std::string_view yaml) {
  Result<Config> result = LoadString(yaml, "taskmill.yaml");
  EXPECT_FALSE(result.ok()) << "expected an error for:\n" << yaml;
  return result.ok() ? "" : result.status().message();
}

TEST(ConfigLimits, AHugeRunnerCapacityIsRefusedNamingTheLine) {
  EXPECT_EQ(ErrorOf("task_runner:\n  capacity: 1000000\n"),
            "taskmill.yaml:2: task_runner.capacity: must be at most 4096, got 1000000");
  auto config = LoadString("task_runner:\n  capacity: 4096\n", "taskmill.yaml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->runner_capacity, 4096);
}

// A lease shorter than two renewals (one a second) would lapse under a live leader.
TEST(ConfigLimits, ASchedulerLeaseShorterThanTwoSecondsIsRefused) {
  EXPECT_EQ(ErrorOf("scheduler:\n  lease: 1.5\n"),
            "taskmill.yaml:2: scheduler.lease: must be at least 2 seconds (the lease is renewed "
            "every second)");
  auto config = LoadString("scheduler:\n  lease: 4\n", "taskmill.yaml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->scheduler_lease, std::chrono::seconds(4));
  EXPECT_EQ(ToEngineOptions(*config).scheduler_options.leader_ttl, std::chrono::seconds(4));
  auto defaults = LoadString("", "taskmill.yaml");
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(ToEngineOptions(*defaults).scheduler_options.leader_ttl, std::chrono::seconds(15));
}

TEST(ConfigLimits, AHugeMaxAttemptsIsRefused) {
  EXPECT_THAT(ErrorOf("tasks:\n  a:\n    func_name: demo.echo\n    max_attempts: 2000000000\n"),
              HasSubstr("taskmill.yaml:4: tasks.a.max_attempts: must be at most 1000000"));
}

// 771 bytes whose aliases expand to 9^9 nodes.
TEST(ConfigLimits, AYamlAliasBombIsRefusedBeforeItExpands) {
  std::string bomb =
      "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n";
  const char* names = "abcdefghi";
  for (int level = 1; level < 9; ++level) {
    std::string name(1, names[level]);
    std::string prev(1, names[level - 1]);
    bomb += name + ": &" + name + " [";
    for (int i = 0; i < 9; ++i) bomb += std::string(i ? "," : "") + "*" + prev;
    bomb += "]\n";
  }
  std::string error = ErrorOf(bomb);
  EXPECT_THAT(error, HasSubstr("aliases expand to more than 100000 nodes"));
  EXPECT_THAT(error, ::testing::StartsWith("taskmill.yaml:"));
}

TEST(ConfigLimits, AFewAliasesAreFine) {
  auto config = LoadString(
      "tasks:\n"
      "  a: &task {func_name: demo.echo, max_attempts: 3}\n"
      "  b: *task\n",
      "taskmill.yaml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->tasks.size(), 2u);
}

TEST(ConfigLimits, AHugeFileIsRefused) {
  std::string huge = "# " + std::string(5 << 20, 'x') + "\n";
  EXPECT_THAT(ErrorOf(huge), HasSubstr("a configuration may be at most 4 MiB"));
}

}  // namespace
}  // namespace taskmill::config
