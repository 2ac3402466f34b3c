// Engine tests: runs go through real storage (a SQLite file in a temp dir), the real
// runner and scheduler; time is simulated with ManualClock where retries, timeouts or
// leases matter. Nothing sleeps on the wall clock: tests wait for events with a
// generous bound.
#include <gtest/gtest.h>
#include <taskmill/engine.h>

#include <boost/json.hpp>
#include <filesystem>
#include <functional>
#include <thread>

#include "scheduler/scheduler.h"

namespace taskmill {
namespace {
namespace json = boost::json;
using namespace std::chrono_literals;

TimePoint T0() {
  TimePoint t;
  ParseTime("2026-01-01T00:00:00Z", &t);
  return t;
}

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("taskmill-engine-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    registry_ = std::make_shared<FunctionRegistry>();
    ASSERT_TRUE(
        registry_->Register("demo.echo", [](RunContext& c) { c.SetResult(c.args()); }).ok());
    ASSERT_TRUE(registry_
                    ->Register("demo.fail",
                               [](RunContext& c) {
                                 throw std::runtime_error("boom " + std::to_string(c.attempt()));
                               })
                    .ok());
    ASSERT_TRUE(registry_
                    ->Register("demo.gate",
                               [this](RunContext&) {
                                 // Waits until the test opens the gate (or a generous bound).
                                 std::unique_lock lock(gate_mu_);
                                 ++gate_entered_;
                                 gate_cv_.notify_all();
                                 gate_cv_.wait_for(lock, 60s, [&] { return gate_open_; });
                               })
                    .ok());
    ASSERT_TRUE(registry_
                    ->Register("demo.block",
                               [](RunContext& c) {
                                 // Blocks until cancelled (or a generous bound).
                                 c.SleepFor(std::chrono::minutes(5));
                               })
                    .ok());
  }
  void TearDown() override {
    OpenGate();
    if (engine_) engine_->Stop();
    engine_.reset();
    std::filesystem::remove_all(dir_);
  }

  void Open(Clock* clock, bool scheduler = false) {
    EngineOptions o;
    o.storage.url = (dir_ / "t.db").string();
    o.storage.url += "?synchronous=normal";
    o.clock = clock;
    o.scheduler = scheduler;
    o.runner_options.capacity = 4;
    o.runner_options.poll_interval = 1s;
    auto e = Engine::Open(o, registry_);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    engine_ = std::move(*e);
    ASSERT_TRUE(engine_->Start().ok());
  }

  // Waits until the stored run satisfies `pred`; wakes on every engine event and
  // re-reads at least every 50 ms; gives up after 30 s.
  taskmill::Run WaitRun(const std::string& id,
                        const std::function<bool(const taskmill::Run&)>& pred) {
    std::mutex mu;
    std::condition_variable cv;
    uint64_t sub = engine_->events().Subscribe([&](const Event&) { cv.notify_all(); });
    auto deadline = std::chrono::steady_clock::now() + 30s;
    taskmill::Run last;
    for (;;) {
      auto r = engine_->storage().RunGet(id);
      if (r.ok()) {
        last = *r;
        if (pred(last)) break;
      }
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "run " << id << " never reached the expected state; last status "
                      << ToString(last.status);
        break;
      }
      std::unique_lock lock(mu);
      cv.wait_for(lock, 50ms);
    }
    engine_->events().Unsubscribe(sub);
    return last;
  }

  // Simulated time for the tests that need it. Declared before engine_ so that it
  // outlives the engine's threads.
  ManualClock& UseManualClock() {
    manual_clock_ = std::make_unique<ManualClock>(T0());
    return *manual_clock_;
  }

  void OpenGate() {
    std::lock_guard lock(gate_mu_);
    gate_open_ = true;
    gate_cv_.notify_all();
  }

  std::mutex gate_mu_;
  std::condition_variable gate_cv_;
  bool gate_open_ = false;  // guarded by gate_mu_
  int gate_entered_ = 0;    // attempts of demo.gate that started; guarded by gate_mu_

  std::filesystem::path dir_;
  std::shared_ptr<FunctionRegistry> registry_;
  std::unique_ptr<ManualClock> manual_clock_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(EngineTest, EchoCompletesWithItsArgsAsResult) {
  Open(nullptr);
  EnqueueRequest req;
  req.function = "demo.echo";
  req.args = json::array{"hello"};
  auto run = engine_->Enqueue(req);
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(run->status, RunStatus::kPending);
  auto done = engine_->Finished(run->id).get();
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->status, RunStatus::kCompleted);
  EXPECT_EQ(done->result, (json::array{"hello"}));
  ASSERT_EQ(done->attempts.size(), 1u);
  EXPECT_EQ(done->attempts[0].outcome, "completed");
  EXPECT_TRUE(done->finished_at.has_value());
}

