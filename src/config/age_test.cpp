#include "config/age.h"

#include <gtest/gtest.h>

#include "config/config.h"

namespace taskmill::config {
namespace {
using namespace std::chrono_literals;

TEST(ParseAge, ReadsANumberAndAUnit) {
  EXPECT_EQ(*ParseAge("30d"), Duration(30 * 24h));
  EXPECT_EQ(*ParseAge("12h"), Duration(12h));
  EXPECT_EQ(*ParseAge("90m"), Duration(90min));
  EXPECT_EQ(*ParseAge("2w"), Duration(14 * 24h));
  EXPECT_EQ(*ParseAge("45s"), Duration(45s));
  EXPECT_EQ(*ParseAge("3600"), Duration(1h)) << "a bare number is seconds";
}

TEST(ParseAge, RefusesWhatIsNotAPositiveAgeSayingWhatIsExpected) {
  for (const char* bad : {"", "d", "0d", "-1d", "30x", "30 d", "1.5d", "30dd", "99999999999w"}) {
    auto age = ParseAge(bad);
    ASSERT_FALSE(age.ok()) << bad;
    EXPECT_EQ(age.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(age.status().message().find("e.g. 30d"), std::string::npos) << bad;
  }
}

TEST(HistoryRetention, IsReadFromTaskStorageAndReachesTheScheduler) {
  auto config = LoadString("task_storage:\n  history_retention: 90d\n");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->history_retention, Duration(90 * 24h));
  EXPECT_EQ(ToEngineOptions(*config).scheduler_options.history_retention, Duration(90 * 24h));
  auto none = LoadString("");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->history_retention, Duration::zero());
}

TEST(HistoryRetention, ABadAgeNamesTheLineAndKey) {
  auto config = LoadString("task_storage:\n  history_retention: 30 days\n", "taskmill.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find(
                "taskmill.yaml:2: task_storage.history_retention: '30 days' is not an age"),
            std::string::npos)
      << config.status().message();
}

}  // namespace
}  // namespace taskmill::config
