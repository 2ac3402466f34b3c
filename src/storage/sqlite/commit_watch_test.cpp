// What a runner learns from the SQLite backend without polling: commits made through
// another Storage on the same file (another process, as SQLite sees it), and with a
// claim, when the next pending run falls due.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>

#include "storage/sqlite/sqlite_storage.h"

namespace taskmill {
namespace {

using namespace std::chrono_literals;

class CommitWatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("taskmill-commit-watch-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    a_ = Open();
    b_ = Open();
  }
  void TearDown() override {
    a_.reset();
    b_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::unique_ptr<Storage> Open() {
    auto opened = sqlite::OpenSqliteStorage({(dir_ / "runs.db").string(), "normal"});
    EXPECT_TRUE(opened.ok()) << opened.status().ToString();
    return opened.ok() ? std::move(*opened) : nullptr;
  }
  static void Put(Storage& storage, const std::string& id, const std::string& queue,
                  TimePoint run_at, int priority = 0) {
    RunPutParams params;
    taskmill::Run run;
    run.id = id;
    run.queue = queue;
    run.function = "test.noop";
    run.priority = priority;
    run.created_at = T0();
    run.run_at = run_at;
    params.runs = {run};
    auto stored = storage.RunPut(std::move(params));
    ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  }
  static TimePoint T0() { return TimePoint{std::chrono::seconds(1'800'000'000)}; }

  std::filesystem::path dir_;
  std::unique_ptr<Storage> a_, b_;
};

TEST_F(CommitWatchTest, ACommitThroughAnotherStorageIsToldOf) {
  std::mutex mu;
  std::condition_variable cv;
  int calls = 0;
  auto watch = a_->WatchCommits([&] {
    std::lock_guard lock(mu);
    ++calls;
    cv.notify_all();
  });
  ASSERT_NE(watch, nullptr) << "the SQLite backend watches its write-ahead log on Linux";
  Put(*b_, "from-b", "default", T0());
  std::unique_lock lock(mu);
  EXPECT_TRUE(cv.wait_for(lock, 10s, [&] { return calls > 0; }))
      << "no call within 10 s of a commit through the other storage";
}

TEST_F(CommitWatchTest, NoCallAfterTheWatchIsGone) {
  std::mutex mu;
  int calls = 0;
  auto watch = a_->WatchCommits([&] {
    std::lock_guard lock(mu);
    ++calls;
  });
  ASSERT_NE(watch, nullptr);
  watch.reset();  // waits for a call in progress
  const int before = calls;
  Put(*b_, "after", "default", T0());
  std::lock_guard lock(mu);
  EXPECT_EQ(calls, before);
}

TEST_F(CommitWatchTest, AClaimOfEveryDueRunToldWhenTheNextFallsDue) {
  Put(*b_, "due", "default", T0());
  Put(*b_, "later", "default", T0() + 5s);
  Put(*b_, "sooner-low-priority", "default", T0() + 2s, -1);
  Put(*b_, "other-queue", "other", T0() + 1s);
  Put(*b_, "paused-queue", "paused", T0() + 500ms);
  ASSERT_TRUE(b_->QueueSetPaused("paused", true).ok());

  TimePoint next = TimePoint::min();
  auto taken = a_->RunTake(
      {.runner = "runner", .queues = {"default"}, .max = 10, .now = T0(), .next_run_at = &next});
  ASSERT_TRUE(taken.ok()) << taken.status().ToString();
  ASSERT_EQ(taken->size(), 1u);
  EXPECT_EQ(next, T0() + 2s) << "the earliest pending run of the queue, of any priority";

  next = TimePoint::min();
  taken =
      a_->RunTake({.runner = "runner", .queues = {}, .max = 10, .now = T0(), .next_run_at = &next});
  ASSERT_TRUE(taken.ok()) << taken.status().ToString();
  EXPECT_EQ(next, T0() + 1s) << "every unpaused queue, for a runner of every queue";

  next = TimePoint::min();
  taken = a_->RunTake(
      {.runner = "runner", .queues = {"paused"}, .max = 10, .now = T0(), .next_run_at = &next});
  ASSERT_TRUE(taken.ok()) << taken.status().ToString();
  EXPECT_EQ(next, TimePoint::max()) << "a paused queue's runs wake no runner";

  // A claim that took as many as it could leaves the answer alone: more may be due.
  Put(*b_, "due-1", "full", T0());
  Put(*b_, "due-2", "full", T0());
  next = TimePoint::min();
  taken = a_->RunTake(
      {.runner = "runner", .queues = {"full"}, .max = 1, .now = T0(), .next_run_at = &next});
  ASSERT_TRUE(taken.ok()) << taken.status().ToString();
  EXPECT_EQ(next, TimePoint::min());
}

}  // namespace
}  // namespace taskmill
