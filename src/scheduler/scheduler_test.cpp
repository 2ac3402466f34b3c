// Scheduler tests: real SQLite storage in a temp directory, simulated time
// (ManualClock), and the scheduler driven pass by pass with Tick(). Nothing sleeps on
// the wall clock: where the scheduler's or the runner's own thread is involved, the
// test waits for the expected state with a generous bound.
#include "scheduler/scheduler.h"

#include <gtest/gtest.h>
#include <taskmill/engine.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <mutex>
#include <set>
#include <thread>
#include <tuple>

#include "metrics/taskmill_metrics.h"
#include "scheduler/continuous.h"
#include "scheduler/fire_times.h"
#include "scheduler/periodic.h"

namespace taskmill {
namespace {
namespace json = boost::json;
using namespace std::chrono_literals;

TimePoint At(std::string_view text) {
  TimePoint t{};
  EXPECT_TRUE(ParseTime(text, &t)) << text;
  return t;
}

TimePoint T0() { return At("2026-01-01T00:00:00Z"); }

TaskDef Periodical(std::string name, std::string schedule, std::string timezone = "UTC") {
  TaskDef task;
  task.name = std::move(name);
  task.kind = TaskKind::kPeriodical;
  task.function = "demo.echo";
  task.schedule = std::move(schedule);
  task.timezone = std::move(timezone);
  return task;
}

TaskDef Continuous(std::string name, Duration pause) {
  TaskDef task;
  task.name = std::move(name);
  task.kind = TaskKind::kContinuous;
  task.function = "demo.echo";
  task.pause = pause;
  return task;
}

class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("taskmill-scheduler-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    registry_ = std::make_shared<FunctionRegistry>();
    ASSERT_TRUE(
        registry_->Register("demo.echo", [](RunContext& c) { c.SetResult(c.args()); }).ok());
  }
  void TearDown() override {
    schedulers_.clear();
    engine_.reset();
    std::filesystem::remove_all(dir_);
  }

  // An engine that plays no role: it lends the tests its storage, PrepareRun, Cancel
  // and TaskSetEnabled, while the schedulers under test are made by Make().
  void Open(TriggerBindings triggers = {}, bool runner = false) {
    EngineOptions o;
    o.storage.url = (dir_ / "t.db").string();
    o.storage.url += "?synchronous=normal";
    o.clock = &clock_;
    o.runner = runner;
    o.scheduler = false;
    o.runner_options.capacity = 2;
    o.runner_options.poll_interval = 1s;
    o.scheduler_options.triggers = std::move(triggers);
    auto e = Engine::Open(o, registry_);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    engine_ = std::move(*e);
    if (runner) {
      ASSERT_TRUE(engine_->Start().ok());
    }
  }

  SchedulerHooks EngineHooks() {
    SchedulerHooks hooks;
    hooks.prepare = [this](const EnqueueRequest& r) { return engine_->PrepareRun(r); };
    hooks.cancel = [this](const std::string& id, const std::string& queue) {
      return engine_->Cancel(id, queue);
    };
    return hooks;
  }

  Scheduler& Make(SchedulerOptions options = {}, std::optional<SchedulerHooks> hooks = {}) {
    schedulers_.push_back(std::make_unique<Scheduler>(options, storage(), clock_, engine_->events(),
                                                      nullptr, hooks ? *hooks : EngineHooks()));
    return *schedulers_.back();
  }

  Storage& storage() { return engine_->storage(); }

  void Put(const TaskDef& task) { ASSERT_TRUE(storage().TaskUpsert(task).ok()); }

  // Every run of a task, by scheduled_at (unset first), then by creation.
  std::vector<taskmill::Run> RunsOf(const std::string& task) {
    std::vector<taskmill::Run> runs;
    RunFilter filter;
    filter.task = task;
    filter.limit = 1000;
    for (;;) {
      auto page = storage().RunList(filter);
      EXPECT_TRUE(page.ok()) << page.status().ToString();
      if (!page.ok()) break;
      runs.insert(runs.end(), page->runs.begin(), page->runs.end());
      if (page->next_cursor.empty()) break;
      filter.cursor = page->next_cursor;
    }
    std::stable_sort(runs.begin(), runs.end(), [](const taskmill::Run& a, const taskmill::Run& b) {
      return std::tie(a.scheduled_at, a.created_at) < std::tie(b.scheduled_at, b.created_at);
    });
    return runs;
  }

  taskmill::Run Get(const std::string& id) {
    auto run = storage().RunGet(id);
    EXPECT_TRUE(run.ok()) << run.status().ToString();
    return run.ok() ? *run : taskmill::Run{};
  }

  // Claims the due runs as a runner would and returns the one with `id`.
  taskmill::Run Claim(const std::string& id) {
    auto claimed = storage().RunTake({"test-runner", {}, 100, clock_.Now()});
    EXPECT_TRUE(claimed.ok());
    taskmill::Run found;
    for (const taskmill::Run& run : *claimed) {
      if (run.id == id) found = run;
    }
    EXPECT_EQ(found.id, id) << "run " << id << " was not claimable";
    return found;
  }

  // Ends a claimed run now with `status`.
  void End(const taskmill::Run& claimed, RunStatus status) {
    RunFinish finish;
    finish.queue = claimed.queue;
    finish.id = claimed.id;
    finish.attempt = claimed.attempt;
    finish.status = status;
    finish.finished_at = clock_.Now();
    finish.outcome = std::string(ToString(status));
    auto done = storage().RunFinishBatch({finish});
    ASSERT_TRUE(done.ok());
    ASSERT_TRUE(done->front().accepted);
  }

  // Waits (real time, bounded) until `ready` holds; wakes on every engine event.
  void WaitUntil(const std::function<bool()>& ready, const std::string& what) {
    std::mutex mu;
    std::condition_variable cv;
    uint64_t sub = engine_->events().Subscribe([&](const Event&) { cv.notify_all(); });
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (!ready()) {
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "timed out waiting for " << what;
        break;
      }
      std::unique_lock lock(mu);
      cv.wait_for(lock, 5ms);
    }
    engine_->events().Unsubscribe(sub);
  }

  std::filesystem::path dir_;
  std::shared_ptr<FunctionRegistry> registry_;
  ManualClock clock_{T0()};  // outlives everything below
  std::unique_ptr<Engine> engine_;
  std::vector<std::unique_ptr<Scheduler>> schedulers_;  // destroyed before the engine
};

// ---- periodical ----------------------------------------------------------------------

