// The fetcher's sleep: while every slot is busy it waits for a slot to free up, and
// a run due meanwhile (a retry, a delayed run) neither keeps it awake nor is missed.
#include <gtest/gtest.h>
#include <taskmill/clock.h>
#include <taskmill/events.h>
#include <taskmill/function.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <future>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "runner/runner.h"
#include "storage/forwarding_storage.h"

namespace taskmill {
namespace {

using namespace std::chrono_literals;

// A real SQLite file in a temp dir, a "test.hold" function that holds its slot until
// let go, and a record of the runs that finished.
class FetchFixture {
 public:
  explicit FetchFixture(const std::string& name)
      : dir_(std::filesystem::temp_directory_path() /
             ("taskmill-" + name + "-" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(dir_);
    auto opened = OpenStorage({(dir_ / "runs.db").string() + "?synchronous=normal"});
    if (!opened.ok()) throw std::runtime_error(opened.status().ToString());
    storage_ = std::move(*opened);
    (void)functions.Register("test.noop", [](RunContext&) {});
    // Long enough that the runner counts its attempts as long ones.
    (void)functions.Register("test.slow", [](RunContext&) { std::this_thread::sleep_for(50ms); });
    (void)functions.Register("test.hold", [this](RunContext&) {
      std::unique_lock lock(mu);
      ++holding;
      cv.notify_all();
      cv.wait_for(lock, 60s, [&] { return let_go; });
    });
    events.Subscribe([this](const Event& e) {
      if (e.type != Event::Type::kRunFinished) return;
      std::lock_guard lock(mu);
      finished.insert(e.run_id);
      cv.notify_all();
    });
  }
  ~FetchFixture() {
    storage_.reset();
    std::filesystem::remove_all(dir_);
  }

  Storage& storage() { return *storage_; }

  void Put(const std::string& id, const std::string& function, TimePoint run_at) {
    RunPutParams params;
    Run run;
    run.id = id;
    run.function = function;
    run.created_at = SystemClock::Instance().Now();
    run.run_at = run_at;
    params.runs = {run};
    auto stored = storage_->RunPut(std::move(params));
    if (!stored.ok()) throw std::runtime_error(stored.status().ToString());
  }

  std::mutex mu;
  std::condition_variable cv;
  bool let_go = false;
  int holding = 0;
  std::set<std::string> finished;
  FunctionRegistry functions;
  EventBus events;

 private:
  std::filesystem::path dir_;
  std::unique_ptr<Storage> storage_;
};

// Runs `step` on a thread of its own and answers whether it returned within `bound`.
// A step that never returns (a thread blocked on the runner's lock for good) is left
// behind: the process is a death test's child and ends right after.
bool ReturnsWithin(std::chrono::seconds bound, std::function<void()> step) {
  auto done = std::make_shared<std::promise<void>>();
  auto returned = done->get_future();
  std::thread([done, step = std::move(step)] {
    step();
    done->set_value();
  }).detach();
  return returned.wait_for(bound) == std::future_status::ready;
}

// The wedge: with every slot busy, a run known to fall due within the poll interval
// made the fetcher's wait return at once, over and over, without ever letting go of
// the runner's lock; every other thread (workers, finisher, Wake from the HTTP
// handlers, Stop on SIGTERM) then blocked on it for good. The scenario runs in a
// child process, so that a wedged runner ends the child with a message rather than
// hanging the test binary.
void RunDueWhileEverySlotIsBusy() {
  FetchFixture f("runner-fetch-busy");
  RunnerOptions options;
  options.id = "runner-fetch-test";
  options.capacity = 1;
  Runner runner(options, f.storage(), f.functions, SystemClock::Instance(), f.events);
  if (!runner.Start().ok()) std::_Exit(3);

  const TimePoint now = SystemClock::Instance().Now();
  f.Put("long", "test.hold", now);
  runner.Wake();
  {
    std::unique_lock lock(f.mu);
    if (!f.cv.wait_for(lock, 30s, [&] { return f.holding == 1; })) {
      std::fprintf(stderr, "the long attempt did not start within 30 s\n");
      std::_Exit(4);
    }
  }
  // A run due in 200 ms, well within the poll interval, while the only slot is busy.
  const TimePoint due = SystemClock::Instance().Now() + 200ms;
  f.Put("due-soon", "test.noop", due);
  if (!ReturnsWithin(10s, [&] { runner.WakeAt(due); })) {
    std::fprintf(stderr, "WakeAt did not return within 10 s\n");
    std::_Exit(5);
  }
  // Past the due time, the runner must still answer: its fetcher sleeps, not spins.
  std::this_thread::sleep_for(500ms);
  if (!ReturnsWithin(10s, [&] { runner.Wake(); })) {
    std::fprintf(stderr,
                 "Wake did not return within 10 s of a run falling due while every slot was "
                 "busy: the fetcher holds the runner's lock\n");
    std::_Exit(6);
  }
  // The slot frees up: the run due meanwhile starts then, without a poll.
  {
    std::lock_guard lock(f.mu);
    f.let_go = true;
    f.cv.notify_all();
  }
  {
    std::unique_lock lock(f.mu);
    if (!f.cv.wait_for(lock, 30s, [&] { return f.finished.count("due-soon") == 1; })) {
      std::fprintf(stderr, "the run due while the slot was busy did not run within 30 s\n");
      std::_Exit(7);
    }
  }
  if (!ReturnsWithin(30s, [&] { runner.Stop(); })) {
    std::fprintf(stderr, "Stop did not return within 30 s\n");
    std::_Exit(8);
  }
}

TEST(RunnerFetchDeathTest, ARunDueWhileEverySlotIsBusyDoesNotWedgeTheRunner) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        RunDueWhileEverySlotIsBusy();
        std::_Exit(0);
      },
      ::testing::ExitedWithCode(0), "");
}

