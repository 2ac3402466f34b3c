// Tests of the per-second ring behind GET /api/v1/stats/throughput, on simulated time.
#include "api/throughput.h"

#include <gtest/gtest.h>

#include <numeric>

namespace taskmill::api {
namespace {
using namespace std::chrono_literals;

TimePoint T0() {
  TimePoint t;
  ParseTime("2026-01-01T12:00:00Z", &t);
  return t;
}

int64_t Unix(TimePoint t) {
  return std::chrono::floor<std::chrono::seconds>(t).time_since_epoch().count();
}

uint32_t Finished(const ThroughputRecorder::Point& point) {
  return std::accumulate(point.counts.begin(), point.counts.end(), 0u);
}

size_t IndexOf(RunStatus status) {
  return static_cast<size_t>(status) - static_cast<size_t>(RunStatus::kCompleted);
}

TEST(ThroughputRecorderTest, CountsFinishedEventsOfTheBusPerStepByStatus) {
  ManualClock clock(T0());
  EventBus bus;
  ThroughputRecorder recorder(bus, clock);
  EXPECT_EQ(recorder.since(), T0());

  bus.Publish({.type = Event::Type::kRunFinished, .status = RunStatus::kCompleted});
  bus.Publish({.type = Event::Type::kRunFinished, .status = RunStatus::kFailed});
  // Only finishes count.
  bus.Publish({.type = Event::Type::kRunCreated, .status = RunStatus::kPending});
  bus.Publish({.type = Event::Type::kRunStarted, .status = RunStatus::kRunning});
  clock.Advance(61s);
  bus.Publish({.type = Event::Type::kRunFinished, .status = RunStatus::kCompleted});

  auto points = recorder.Query(clock.Now(), 3600, 60, std::nullopt);
  ASSERT_EQ(points.size(), 60u);
  // 12:00:00 is a step boundary: the first finishes are in the step before the last.
  EXPECT_EQ(points.back().at, Unix(T0() + 60s));
  EXPECT_EQ(points[58].at, Unix(T0()));
  EXPECT_EQ(points[58].counts[IndexOf(RunStatus::kCompleted)], 1u);
  EXPECT_EQ(points[58].counts[IndexOf(RunStatus::kFailed)], 1u);
  EXPECT_EQ(Finished(points[58]), 2u);
  EXPECT_EQ(Finished(points.back()), 1u);
  for (size_t i = 0; i < 58; ++i) EXPECT_EQ(Finished(points[i]), 0u) << i;
  // Points are consecutive steps, oldest first.
  for (size_t i = 1; i < points.size(); ++i) EXPECT_EQ(points[i].at - points[i - 1].at, 60);
}

TEST(ThroughputRecorderTest, AnAccountSeesItsOwnRunsOnly) {
  ManualClock clock(T0());
  EventBus bus;
  ThroughputRecorder recorder(bus, clock);
  recorder.Record(T0(), RunStatus::kCompleted, "acme");
  recorder.Record(T0(), RunStatus::kCompleted, "acme");
  recorder.Record(T0(), RunStatus::kCompleted, "globex");
  recorder.Record(T0(), RunStatus::kLost, "");
  auto all = recorder.Query(T0(), 10, 10, std::nullopt);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(Finished(all[0]), 4u);
  EXPECT_EQ(Finished(recorder.Query(T0(), 10, 10, "acme")[0]), 2u);
  EXPECT_EQ(Finished(recorder.Query(T0(), 10, 10, "globex")[0]), 1u);
  EXPECT_EQ(recorder.Query(T0(), 10, 10, "")[0].counts[IndexOf(RunStatus::kLost)], 1u);
  EXPECT_EQ(Finished(recorder.Query(T0(), 10, 10, "initech")[0]), 0u);
}

TEST(ThroughputRecorderTest, KeepsOneHourAndForgetsOlderSeconds) {
  ManualClock clock(T0());
  EventBus bus;
  ThroughputRecorder recorder(bus, clock);
  recorder.Record(T0(), RunStatus::kCompleted, "");
  // 59:59 later the finish is still in the hour.
  TimePoint later = T0() + 3599s;
  auto hour = recorder.Query(later, 3600, 1, std::nullopt);
  ASSERT_EQ(hour.size(), 3600u);
  EXPECT_EQ(hour.front().at, Unix(T0()));
  EXPECT_EQ(Finished(hour.front()), 1u);
  // A finish an hour later reuses the slot: the old count is gone, not added.
  recorder.Record(T0() + 3600s, RunStatus::kFailed, "");
  auto next = recorder.Query(T0() + 3600s, 3600, 3600, std::nullopt);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(Finished(next[0]), 1u);
  EXPECT_EQ(next[0].counts[IndexOf(RunStatus::kFailed)], 1u);
  // A late record for a second the ring no longer holds is dropped.
  recorder.Record(T0(), RunStatus::kCompleted, "");
  EXPECT_EQ(Finished(recorder.Query(T0() + 3600s, 3600, 3600, std::nullopt)[0]), 1u);
}

}  // namespace
}  // namespace taskmill::api