TEST_F(SchedulerTest, YearOfHourlyLaunchesEveryInstantExactlyOnce) {
  Open();
  TaskDef hourly = Periodical("hourly", "0 0 * * * *");
  hourly.overlap = "allow";  // nothing executes the runs here
  Put(hourly);
  SchedulerOptions options;
  // One pass a simulated day, by a scheduler that leads throughout (its lease
  // outlasts the gap between passes): each pass launches that day's 24 instants.
  options.leader_ttl = 48h;
  // The runs never end here, so a prune (which looks at every run of the task) each
  // simulated day would only measure SQLite.
  options.prune_interval = 24h * 30;
  Scheduler& scheduler = Make(options);
  ASSERT_TRUE(scheduler.Tick());
  auto started = std::chrono::steady_clock::now();
  for (int day = 1; day <= 365; ++day) {
    clock_.Advance(24h);
    ASSERT_TRUE(scheduler.Tick()) << "day " << day;
  }
  auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  // A figure for the log, not an assertion: the test suite is never timed.
  RecordProperty("year_of_hourly_ms", static_cast<int>(elapsed.count()));
  std::cout << "[ info ] a year of hourly launches took " << elapsed.count() << " ms\n";

  constexpr int kHours = 365 * 24;
  std::vector<taskmill::Run> runs = RunsOf("hourly");
  ASSERT_EQ(runs.size(), static_cast<size_t>(kHours));
  for (int i = 0; i < kHours; ++i) {
    ASSERT_EQ(runs[i].scheduled_at, T0() + std::chrono::hours(i + 1)) << "run " << i;
    ASSERT_EQ(runs[i].status, RunStatus::kPending);
    ASSERT_EQ(runs[i].function, "demo.echo");
  }
  // The next launch is stored launch_ahead (200 ms) before its instant.
  EXPECT_EQ(scheduler.next_wake(), T0() + std::chrono::hours(kHours + 1) - 200ms);
}

TEST_F(SchedulerTest, HourlyPassesLaunchEachInstantOnTime) {
  Open();
  Put(Periodical("hourly", "0 0 * * * *"));
  Scheduler& scheduler = Make();
  ASSERT_TRUE(scheduler.Tick());
  for (int hour = 1; hour <= 48; ++hour) {
    clock_.Advance(1h);
    ASSERT_TRUE(scheduler.Tick());
    // Each run ends before the next instant, so overlap never applies.
    std::vector<taskmill::Run> runs = RunsOf("hourly");
    ASSERT_EQ(runs.size(), static_cast<size_t>(hour));
    ASSERT_EQ(runs.back().scheduled_at, T0() + std::chrono::hours(hour));
    ASSERT_EQ(runs.back().status, RunStatus::kPending);
    End(Claim(runs.back().id), RunStatus::kCompleted);
  }
}

TEST_F(SchedulerTest, LoopWakesAtTheFireInstantRatherThanAtTheSweep) {
  Open();
  Put(Periodical("tick", "*/10 * * * * *"));
  SchedulerOptions options;
  options.sweep_interval = 1h;  // a launch at 10 s can only come from the fire-instant wake
  options.leader_ttl = 3h;
  Scheduler& scheduler = Make(options);
  ASSERT_TRUE(scheduler.Start().ok());
  WaitUntil([&] { return scheduler.next_wake() == T0() + 9800ms; }, "the first pass");
  EXPECT_TRUE(RunsOf("tick").empty());
  // The loop wakes launch_ahead (200 ms) before the instant and stores the launch due
  // at the instant.
  clock_.Advance(9800ms);
  WaitUntil([&] { return RunsOf("tick").size() == 1; }, "the launch for 10 s");
  std::vector<taskmill::Run> runs = RunsOf("tick");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].scheduled_at, T0() + 10s);
  EXPECT_EQ(runs[0].run_at, T0() + 10s);
  EXPECT_EQ(runs[0].created_at, T0() + 9800ms);
  WaitUntil([&] { return scheduler.next_wake() == T0() + 19800ms; }, "the next wake");
  scheduler.Stop();
  scheduler.Stop();  // tolerated twice
}

TEST_F(SchedulerTest, TaskChangedEventWakesTheLoopAtOnce) {
  Open();
  TaskDef consumer = Continuous("consumer", 1s);
  consumer.enabled = false;
  Put(consumer);
  Put(Periodical("daily", "@daily"));  // its next wake marks the end of the first pass
  SchedulerOptions options;
  options.sweep_interval = 1h;  // without the event the loop would sleep for an hour
  options.leader_ttl = 3h;
  Scheduler& scheduler = Make(options);
  ASSERT_TRUE(scheduler.Start().ok());
  WaitUntil([&] { return scheduler.next_wake() == T0() + 24h - 200ms; }, "the first pass");
  EXPECT_TRUE(RunsOf("consumer").empty());
  ASSERT_TRUE(engine_->TaskSetEnabled("consumer", true).ok());  // publishes task.changed
  WaitUntil([&] { return RunsOf("consumer").size() == 1; }, "the consumer's run");
  scheduler.Stop();
}

TEST_F(SchedulerTest, EndOfAContinuousRunWakesTheLoopForItsSuccessor) {
  Open();
  Put(Continuous("consumer", 30s));
  SchedulerOptions options;
  options.sweep_interval = 1h;
  options.leader_ttl = 3h;
  Scheduler& scheduler = Make(options);
  ASSERT_TRUE(scheduler.Start().ok());
  WaitUntil([&] { return RunsOf("consumer").size() == 1; }, "the first run");
  taskmill::Run first = Claim(RunsOf("consumer")[0].id);
  End(first, RunStatus::kCompleted);
  // What the runner publishes after the finish commits.
  engine_->events().Publish({.type = Event::Type::kRunFinished,
                             .run_id = first.id,
                             .queue = first.queue,
                             .task = "consumer",
                             .function = first.function,
                             .status = RunStatus::kCompleted});
  WaitUntil([&] { return RunsOf("consumer").size() == 2; }, "the successor");
  EXPECT_EQ(RunsOf("consumer")[1].run_at, T0() + 30s);
  scheduler.Stop();
}

TEST_F(SchedulerTest, MisfireSkipRecordsOneDidNotStartWithTheCount) {
  Open();
  Put(Periodical("hourly", "0 0 * * * *"));  // misfire: skip is the default
  ASSERT_TRUE(Make().Tick());
  // That scheduler dies without handing over its lease; another starts 7.5 hours later.
  clock_.Advance(7h + 30min);
  Scheduler& successor = Make();
  ASSERT_TRUE(successor.Tick());
  std::vector<taskmill::Run> runs = RunsOf("hourly");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].status, RunStatus::kDidNotStart);
  EXPECT_EQ(runs[0].error_kind, "misfire");
  EXPECT_EQ(runs[0].error,
            "missed 7 launches while the scheduler was down (2026-01-01T01:00:00+00:00 to "
            "2026-01-01T07:00:00+00:00)");
  EXPECT_EQ(runs[0].scheduled_at, T0() + 7h);
  EXPECT_EQ(runs[0].finished_at, clock_.Now());
  // Then the schedule goes on from now.
  clock_.Advance(30min);
  ASSERT_TRUE(successor.Tick());
  runs = RunsOf("hourly");
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[1].status, RunStatus::kPending);
  EXPECT_EQ(runs[1].scheduled_at, T0() + 8h);
}