// Counts the claims the fetcher makes.
class CountingStorage : public ForwardingStorage {
 public:
  using ForwardingStorage::ForwardingStorage;
  Result<std::vector<ClaimedRun>> RunTake(const RunTakeParams& params) override {
    takes.fetch_add(1);
    return ForwardingStorage::RunTake(params);
  }
  std::atomic<int> takes{0};
};

// While every slot is busy, wake-ups (enqueues, due times) make no claims: there is
// no slot to claim for. The claim comes when the slot frees up.
TEST(RunnerFetchTest, NoClaimWhileEverySlotIsBusy) {
  FetchFixture f("runner-fetch-claims");
  CountingStorage counting(f.storage());
  RunnerOptions options;
  options.id = "runner-fetch-test";
  options.capacity = 1;
  Runner runner(options, counting, f.functions, SystemClock::Instance(), f.events);
  ASSERT_TRUE(runner.Start().ok());
  f.Put("long", "test.hold", SystemClock::Instance().Now());
  runner.Wake();
  {
    std::unique_lock lock(f.mu);
    ASSERT_TRUE(f.cv.wait_for(lock, 30s, [&] { return f.holding == 1; }));
  }
  const int takes_while_busy = counting.takes.load();
  for (int i = 0; i < 20; ++i) {
    const TimePoint due = SystemClock::Instance().Now() + 10ms;
    f.Put("due-" + std::to_string(i), "test.noop", due);
    runner.WakeAt(due);
    runner.Wake();
  }
  std::this_thread::sleep_for(300ms);  // every one of them is due now
  EXPECT_EQ(counting.takes.load(), takes_while_busy)
      << "the fetcher claimed while no slot was free";
  {
    std::lock_guard lock(f.mu);
    f.let_go = true;
    f.cv.notify_all();
  }
  {
    std::unique_lock lock(f.mu);
    EXPECT_TRUE(f.cv.wait_for(lock, 30s, [&] { return f.finished.size() == 21; }))
        << f.finished.size() << " of 21 runs finished within 30 s";
  }
  runner.Stop();
}

