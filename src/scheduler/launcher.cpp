#include "scheduler/launcher.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "core/lifecycle/run_builder.h"

namespace taskmill {

Launcher::Launcher(Storage& storage, Clock& clock, EventBus& events, SchedulerHooks hooks,
                   std::function<void()> wake_runners,
                   std::function<std::optional<LeaderFence>()> leading,
                   std::function<void()> deposed)
    : storage_(storage),
      clock_(clock),
      events_(events),
      hooks_(std::move(hooks)),
      wake_runners_(std::move(wake_runners)),
      leading_(std::move(leading)),
      deposed_(std::move(deposed)),
      notifier_(events, [this](TimePoint due) {
        // Runners first: the events' listeners must not delay a launch.
        if (due > clock_.Now() && hooks_.wake_runners_at) {
          hooks_.wake_runners_at(due);
        } else if (wake_runners_) {
          wake_runners_();
        }
      }) {}

Result<Run> Launcher::Build(const ScheduledTask& task, std::optional<TimePoint> scheduled_at,
                            std::optional<TimePoint> run_at, const std::string& account_id,
                            const std::string& id) {
  const TaskDef& def = task.def;
  // The engine reads a stored definition itself, so a launch always uses the
  // definition as it is now, not the copy this pass listed; a definition with no row
  // (a trigger) is launched by its function.
  EnqueueRequest req;
  if (task.stored || !hooks_.prepare) {
    req.task = def.name;
  } else {
    req = RequestFromDefinition(def);
  }
  req.id = id;
  req.run_at = run_at;
  req.scheduled_at = scheduled_at;
  req.account_id = account_id;
  req.auth_account_id = account_id;  // a trigger's run is its account's own doing
  // Without an engine, the run is built from the definition at hand.
  auto run = hooks_.prepare
                 ? hooks_.prepare(req)
                 : BuildRun(req, &def, /*functions=*/nullptr, def.time_to_resolve, clock_.Now());
  if (!run.ok()) return run.status();
  run->task = def.name;
  return run;
}

Run Launcher::ForInstant(const Run& built, TimePoint scheduled_at) const {
  Run run = built;
  run.id = NewRunId(clock_.Now());
  run.scheduled_at = scheduled_at;
  return run;
}

void Launcher::MarkDidNotStart(Run& run, std::string error, std::string error_kind) const {
  TimePoint now = clock_.Now();
  run.status = RunStatus::kDidNotStart;
  run.error = std::move(error);
  run.error_kind = std::move(error_kind);
  run.run_at = now;
  run.finished_at = now;
}

Result<Launcher::Outcome> Launcher::Store(std::vector<Run> runs) {
  if (runs.empty()) return Outcome::kStored;
  std::optional<LeaderFence> fence = leading_();
  if (!fence) return Outcome::kNotLeader;
  auto stored = storage_.RunPutScheduled(std::move(runs), *fence);
  // Another scheduler took the lease since this one last renewed it.
  if (stored.status().code() == StatusCode::kFailedPrecondition) {
    spdlog::warn("scheduler: launches refused: {}", stored.status().message());
    if (deposed_) deposed_();
    return Outcome::kNotLeader;
  }
  if (!stored.ok()) return stored.status();
  Announce(*stored);
  return Outcome::kStored;
}

Result<Launcher::Outcome> Launcher::StoreIgnoringDuplicates(std::vector<Run> runs) {
  // Runs without scheduled_at are kept single by their (queue, id), which the
  // fenced write skips as it skips a taken instant.
  return Store(std::move(runs));
}

Status Launcher::Cancel(const Run& run) {
  Result<Run> stopped = hooks_.cancel ? hooks_.cancel(run.id, run.queue)
                                      : storage_.RunCancel(run.id, run.queue, clock_.Now());
  if (!stopped.ok()) return stopped.status();
  // Engine::Cancel publishes its own event.
  if (!hooks_.cancel) notifier_.Stored(*stopped);
  return Status::Ok();
}

void Launcher::Announce(const std::vector<Run>& stored) {
  const TimePoint now = clock_.Now();
  for (const Run& run : stored) {
    if (run.status == RunStatus::kDidNotStart) {
      spdlog::info("scheduler: task {} did not start at {}: {}", run.task,
                   FormatTime(run.scheduled_at.value_or(now)), run.error);
    }
  }
  notifier_.Stored(stored);
}

}  // namespace taskmill
