// flow_events.h — the lifecycle events of flows (the seed's callbacks), published on the
// event bus as Event::Type::kFlow after the commit that made them true, streamed over
// SSE as `flow.<what>` and seen by C++ code through OnFlowEvent (taskmill/flow.h).
// The one home of which event a run's start or end means.
#pragma once

#include <taskmill/events.h>
#include <taskmill/model.h>
#include <taskmill/storage.h>

namespace taskmill::flows {

// flow.start: a flow's root and entrance were stored.
void PublishFlowStart(EventBus& bus, const Run& root);
// flow.over: the root ended (completed, failed or stopped).
void PublishFlowOver(EventBus& bus, const Run& root);
// flow.step_start: an attempt of a step began.
void PublishStarted(EventBus& bus, const Run& run);
// After an accepted finish of a flow's run: step_over, step_all_over (a step that added
// no children), step_timeout, step_failed, step_exit (a child of an exit_on_failed step
// failed the flow).
void PublishFinished(EventBus& bus, const Run& run, const RunFinish& finish);

}  // namespace taskmill::flows
