// flow_events.h — the lifecycle events of flows (the seed's callbacks), published on the
// event bus as Event::Type::kFlow after the commit that made them true, streamed over
// SSE as `flow.<what>` and seen by C++ code through OnFlowEvent (taskmill/flow.h).
// The one home of which event a run's start or end means.
#pragma once

#include <taskmill/events.h>
#include <taskmill/model.h>
#include <taskmill/storage.h>

#include <string>
#include <utility>
#include <vector>

namespace taskmill::flows {

// One event a finish of a flow's run means.
struct FinishEvent {
  std::string what;  // step_over, step_all_over, step_timeout, step_failed, step_exit
  // step_all_over after a child ended: true only once the step and every one of its
  // children are final, which the finish's commit decides (RunFollowUp::after).
  bool when_all_over = false;
};
// The events the accepted finish `f` of `run` means, in order. The one home of that
// rule: PublishFinished publishes them, AddCallbacks (callbacks.h) runs the flow's
// callback on them.
std::vector<FinishEvent> FinishEvents(const Run& run, const RunFinish& f);

// flow.start: a flow's root and entrance were stored.
void PublishFlowStart(EventBus& bus, const Run& root);
// flow.over: the root ended (completed, failed or stopped).
void PublishFlowOver(EventBus& bus, const Run& root);
// flow.step_start: an attempt of a step began.
void PublishStarted(EventBus& bus, const Run& run);
// After the accepted finishes of flows' runs, each with the run it ended (FinishEvents).
// A step_all_over that a child's end may mean is published when `storage`, read after
// the commit, shows the step and all its children final; two children ending at the
// same moment on two nodes may then both publish it (the callback run of the event is
// stored once: callbacks.h).
void PublishFinished(EventBus& bus, Storage& storage,
                     const std::vector<std::pair<const Run*, const RunFinish*>>& finished);

}  // namespace taskmill::flows