TEST_F(EngineTest, FailingRunIsRetriedWithExponentialDelayThenFails) {
  ManualClock& clock = UseManualClock();
  Open(&clock);
  EnqueueRequest req;
  req.function = "demo.fail";
  req.retry = RetryPolicy{.max_attempts = 3, .delay = 1s, .delay_factor = 2.0};
  auto run = engine_->Enqueue(req);
  ASSERT_TRUE(run.ok());

  taskmill::Run after1 =
      WaitRun(run->id, [](const taskmill::Run& r) { return r.attempts.size() == 1; });
  EXPECT_EQ(after1.status, RunStatus::kPending);
  EXPECT_EQ(after1.run_at, *after1.attempts[0].finished_at + 1s);
  EXPECT_EQ(after1.attempts[0].error, "boom 1");
  clock.Advance(1s);

  taskmill::Run after2 =
      WaitRun(run->id, [](const taskmill::Run& r) { return r.attempts.size() == 2; });
  EXPECT_EQ(after2.status, RunStatus::kPending);
  EXPECT_EQ(after2.run_at, *after2.attempts[1].finished_at + 2s);
  clock.Advance(2s);

  taskmill::Run final_run =
      WaitRun(run->id, [](const taskmill::Run& r) { return IsFinal(r.status); });
  EXPECT_EQ(final_run.status, RunStatus::kFailed);
  ASSERT_EQ(final_run.attempts.size(), 3u);
  EXPECT_EQ(final_run.attempts[2].error, "boom 3");
  EXPECT_EQ(final_run.error, "boom 3");
  EXPECT_EQ(final_run.error_kind, "user");
}

TEST_F(EngineTest, NoRetryBeforeTheDelayHasPassed) {
  ManualClock& clock = UseManualClock();
  Open(&clock);
  EnqueueRequest req;
  req.function = "demo.fail";
  req.retry = RetryPolicy{.max_attempts = 2, .delay = 10s};
  auto run = engine_->Enqueue(req);
  ASSERT_TRUE(run.ok());
  WaitRun(run->id, [](const taskmill::Run& r) { return r.attempts.size() == 1; });
  clock.Advance(9s);
  // The runner polls on simulated time; a claim now would be a bug.
  auto claimed = engine_->storage().RunTake({"probe", {}, 10, clock.Now()});
  ASSERT_TRUE(claimed.ok());
  EXPECT_TRUE(claimed->empty());
}

TEST_F(EngineTest, TimeoutStopsTheAttemptAndRecordsIt) {
  ManualClock& clock = UseManualClock();
  Open(&clock);
  EnqueueRequest req;
  req.function = "demo.block";
  req.timeout = 5s;
  auto run = engine_->Enqueue(req);
  ASSERT_TRUE(run.ok());
  WaitRun(run->id, [](const taskmill::Run& r) { return r.status == RunStatus::kRunning; });
  clock.Advance(5s);
  taskmill::Run done = WaitRun(run->id, [](const taskmill::Run& r) { return IsFinal(r.status); });
  EXPECT_EQ(done.status, RunStatus::kFailed);
  EXPECT_EQ(done.error_kind, "timeout");
  ASSERT_EQ(done.attempts.size(), 1u);
  EXPECT_EQ(done.attempts[0].outcome, "timeout");
}

TEST_F(EngineTest, ShortAttemptsLetTheRunnerClaimRunsAheadOfItsSlots) {
  // Simulated time stands still, so every attempt measures as instant: the shortest
  // attempts there are, for which the runner claims the most runs ahead.
  ManualClock& clock = UseManualClock();
  Open(&clock);  // 4 slots
  EnqueueRequest echo;
  echo.function = "demo.echo";
  auto first = engine_->Enqueue(echo);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(engine_->Finished(first->id).get()->status, RunStatus::kCompleted);

  std::vector<EnqueueRequest> gated(12);
  for (auto& r : gated) r.function = "demo.gate";
  auto runs = engine_->EnqueueBatch(gated);
  ASSERT_TRUE(runs.ok()) << runs.status().ToString();
  // Claimed: stored running, whether in a slot or waiting for one.
  int64_t claimed = 0;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    claimed = engine_->storage().RunStats()->by_status[RunStatus::kRunning];
    if (claimed == 12) break;
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(claimed, 12) << "all claimed, 4 in slots and 8 waiting for one";
  {
    std::unique_lock lock(gate_mu_);
    EXPECT_TRUE(gate_cv_.wait_for(lock, 30s, [&] { return gate_entered_ == 4; }));
    EXPECT_EQ(gate_entered_, 4) << "no more attempts at once than slots";
  }
  OpenGate();
  for (const auto& run : *runs) {
    EXPECT_EQ(engine_->Finished(run.id).get()->status, RunStatus::kCompleted);
  }
  std::lock_guard lock(gate_mu_);
  EXPECT_EQ(gate_entered_, 12);
}