// A worker thread that first takes the mutex after the fetcher handed it a run was
// never counted as asleep, yet the fetcher's wake-up for it stayed counted as pending:
// from then on the fetcher thought every slot awake and woke no one, and the next run
// waited for good (seen on a fast machine, where the fetcher claims before the worker
// threads have run). Each runner here starts with a run already waiting; its attempt
// is a long one, so that no rescue for short attempts wakes the workers instead.
TEST(RunnerFetchTest, RunsAfterTheFirstAreTakenHoweverTheWorkerThreadsStart) {
  FetchFixture f("runner-fetch-first");
  for (int round = 0; round < 20; ++round) {
    const std::string first = "first-" + std::to_string(round);
    const std::string second = "second-" + std::to_string(round);
    f.Put(first, "test.slow", SystemClock::Instance().Now());
    RunnerOptions options;
    options.id = "runner-fetch-test";
    options.capacity = 1;
    options.poll_interval = std::chrono::hours(1);
    Runner runner(options, f.storage(), f.functions, SystemClock::Instance(), f.events);
    ASSERT_TRUE(runner.Start().ok());
    {
      std::unique_lock lock(f.mu);
      ASSERT_TRUE(f.cv.wait_for(lock, 30s, [&] { return f.finished.count(first) == 1; }))
          << "round " << round << ": the run waiting at start did not run within 30 s";
    }
    f.Put(second, "test.noop", SystemClock::Instance().Now());
    runner.Wake();
    {
      std::unique_lock lock(f.mu);
      ASSERT_TRUE(f.cv.wait_for(lock, 30s, [&] { return f.finished.count(second) == 1; }))
          << "round " << round << ": the run stored after the first did not run within 30 s";
    }
    runner.Stop();
  }
}

// A runner of its own (a `serve --roles runner` process) learns of runs that another
// process stores: at once for a run due now, and when it falls due for a delayed one,
// although its poll interval is an hour.
TEST(RunnerFetchTest, RunsStoredThroughAnotherStorageStartWithoutAPoll) {
  FetchFixture f("runner-fetch-other");
  auto other =
      OpenStorage({(std::filesystem::temp_directory_path() /
                    ("taskmill-runner-fetch-other-" + std::to_string(::getpid())) / "runs.db")
                       .string() +
                   "?synchronous=normal"});
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  RunnerOptions options;
  options.id = "runner-fetch-test";
  options.poll_interval = std::chrono::hours(1);
  Runner runner(options, f.storage(), f.functions, SystemClock::Instance(), f.events);
  ASSERT_TRUE(runner.Start().ok());

  auto put = [&](const std::string& id, TimePoint run_at) {
    RunPutParams params;
    taskmill::Run run;
    run.id = id;
    run.function = "test.noop";
    run.created_at = SystemClock::Instance().Now();
    run.run_at = run_at;
    params.runs = {run};
    auto stored = (*other)->RunPut(std::move(params));
    ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  };
  put("now", SystemClock::Instance().Now());
  {
    std::unique_lock lock(f.mu);
    EXPECT_TRUE(f.cv.wait_for(lock, 30s, [&] { return f.finished.count("now") == 1; }))
        << "a run due now, stored by another process, did not run within 30 s";
  }
  const TimePoint due = SystemClock::Instance().Now() + 300ms;
  put("delayed", due);
  {
    std::unique_lock lock(f.mu);
    EXPECT_TRUE(f.cv.wait_for(lock, 30s, [&] { return f.finished.count("delayed") == 1; }))
        << "a delayed run, stored by another process, did not run within 30 s";
  }
  runner.Stop();
  auto run = f.storage().RunGet("delayed");
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  ASSERT_TRUE(run->started_at.has_value());
  EXPECT_GE(*run->started_at, due) << "started before it was due";
  other->reset();
}

}  // namespace
}  // namespace taskmill