TEST_F(SchedulerTest, MisfireSkipOfASingleLaunchNamesIt) {
  Open();
  Put(Periodical("hourly", "0 0 * * * *"));
  ASSERT_TRUE(Make().Tick());
  clock_.Advance(1h + 10min);
  ASSERT_TRUE(Make().Tick());
  std::vector<taskmill::Run> runs = RunsOf("hourly");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].error,
            "missed 1 launch while the scheduler was down (2026-01-01T01:00:00+00:00)");
}

TEST_F(SchedulerTest, MisfireRunOnceLaunchesTheLatestMissedInstantNow) {
  Open();
  TaskDef nightly = Periodical("nightly", "0 30 2 * * *", "Europe/Berlin");
  nightly.misfire = "run_once";
  Put(nightly);
  ASSERT_TRUE(Make().Tick());
  clock_.Advance(72h + 5min);  // three nights missed
  ASSERT_TRUE(Make().Tick());
  std::vector<taskmill::Run> runs = RunsOf("nightly");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].status, RunStatus::kPending);
  // 02:30 in Berlin (UTC+1 in January) on the third day.
  EXPECT_EQ(runs[0].scheduled_at, At("2026-01-03T01:30:00Z"));
  EXPECT_EQ(runs[0].run_at, clock_.Now());
}

TEST_F(SchedulerTest, MisfireRunAllLaunchesUpToMisfireMaxAndRecordsTheRest) {
  Open();
  TaskDef hourly = Periodical("hourly", "0 0 * * * *");
  hourly.misfire = "run_all";
  hourly.misfire_max = 3;
  Put(hourly);
  ASSERT_TRUE(Make().Tick());
  clock_.Advance(7h + 30min);
  ASSERT_TRUE(Make().Tick());
  std::vector<taskmill::Run> runs = RunsOf("hourly");
  ASSERT_EQ(runs.size(), 4u);
  EXPECT_EQ(runs[0].status, RunStatus::kDidNotStart);
  EXPECT_EQ(runs[0].error_kind, "misfire");
  EXPECT_EQ(runs[0].scheduled_at, T0() + 4h);
  EXPECT_EQ(runs[0].error,
            "skipped 4 launches of 7 launches missed while the scheduler was down "
            "(2026-01-01T01:00:00+00:00 to 2026-01-01T07:00:00+00:00); misfire run_all launches "
            "at most misfire_max = 3");
  for (int i = 1; i <= 3; ++i) {
    EXPECT_EQ(runs[i].status, RunStatus::kPending) << i;
    EXPECT_EQ(runs[i].scheduled_at, T0() + std::chrono::hours(4 + i)) << i;
  }
}

TEST_F(SchedulerTest, MisfireRunAllWithinTheBoundLaunchesEveryMissedInstant) {
  Open();
  TaskDef hourly = Periodical("hourly", "0 0 * * * *");
  hourly.misfire = "run_all";  // misfire_max 10 by default
  Put(hourly);
  ASSERT_TRUE(Make().Tick());
  clock_.Advance(4h + 1min);
  ASSERT_TRUE(Make().Tick());
  std::vector<taskmill::Run> runs = RunsOf("hourly");
  ASSERT_EQ(runs.size(), 4u);
  for (const taskmill::Run& run : runs) EXPECT_EQ(run.status, RunStatus::kPending);
}

TEST_F(SchedulerTest, LaunchLaterThanItsInstantByLessThanTheGraceIsNotAMisfire) {
  Open();
  Put(Periodical("hourly", "0 0 * * * *"));
  Scheduler& scheduler = Make();
  ASSERT_TRUE(scheduler.Tick());
  clock_.Advance(1h + 3s);  // a restart that took 3 s (misfire_grace is 5 s)
  ASSERT_TRUE(Make().Tick());
  std::vector<taskmill::Run> runs = RunsOf("hourly");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].status, RunStatus::kPending);
  EXPECT_EQ(runs[0].scheduled_at, T0() + 1h);
}

TEST_F(SchedulerTest, SchedulerLagIsHowLateTheLastOnTimeLaunchWasStored) {
  Open();
  TaskDef task = Periodical("hourly", "0 0 * * * *");
  task.overlap = "allow";  // the first run is still pending at the second instant
  Put(task);
  const metrics::Gauge& lag = *metrics::Taskmill().scheduler_lag;
  Scheduler& scheduler = Make();
  ASSERT_TRUE(scheduler.Tick());
  clock_.Advance(1h + 3s);  // within misfire_grace (5 s): launched, 3 s late
  ASSERT_TRUE(scheduler.Tick());
  ASSERT_EQ(RunsOf("hourly").size(), 1u);
  EXPECT_EQ(lag.Value(), 3.0);
  clock_.Advance(1h - 3s - 100ms);  // within launch_ahead: stored before the instant
  ASSERT_TRUE(scheduler.Tick());
  ASSERT_EQ(RunsOf("hourly").size(), 2u);
  EXPECT_EQ(lag.Value(), 0.0);
}

TEST_F(SchedulerTest, ManyMissedInstantsAreCountedAsMoreThanTheBound) {
  Open();
  TaskDef every = Periodical("every-second", "* * * * * *");
  every.misfire = "run_all";
  every.misfire_max = 2;
  every.overlap = "allow";
  Put(every);
  ASSERT_TRUE(Make().Tick());
  clock_.Advance(13 * 24h);  // 1,123,200 missed instants
  ASSERT_TRUE(Make().Tick());
  // The record of the rest, two catch-ups, and the six instants of the 5 s grace
  // before the new scheduler took over, which launch as on time.
  std::vector<taskmill::Run> runs = RunsOf("every-second");
  ASSERT_EQ(runs.size(), 9u);
  EXPECT_EQ(runs[0].status, RunStatus::kDidNotStart);
  EXPECT_TRUE(
      runs[0].error.starts_with("skipped more than 999998 launches of more than 1000000 "
                                "launches missed"))
      << runs[0].error;
  const TimePoint boundary = clock_.Now() - 5s;
  EXPECT_EQ(runs[0].scheduled_at, boundary - 3s);
  for (int i = 1; i < 9; ++i) {
    EXPECT_EQ(runs[i].status, RunStatus::kPending) << i;
    EXPECT_EQ(runs[i].scheduled_at, boundary + std::chrono::seconds(i - 3)) << i;
  }
}

