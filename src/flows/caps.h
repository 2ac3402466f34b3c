// caps.h — max_concurrency per run of a flow: the children of a step with a
// max_concurrency run in a queue of their own, `flow:FLOW:STEP:ROOT`, whose cap
// (Storage::QueueSetConcurrency) holds them back; two runs of one flow each have
// their cap. The cap is set as the step's run starts (before it adds its children,
// also when a step is run again; for a step a remote runner took, as its finish comes,
// before the commit that stores them), and lifted when the flow is over (which removes
// the queue's row, so that rows do not pile up). A runner serving named queues claims
// the children of the flows run in them by their queues' prefix (ChildQueuePrefixes).
// Thread-safe.
#pragma once

#include <taskmill/flow.h>
#include <taskmill/storage.h>

namespace taskmill::flows {

// The queue of the children of `step` in the flow run of root `root_id`.
std::string ChildQueue(const FlowDef& flow, const FlowStep& step, const std::string& root_id);

// What the queue of every capped child of `flow` starts with (ChildQueue).
std::string ChildQueuePrefix(const FlowDef& flow);

// The prefixes (ChildQueuePrefix) of the flows of `flows` that run in one of `queues`:
// a runner serving those queues also claims their capped children
// (RunTakeParams::queue_prefixes). Empty when `queues` is (every queue is served) or
// `flows` is null.
std::vector<std::string> ChildQueuePrefixes(const FlowRegistry* flows,
                                            const std::vector<std::string>& queues);

// When `run` is the run of a step with a max_concurrency: sets its children's cap.
Status SetChildCap(Storage& storage, const FlowRegistry& flows, const Run& run);

// Sets the caps of the children of every step of `flow` with a max_concurrency, in the
// flow run of root `root_id` (a failed flow reopened: its caps were lifted).
Status SetChildCaps(Storage& storage, const FlowDef& flow, const std::string& root_id);

// When `root` is a flow's root: lifts the caps of its steps' children (the flow is
// over). A failure is logged: the queue keeps its row, nothing else.
void DropChildCaps(Storage& storage, const FlowRegistry* flows, const Run& root);

}  // namespace taskmill::flows
