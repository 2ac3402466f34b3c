// periodic.h — the periodical duty of the scheduler (internal): launches every due
// fire instant of the enabled periodical tasks, applying the misfire and overlap
// policies. doc.md beside this file describes the cursor and the states.
//
// Owned and called by the Scheduler's pass (one thread at a time); not thread-safe.
#pragma once

#include <taskmill/clock.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "scheduler/fire_times.h"
#include "scheduler/launcher.h"

namespace taskmill {

class PeriodicalDuty {
 public:
  PeriodicalDuty(Launcher& launcher, Duration misfire_grace, Duration launch_ahead)
      : launcher_(launcher), misfire_grace_(misfire_grace), launch_ahead_(launch_ahead) {}

  // Handles every instant in (cursor, now + launch_ahead] of each enabled periodical
  // task in `tasks` (other kinds are ignored). Instants before
  // `leading_since - misfire_grace` passed while no scheduler led: the task's misfire
  // policy decides what they become; the others launch, or are recorded did_not_start
  // when the overlap policy says so. Instants still ahead are stored due at their
  // instant, unless the overlap policy has to be applied at the instant itself.
  // Returns when the scheduler should wake for the next of them (nullopt: none).
  std::optional<TimePoint> Pass(TimePoint now, TimePoint leading_since,
                                const std::vector<ScheduledTask>& tasks);

  // Forgets the cursors held in memory; the next pass reads them from storage.
  // Called when leadership is (re)gained: another scheduler may have moved them.
  void Reset() { states_.clear(); }

  // The storage key (Storage::StatePut) of a task's cursor.
  static std::string CursorKey(const std::string& task) { return "scheduler.cursor." + task; }
  // Starts a task's schedule afresh at `now`: instants up to now count as handled.
  // Engine::TaskSetEnabled calls it when a task is enabled.
  static Status RestartCursor(Storage& storage, const TaskDef& task, TimePoint now);

 private:
  struct TaskState {
    std::string schedule;  // the definition the cursor belongs to
    std::string timezone;
    std::optional<CompiledSchedule> compiled;  // empty: the schedule is invalid
    TimePoint cursor{};                        // every instant <= cursor has been handled
    bool loaded = false;                       // compiled (or found invalid) and cursor read
    bool seen_disabled = false;                // the task was disabled at some pass of this term
  };
  struct TaskResult {
    bool leading = true;            // false: the lease was lost part-way
    std::optional<TimePoint> next;  // when to wake for the task's next launch
  };

  // Compiles the schedule of a task whose state is new or whose schedule changed, and
  // loads its cursor (or starts it at now). Leaves state.compiled empty when the task
  // cannot be scheduled (invalid schedule or zone, storage error).
  void Prepare(const TaskDef& def, TimePoint now, TaskState& state);
  // Handles the due instants of one task. Instants before `boundary` are misfires;
  // instants before `leading_since` fell in the gap while no scheduler led.
  TaskResult HandleTask(const ScheduledTask& task, TimePoint now, TimePoint boundary,
                        TimePoint leading_since, TaskState& state);

  Launcher& launcher_;
  Duration misfire_grace_;
  Duration launch_ahead_;
  std::map<std::string, TaskState> states_;  // by task name
};

}  // namespace taskmill
