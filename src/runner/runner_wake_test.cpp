// Waking workers: while attempts are short, only a worker per core is kept awake
// (Runner::WakeWorker); a long attempt among them must not hold the runs behind it.
#include <gtest/gtest.h>
#include <taskmill/clock.h>
#include <taskmill/events.h>
#include <taskmill/function.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "runner/runner.h"

namespace taskmill {
namespace {

using namespace std::chrono_literals;

TEST(RunnerWakeTest, LongAttemptsAmongShortOnesDoNotHoldTheRunsBehindThem) {
  auto dir = std::filesystem::temp_directory_path() /
             ("taskmill-runner-wake-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  auto opened = OpenStorage({(dir / "runs.db").string() + "?synchronous=normal"});
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  Storage& storage = **opened;

  // "test.hold" holds its worker until the test lets go (or a bound only a failing
  // test reaches); "test.noop" returns at once.
  std::mutex mu;
  std::condition_variable cv;
  bool let_go = false;
  int holding = 0;
  std::set<std::string> finished;
  FunctionRegistry functions;
  ASSERT_TRUE(functions.Register("test.noop", [](RunContext&) {}).ok());
  ASSERT_TRUE(functions
                  .Register("test.hold",
                            [&](RunContext&) {
                              std::unique_lock lock(mu);
                              ++holding;
                              cv.notify_all();
                              cv.wait_for(lock, 60s, [&] { return let_go; });
                            })
                  .ok());
  EventBus events;
  events.Subscribe([&](const Event& e) {
    if (e.type != Event::Type::kRunFinished) return;
    std::lock_guard lock(mu);
    finished.insert(e.run_id);
    cv.notify_all();
  });
  auto put = [&](const std::string& id, const std::string& function, int priority) {
    RunPutParams params;
    taskmill::Run run;
    run.id = id;
    run.function = function;
    run.priority = priority;
    run.created_at = run.run_at = SystemClock::Instance().Now();
    params.runs = {run};
    ASSERT_TRUE(storage.RunPut(std::move(params)).ok());
  };

  // As many long attempts as workers are kept awake for short ones, and slots to spare.
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  RunnerOptions options;
  options.id = "runner-wake-test";
  options.capacity = cores + 2;
  Runner runner(options, storage, functions, SystemClock::Instance(), events);
  ASSERT_TRUE(runner.Start().ok());

  // Short attempts first, so that the runner measures attempts as short.
  constexpr int kShort = 200;
  for (int i = 0; i < kShort; ++i) put("short-" + std::to_string(i), "test.noop", 0);
  runner.Wake();
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 30s, [&] { return finished.size() == kShort; }))
        << finished.size() << " of " << kShort << " short runs finished";
  }

  // Then long attempts on every awake worker, and a short run behind them.
  for (int i = 0; i < cores; ++i) put("long-" + std::to_string(i), "test.hold", 1);
  put("behind", "test.noop", 0);
  runner.Wake();
  {
    std::unique_lock lock(mu);
    const bool ran =
        cv.wait_for(lock, 30s, [&] { return holding == cores && finished.count("behind") == 1; });
    EXPECT_TRUE(ran) << "after 30 s, " << holding << " of " << cores
                     << " long attempts were executing and the short run behind them had "
                     << (finished.count("behind") == 1 ? "" : "not ") << "finished";
    let_go = true;
    cv.notify_all();
  }
  runner.Stop();
  opened->reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace taskmill
