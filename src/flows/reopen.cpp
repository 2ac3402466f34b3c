// Reopening a failed flow (reopen.h).
#include "flows/reopen.h"

#include <taskmill/flow.h>

#include <boost/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "core/lifecycle/run_notifier.h"
#include "flows/advance.h"
#include "flows/caps.h"
#include "storage/run_pages.h"

namespace taskmill::flows {
namespace {

// Appends the ids of the runs matching `filter` (every page) to `out`.
Status Collect(Storage& storage, RunFilter filter, std::vector<std::string>& out) {
  return ForEachRun(storage, std::move(filter), [&out](const Run& r) { out.push_back(r.id); });
}

// The step a failed root's result names.
std::string FailedStep(const Run& root) {
  const boost::json::object* result = root.result.if_object();
  const boost::json::value* step = result ? result->if_contains("step") : nullptr;
  return step && step->is_string() ? std::string(step->as_string()) : std::string();
}

}  // namespace

Result<Run> ReopenFlow(Engine& engine, const Run& root, std::string_view step_name) {
  auto role = RoleOf(root);
  if (!role || !role->root) return Status::NotFound("run '" + root.id + "' is not a flow's run");
  const FlowRegistry* registry = engine.options().flows.get();
  const FlowDef* flow = registry ? registry->Find(role->flow) : nullptr;
  if (flow == nullptr) {
    return Status::NotFound("flow '" + role->flow + "' of run '" + root.id +
                            "' is not defined on this server");
  }
  const FlowStep* step = flow->Find(step_name);
  if (step == nullptr) {
    return Status::NotFound("flow '" + flow->name + "' has no step '" + std::string(step_name) +
                            "'");
  }
  if (root.status != RunStatus::kFailed) {
    return Status::FailedPrecondition("flow run '" + root.id + "' is " +
                                      std::string(ToString(root.status)) +
                                      "; only a failed flow is reopened by retrying a step");
  }
  // A flow fails at one step (its result names it); what the failure stopped elsewhere
  // is retried with that step.
  const std::string failed_at = FailedStep(root);
  if (failed_at != step->name) {
    return Status::FailedPrecondition("flow run '" + root.id + "' failed at step '" + failed_at +
                                      "', not '" + step->name + "': retry that step");
  }
  Storage& storage = engine.storage();
  const std::string step_id = StepRunId(root.id, step->name);
  auto step_run = storage.RunGet(step_id, "");
  if (!step_run.ok()) {
    if (!step_run.status().IsNotFound()) return step_run.status();
    return Status::FailedPrecondition(
        "step '" + step->name + "' of flow run '" + root.id +
        "' never started; it starts when the steps before it are over");
  }
  // The step's own failure, or its children's.
  std::vector<std::string> failed;
  if (step_run->status == RunStatus::kFailed || step_run->status == RunStatus::kStopped) {
    failed.push_back(step_id);
  }
  for (RunStatus status : {RunStatus::kFailed, RunStatus::kStopped}) {
    RunFilter children;
    children.parent_id = step_id;
    children.status = status;
    TASKMILL_RETURN_IF_ERROR(Collect(storage, children, failed));
  }
  if (failed.empty()) {
    return Status::FailedPrecondition("step '" + step->name + "' of flow run '" + root.id +
                                      "' did not fail: nothing of it to retry");
  }
  // What the failure stopped elsewhere in the flow (other branches' steps, children).
  std::vector<std::string> stopped;
  RunFilter of_flow;
  of_flow.flow_id = root.id;
  of_flow.status = RunStatus::kStopped;
  TASKMILL_RETURN_IF_ERROR(Collect(storage, of_flow, stopped));
  std::set<std::string> seen(failed.begin(), failed.end());
  for (std::string& id : stopped) {
    if (id != root.id && seen.insert(id).second) failed.push_back(std::move(id));
  }
  const TimePoint now = engine.clock().Now();
  // The failure lifted the caps of the flow's children (caps.h); children going back to
  // pending must find them set again before any runner can claim them.
  if (Status capped = SetChildCaps(storage, *flow, root.id); !capped.ok()) return capped;
  auto reopened = storage.RunReopen(root.id, root.queue, failed, now);
  if (!reopened.ok()) {
    DropChildCaps(storage, registry, root);  // still failed: no queue row left behind
    return reopened.status();
  }
  // After the commit: wake the runner, then tell the listeners.
  RunNotifier notifier(engine.events(), [&engine](TimePoint due) { engine.RunStored(due); });
  notifier.Stored(*reopened);
  std::vector<Run> retried;
  for (const std::string& id : failed) {
    if (auto run = storage.RunGet(id, ""); run.ok()) retried.push_back(std::move(*run));
  }
  notifier.Created(retried);
  return reopened;
}

std::optional<Result<Run>> RetryInFlow(Engine& engine, const Run& run) {
  auto role = RoleOf(run);
  if (!role) return std::nullopt;
  Result<Run> root = run;
  if (!role->root) root = engine.storage().RunGet(run.flow_id, "");
  if (!root.ok()) return root.status();
  // Any run of a failed flow: the flow reopens at the step that failed it.
  if (root->status != RunStatus::kFailed || FailedStep(*root).empty()) return std::nullopt;
  auto reopened = ReopenFlow(engine, *root, FailedStep(*root));
  if (!reopened.ok()) return reopened.status();
  return engine.storage().RunGet(run.id, run.queue);
}

}  // namespace taskmill::flows