TEST_F(SchedulerTest, OverlapSkipRecordsTheLaunchWhilePreviousRunIsLive) {
  Open();
  Put(Periodical("minutely", "* * * * *"));  // overlap: skip is the default
  Scheduler& scheduler = Make();
  ASSERT_TRUE(scheduler.Tick());
  clock_.Advance(1min);
  ASSERT_TRUE(scheduler.Tick());
  std::vector<taskmill::Run> runs = RunsOf("minutely");
  ASSERT_EQ(runs.size(), 1u);
  taskmill::Run first = Claim(runs[0].id);  // running through the next instant

  clock_.Advance(1min);
  ASSERT_TRUE(scheduler.Tick());
  runs = RunsOf("minutely");
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[1].status, RunStatus::kDidNotStart);
  EXPECT_EQ(runs[1].error, "previous run still running");
  EXPECT_EQ(runs[1].error_kind, "overlap");
  EXPECT_EQ(runs[1].scheduled_at, T0() + 2min);

  End(first, RunStatus::kCompleted);
  clock_.Advance(1min);
  ASSERT_TRUE(scheduler.Tick());
  runs = RunsOf("minutely");
  ASSERT_EQ(runs.size(), 3u);
  EXPECT_EQ(runs[2].status, RunStatus::kPending);
  EXPECT_EQ(runs[2].scheduled_at, T0() + 3min);
}

// Regression: after a restart, the instants of the gap were recorded did_not_start
// ("previous run still running") because of a run the dead node held, instead of
// following the misfire policy.
TEST_F(SchedulerTest, InstantsOfTheGapFollowTheMisfirePolicyNotTheOverlapCheck) {
  Open();
  Put(Periodical("every-second", "* * * * * *"));  // overlap skip, misfire skip
  SchedulerOptions options;
  options.leader_ttl = 2s;  // the dead leader's lease ends within misfire_grace (5 s)
  Scheduler& dead = Make(options);
  ASSERT_TRUE(dead.Tick());
  clock_.Advance(1s);
  ASSERT_TRUE(dead.Tick());
  std::vector<taskmill::Run> runs = RunsOf("every-second");
  ASSERT_EQ(runs.size(), 1u);
  Claim(runs[0].id);       // still live when the next scheduler takes over
  clock_.Advance(3500ms);  // the leader died; its lease ran out at T0 + 3 s
  ASSERT_TRUE(Make(options).Tick());
  runs = RunsOf("every-second");
  ASSERT_EQ(runs.size(), 4u);  // the first, and the gap's instants T0 + 2, 3 and 4 s
  for (size_t i = 1; i < runs.size(); ++i) {
    EXPECT_EQ(runs[i].status, RunStatus::kPending) << i << ": " << runs[i].error;
  }
}

TEST_F(SchedulerTest, OverlapAllowLaunchesWhilePreviousRunIsLive) {
  Open();
  TaskDef task = Periodical("minutely", "* * * * *");
  task.overlap = "allow";
  Put(task);
  Scheduler& scheduler = Make();
  ASSERT_TRUE(scheduler.Tick());
  clock_.Advance(1min);
  ASSERT_TRUE(scheduler.Tick());
  Claim(RunsOf("minutely")[0].id);
  clock_.Advance(1min);
  ASSERT_TRUE(scheduler.Tick());
  std::vector<taskmill::Run> runs = RunsOf("minutely");
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].status, RunStatus::kRunning);
  EXPECT_EQ(runs[1].status, RunStatus::kPending);
}

TEST_F(SchedulerTest, LaunchIsStoredAheadOfItsInstantAndDueAtIt) {
  Open();
  Put(Periodical("minutely", "0 * * * * *"));
  Scheduler& scheduler = Make();
  ASSERT_TRUE(scheduler.Tick());
  EXPECT_EQ(scheduler.next_wake(), T0() + 1min - 200ms);
  clock_.Advance(1min - 150ms);
  ASSERT_TRUE(scheduler.Tick());
  std::vector<taskmill::Run> runs = RunsOf("minutely");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].status, RunStatus::kPending);
  EXPECT_EQ(runs[0].scheduled_at, T0() + 1min);
  EXPECT_EQ(runs[0].run_at, T0() + 1min);
  // Not claimable before its instant.
  EXPECT_TRUE(storage().RunTake({"test-runner", {}, 10, clock_.Now()})->empty());
  clock_.Advance(150ms);
  ASSERT_TRUE(scheduler.Tick());
  EXPECT_EQ(RunsOf("minutely").size(), 1u);  // handled once
  Claim(runs[0].id);
}

TEST_F(SchedulerTest, WithALiveRunOverlapIsDecidedAtTheInstantItself) {
  Open();
  Put(Periodical("minutely", "0 * * * * *"));  // overlap: skip
  Scheduler& scheduler = Make();
  ASSERT_TRUE(scheduler.Tick());
  clock_.Advance(1min);
  ASSERT_TRUE(scheduler.Tick());
  taskmill::Run first = Claim(RunsOf("minutely")[0].id);
  // 150 ms before the next instant the first run is still going: nothing is decided
  // yet, and the scheduler wakes at the instant itself.
  clock_.Advance(1min - 150ms);
  ASSERT_TRUE(scheduler.Tick());
  EXPECT_EQ(RunsOf("minutely").size(), 1u);
  EXPECT_EQ(scheduler.next_wake(), T0() + 2min);
  // It ends in time, so the instant launches.
  clock_.Advance(100ms);
  End(first, RunStatus::kCompleted);
  clock_.Advance(50ms);
  ASSERT_TRUE(scheduler.Tick());
  std::vector<taskmill::Run> runs = RunsOf("minutely");
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[1].status, RunStatus::kPending);
  EXPECT_EQ(runs[1].scheduled_at, T0() + 2min);
}

TEST_F(SchedulerTest, DisablingAPeriodicalTaskStopsTheLaunchStoredAhead) {
  Open();
  Put(Periodical("minutely", "0 * * * * *"));
  Scheduler& scheduler = Make();
  ASSERT_TRUE(scheduler.Tick());
  clock_.Advance(1min - 100ms);
  ASSERT_TRUE(scheduler.Tick());
  std::vector<taskmill::Run> runs = RunsOf("minutely");
  ASSERT_EQ(runs.size(), 1u);
  ASSERT_TRUE(engine_->TaskSetEnabled("minutely", false).ok());
  EXPECT_EQ(Get(runs[0].id).status, RunStatus::kStopped);
}