TEST_F(EngineTest, CancelStopsARunningRun) {
  Open(nullptr);
  EnqueueRequest req;
  req.function = "demo.block";
  auto run = engine_->Enqueue(req);
  ASSERT_TRUE(run.ok());
  WaitRun(run->id, [](const taskmill::Run& r) { return r.status == RunStatus::kRunning; });
  auto cancelled = engine_->Cancel(run->id);
  ASSERT_TRUE(cancelled.ok()) << cancelled.status().ToString();
  EXPECT_EQ(cancelled->status, RunStatus::kStopped);
  // The slot is given back: another run completes.
  EnqueueRequest echo;
  echo.function = "demo.echo";
  auto next = engine_->Enqueue(echo);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(engine_->Finished(next->id).get()->status, RunStatus::kCompleted);
  taskmill::Run stopped = *engine_->storage().RunGet(run->id);
  EXPECT_EQ(stopped.status, RunStatus::kStopped);
  ASSERT_EQ(stopped.attempts.size(), 1u);
  EXPECT_EQ(stopped.attempts[0].outcome, "stopped");
}

TEST_F(EngineTest, UnknownFunctionIsRejectedAndNothingIsStored) {
  Open(nullptr);
  EnqueueRequest req;
  req.function = "demo.nope";
  auto run = engine_->Enqueue(req);
  ASSERT_FALSE(run.ok());
  EXPECT_TRUE(run.status().IsInvalidArgument());
  EXPECT_EQ(run.status().details().at("code"), "unknown_function");
  EXPECT_EQ(engine_->storage().RunStats()->total, 0);
}

TEST_F(EngineTest, TaskWhoseFunctionNoRunnerHasEndsUnknownTask) {
  Open(nullptr);
  TaskDef task;
  task.name = "orphan";
  task.function = "gone.away";
  ASSERT_TRUE(engine_->storage().TaskUpsert(task).ok());
  EnqueueRequest req;
  req.task = "orphan";
  auto run = engine_->Enqueue(req);
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  auto done = engine_->Finished(run->id).get();
  EXPECT_EQ(done->status, RunStatus::kUnknownTask);
  EXPECT_EQ(done->task, "orphan");
}

TEST_F(EngineTest, BadRequestsNameTheField) {
  Open(nullptr);
  EnqueueRequest req;
  req.function = "demo.echo";
  req.delay = -1s;
  EXPECT_EQ(engine_->Enqueue(req).status().details().at("field"), "delay");
  req.delay.reset();
  req.args = json::value("scalar");
  EXPECT_EQ(engine_->Enqueue(req).status().details().at("field"), "args");
  req.args.reset();
  req.retry = RetryPolicy{.max_attempts = 0};
  EXPECT_EQ(engine_->Enqueue(req).status().details().at("field"), "max_attempts");
}

TEST_F(EngineTest, DuplicateIdConflictsUnlessIgnored) {
  Open(nullptr);
  EnqueueRequest req;
  req.function = "demo.echo";
  req.id = "order-42";
  ASSERT_TRUE(engine_->Enqueue(req).ok());
  EXPECT_TRUE(engine_->Enqueue(req).status().IsConflict());
  auto ignored = engine_->Enqueue(req, ConflictMode::kIgnore);
  ASSERT_TRUE(ignored.ok());
  EXPECT_EQ(ignored->id, "order-42");
}

