// max_concurrency per run of a flow (caps.h).
#include "flows/caps.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "flows/advance.h"

namespace taskmill::flows {

std::string ChildQueue(const FlowDef& flow, const FlowStep& step, const std::string& root_id) {
  return ChildQueuePrefix(flow) + step.name + ":" + root_id;
}

std::string ChildQueuePrefix(const FlowDef& flow) { return "flow:" + flow.name + ":"; }

std::vector<std::string> ChildQueuePrefixes(const FlowRegistry* flows,
                                            const std::vector<std::string>& queues) {
  std::vector<std::string> prefixes;
  if (flows == nullptr || queues.empty()) return prefixes;
  for (const FlowDef* flow : flows->List()) {
    if (std::find(queues.begin(), queues.end(), flow->queue) != queues.end()) {
      prefixes.push_back(ChildQueuePrefix(*flow));
    }
  }
  return prefixes;
}

Status SetChildCap(Storage& storage, const FlowRegistry& flows, const Run& run) {
  std::optional<Role> role = RoleOf(run);
  if (!role || role->root || role->child) return Status::Ok();
  const FlowDef* flow = flows.Find(role->flow);
  const FlowStep* step = flow ? flow->Find(role->step) : nullptr;
  if (step == nullptr || step->child_function.empty() || step->max_concurrency <= 0) {
    return Status::Ok();
  }
  return storage.QueueSetConcurrency(ChildQueue(*flow, *step, run.flow_id), step->max_concurrency);
}

Status SetChildCaps(Storage& storage, const FlowDef& flow, const std::string& root_id) {
  for (const FlowStep& step : flow.steps) {
    if (step.child_function.empty() || step.max_concurrency <= 0) continue;
    Status st = storage.QueueSetConcurrency(ChildQueue(flow, step, root_id), step.max_concurrency);
    if (!st.ok()) return st;
  }
  return Status::Ok();
}

void DropChildCaps(Storage& storage, const FlowRegistry* flows, const Run& root) {
  std::optional<Role> role = RoleOf(root);
  if (flows == nullptr || !role || !role->root) return;
  const FlowDef* flow = flows->Find(role->flow);
  if (flow == nullptr) return;
  for (const FlowStep& step : flow->steps) {
    if (step.child_function.empty() || step.max_concurrency <= 0) continue;
    std::string queue = ChildQueue(*flow, step, root.id);
    if (Status st = storage.QueueSetConcurrency(queue, 0); !st.ok()) {
      spdlog::warn("flow: cannot lift the cap of queue {}: {}", queue, st.ToString());
    }
  }
}

}  // namespace taskmill::flows
