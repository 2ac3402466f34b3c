#include "core/lifecycle/run_events.h"

namespace taskmill::RunEvent {
namespace {

Event Of(Event::Type type, const Run& run, RunStatus status, const Progress& progress) {
  return Event{.type = type,
               .run_id = run.id,
               .queue = run.queue,
               .task = run.task,
               .function = run.function,
               .account_id = run.account_id,
               .status = status,
               .progress = progress};
}

}  // namespace

Event Created(const Run& run) {
  return Of(Event::Type::kRunCreated, run, run.status, run.progress);
}

Event Started(const Run& run) {
  return Of(Event::Type::kRunStarted, run, RunStatus::kRunning, run.progress);
}

Event Progressed(const Run& run, const Progress& progress) {
  return Of(Event::Type::kRunProgress, run, RunStatus::kRunning, progress);
}

Event Finished(const Run& run, const RunFinish& finish) {
  Event event = Of(
      finish.status == RunStatus::kPending ? Event::Type::kRunCreated : Event::Type::kRunFinished,
      run, finish.status, finish.progress.value_or(run.progress));
  event.due_at = run.run_at;
  event.started_at = run.started_at;
  event.finished_at = finish.finished_at;
  return event;
}

Event Stored(const Run& run) {
  Event event = Of(IsFinal(run.status) ? Event::Type::kRunFinished : Event::Type::kRunCreated, run,
                   run.status, run.progress);
  if (IsFinal(run.status)) {
    event.due_at = run.run_at;
    event.started_at = run.started_at;
    event.finished_at = run.finished_at;
  }
  return event;
}

Event TaskChanged(std::string task) {
  return Event{.type = Event::Type::kTaskChanged, .task = std::move(task)};
}

}  // namespace taskmill::RunEvent