TEST_F(SchedulerTest, TwoSchedulersAtTheSameInstantStoreOneLaunch) {
  Open();
  TaskDef task = Periodical("every-10s", "*/10 * * * * *");
  task.overlap = "allow";  // so that both really try to launch
  Put(task);
  SchedulerOptions options;
  options.leader_ttl = 1min;
  options.sweep_interval = 1h;  // the first one's loop wakes only for fire instants
  Scheduler& first = Make(options);
  Scheduler& second = Make(options);
  ASSERT_TRUE(first.Start().ok());
  WaitUntil([&] { return first.next_wake() == T0() + 9800ms; }, "the first one's first pass");
  ASSERT_TRUE(first.is_leader());
  // Split brain: the lease row is lost (a storage failover, a clock running behind)
  // while the first still believes it leads, and the second takes over.
  ASSERT_TRUE(storage().LeaderResign("scheduler", first.id()).ok());
  ASSERT_TRUE(second.Tick());
  // Both handle the instant at 10 s.
  clock_.Advance(10s);
  ASSERT_TRUE(second.Tick());
  // The first one's launch carries its old term: refused, and it stops leading.
  WaitUntil([&] { return !first.is_leader(); }, "the first one's refused launch");
  EXPECT_FALSE(first.next_wake().has_value());
  first.Stop();
  std::vector<taskmill::Run> runs = RunsOf("every-10s");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].scheduled_at, T0() + 10s);
  // The key holds against the storage directly too.
  taskmill::Run again = runs[0];
  again.id = "another-id";
  auto lease = storage().LeaderGet("scheduler");
  ASSERT_TRUE(lease.ok() && *lease);
  auto stored = storage().RunPutScheduled({again}, LeaderFence{"scheduler", (*lease)->term});
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  EXPECT_TRUE(stored->empty());
}

TEST_F(SchedulerTest, NewLeaderContinuesFromTheLastLaunchStored) {
  Open();
  TaskDef task = Periodical("minutely", "0 * * * * *");
  task.overlap = "allow";
  Put(task);
  Scheduler& first = Make();
  ASSERT_TRUE(first.Tick());
  for (int i = 0; i < 3; ++i) {
    clock_.Advance(1min);
    ASSERT_TRUE(first.Tick());
  }
  // A clean hand-over: the successor neither repeats nor misses an instant.
  ASSERT_TRUE(storage().LeaderResign("scheduler", first.id()).ok());
  Scheduler& second = Make();
  ASSERT_TRUE(second.Tick());
  clock_.Advance(1min);
  ASSERT_TRUE(second.Tick());
  std::vector<taskmill::Run> runs = RunsOf("minutely");
  ASSERT_EQ(runs.size(), 4u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(runs[i].status, RunStatus::kPending) << i;
    EXPECT_EQ(runs[i].scheduled_at, T0() + std::chrono::minutes(i + 1)) << i;
  }
}

TEST_F(SchedulerTest, DisabledPeriodicalTaskIsNotLaunchedAndItsDowntimeIsNotAMisfire) {
  Open();
  Put(Periodical("hourly", "0 0 * * * *"));
  Scheduler& scheduler = Make();
  ASSERT_TRUE(scheduler.Tick());
  ASSERT_TRUE(engine_->TaskSetEnabled("hourly", false).ok());
  clock_.Advance(5h + 30min);
  ASSERT_TRUE(scheduler.Tick());
  EXPECT_TRUE(RunsOf("hourly").empty());
  ASSERT_TRUE(engine_->TaskSetEnabled("hourly", true).ok());
  // Even a scheduler that never saw it disabled (a restart) must not count 5 misses.
  ASSERT_TRUE(storage().LeaderResign("scheduler", scheduler.id()).ok());
  clock_.Advance(30min);
  ASSERT_TRUE(Make().Tick());
  std::vector<taskmill::Run> runs = RunsOf("hourly");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].status, RunStatus::kPending);
  EXPECT_EQ(runs[0].scheduled_at, T0() + 6h);
}

TEST_F(SchedulerTest, ChangedScheduleStartsAfreshWithoutMisfires) {
  Open();
  Put(Periodical("report", "0 0 0 * * *"));
  Scheduler& scheduler = Make();
  ASSERT_TRUE(scheduler.Tick());
  clock_.Advance(10h);
  ASSERT_TRUE(scheduler.Tick());  // nothing due yet
  Put(Periodical("report", "0 */15 * * * *"));
  ASSERT_TRUE(scheduler.Tick());
  clock_.Advance(15min);
  ASSERT_TRUE(scheduler.Tick());
  std::vector<taskmill::Run> runs = RunsOf("report");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].status, RunStatus::kPending);
  EXPECT_EQ(runs[0].scheduled_at, T0() + 10h + 15min);
}

TEST_F(SchedulerTest, InvalidStoredScheduleDoesNotStopOtherTasks) {
  Open();
  Put(Periodical("broken", "61 * * * * *"));
  Put(Periodical("zone", "@hourly", "Nowhere/Atlantis"));
  Put(Periodical("fine", "@hourly"));
  Scheduler& scheduler = Make();
  ASSERT_TRUE(scheduler.Tick());
  clock_.Advance(1h);
  ASSERT_TRUE(scheduler.Tick());
  EXPECT_TRUE(RunsOf("broken").empty());
  EXPECT_TRUE(RunsOf("zone").empty());
  EXPECT_EQ(RunsOf("fine").size(), 1u);
}

TEST_F(SchedulerTest, WithoutAnEngineRunsAreBuiltFromTheTaskDefinition) {
  Open();
  TaskDef task = Periodical("bare", "@hourly");
  task.queue = "reports";
  task.priority = 7;
  task.args = json::array{1, 2};
  Put(task);
  Scheduler bare(SchedulerOptions{}, storage(), clock_, engine_->events(), nullptr);
  ASSERT_TRUE(bare.Tick());
  clock_.Advance(1h);
  ASSERT_TRUE(bare.Tick());
  std::vector<taskmill::Run> runs = RunsOf("bare");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].function, "demo.echo");
  EXPECT_EQ(runs[0].queue, "reports");
  EXPECT_EQ(runs[0].priority, 7);
  EXPECT_EQ(runs[0].args, (json::array{1, 2}));
  EXPECT_EQ(runs[0].scheduled_at, T0() + 1h);
}

// ---- leadership ----------------------------------------------------------------------

TEST_F(SchedulerTest, SchedulerThatLostTheLeaseLaunchesNothing) {
  Open();
  TaskDef task = Periodical("every-second", "* * * * * *");
  task.overlap = "allow";
  Put(task);
  Scheduler& first = Make();
  Scheduler& second = Make();
  ASSERT_TRUE(first.Tick());
  EXPECT_FALSE(second.Tick());
  clock_.Advance(16s);  // the first stalls; its 15 s lease expires
  ASSERT_TRUE(second.Tick());
  const size_t launched = RunsOf("every-second").size();
  ASSERT_GT(launched, 0u);
  clock_.Advance(1s);
  EXPECT_FALSE(first.Tick());
  EXPECT_FALSE(first.is_leader());
  EXPECT_EQ(first.next_wake(), std::nullopt);
  EXPECT_EQ(RunsOf("every-second").size(), launched);
  ASSERT_TRUE(second.Tick());
  EXPECT_EQ(RunsOf("every-second").size(), launched + 1);
}

