// Retention by age in the scheduler: the leader removes the finished runs older than
// history_retention at its prune, a standby removes nothing, and live runs stay. Real
// SQLite storage in a temp directory, simulated time.
#include <gtest/gtest.h>
#include <taskmill/events.h>
#include <taskmill/storage.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>

#include "scheduler/scheduler.h"

namespace taskmill {
namespace {
using namespace std::chrono_literals;

constexpr TimePoint kT0{std::chrono::sys_days{std::chrono::year{2026} / 3 / 1}};

class SchedulerRetention : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("taskmill-retention-test-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto opened = OpenStorage({.url = (dir_ / "t.db").string()});
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    storage_ = std::move(*opened);
  }
  void TearDown() override {
    storage_.reset();
    std::filesystem::remove_all(dir_);
  }

  void PutRun(const std::string& id, RunStatus status, TimePoint at) {
    taskmill::Run run;
    run.id = id;
    run.function = "demo.echo";
    run.status = status;
    run.created_at = run.run_at = at;
    if (IsFinal(status)) run.finished_at = at;
    RunPutParams params;
    params.runs = {run};
    ASSERT_TRUE(storage_->RunPut(params).ok());
  }
  bool Stored(const std::string& id) { return storage_->RunGet(id).ok(); }

  std::filesystem::path dir_;
  std::unique_ptr<Storage> storage_;
  ManualClock clock_{kT0};
  EventBus events_;
};

TEST_F(SchedulerRetention, TheLeaderRemovesFinishedRunsOlderThanTheRetentionAndAStandbyNothing) {
  PutRun("old", RunStatus::kCompleted, kT0 - 40 * 24h);
  PutRun("recent", RunStatus::kFailed, kT0 - 10 * 24h);
  PutRun("old-pending", RunStatus::kPending, kT0 - 40 * 24h);
  SchedulerOptions options;
  options.history_retention = 30 * 24h;
  options.leader_ttl = 365 * 24h;  // the leader still leads after the jump below
  Scheduler leader(options, *storage_, clock_, events_, nullptr);
  Scheduler standby(options, *storage_, clock_, events_, nullptr);
  ASSERT_TRUE(leader.Tick());
  EXPECT_FALSE(Stored("old"));
  EXPECT_TRUE(Stored("recent"));
  EXPECT_TRUE(Stored("old-pending")) << "live runs are never pruned";

  // 25 days on, "recent" is 35 days old: the standby's passes leave it, the leader's
  // next prune removes it.
  clock_.Advance(25 * 24h);
  EXPECT_FALSE(standby.Tick());
  EXPECT_TRUE(Stored("recent"));
  ASSERT_TRUE(leader.Tick());
  EXPECT_FALSE(Stored("recent"));
  EXPECT_TRUE(Stored("old-pending"));
}

TEST_F(SchedulerRetention, WithoutARetentionNothingIsRemovedByAge) {
  PutRun("old", RunStatus::kCompleted, kT0 - 400 * 24h);
  Scheduler leader(SchedulerOptions{}, *storage_, clock_, events_, nullptr);
  ASSERT_TRUE(leader.Tick());
  EXPECT_TRUE(Stored("old"));
}

}  // namespace
}  // namespace taskmill
