#include <gtest/gtest.h>
#include <taskmill/run_enums.h>

namespace taskmill {
namespace {

// The string forms are what storage and JSON hold: they must never change.
TEST(RunEnumsTest, StringFormsAreTheStoredWords) {
  EXPECT_EQ(ToString(ErrorKind::kUser), "user");
  EXPECT_EQ(ToString(ErrorKind::kTimeout), "timeout");
  EXPECT_EQ(ToString(ErrorKind::kInterrupted), "interrupted");
  EXPECT_EQ(ToString(ErrorKind::kStopped), "stopped");
  EXPECT_EQ(ToString(ErrorKind::kLost), "lost");
  EXPECT_EQ(ToString(ErrorKind::kUnknownTask), "unknown_task");
  EXPECT_EQ(ToString(ErrorKind::kRows), "rows");
  EXPECT_EQ(ToString(ErrorKind::kInternal), "internal");
  EXPECT_EQ(ToString(Misfire::kSkip), "skip");
  EXPECT_EQ(ToString(Misfire::kRunOnce), "run_once");
  EXPECT_EQ(ToString(Misfire::kRunAll), "run_all");
  EXPECT_EQ(ToString(Overlap::kSkip), "skip");
  EXPECT_EQ(ToString(Overlap::kAllow), "allow");
}

TEST(RunEnumsTest, ParseReadsBackEveryFormAndRefusesOtherWords) {
  for (ErrorKind kind :
       {ErrorKind::kUser, ErrorKind::kTimeout, ErrorKind::kInterrupted, ErrorKind::kStopped,
        ErrorKind::kLost, ErrorKind::kUnknownTask, ErrorKind::kRows, ErrorKind::kInternal}) {
    EXPECT_EQ(ParseErrorKind(ToString(kind)), kind);
  }
  EXPECT_EQ(ParseMisfire("run_once"), Misfire::kRunOnce);
  EXPECT_EQ(ParseOverlap("allow"), Overlap::kAllow);
  EXPECT_EQ(ParseErrorKind("quota"), std::nullopt);  // a remote runner's own word
  EXPECT_EQ(ParseMisfire("Skip"), std::nullopt);
  EXPECT_EQ(ParseOverlap(""), std::nullopt);
}

}  // namespace
}  // namespace taskmill
