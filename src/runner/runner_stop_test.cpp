// Stopping a runner while one of its claims is being written.
#include <gtest/gtest.h>
#include <taskmill/clock.h>
#include <taskmill/events.h>
#include <taskmill/function.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <mutex>

#include "runner/runner.h"
#include "storage/forwarding_storage.h"

namespace taskmill {
namespace {

using namespace std::chrono_literals;

// Holds, once armed, the first claim that claims something: the runs are claimed in
// storage, and the runner's fetcher waits inside RunTake until the test releases it.
class HeldClaimStorage : public ForwardingStorage {
 public:
  using ForwardingStorage::ForwardingStorage;

  Result<std::vector<ClaimedRun>> RunTake(const RunTakeParams& params) override {
    auto taken = inner_.RunTake(params);
    std::unique_lock lock(mu_);
    if (armed_ && taken.ok() && !taken->empty()) {
      armed_ = false;
      holding_ = true;
      cv_.notify_all();
      cv_.wait(lock, [&] { return !holding_; });
    }
    return taken;
  }

  void Arm() {
    std::lock_guard lock(mu_);
    armed_ = true;
  }
  void WaitUntilHolding() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return holding_; });
  }
  void Release() {
    std::lock_guard lock(mu_);
    holding_ = false;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool armed_ = false;
  bool holding_ = false;
};

// What the test function saw, run by run.
struct Observed {
  std::mutex mu;
  std::condition_variable cv;
  bool first_started = false;
  bool first_cancelled = false;
  int second_entered = 0;
};

TEST(RunnerStopTest, RunsClaimedWhileStoppingNeverStartTheirFunction) {
  auto dir = std::filesystem::temp_directory_path() /
             ("taskmill-runner-stop-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  auto opened = OpenStorage({(dir / "runs.db").string() + "?synchronous=normal"});
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  HeldClaimStorage storage(**opened);

  // "test.wait" waits to be cancelled, up to a bound that only a failing test reaches.
  Observed seen;
  FunctionRegistry functions;
  ASSERT_TRUE(functions
                  .Register("test.wait",
                            [&](RunContext& ctx) {
                              bool first = ctx.run().id == "first";
                              {
                                std::lock_guard lock(seen.mu);
                                if (first)
                                  seen.first_started = true;
                                else
                                  ++seen.second_entered;
                              }
                              seen.cv.notify_all();
                              bool cancelled = !ctx.SleepFor(first ? 60s : 20s);
                              std::lock_guard lock(seen.mu);
                              if (first) seen.first_cancelled = cancelled;
                              seen.cv.notify_all();
                            })
                  .ok());
  auto put = [&](const std::string& id) {
    RunPutParams params;
    taskmill::Run run;
    run.id = id;
    run.function = "test.wait";
    run.created_at = run.run_at = SystemClock::Instance().Now();
    params.runs = {run};
    ASSERT_TRUE(storage.RunPut(std::move(params)).ok());
  };

  EventBus events;
  RunnerOptions options;
  options.id = "runner-stop-test";
  options.capacity = 2;
  Runner runner(options, storage, functions, SystemClock::Instance(), events);
  put("first");
  ASSERT_TRUE(runner.Start().ok());
  {
    std::unique_lock lock(seen.mu);
    ASSERT_TRUE(seen.cv.wait_for(lock, 30s, [&] { return seen.first_started; }));
  }

  // The next claim ("second") is held in storage while the runner stops: Stop() finds
  // only "first" in flight and cancels it; "second" arrives after that.
  storage.Arm();
  put("second");
  runner.Wake();
  storage.WaitUntilHolding();
  auto stopped = std::async(std::launch::async, [&] { runner.Stop(); });
  {
    std::unique_lock lock(seen.mu);
    ASSERT_TRUE(seen.cv.wait_for(lock, 30s, [&] { return seen.first_cancelled; }));
  }
  storage.Release();
  if (stopped.wait_for(30s) != std::future_status::ready) {
    // The runner's threads can no longer be joined: fail loudly rather than hang.
    ADD_FAILURE() << "Stop() did not return: a run claimed while stopping was left behind";
    std::fflush(stdout);
    std::abort();
  }

  std::lock_guard lock(seen.mu);
  EXPECT_EQ(seen.second_entered, 0) << "a run claimed while stopping started its function";
  opened->reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace taskmill
