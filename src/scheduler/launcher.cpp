#include "scheduler/launcher.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace taskmill {

Launcher::Launcher(Storage& storage, Clock& clock, EventBus& events, SchedulerHooks hooks,
                   std::function<void()> wake_runners, std::function<bool()> leading)
    : storage_(storage),
      clock_(clock),
      events_(events),
      hooks_(std::move(hooks)),
      wake_runners_(std::move(wake_runners)),
      leading_(std::move(leading)) {}

Result<Run> Launcher::Build(const ScheduledTask& task, std::optional<TimePoint> scheduled_at,
                            std::optional<TimePoint> run_at, const std::string& account_id,
                            const std::string& id) {
  const TaskDef& def = task.def;
  if (hooks_.prepare) {
    EnqueueRequest req;
    if (task.stored) {
      // The engine reads the stored definition itself, so a launch always uses the
      // definition as it is now, not the copy this pass listed.
      req.task = def.name;
    } else {
      req.function = def.function;
      req.args = def.args;
      req.queue = def.queue;
      req.priority = def.priority;
      req.retry = def.retry;
      req.timeout = def.timeout;
      req.time_to_resolve = def.time_to_resolve;
    }
    req.id = id;
    req.run_at = run_at;
    req.scheduled_at = scheduled_at;
    req.account_id = account_id;
    req.auth_account_id = account_id;  // a trigger's run is its account's own doing
    auto run = hooks_.prepare(req);
    if (!run.ok()) return run.status();
    run->task = def.name;
    return run;
  }
  // Without an engine: the same fields PrepareRun takes from a task definition.
  TimePoint now = clock_.Now();
  Run run;
  run.id = id.empty() ? NewRunId(now) : id;
  run.queue = def.queue;
  run.function = def.function;
  run.task = def.name;
  run.args = def.args;
  run.priority = def.priority;
  run.retry = def.retry;
  run.timeout = def.timeout;
  run.time_to_resolve = def.time_to_resolve;
  run.account_id = account_id;
  run.auth_account_id = account_id;
  run.created_at = now;
  run.run_at = run_at.value_or(now);
  run.scheduled_at = scheduled_at;
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
  if (!Leading()) return Outcome::kNotLeader;
  RunPutParams params;
  params.runs = runs;
  params.conflict = ConflictMode::kError;
  auto stored = storage_.RunPut(std::move(params));
  if (stored.ok()) {
    Announce(*stored);
    return Outcome::kStored;
  }
  if (!stored.status().IsConflict()) return stored.status();
  std::vector<Run> announced;
  for (const Run& run : runs) {
    if (!Leading()) {
      Announce(announced);
      return Outcome::kNotLeader;
    }
    auto one = storage_.RunPutScheduled(run);
    if (!one.ok()) {
      Announce(announced);
      return one.status();
    }
    if (*one) announced.push_back(run);
  }
  Announce(announced);
  return Outcome::kStored;
}

Result<Launcher::Outcome> Launcher::StoreIgnoringDuplicates(std::vector<Run> runs) {
  if (runs.empty()) return Outcome::kStored;
  if (!Leading()) return Outcome::kNotLeader;
  RunPutParams params;
  params.conflict = ConflictMode::kIgnore;
  params.runs = std::move(runs);
  auto stored = storage_.RunPut(std::move(params));
  if (!stored.ok()) return stored.status();
  // kIgnore answers a duplicate with the run already stored, perhaps long finished;
  // only pending runs concern the runners and the listeners.
  std::erase_if(*stored, [](const Run& run) { return run.status != RunStatus::kPending; });
  Announce(*stored);
  return Outcome::kStored;
}

Status Launcher::Cancel(const Run& run) {
  Result<Run> stopped = hooks_.cancel ? hooks_.cancel(run.id, run.queue)
                                      : storage_.RunCancel(run.id, run.queue, clock_.Now());
  if (!stopped.ok()) return stopped.status();
  // Engine::Cancel publishes its own event.
  if (!hooks_.cancel) Announce({*stopped});
  return Status::Ok();
}

void Launcher::Announce(const std::vector<Run>& stored) {
  TimePoint now = clock_.Now();
  TimePoint earliest = TimePoint::max();
  for (const Run& run : stored) {
    if (run.status == RunStatus::kPending) {
      earliest = std::min(earliest, run.run_at);
    } else if (run.status == RunStatus::kDidNotStart) {
      spdlog::info("scheduler: task {} did not start at {}: {}", run.task,
                   FormatTime(run.scheduled_at.value_or(now)), run.error);
    }
  }
  // Runners first: the events' listeners must not delay a launch.
  if (earliest != TimePoint::max()) {
    if (earliest > now && hooks_.wake_runners_at) {
      hooks_.wake_runners_at(earliest);
    } else if (wake_runners_) {
      wake_runners_();
    }
  }
  for (const Run& run : stored) {
    events_.Publish(
        {.type = IsFinal(run.status) ? Event::Type::kRunFinished : Event::Type::kRunCreated,
         .run_id = run.id,
         .queue = run.queue,
         .task = run.task,
         .function = run.function,
         .account_id = run.account_id,
         .status = run.status});
  }
}

}  // namespace taskmill