TEST_F(EngineTest, LostRunIsRetriedBySweeperAndNewAttemptCompletes) {
  ManualClock& clock = UseManualClock();
  Open(&clock, /*scheduler=*/false);
  // A runner that dies right after claiming: claim directly through storage.
  taskmill::Run run;
  run.id = "lost-1";
  run.function = "demo.echo";
  run.created_at = run.run_at = clock.Now() + 1h;  // not due for our live runner yet
  run.time_to_resolve = 10s;
  run.retry.max_attempts = 2;
  ASSERT_TRUE(engine_->storage().RunPut({{run}}).ok());
  auto claimed = engine_->storage().RunTake({"dead-runner", {}, 1, clock.Now() + 1h});
  ASSERT_EQ(claimed->size(), 1u);
  clock.Advance(1h + 11s);
  Scheduler scheduler({}, engine_->storage(), clock, engine_->events(), nullptr);
  EXPECT_TRUE(scheduler.Tick());
  clock.Advance(1s);  // the runner's next poll on simulated time claims the retry
  taskmill::Run done = WaitRun("lost-1", [](const taskmill::Run& r) { return IsFinal(r.status); });
  EXPECT_EQ(done.status, RunStatus::kCompleted);
  ASSERT_EQ(done.attempts.size(), 2u);
  EXPECT_EQ(done.attempts[0].outcome, "lost");
  EXPECT_EQ(done.attempts[0].runner, "dead-runner");
  EXPECT_EQ(done.attempts[1].outcome, "completed");
}

TEST_F(EngineTest, LostRunWithoutAttemptsLeftEndsLost) {
  ManualClock& clock = UseManualClock();
  Open(&clock);
  taskmill::Run run;
  run.id = "lost-2";
  run.function = "demo.echo";
  run.created_at = run.run_at = clock.Now() + 1h;
  run.time_to_resolve = 10s;
  ASSERT_TRUE(engine_->storage().RunPut({{run}}).ok());
  ASSERT_EQ(engine_->storage().RunTake({"dead-runner", {}, 1, clock.Now() + 1h})->size(), 1u);
  clock.Advance(1h + 11s);
  Scheduler scheduler({}, engine_->storage(), clock, engine_->events(), nullptr);
  EXPECT_EQ(scheduler.SweepLost(clock.Now()), 1);
  taskmill::Run done = *engine_->storage().RunGet("lost-2");
  EXPECT_EQ(done.status, RunStatus::kLost);
  EXPECT_EQ(done.error_kind, "lost");
}

TEST_F(EngineTest, SecondSchedulerDoesNotLeadWhileTheFirstHoldsTheLease) {
  ManualClock& clock = UseManualClock();
  Open(&clock);
  Scheduler a({}, engine_->storage(), clock, engine_->events(), nullptr);
  Scheduler b({}, engine_->storage(), clock, engine_->events(), nullptr);
  EXPECT_TRUE(a.Tick());
  EXPECT_FALSE(b.Tick());
  clock.Advance(16s);  // a stopped renewing: the lease (15 s) expired
  EXPECT_TRUE(b.Tick());
  EXPECT_FALSE(a.Tick());
}

TEST_F(EngineTest, SchedulerStateNamesTheLeaseHolderWhicheverNodeItIs) {
  ManualClock& clock = UseManualClock();
  Open(&clock);  // no scheduler role: it reports what storage holds
  auto none = engine_->scheduler_state();
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_EQ(none->leader, "");
  EXPECT_EQ(none->lease_until, std::nullopt);
  EXPECT_FALSE(none->is_leader);

  Scheduler other({}, engine_->storage(), clock, engine_->events(), nullptr);
  ASSERT_TRUE(other.Tick());
  auto led = engine_->scheduler_state();
  ASSERT_TRUE(led.ok());
  EXPECT_EQ(led->leader, other.id());
  EXPECT_EQ(led->lease_until, T0() + 15s);
  EXPECT_FALSE(led->is_leader) << "another node's scheduler leads";

  clock.Advance(16s);  // the lease expired: no one leads until a scheduler takes it
  EXPECT_EQ(engine_->scheduler_state()->leader, "");
}

TEST_F(EngineTest, SchedulerStateSaysWhenThisNodeLeads) {
  ManualClock& clock = UseManualClock();
  Open(&clock, /*scheduler=*/true);
  // The scheduler's loop elects itself on its first pass, then sleeps on the clock.
  ASSERT_TRUE(clock.WaitForSleeper([&] { return engine_->scheduler_leader(); }, 30s));
  auto state = engine_->scheduler_state();
  ASSERT_TRUE(state.ok());
  EXPECT_TRUE(state->is_leader);
  EXPECT_FALSE(state->leader.empty());
  EXPECT_TRUE(state->lease_until.has_value());
}

}  // namespace
}  // namespace taskmill
