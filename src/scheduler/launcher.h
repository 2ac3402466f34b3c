// launcher.h — how the scheduler's duties store what they launch (internal).
//
// Every launch the scheduler makes — a periodical instant, a continuous successor, a
// trigger — goes through a Launcher: it builds the run (through the engine's
// PrepareRun when given, else BuildRun: core/lifecycle/run_builder.h), stores it
// keyed by (task, scheduled_at) so that no instant is launched twice, and after the
// commit publishes the events and wakes the runners (a RunNotifier). Before every
// write it checks that this scheduler still holds the leader lease: a scheduler that
// lost it stores nothing more, even in the middle of a pass. Its writes carry the
// lease's term (LeaderFence), and the store refuses them when another scheduler took
// the lease meanwhile, which this one cannot know before its next election.
//
// Used by the scheduler's own thread (or a test calling Tick()); not thread-safe.
#pragma once

#include <taskmill/clock.h>
#include <taskmill/enqueue_request.h>
#include <taskmill/events.h>
#include <taskmill/model.h>
#include <taskmill/storage.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/lifecycle/run_notifier.h"

namespace taskmill {

// What the Engine lends the scheduler. Every member may be empty.
struct SchedulerHooks {
  // Builds a run (Engine::PrepareRun). Default: the run is built here from the task
  // definition alone (used when the scheduler runs without an Engine).
  std::function<Result<Run>(const EnqueueRequest&)> prepare;
  // Tells this node's runner that a run falls due at an instant (Runner::WakeAt), so a
  // continuous successor starts exactly when its pause ends. Default: the runner
  // finds it at its next poll.
  std::function<void(TimePoint)> wake_runners_at;
  // Stops a run (Engine::Cancel, which also stops a local attempt at once). Default:
  // Storage::RunCancel; the runner holding the run learns it at its next heartbeat.
  std::function<Result<Run>(const std::string& id, const std::string& queue)> cancel;
};

// A task as the scheduler sees it: a stored definition, or one the scheduler made up
// itself (a trigger), which has no row in storage and so is built by function name.
struct ScheduledTask {
  TaskDef def;
  bool stored = true;
};

class Launcher {
 public:
  enum class Outcome {
    kStored,     // committed (instants another scheduler had stored were skipped)
    kNotLeader,  // the lease is gone; nothing was stored
  };

  // `leading` answers the fence of the lease this scheduler holds, nullopt when it
  // does not hold it; `deposed` is called when the store refused a launch because
  // another scheduler took the lease (its term moved on).
  Launcher(Storage& storage, Clock& clock, EventBus& events, SchedulerHooks hooks,
           std::function<void()> wake_runners, std::function<std::optional<LeaderFence>()> leading,
           std::function<void()> deposed);

  // True while this scheduler holds the leader lease.
  bool Leading() const { return leading_().has_value(); }

  // Builds the run of one launch of `task`: scheduled_at is its key (nullopt for runs
  // not keyed by an instant), run_at its due time (Default: now).
  Result<Run> Build(const ScheduledTask& task, std::optional<TimePoint> scheduled_at,
                    std::optional<TimePoint> run_at = std::nullopt,
                    const std::string& account_id = "", const std::string& id = "");
  // A copy of a built run for the instant `scheduled_at`, with an id of its own: a
  // pass builds one run per task and copies it for each instant it handles.
  Run ForInstant(const Run& built, TimePoint scheduled_at) const;
  // Makes `run` the record of a launch that did not start, ended now.
  void MarkDidNotStart(Run& run, std::string error, std::string error_kind) const;

  // Stores runs keyed by (task, scheduled_at) in one fenced commit
  // (Storage::RunPutScheduled), then publishes their events (run.created for pending
  // runs, run.finished for did_not_start records) and wakes the runners. Instants
  // another scheduler already stored are skipped: the key keeps every instant single.
  Result<Outcome> Store(std::vector<Run> runs);
  // Stores runs with deterministic ids in one commit, ignoring those already stored
  // (the each_account sweep, whose runs are not keyed by an instant).
  Result<Outcome> StoreIgnoringDuplicates(std::vector<Run> runs);
  // Stops a run (see SchedulerHooks::cancel) and publishes run.finished.
  Status Cancel(const Run& run);

  Storage& storage() { return storage_; }
  // Publishes events and wakes the runners after the scheduler's commits.
  const RunNotifier& notifier() const { return notifier_; }
  Clock& clock() { return clock_; }

 private:
  // Logs the did_not_start records, then publishes the events of stored runs and
  // wakes the runners for the pending ones (notifier_).
  void Announce(const std::vector<Run>& stored);

  Storage& storage_;
  Clock& clock_;
  EventBus& events_;
  SchedulerHooks hooks_;
  std::function<void()> wake_runners_;
  std::function<std::optional<LeaderFence>()> leading_;
  std::function<void()> deposed_;
  RunNotifier notifier_;
};

}  // namespace taskmill
