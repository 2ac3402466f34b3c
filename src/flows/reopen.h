// reopen.h — retrying a failed step of a failed flow reopens the flow: the one home of
// that rule, for POST /api/v1/flows/runs/{root}/steps/{step}/retry and for the retry
// of a run of a failed flow (Engine::Retry).
//
// In one commit (Storage::RunReopen): the root goes back to running (its result
// cleared), and back to pending, with one more attempt each as RunRetry allows: the
// step's run if it failed or was stopped, its failed or stopped children (an
// exit_on_failed step whose child failed the flow), and every run of the flow that
// the failure stopped. Completed steps and children stay completed and do not run
// again; the steps that never started start by the flow's advancement, as before.
#pragma once

#include <taskmill/engine.h>
#include <taskmill/model.h>

#include <optional>
#include <string_view>

namespace taskmill::flows {

// Reopens the flow of root `root` at step `step`; answers the root as stored.
// kNotFound for a run that is not a flow's root, or a step the flow does not have;
// kFailedPrecondition unless the flow failed at that step (its result names the step).
Result<Run> ReopenFlow(Engine& engine, const Run& root, std::string_view step);

// For Engine::Retry of `run`: any run of a failed flow (its root, a step, a child)
// reopens the flow at the step that failed it, answering `run` as stored; nullopt for
// any other run, retried as runs are.
std::optional<Result<Run>> RetryInFlow(Engine& engine, const Run& run);

}  // namespace taskmill::flows
