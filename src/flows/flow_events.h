// flow_events.h — the lifecycle events of flows (the seed's callbacks), published on the
// event bus as Event::Type::kFlow after the commit that made them true, streamed over
// SSE as `flow.<what>` and seen by C++ code through OnFlowEvent (taskmill/flow.h).
// The one home of which event a run's start or end means.
#pragma once

#include <taskmill/events.h>
#include <taskmill/model.h>
#include <taskmill/storage.h>

#include <map>
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
// The accepted finishes of flows' runs, each with the run it ended (FinishEvents).
using FinishedRuns = std::vector<std::pair<const Run*, const RunFinish*>>;
// The steps whose children ended in `finished`, each with whether it and all its
// children are final: as the storage told it at the commit of the finishes (`told`,
// from RunFinishResult::parent_over), or else as `storage`, read now, shows it: read
// right after the commit, before the next one of this writer, so that of two batches
// of a step's children only the one that ended the last is told all over. Read, two
// children ending at the same moment on two nodes may both tell it (the callback run
// of the event is stored once: callbacks.h); told, they cannot.
std::map<std::string, bool> StepsAllOver(Storage& storage, const FinishedRuns& finished,
                                         const std::map<std::string, bool>& told = {});
// Publishes the events of `finished`, a step_all_over that a child's end may mean when
// `all_over` (StepsAllOver: told at their commit, or read after it) says so. Publishing may come
// later than the read, on another thread.
void PublishFinished(EventBus& bus, const FinishedRuns& finished,
                     const std::map<std::string, bool>& all_over);
// Both at once, for a writer that publishes right after its commit.
void PublishFinished(EventBus& bus, Storage& storage, const FinishedRuns& finished);

}  // namespace taskmill::flows
