// run_notifier.h — the step after every commit that changes runs: wake the runner for
// runs that fall due, and publish the events.
//
// One notifier serves each producer: the engine (enqueue, cancel, retry, bulk
// uploads and the remote-runner service through Engine::RunStored), the runner's
// finisher, and the scheduler (launches, the lost-run sweep). The runner is woken
// before the events are published, so that listeners never delay a run. Call it only
// after the commit: a listener may read the run back at once. Thread-safe as far as
// the wake-up callback is; it allocates nothing beyond the events themselves.
#pragma once

#include <taskmill/clock.h>
#include <taskmill/events.h>
#include <taskmill/model.h>
#include <taskmill/storage.h>

#include <functional>
#include <span>

#include "core/lifecycle/run_events.h"

namespace taskmill {

class RunNotifier {
 public:
  // Tells this node's runner that a stored run falls due at `due` (at once when `due`
  // is not after now). Empty: no runner to wake (it finds the runs at its next poll).
  using WakeRunner = std::function<void(TimePoint due)>;

  RunNotifier(EventBus& events, WakeRunner wake) : events_(events), wake_(std::move(wake)) {}

  // Runs a request stored (enqueued, uploaded, retried, handed back): wakes the
  // runner for the earliest pending one, then publishes RunEvent::Created for each.
  void Created(std::span<const Run> runs) const { Announce(runs, &RunEvent::Created); }
  void Created(const Run& run) const { Created(std::span<const Run>(&run, 1)); }
  // Runs a commit left as they are (launched, stopped, recorded as did_not_start):
  // wakes the runner for the earliest pending one, then publishes RunEvent::Stored
  // for each (run.finished for the final ones).
  void Stored(std::span<const Run> runs) const { Announce(runs, &RunEvent::Stored); }
  void Stored(const Run& run) const { Stored(std::span<const Run>(&run, 1)); }
  // A run claimed by a runner: run.started.
  void Started(const Run& run) const { events_.Publish(RunEvent::Started(run)); }
  // Progress of a running attempt, stored: run.progress.
  void Progressed(const Run& run, const Progress& progress) const {
    events_.Publish(RunEvent::Progressed(run, progress));
  }
  // An accepted finish of an attempt of `run`: a retry wakes the runner at its
  // instant; then run.finished, or run.created for the retry.
  void Finished(const Run& run, const RunFinish& finish) const;
  // A task changed: task.changed.
  void TaskChanged(std::string task) const {
    events_.Publish(RunEvent::TaskChanged(std::move(task)));
  }

  // Runs that a commit stored without a request of their own (a flow's follow-ups)
  // fall due at `due`: wakes the runner.
  void Due(TimePoint due) const {
    if (wake_) wake_(due);
  }
  EventBus& events() const { return events_; }

 private:
  void Announce(std::span<const Run> runs, Event (*event)(const Run&)) const;

  EventBus& events_;
  WakeRunner wake_;
};

}  // namespace taskmill
