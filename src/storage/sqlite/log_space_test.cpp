// How far the write-ahead log is cut back when it starts over (LogSpace::LogBound).
// The small disk itself, and the log truncated to its short bound there, is
// tests/integration/disk_full_test.cpp.
#include "storage/sqlite/log_space.h"

#include <gtest/gtest.h>

#include <limits>

#include "storage/conformance/storage_conformance.h"

namespace taskmill::sqlite {
namespace {

using conformance::TempDir;

constexpr int64_t kPage = 16 << 10;
constexpr int64_t kShortBound = int64_t{64} << 10;

TEST(LogSpace, OnADiskWithRoomTheLogKeepsItsWorkingSize) {
  TempDir dir;
  // A working size the disk holds many times over (1 MiB: the test's disk has 8).
  const int64_t working = int64_t{1} << 20;
  LogSpace space((dir.path() / "taskmill.db").string(), kPage, kShortBound, working);
  EXPECT_EQ(space.LogBound(), working);
}

TEST(LogSpace, ADiskWithoutRoomForItCutsTheLogToItsShortBound) {
  TempDir dir;
  // No disk holds this 8 times over.
  const int64_t working = std::numeric_limits<int64_t>::max() / 16;
  LogSpace space((dir.path() / "taskmill.db").string(), kPage, kShortBound, working);
  EXPECT_EQ(space.LogBound(), kShortBound);
}

TEST(LogSpace, AFullDiskCutsTheLogToItsShortBound) {
  TempDir dir;
  LogSpace space((dir.path() / "taskmill.db").string(), kPage, kShortBound, int64_t{1} << 20);
  ASSERT_EQ(space.LogBound(), int64_t{1} << 20);
  space.NoteFull();
  EXPECT_EQ(space.LogBound(), kShortBound);
}

}  // namespace
}  // namespace taskmill::sqlite
