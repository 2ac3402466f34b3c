// callbacks.h — the flow's `callback:` function (FlowDef::callback), run once per
// lifecycle event of the flow (flow_events.h) as a run of its own.
//
// Durable where the event is a commit's: the callback run is stored in the commit
// that makes the event true — with the root and the entrance (flow.start), as a
// follow-up of the finish (the step events; step_all_over after a child under the
// condition "the step and all its children final"), or with the settle that ends the
// root (flow.over). Two events are not a finish's commit: an attempt's start (the
// claim) and an operator's cancel of the root; their callback runs are stored just
// after the event, so a crash in between loses that one callback.
//
// A callback run has parent_id the root (as the steps have) and no flow_id: it is not a member of
// the flow, so it neither keeps the flow from being over nor is stopped with it. Its id is
// ROOT::EVENT:STEP:N (N the attempt of the step, or the instant for flow.over), so a step run again
// after a crash stores its callback runs once.
#pragma once

#include <taskmill/flow.h>
#include <taskmill/model.h>
#include <taskmill/storage.h>

#include <optional>
#include <string>
#include <string_view>

namespace taskmill::flows {

// The run of the callback of `flow` for event `what` (start, over, step_start, ...)
// about `about` (the root, or the step run; its status and error are the event's),
// with args {type, flow, flow_id, step, run_id, status, error?}. nullopt when the flow
// names no callback. `n` tells apart the same event of one step (an attempt number).
std::optional<Run> CallbackRun(const FlowDef& flow, std::string_view what, const Run& about,
                               std::string_view step, int64_t n, TimePoint now);

// Adds to `f`, the finish of `run` that DecideFinish made, the callback runs of the
// events it means (flow_events.h, FinishEvents), and of flow.over to its settle.
void AddCallbacks(const FlowRegistry& flows, const Run& run, RunFinish& f);

// Stores the callback run of an event no finish carries: the start of an attempt of a
// step (`what` step_start) or a root stopped by an operator (`what` over). Logs a
// failure. Answers whether a run was stored.
bool StoreCallback(Storage& storage, const FlowRegistry* flows, std::string_view what,
                   const Run& about, TimePoint now);

}  // namespace taskmill::flows
