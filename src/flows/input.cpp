// What a step sees when it starts (input.h).
#include "flows/input.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>

#include "flows/advance.h"
#include "storage/run_pages.h"

namespace taskmill::flows {
namespace json = boost::json;
namespace {

// The state from the step runs of a flow: the additions of the completed ones, in the
// order they finished.
json::object StateOf(std::vector<const Run*> steps) {
  std::stable_sort(steps.begin(), steps.end(),
                   [](const Run* a, const Run* b) { return a->finished_at < b->finished_at; });
  json::object state;
  for (const Run* r : steps) {
    if (r->status != RunStatus::kCompleted) continue;
    const json::object* result = r->result.if_object();
    const json::value* added = result ? result->if_contains("state") : nullptr;
    if (added == nullptr || !added->is_object()) continue;
    for (const auto& [key, value] : added->as_object()) state[key] = value;
  }
  return state;
}

}  // namespace

Result<json::object> FlowState(Storage& storage, const std::string& root_id) {
  RunFilter steps;
  steps.flow_id = root_id;
  steps.parent_id = root_id;
  steps.status = RunStatus::kCompleted;
  auto runs = ListAllRuns(storage, steps);
  if (!runs.ok()) return runs.status();
  std::vector<const Run*> of;
  for (const Run& r : *runs) of.push_back(&r);
  return StateOf(std::move(of));
}

Run WithStepInput(Storage& storage, const Run& run, bool children_in_args) {
  std::optional<Role> role = RoleOf(run);
  if (!role || role->root || role->child || !run.args.is_object()) return run;
  Run input = run;
  // The flow's steps, read once: the state from the completed ones, and the children
  // of every step of this flow that is over (the ones this step follows among them),
  // by step and child id.
  RunFilter steps;
  steps.flow_id = run.flow_id;
  steps.parent_id = run.flow_id;
  auto step_runs = ListAllRuns(storage, steps);
  if (!step_runs.ok()) {
    spdlog::warn("flow: cannot read the state of flow run {}: {}", run.flow_id,
                 step_runs.status().ToString());
    return run;
  }
  std::vector<const Run*> all;
  for (const Run& r : *step_runs) all.push_back(&r);
  json::object state = StateOf(std::move(all));
  json::object children;
  if (children_in_args) {
    for (const Run& s : *step_runs) {
      std::optional<Role> step_role = RoleOf(s);
      if (!step_role || s.id == run.id || !IsFinal(s.status)) continue;
      // A step that added no children (its result lists none) is not asked for them:
      // along a chain of 1,000 steps, a query per step before made the chain quadratic.
      const json::object* added = s.result.if_object();
      const json::value* listed = added ? added->if_contains("children") : nullptr;
      const json::value* staged = added ? added->if_contains("children_staged") : nullptr;
      if ((listed == nullptr || !listed->is_array() || listed->as_array().empty()) &&
          (staged == nullptr || !staged->is_number()))
        continue;
      RunFilter of_step;
      of_step.parent_id = s.id;
      auto kids = ListAllRuns(storage, of_step);
      if (!kids.ok() || kids->empty()) continue;
      json::object results;
      // In the order the step added them (listings are newest first).
      std::reverse(kids->begin(), kids->end());
      for (const Run& kid : *kids) {
        const json::object* args = kid.args.if_object();
        const json::value* id = args ? args->if_contains("child_id") : nullptr;
        std::string key = id == nullptr     ? kid.id
                          : id->is_string() ? std::string(id->as_string())
                                            : json::serialize(*id);
        if (kid.status == RunStatus::kCompleted) {
          results[key] = kid.result;
        }
      }
      children[step_role->step] = std::move(results);
    }
  }
  input.args.as_object()["state"] = std::move(state);
  if (children_in_args) input.args.as_object()["children"] = std::move(children);
  return input;
}

}  // namespace taskmill::flows
