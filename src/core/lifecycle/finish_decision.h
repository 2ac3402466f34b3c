// finish_decision.h — what becomes of a run when one of its attempts ends.
//
// The one home of the rule: completed, retried after the run's back-off, failed, or
// (the runner shut down under the attempt) handed back at once. The local runner,
// the remote-runner service and the scheduler's lost-run sweep all decide here, so a
// run is retried the same way whoever ran or lost it. Pure; thread-safe.
#pragma once

#include <taskmill/clock.h>
#include <taskmill/flow.h>
#include <taskmill/function.h>
#include <taskmill/model.h>
#include <taskmill/storage.h>

namespace taskmill {

// The finish to store for the attempt `run.attempt` of `run`, which ended with
// `outcome` at `now`.
// For a run of a flow, with `flows`, the finish also carries what the flow does next
// (flows/advance.h), stored in the same commit.
RunFinish DecideFinish(const Run& run, const HandlerOutcome& outcome, TimePoint now,
                       const FlowRegistry* flows = nullptr);

}  // namespace taskmill
