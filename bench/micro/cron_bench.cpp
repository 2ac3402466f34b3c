// bench/micro/cron_bench.cpp — speed of cron parsing and Schedule::Next().
//
// Each Next() benchmark cycles through 4096 fixed pseudo-random instants in 2026-2030,
// so the figures are for arbitrary "after" instants, not for a warm path that only ever
// asks for the following second. Items are Next() (or Parse) calls. Run with, e.g.:
//   taskmill_micro_bench --benchmark_filter=Cron --benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true
// The medians are recorded in docs/cron.md ("Performance"). This file defines no main():
// the bench target links benchmark::benchmark_main.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "cron/cron.h"

namespace taskmill::cron {
namespace {

const std::vector<TimePoint>& Instants() {
  static const std::vector<TimePoint> instants = [] {
    std::mt19937_64 rng(42);
    const TimePoint start = date::sys_days{date::year{2026} / 1 / 1};
    const int64_t span =
        std::chrono::duration_cast<Duration>(std::chrono::hours(24 * 365 * 4)).count();
    std::vector<TimePoint> out;
    for (int i = 0; i < 4096; ++i) {
      out.push_back(start + Duration{static_cast<int64_t>(rng() % static_cast<uint64_t>(span))});
    }
    return out;
  }();
  return instants;
}

Schedule MustParse(const std::string& expression) {
  Result<Schedule> schedule = Schedule::Parse(expression);
  if (!schedule.ok()) {
    std::fprintf(stderr, "%s\n", schedule.status().ToString().c_str());
    std::abort();
  }
  return std::move(schedule).value();
}

const date::time_zone* MustLocate(const std::string& zone) {
  if (zone.empty()) return nullptr;
  Result<const date::time_zone*> tz = LocateZone(zone);
  if (!tz.ok()) std::abort();
  return *tz;
}

void BM_CronNext(benchmark::State& state, const std::string& expression, const std::string& zone) {
  const Schedule schedule = MustParse(expression);
  const date::time_zone* tz = MustLocate(zone);
  const std::vector<TimePoint>& instants = Instants();
  schedule.Next(instants[0], tz);  // loads the zone's data outside the timed loop
  size_t i = 0;
  for (auto _ : state) {
    std::optional<TimePoint> next = schedule.Next(instants[i], tz);
    benchmark::DoNotOptimize(next);
    i = (i + 1) & (instants.size() - 1);
  }
  state.SetItemsProcessed(state.iterations());
}

// Asks for the following fire again and again, as a scheduler does.
void BM_CronNextChain(benchmark::State& state, const std::string& expression,
                      const std::string& zone) {
  const Schedule schedule = MustParse(expression);
  const date::time_zone* tz = MustLocate(zone);
  const TimePoint start = Instants()[0];
  TimePoint t = start;
  for (auto _ : state) {
    std::optional<TimePoint> next = schedule.Next(t, tz);
    t = next ? *next : start;
    benchmark::DoNotOptimize(t);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_CronParse(benchmark::State& state, const std::string& expression) {
  for (auto _ : state) {
    Result<Schedule> schedule = Schedule::Parse(expression);
    benchmark::DoNotOptimize(schedule);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_CronFormatInZone(benchmark::State& state, const std::string& zone) {
  const date::time_zone* tz = MustLocate(zone);
  const std::vector<TimePoint>& instants = Instants();
  size_t i = 0;
  for (auto _ : state) {
    std::string text = FormatInZone(instants[i], tz);
    benchmark::DoNotOptimize(text);
    i = (i + 1) & (instants.size() - 1);
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK_CAPTURE(BM_CronNext, every_5s_utc, "*/5 * * * * *", "");
BENCHMARK_CAPTURE(BM_CronNext, daily_0230_berlin, "0 30 2 * * *", "Europe/Berlin");
BENCHMARK_CAPTURE(BM_CronNext, second_monday_utc, "0 0 12 ? * MON#2", "");
BENCHMARK_CAPTURE(BM_CronNext, second_monday_new_york, "0 0 12 ? * MON#2", "America/New_York");
BENCHMARK_CAPTURE(BM_CronNext, quarter_hour_berlin, "0 */15 * * * *", "Europe/Berlin");
BENCHMARK_CAPTURE(BM_CronNext, weekdays_0900_new_york, "0 0 9 ? * MON-FRI", "America/New_York");
BENCHMARK_CAPTURE(BM_CronNext, last_friday_london, "0 0 18 ? * 5L", "Europe/London");
BENCHMARK_CAPTURE(BM_CronNext, nearest_weekday_utc, "0 0 0 15W * ?", "");
BENCHMARK_CAPTURE(BM_CronNext, leap_day_utc, "0 0 0 29 2 *", "");
BENCHMARK_CAPTURE(BM_CronNext, every_90s, "@every 90s", "");
BENCHMARK_CAPTURE(BM_CronNextChain, chain_every_5s_utc, "*/5 * * * * *", "");
BENCHMARK_CAPTURE(BM_CronNextChain, chain_daily_0230_berlin, "0 30 2 * * *", "Europe/Berlin");
BENCHMARK_CAPTURE(BM_CronParse, parse_six_fields, "0 0,30 9-17 ? * MON-FRI");
BENCHMARK_CAPTURE(BM_CronParse, parse_macro, "@daily");
BENCHMARK_CAPTURE(BM_CronFormatInZone, format_new_york, "America/New_York");

}  // namespace
}  // namespace taskmill::cron
