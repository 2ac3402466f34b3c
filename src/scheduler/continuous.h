// continuous.h — the continuous duty of the scheduler (internal): keeps exactly one
// live run per enabled continuous task, and none launched by the scheduler for a
// disabled one. doc.md beside this file has the state diagram.
//
// Owned and called by the Scheduler's pass (one thread at a time); not thread-safe.
#pragma once

#include <taskmill/clock.h>

#include <cstdint>
#include <string>
#include <vector>

#include "scheduler/launcher.h"

namespace taskmill {

// How many times the scheduler has launched a successor of a continuous task's ended
// run (0 when it never did, or on a read error). Kept in storage's state table.
int64_t ContinuousRestarts(Storage& storage, const std::string& task);

class ContinuousDuty {
 public:
  explicit ContinuousDuty(Launcher& launcher) : launcher_(launcher) {}

  // For each continuous task in `tasks` (other kinds are ignored): when an enabled
  // task has no pending or running run, launches the next one, due pause_sec after the
  // end of the latest (at once when it never ran). When a disabled task still has a
  // live run the scheduler launched, stops it. Returns false when leadership was lost.
  bool Pass(TimePoint now, const std::vector<ScheduledTask>& tasks);

 private:
  bool Guard(const ScheduledTask& task, TimePoint now);
  void StopLaunched(const TaskDef& def);
  void CountRestart(Storage& storage, const std::string& task);

  Launcher& launcher_;
};

}  // namespace taskmill
