// remote_runner_service.h — the runner protocol for workers in other processes.
//
// A remote runner claims runs of a queue, renews their leases and reports outcomes
// (docs/remote-runners.md); the HTTP routes (api/routes_runners.cpp) only parse and
// answer, and everything a run goes through happens here, with the same storage
// calls, leases, fencing tokens, finish decision (DecideFinish) and post-commit step
// (RunNotifier) as the local runner. On top of storage's fence, a report counts only
// from the runner that holds the attempt, so one worker cannot renew or end
// another's attempt.
//
// Holds references and a notifier: cheap to make per request. Thread-safe as far as storage is.
#pragma once

#include <taskmill/clock.h>
#include <taskmill/flow.h>
#include <taskmill/function.h>
#include <taskmill/model.h>
#include <taskmill/storage.h>

#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/lifecycle/run_notifier.h"

namespace taskmill {

class RemoteRunnerService {
 public:
  // `output_limit`: the captured output kept per attempt (RunnerOptions::output_limit),
  // as for the local runner's commands.
  // `flows`: the flows this node advances (EngineOptions::flows), or null; a step of
  // a flow taken here sees its input (flows/input.h) and its finish advances the flow
  // in the same commit (DecideFinish), as with the local runner.
  RemoteRunnerService(Storage& storage, Clock& clock, RunNotifier notifier, size_t output_limit,
                      const FlowRegistry* flows = nullptr)
      : storage_(storage),
        clock_(clock),
        notifier_(std::move(notifier)),
        output_limit_(output_limit),
        flows_(flows) {}

  // Whether `runner` holds attempt `token` of `run`: what storage's fence checks, plus
  // the runner.
  static bool Holds(const Run& run, const std::string& runner, int token) {
    return run.status == RunStatus::kRunning && run.attempt == token && run.runner == runner;
  }

  // Claims up to `max` due runs of `queue` for `runner`, exactly as the local
  // runner's fetcher claims, and publishes run.started for each. Empty when none is due.
  Result<std::vector<Run>> Take(const std::string& runner, const std::string& queue, int max);

  struct Beat {
    std::string id;
    std::string queue;  // empty: find the id in any queue
    int token = 0;      // the attempt the runner holds
    std::optional<Progress> progress;
  };
  struct BeatAnswer {
    std::optional<Run> run;  // as read before the renewal; nullopt when no such run
    bool accepted = false;   // the lease was renewed (and the progress stored)
    // The attempt is over because an operator stopped it (rather than a lost lease).
    bool cancel_requested = false;
    TimePoint lease_until{};  // when accepted: the new end of the lease
  };
  // Renews the lease of each attempt `runner` holds by its run's time_to_resolve, as
  // the local runner does, and stores the progress reported (run.progress). Answers
  // one BeatAnswer per beat, in order.
  Result<std::vector<BeatAnswer>> Heartbeat(const std::string& runner,
                                            const std::vector<Beat>& beats);

  struct Report {
    std::string id;
    std::string queue;  // empty: find the id in any queue
    int token = 0;
    HandlerOutcome outcome;  // status completed or failed
  };
  struct FinishAnswer {
    // True: the attempt ended as reported; `run` is the run as stored after it.
    // False: the attempt was not `runner`'s current one (a stale fencing token, or
    // another runner's); `run` is the run as it is, nothing was changed.
    bool finished = false;
    // Whether this call wrote to storage: the attempt was `runner`'s when read, so the
    // runner no longer holds it, even if the write lost a race (`finished` false).
    bool released = false;
    Run run;
  };
  // Ends the attempt with the outcome reported: the finish decision (completion, retry
  // with the run's back-off, failure), then the commit, then events and, for a retry,
  // a wake-up of this node's runner at its instant.
  Result<FinishAnswer> Finish(const std::string& runner, Report report);

 private:
  Storage& storage_;
  Clock& clock_;
  RunNotifier notifier_;
  size_t output_limit_;
  const FlowRegistry* flows_;
};

}  // namespace taskmill
