// run_events.h — the events a run's changes publish, built in one place.
//
// Every producer (engine, runner, scheduler, bulk uploads, the remote-runner service)
// names the change it committed instead of filling an Event by hand, so that an
// event's fields mean the same whoever publishes it. Published after the commit,
// through a RunNotifier (run_notifier.h) where runs may fall due. Pure; thread-safe.
#pragma once

#include <taskmill/events.h>
#include <taskmill/model.h>
#include <taskmill/storage.h>

#include <string>

namespace taskmill::RunEvent {

// A run stored by a request (enqueued, uploaded, retried, handed back): run.created,
// with the status the commit answered (a duplicate ignored answers the run stored
// before, whatever its status).
Event Created(const Run& run);
// A run claimed and started by a runner: run.started.
Event Started(const Run& run);
// A running attempt reported `progress`: run.progress.
Event Progressed(const Run& run, const Progress& progress);
// The accepted finish of an attempt of `run`: run.finished, or run.created when the
// finish is a retry (pending again). The progress is the finish's, else the run's.
Event Finished(const Run& run, const RunFinish& finish);
// A run as a commit left it: run.finished when final (stopped, did_not_start),
// run.created otherwise.
Event Stored(const Run& run);
// A task's definition or enabled flag changed: task.changed.
Event TaskChanged(std::string task);

}  // namespace taskmill::RunEvent
