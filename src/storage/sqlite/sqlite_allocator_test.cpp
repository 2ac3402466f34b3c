#include "storage/sqlite/sqlite_allocator.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace taskmill::sqlite {
namespace {

const sqlite3_mem_methods& M() { return CachingAllocator(); }

TEST(SqliteAllocatorTest, BlocksHoldTheirRoundedSizeAndEveryByteOfIt) {
  for (int n : {1, 8, 31, 32, 33, 200, 1000, 1024, 1025, 5000, 70000}) {
    int rounded = M().xRoundup(n);
    EXPECT_GE(rounded, n);
    EXPECT_EQ(rounded % 8, 0);
    void* p = M().xMalloc(n);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 8, 0u) << "SQLite needs 8-byte alignment";
    EXPECT_EQ(M().xSize(p), rounded);
    std::memset(p, 0xab, static_cast<size_t>(rounded));  // AddressSanitizer checks the bound
    M().xFree(p);
  }
  EXPECT_EQ(M().xRoundup(33), 64);
  EXPECT_EQ(M().xRoundup(1025), 1032);
}

TEST(SqliteAllocatorTest, AFreedSmallBlockIsReusedByTheSameThread) {
  void* p = M().xMalloc(100);
  M().xFree(p);
  void* q = M().xMalloc(120);  // the same 128-byte class
  EXPECT_EQ(p, q);
  M().xFree(q);
}

TEST(SqliteAllocatorTest, ReallocKeepsTheContentAcrossClassesAndIntoLargeBlocks) {
  std::string text(20, 'x');
  auto* p = static_cast<char*>(M().xMalloc(20));
  std::memcpy(p, text.data(), text.size());
  EXPECT_EQ(M().xRealloc(p, 24), p) << "still fits its block";
  for (int n : {100, 900, 4000, 100000}) {
    p = static_cast<char*>(M().xRealloc(p, n));
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(std::string(p, text.size()), text) << n;
    EXPECT_GE(M().xSize(p), n);
  }
  M().xFree(p);
}

TEST(SqliteAllocatorTest, BlocksMoveBetweenThreadsAndAThreadsCacheIsFreedAtItsExit) {
  // Under LeakSanitizer, blocks a thread cached and never handed back are reported.
  std::vector<void*> blocks;
  for (int i = 0; i < 500; ++i) blocks.push_back(M().xMalloc(40 + i % 900));
  std::thread other([&] {
    for (void* p : blocks) M().xFree(p);  // freed on another thread: cached there
    for (int i = 0; i < 50; ++i) M().xFree(M().xMalloc(64));
  });
  other.join();
  for (int i = 0; i < 200; ++i) M().xFree(M().xMalloc(64));
}

}  // namespace
}  // namespace taskmill::sqlite