TEST_F(SchedulerTest, LeaseExpiringPartWayThroughAPassStoresNothingMore) {
  Open();
  for (const char* name : {"a", "b"}) {
    TaskDef task = Periodical(name, "* * * * * *");
    task.overlap = "allow";
    Put(task);
  }
  int built = 0;
  SchedulerHooks hooks = EngineHooks();
  hooks.prepare = [&](const EnqueueRequest& r) {
    // Task b's launches are built after a long stall (a GC pause, a slow disk): the
    // lease has run out by the time they would be stored.
    if (++built == 2) clock_.Advance(1min);
    return engine_->PrepareRun(r);
  };
  SchedulerOptions options;
  options.leader_ttl = 30s;
  Scheduler& scheduler = Make(options, hooks);
  ASSERT_TRUE(scheduler.Tick());
  clock_.Advance(10s);  // ten instants of each task due in one pass
  EXPECT_FALSE(scheduler.Tick());
  EXPECT_EQ(RunsOf("a").size(), 10u);
  EXPECT_EQ(RunsOf("b").size(), 0u);
}

// ---- continuous ----------------------------------------------------------------------

TEST_F(SchedulerTest, ContinuousKeepsOneLiveRunAndRestartsAfterThePause) {
  Open();
  Put(Continuous("consumer", 2s));
  Scheduler& scheduler = Make();
  ASSERT_TRUE(scheduler.Tick());
  std::vector<taskmill::Run> runs = RunsOf("consumer");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].status, RunStatus::kPending);
  EXPECT_EQ(runs[0].run_at, T0());
  EXPECT_EQ(ContinuousRestarts(storage(), "consumer"), 0) << "the first run is no restart";
  taskmill::Run first = Claim(runs[0].id);
  clock_.Advance(1s);
  ASSERT_TRUE(scheduler.Tick());
  EXPECT_EQ(RunsOf("consumer").size(), 1u);  // still live: nothing new

  End(first, RunStatus::kCompleted);  // ends at T0 + 1 s
  ASSERT_TRUE(scheduler.Tick());
  runs = RunsOf("consumer");
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[1].status, RunStatus::kPending);
  EXPECT_EQ(runs[1].run_at, T0() + 3s);  // pause_sec after the end
  EXPECT_EQ(runs[1].scheduled_at, T0() + 3s);
  EXPECT_EQ(*storage().RunCountLive("consumer"), 1);
  ASSERT_TRUE(scheduler.Tick());
  EXPECT_EQ(RunsOf("consumer").size(), 2u);

  // Any end counts: a failure restarts it too.
  clock_.Advance(2s);
  End(Claim(runs[1].id), RunStatus::kFailed);
  ASSERT_TRUE(scheduler.Tick());
  runs = RunsOf("consumer");
  ASSERT_EQ(runs.size(), 3u);
  EXPECT_EQ(runs[2].run_at, T0() + 5s);
  EXPECT_EQ(ContinuousRestarts(storage(), "consumer"), 2);
}

TEST_F(SchedulerTest, ContinuousLostRunIsReplaced) {
  Open();
  TaskDef consumer = Continuous("consumer", 5s);
  consumer.time_to_resolve = 10s;
  Put(consumer);
  Scheduler& scheduler = Make();
  ASSERT_TRUE(scheduler.Tick());
  taskmill::Run first = Claim(RunsOf("consumer")[0].id);  // its runner dies: no heartbeat
  clock_.Advance(11s);
  ASSERT_TRUE(scheduler.Tick());
  EXPECT_EQ(Get(first.id).status, RunStatus::kLost);
  std::vector<taskmill::Run> runs = RunsOf("consumer");
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[1].status, RunStatus::kPending);
  EXPECT_EQ(runs[1].run_at, T0() + 11s + 5s);
}

// A lost run waits for its own lease, not for an election: the scheduler that does not
// lead sweeps too, and claims that never started go back to pending uncharged.
TEST_F(SchedulerTest, ASchedulerThatDoesNotLeadSweepsLostRunsAndUnstartedClaims) {
  Open();
  Scheduler& leader = Make();
  Scheduler& follower = Make();
  ASSERT_TRUE(leader.Tick());
  for (const char* id : {"started", "ahead"}) {
    EnqueueRequest request{.function = "demo.echo", .id = id, .time_to_resolve = 10s};
    ASSERT_TRUE(engine_->Enqueue(request).ok());
  }
  // One claim: "started" goes to a free slot, "ahead" waits for one.
  auto claimed = storage().RunTake({"dead-runner", {}, 2, clock_.Now(), 1});
  ASSERT_TRUE(claimed.ok());
  ASSERT_EQ(claimed->size(), 2u);
  clock_.Advance(11s);
  EXPECT_FALSE(follower.Tick());
  taskmill::Run ahead = Get("ahead");
  EXPECT_EQ(ahead.status, RunStatus::kPending);
  EXPECT_TRUE(ahead.attempts.empty()) << "a claim that never started is no attempt";
  EXPECT_EQ(ahead.retry.max_attempts, 2);
  taskmill::Run started = Get("started");
  EXPECT_EQ(started.status, RunStatus::kLost);
  ASSERT_EQ(started.attempts.size(), 1u);
  EXPECT_EQ(started.attempts[0].outcome, "lost");
}

TEST_F(SchedulerTest, DisablingAContinuousTaskStopsItsLiveRun) {
  Open();
  Put(Continuous("consumer", 1s));
  std::vector<Event> changes;
  std::mutex changes_mu;
  uint64_t sub = engine_->events().Subscribe([&](const Event& e) {
    std::lock_guard lock(changes_mu);
    if (e.type == Event::Type::kTaskChanged) changes.push_back(e);
  });
  Scheduler& scheduler = Make();
  ASSERT_TRUE(scheduler.Tick());
  taskmill::Run live = Claim(RunsOf("consumer")[0].id);

  ASSERT_TRUE(engine_->TaskSetEnabled("consumer", false).ok());
  EXPECT_EQ(Get(live.id).status, RunStatus::kStopped);
  EXPECT_FALSE(storage().TaskGet("consumer")->enabled);
  {
    std::lock_guard lock(changes_mu);
    ASSERT_EQ(changes.size(), 1u);
    EXPECT_EQ(changes[0].task, "consumer");
  }
  clock_.Advance(1min);
  ASSERT_TRUE(scheduler.Tick());
  EXPECT_EQ(RunsOf("consumer").size(), 1u);

  ASSERT_TRUE(engine_->TaskSetEnabled("consumer", true).ok());
  ASSERT_TRUE(scheduler.Tick());
  std::vector<taskmill::Run> runs = RunsOf("consumer");
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[1].status, RunStatus::kPending);
  engine_->events().Unsubscribe(sub);
  EXPECT_TRUE(engine_->TaskSetEnabled("nope", false).IsNotFound());
}

