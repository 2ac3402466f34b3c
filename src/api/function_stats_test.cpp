// Tests of the per-function figures behind GET /api/v1/functions/{name}/stats, on
// simulated time.
#include "api/function_stats.h"

#include <gtest/gtest.h>

namespace taskmill::api {
namespace {
using namespace std::chrono_literals;

TimePoint T0() {
  TimePoint t;
  ParseTime("2026-01-01T12:00:00Z", &t);
  return t;
}

Event Finish(std::string function, std::string account, RunStatus status, TimePoint due,
             std::optional<TimePoint> started, TimePoint finished) {
  return {.type = Event::Type::kRunFinished,
          .function = std::move(function),
          .account_id = std::move(account),
          .status = status,
          .due_at = due,
          .started_at = started,
          .finished_at = finished};
}

TEST(FunctionStatsRecorderTest, CountsFinishesPerMinuteAndTakesPercentiles) {
  ManualClock clock(T0());
  EventBus bus;
  FunctionStatsRecorder recorder(bus, clock);
  // Ten completed runs of demo.echo: waited i s for a runner, then took i * 100 ms.
  for (int i = 1; i <= 10; ++i) {
    TimePoint due = T0() - 30s;
    TimePoint started = due + std::chrono::seconds(i);
    bus.Publish(Finish("demo.echo", "acme", RunStatus::kCompleted, due, started,
                       started + std::chrono::milliseconds(100 * i)));
  }
  // A failure a minute later, a cancel that never started, another function's run and
  // a retry (not final) that must not count.
  bus.Publish(Finish("demo.echo", "acme", RunStatus::kFailed, T0(), T0() + 60s, T0() + 61s));
  bus.Publish(Finish("demo.echo", "acme", RunStatus::kStopped, T0(), std::nullopt, T0() + 62s));
  bus.Publish(Finish("demo.other", "acme", RunStatus::kCompleted, T0(), T0(), T0() + 1s));
  bus.Publish(
      {.type = Event::Type::kRunCreated, .function = "demo.echo", .status = RunStatus::kPending});

  auto figures = recorder.Query(T0() + 90s, "demo.echo", std::nullopt);
  EXPECT_EQ(figures.runs, 12);
  EXPECT_EQ(figures.failed, 2);
  EXPECT_EQ(figures.timed, 11);  // the cancelled run never started
  ASSERT_EQ(figures.minutes.size(), 60u);
  // The ten ran in the minute before 12:00, the failure and cancel in 12:01.
  EXPECT_EQ(figures.minutes[57].completed, 10);
  EXPECT_EQ(figures.minutes[58].completed, 0);
  EXPECT_EQ(figures.minutes[58].failed, 0);
  EXPECT_EQ(figures.minutes[59].failed, 2);
  // Durations 0.1 .. 1.0 s and one of 1 s; latencies 1 .. 10 s and one of 60 s.
  ASSERT_TRUE(figures.duration_p50 && figures.duration_p95);
  EXPECT_NEAR(*figures.duration_p50, 0.6, 1e-9);
  EXPECT_NEAR(*figures.duration_p95, 1.0, 1e-9);
  EXPECT_NEAR(*figures.latency_p50, 6.0, 1e-9);
  EXPECT_NEAR(*figures.latency_p95, 60.0, 1e-9);
}

TEST(FunctionStatsRecorderTest, AnAccountSeesItsOwnRunsOnlyAndOldRunsLeaveTheWindow) {
  ManualClock clock(T0());
  EventBus bus;
  FunctionStatsRecorder recorder(bus, clock);
  bus.Publish(Finish("demo.echo", "acme", RunStatus::kCompleted, T0(), T0(), T0() + 1s));
  bus.Publish(Finish("demo.echo", "globex", RunStatus::kFailed, T0(), T0(), T0() + 1s));
  EXPECT_EQ(recorder.Query(T0() + 2s, "demo.echo", "acme").runs, 1);
  EXPECT_EQ(recorder.Query(T0() + 2s, "demo.echo", "acme").failed, 0);
  EXPECT_EQ(recorder.Query(T0() + 2s, "demo.echo", "globex").failed, 1);
  EXPECT_EQ(recorder.Query(T0() + 2s, "demo.echo", "initech").runs, 0);
  EXPECT_EQ(recorder.Query(T0() + 2s, "demo.echo", std::nullopt).runs, 2);

  auto later = recorder.Query(T0() + 61min, "demo.echo", std::nullopt);
  EXPECT_EQ(later.runs, 0);
  EXPECT_EQ(later.timed, 0);
  EXPECT_FALSE(later.duration_p50.has_value());
}

TEST(FunctionStatsRecorderTest, KeyedByQueueListsTheQueuesOfTheHourWithTheirMeanLatencyPerMinute) {
  ManualClock clock(T0());
  EventBus bus;
  FunctionStatsRecorder recorder(bus, clock, FunctionStatsRecorder::Key::kQueue);
  auto in_queue = [](std::string queue, std::string account, TimePoint due, TimePoint started) {
    Event event =
        Finish("demo.echo", std::move(account), RunStatus::kCompleted, due, started, started + 1s);
    event.queue = std::move(queue);
    return event;
  };
  bus.Publish(in_queue("mail", "acme", T0(), T0() + 2s));
  bus.Publish(in_queue("mail", "", T0(), T0() + 4s));
  bus.Publish(in_queue("bulk", "", T0() - 2h, T0() - 2h));  // before the window

  EXPECT_EQ(recorder.Names(T0() + 10s, std::nullopt), std::vector<std::string>{"mail"});
  EXPECT_EQ(recorder.Names(T0() + 10s, "acme"), std::vector<std::string>{"mail"});
  EXPECT_TRUE(recorder.Names(T0() + 10s, "globex").empty());
  EXPECT_TRUE(recorder.Query(T0() + 10s, "demo.echo", std::nullopt).minutes.back().completed == 0);

  auto mail = recorder.Query(T0() + 10s, "mail", std::nullopt);
  EXPECT_EQ(mail.runs, 2);
  const auto& minute = mail.minutes.back();
  EXPECT_EQ(minute.started, 2);
  EXPECT_NEAR(minute.latency_sum / static_cast<double>(minute.started), 3.0, 1e-9);
  EXPECT_TRUE(recorder.Names(T0() + 61min, std::nullopt).empty());
}

}  // namespace
}  // namespace taskmill::api
