// fire_times.h — when a periodical task fires: its cron schedule compiled together
// with its time zone.
//
// Used by the scheduler to launch, and by the API, CLI and UI to show the next fire
// times of a task (`taskmill tasks`). Plain functions and values; thread-safe.
#pragma once

#include <taskmill/clock.h>
#include <taskmill/model.h>
#include <taskmill/status.h>

#include <optional>
#include <vector>

#include "cron/cron.h"

namespace taskmill {

// A task's schedule parsed once, with its zone looked up once.
struct CompiledSchedule {
  cron::Schedule schedule;
  const date::time_zone* zone = nullptr;  // nullptr = UTC

  // The first fire instant strictly after `after`; nullopt when none in 8 years.
  std::optional<TimePoint> Next(TimePoint after) const { return schedule.Next(after, zone); }
};

// Parses task.schedule and looks up task.timezone (empty = UTC). On failure returns
// InvalidArgument naming what was wrong: the cron parser's message ("field 4 (month):
// 13 is out of range 1-12") or "unknown time zone 'X'".
Result<CompiledSchedule> CompileSchedule(const TaskDef& task);

// The next `count` fire instants of a periodical task strictly after `from`, oldest
// first. Empty for other kinds, for an invalid schedule or zone, and when count <= 0;
// shorter when the schedule has no more instants within 8 years. Whether the task is
// enabled is not considered (callers show that separately).
std::vector<TimePoint> NextFireTimes(const TaskDef& task, TimePoint from, int count);

}  // namespace taskmill