TEST_F(SchedulerTest, TaskDisabledBehindTheSchedulersBackLosesTheRunItLaunched) {
  Open();
  Put(Continuous("consumer", 1s));
  Scheduler& scheduler = Make();
  ASSERT_TRUE(scheduler.Tick());
  std::string launched = RunsOf("consumer")[0].id;
  // An operator's own start of the task is left alone.
  EnqueueRequest manual;
  manual.task = "consumer";
  auto by_hand = engine_->Enqueue(manual);
  ASSERT_TRUE(by_hand.ok());
  // Disabled on another node, or just after this scheduler read the task.
  ASSERT_TRUE(storage().TaskSetEnabled("consumer", false).ok());
  ASSERT_TRUE(scheduler.Tick());
  EXPECT_EQ(Get(launched).status, RunStatus::kStopped);
  EXPECT_EQ(Get(by_hand->id).status, RunStatus::kPending);
}

// ---- triggers ------------------------------------------------------------------------

class TriggerTest : public SchedulerTest {
 protected:
  void SetUp() override {
    SchedulerTest::SetUp();
    auto record = [this](std::string name, std::function<void(RunContext&)> then) {
      return registry_->Register(name, [this, name, then](RunContext& ctx) {
        {
          std::lock_guard lock(calls_mu_);
          calls_.push_back(name + "(" + ctx.account_id() + ")");
        }
        then(ctx);
      });
    };
    ASSERT_TRUE(record("trig.first", [](RunContext& c) { c.SetResult("one"); }).ok());
    ASSERT_TRUE(record("trig.fail", [](RunContext&) { throw std::runtime_error("boom"); }).ok());
    ASSERT_TRUE(record("trig.last", [](RunContext& c) { c.SetResult(c.args()); }).ok());
  }

  std::vector<std::string> Calls() {
    std::lock_guard lock(calls_mu_);
    return calls_;
  }

  // Executes a trigger run's function as a runner would.
  HandlerOutcome Execute(const taskmill::Run& run) {
    const FunctionRegistry::Entry* entry = engine_->functions().Find(run.function);
    EXPECT_NE(entry, nullptr) << run.function;
    if (!entry) return {};
    RunContext ctx(run, std::make_shared<CancellationToken>());
    return entry->handler->Execute(ctx);
  }

  std::mutex calls_mu_;
  std::vector<std::string> calls_;  // guarded by calls_mu_
};

TEST_F(TriggerTest, HourlyTriggerCallsItsFunctionsInOrderAndRecordsEachOutcome) {
  TriggerBindings bindings;
  bindings.hourly = {"trig.first", "trig.fail", "trig.last"};
  Open(bindings);
  SchedulerOptions options;
  options.triggers = bindings;
  Scheduler& scheduler = Make(options);
  ASSERT_TRUE(scheduler.Tick());
  EXPECT_EQ(scheduler.next_wake(), T0() + 1h - 200ms);
  clock_.Advance(1h);
  ASSERT_TRUE(scheduler.Tick());
  std::vector<taskmill::Run> runs = RunsOf("trigger.hourly");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].function, "trigger.hourly");
  EXPECT_EQ(runs[0].scheduled_at, T0() + 1h);
  EXPECT_EQ(runs[0].args, json::parse(R"({"trigger": "hourly",
      "functions": ["trig.first", "trig.fail", "trig.last"]})"));

  HandlerOutcome outcome = Execute(runs[0]);
  EXPECT_EQ(Calls(), (std::vector<std::string>{"trig.first()", "trig.fail()", "trig.last()"}));
  EXPECT_EQ(outcome.status, RunStatus::kPartial);
  EXPECT_EQ(outcome.error, "1 of 3 functions failed: trig.fail: boom");
  EXPECT_EQ(outcome.result, json::parse(R"({"trigger": "hourly", "functions": [
      {"function": "trig.first", "status": "completed", "result": "one"},
      {"function": "trig.fail", "status": "failed", "result": null, "error": "boom"},
      {"function": "trig.last", "status": "completed", "result": []}]})"));
  ASSERT_TRUE(outcome.progress.has_value());
  EXPECT_EQ(*outcome.progress, (Progress{.total = 3, .succeeded = 2, .failed = 1}));
}

TEST_F(TriggerTest, EveryFunctionFailingFailsTheRun) {
  TriggerBindings bindings;
  bindings.minutely = {"trig.fail"};
  Open(bindings);
  taskmill::Run run;
  run.function = "trigger.minutely";
  HandlerOutcome outcome = Execute(run);  // without args: the engine's bindings
  EXPECT_EQ(outcome.status, RunStatus::kFailed);
  EXPECT_EQ(outcome.error, "1 of 1 functions failed: trig.fail: boom");
}

TEST_F(TriggerTest, TriggerRunEndsPartialThroughTheRunner) {
  TriggerBindings bindings;
  bindings.daily = {"trig.first", "trig.fail", "trig.last"};
  Open(bindings, /*runner=*/true);
  SchedulerOptions options;
  options.triggers = bindings;
  Scheduler& scheduler = Make(options);
  ASSERT_TRUE(scheduler.Tick());
  clock_.Advance(24h);
  ASSERT_TRUE(scheduler.Tick());
  std::vector<taskmill::Run> runs = RunsOf("trigger.daily");
  ASSERT_EQ(runs.size(), 1u);
  const std::string id = runs[0].id;
  clock_.Advance(1s);  // the runner's next poll on simulated time
  WaitUntil([&] { return IsFinal(Get(id).status); }, "the trigger run to end");
  taskmill::Run done = Get(id);
  EXPECT_EQ(done.status, RunStatus::kPartial);
  EXPECT_EQ(done.progress, (Progress{.total = 3, .succeeded = 2, .failed = 1}));
  ASSERT_TRUE(done.result.is_object());
  EXPECT_EQ(done.result.at("functions").as_array().size(), 3u);
  EXPECT_EQ(done.result.at("functions").at(1).at("error"), "boom");
}

