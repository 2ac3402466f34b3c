#include "scheduler/continuous.h"

#include <spdlog/spdlog.h>

#include <cstdlib>

namespace taskmill {

bool ContinuousDuty::Pass(TimePoint now, const std::vector<ScheduledTask>& tasks) {
  for (const ScheduledTask& task : tasks) {
    if (task.def.kind != TaskKind::kContinuous) continue;
    if (!task.def.enabled) {
      StopLaunched(task.def);
      continue;
    }
    if (!Guard(task, now)) return false;
  }
  return true;
}

bool ContinuousDuty::Guard(const ScheduledTask& task, TimePoint now) {
  const TaskDef& def = task.def;
  Storage& storage = launcher_.storage();
  auto live = storage.RunCountLive(def.name);
  if (!live.ok()) {
    spdlog::warn("scheduler: counting live runs of task {}: {}", def.name,
                 live.status().ToString());
    return true;
  }
  // A retry waiting for its delay is pending, so it counts as the live run too.
  if (*live > 0) return true;
  auto latest = storage.RunLatestOfTask(def.name);
  if (!latest.ok()) {
    spdlog::warn("scheduler: reading the latest run of task {}: {}", def.name,
                 latest.status().ToString());
    return true;
  }
  TimePoint due = now;
  if (*latest) {
    const Run& previous = **latest;
    // Stored after the count above (an operator's start): it is the live run.
    if (!IsFinal(previous.status)) return true;
    due = previous.finished_at.value_or(previous.created_at) + def.pause;
  }
  // The runner's claim does the waiting: the run is stored now with run_at at the end
  // of the pause, so it is visible (and counts as live) during the pause, and the
  // runner is told to wake exactly then. The instant is also the launch key, so two
  // schedulers replacing the same ended run store one successor.
  auto run = launcher_.Build(task, due, due);
  if (!run.ok()) {
    spdlog::warn("scheduler: building the next run of task {}: {}", def.name,
                 run.status().ToString());
    return true;
  }
  auto outcome = launcher_.Store({std::move(*run)});
  if (!outcome.ok()) {
    spdlog::warn("scheduler: launching task {}: {}", def.name, outcome.status().ToString());
    return true;
  }
  if (*outcome == Launcher::Outcome::kNotLeader) return false;
  if (*latest) CountRestart(storage, def.name);
  return true;
}

namespace {
std::string ContinuousRestartsKey(const std::string& task) { return "continuous_restarts:" + task; }
}  // namespace

int64_t ContinuousRestarts(Storage& storage, const std::string& task) {
  auto stored = storage.StateGet(ContinuousRestartsKey(task));
  if (!stored.ok() || !*stored) return 0;
  return std::strtoll((*stored)->c_str(), nullptr, 10);
}

void ContinuousDuty::CountRestart(Storage& storage, const std::string& task) {
  // Only the leader launches successors, so read-then-write does not race with
  // another scheduler. Kept in state rather than counted from the runs: history
  // pruning (task_log_max_size) removes old runs.
  Status st = storage.StatePut(ContinuousRestartsKey(task),
                               std::to_string(ContinuousRestarts(storage, task) + 1));
  if (!st.ok()) spdlog::warn("scheduler: counting a restart of task {}: {}", task, st.ToString());
}

void ContinuousDuty::StopLaunched(const TaskDef& def) {
  Storage& storage = launcher_.storage();
  auto live = storage.RunCountLive(def.name);
  if (!live.ok() || *live == 0) return;
  // Engine::TaskSetEnabled stops the live run when it disables the task; this catches
  // a successor launched by a pass that read the task just before it was disabled, or
  // on another node. Runs an operator started by hand (no scheduled_at) are left alone.
  for (RunStatus status : {RunStatus::kPending, RunStatus::kRunning}) {
    RunFilter filter;
    filter.task = def.name;
    filter.status = status;
    filter.limit = 100;
    auto page = storage.RunList(filter);
    if (!page.ok()) continue;
    for (const Run& run : page->runs) {
      if (!run.scheduled_at) continue;
      if (!launcher_.Leading()) return;
      if (Status s = launcher_.Cancel(run);
          !s.ok() && s.code() != StatusCode::kFailedPrecondition) {
        spdlog::warn("scheduler: stopping run {} of disabled task {}: {}", run.id, def.name,
                     s.ToString());
      }
    }
  }
}

}  // namespace taskmill