TEST_F(TriggerTest, EachAccountRunsOncePerKnownAccountPerInterval) {
  TriggerBindings bindings;
  bindings.each_account = {"trig.first", "trig.last"};
  Open(bindings);
  for (std::string account : {"acme", "globex", "acme", ""}) {
    EnqueueRequest req;
    req.function = "demo.echo";
    req.account_id = account;
    ASSERT_TRUE(engine_->Enqueue(req).ok());
  }
  SchedulerOptions options;
  options.triggers = bindings;
  Scheduler& scheduler = Make(options);
  ASSERT_TRUE(scheduler.Tick());
  std::vector<taskmill::Run> runs = RunsOf("trigger.each_account");
  ASSERT_EQ(runs.size(), 2u);
  std::set<std::string> accounts;
  for (const taskmill::Run& run : runs) {
    accounts.insert(run.account_id);
    EXPECT_EQ(run.function, "trigger.each_account");
    EXPECT_EQ(run.status, RunStatus::kPending);
  }
  EXPECT_EQ(accounts, (std::set<std::string>{"acme", "globex"}));
  EXPECT_EQ(scheduler.next_wake(), T0() + 24h);

  // Later in the same interval, and from a scheduler that starts afresh: nothing new.
  clock_.Advance(1h);
  ASSERT_TRUE(scheduler.Tick());
  ASSERT_TRUE(storage().LeaderResign("scheduler", scheduler.id()).ok());
  ASSERT_TRUE(Make(options).Tick());
  EXPECT_EQ(RunsOf("trigger.each_account").size(), 2u);

  // The next interval visits each account again.
  clock_.Advance(23h);
  ASSERT_TRUE(schedulers_.back()->Tick());
  EXPECT_EQ(RunsOf("trigger.each_account").size(), 4u);

  // Each function is called with the account.
  taskmill::Run acme = runs[0].account_id == "acme" ? runs[0] : runs[1];
  HandlerOutcome outcome = Execute(acme);
  EXPECT_EQ(Calls(), (std::vector<std::string>{"trig.first(acme)", "trig.last(acme)"}));
  EXPECT_EQ(outcome.status, RunStatus::kCompleted);
  EXPECT_EQ(outcome.result.at("account_id"), "acme");
  EXPECT_EQ(outcome.result.at("functions").at(1).at("result"), (json::array{"acme"}));
}

TEST_F(TriggerTest, EachAccountUsesTheAccountsCallbackWhenGiven) {
  TriggerBindings bindings;
  bindings.each_account = {"trig.first"};
  bindings.browse_interval = 1h;
  bindings.accounts = []() -> Result<std::vector<std::string>> {
    return std::vector<std::string>{"a1", "a2", "a3"};
  };
  Open(bindings);
  SchedulerOptions options;
  options.triggers = bindings;
  Scheduler& scheduler = Make(options);
  ASSERT_TRUE(scheduler.Tick());
  EXPECT_EQ(RunsOf("trigger.each_account").size(), 3u);
  clock_.Advance(1h);
  ASSERT_TRUE(scheduler.Tick());
  EXPECT_EQ(RunsOf("trigger.each_account").size(), 6u);
}

TEST_F(TriggerTest, TriggersAreTasksThatCanBeDisabled) {
  TriggerBindings bindings;
  bindings.minutely = {"trig.first"};
  bindings.each_account = {"trig.last"};
  bindings.browse_interval = 1h;
  bindings.accounts = []() -> Result<std::vector<std::string>> {
    return std::vector<std::string>{"a1"};
  };
  Open(bindings);
  SchedulerOptions options;
  options.triggers = bindings;
  Scheduler& scheduler = Make(options);
  scheduler.StoreTriggerTasks();

  // Listed and gettable like the configuration's tasks, with a schedule to show.
  auto minutely = storage().TaskGet("trigger.minutely");
  ASSERT_TRUE(minutely.ok()) << minutely.status().ToString();
  EXPECT_EQ(minutely->kind, TaskKind::kPeriodical);
  EXPECT_EQ(minutely->function, "trigger.minutely");
  EXPECT_EQ(minutely->schedule, "0 * * * * *");
  EXPECT_EQ(NextFireTimes(*minutely, T0(), 2).size(), 2u);
  auto each = storage().TaskGet("trigger.each_account");
  ASSERT_TRUE(each.ok()) << each.status().ToString();
  EXPECT_TRUE(each->enabled);

  // Disabled, they launch nothing; a restart keeps them disabled.
  ASSERT_TRUE(engine_->TaskSetEnabled("trigger.minutely", false).ok());
  ASSERT_TRUE(engine_->TaskSetEnabled("trigger.each_account", false).ok());
  scheduler.StoreTriggerTasks();
  EXPECT_FALSE(storage().TaskGet("trigger.minutely")->enabled);
  ASSERT_TRUE(scheduler.Tick());
  clock_.Advance(1min);
  ASSERT_TRUE(scheduler.Tick());
  EXPECT_TRUE(RunsOf("trigger.minutely").empty());
  EXPECT_TRUE(RunsOf("trigger.each_account").empty());

  // Enabled again, they launch as before.
  ASSERT_TRUE(engine_->TaskSetEnabled("trigger.minutely", true).ok());
  ASSERT_TRUE(engine_->TaskSetEnabled("trigger.each_account", true).ok());
  ASSERT_TRUE(scheduler.Tick());
  clock_.Advance(1min);
  ASSERT_TRUE(scheduler.Tick());
  std::vector<taskmill::Run> runs = RunsOf("trigger.minutely");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].args, json::parse(R"({"trigger": "minutely", "functions": ["trig.first"]})"));
  EXPECT_EQ(RunsOf("trigger.each_account").size(), 1u);
}

TEST_F(TriggerTest, BindingAnUnknownFunctionFailsToOpenTheEngine) {
  EngineOptions o;
  o.storage.url = (dir_ / "t.db").string();
  o.clock = &clock_;
  o.runner = o.scheduler = false;
  o.scheduler_options.triggers.hourly = {"trig.first", "trig.nope"};
  auto engine = Engine::Open(o, registry_);
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().message(),
            "triggers.hourly[1]: unknown function 'trig.nope'; `taskmill functions` lists the "
            "known ones");
}

// ---- fire times ----------------------------------------------------------------------

TEST(SchedulerFireTimes, NextThreeAcrossTheSpringForwardGapInBerlin) {
  TaskDef nightly = Periodical("nightly", "0 30 2 * * *", "Europe/Berlin");
  // 29 March 2026: Berlin jumps from 02:00 to 03:00, so 02:30 fires once at 03:00.
  EXPECT_EQ(NextFireTimes(nightly, At("2026-03-28T00:00:00Z"), 3),
            (std::vector<TimePoint>{At("2026-03-28T01:30:00Z"), At("2026-03-29T01:00:00Z"),
                                    At("2026-03-30T00:30:00Z")}));
}

TEST(SchedulerFireTimes, EmptyWhenThereIsNothingToShow) {
  TaskDef single = Periodical("x", "@hourly");
  single.kind = TaskKind::kSingleShot;
  EXPECT_TRUE(NextFireTimes(single, T0(), 3).empty());
  EXPECT_TRUE(NextFireTimes(Periodical("x", "bad"), T0(), 3).empty());
  EXPECT_TRUE(NextFireTimes(Periodical("x", "@hourly", "Nowhere/Atlantis"), T0(), 3).empty());
  EXPECT_TRUE(NextFireTimes(Periodical("x", "@hourly"), T0(), 0).empty());
  // 30 February never comes.
  EXPECT_TRUE(NextFireTimes(Periodical("x", "0 0 0 30 2 *"), T0(), 3).empty());
}

}  // namespace
}  // namespace taskmill
