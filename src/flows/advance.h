// advance.h — what a flow does when one of its runs ends: the one home of the rule.
//
// DecideFinish (core/lifecycle/finish_decision.h) decides a run's own fate; for a run
// of a flow it then asks AdvanceFlow what comes with it, and all of it is stored in
// the finish's commit (RunFinish::follow_ups and settle, taskmill/storage.h):
//   - a step that completed: its children (one run of child_func each), and its
//     successors, each due once every step it waits for is over (the step and all its
//     children final) — the commit decides, so two parents finishing at once start
//     the step they join exactly once;
//   - a child that ended: the successors of its step, under the same condition;
//   - a step that failed after its retries, or a child of an exit_on_failed step:
//     the flow fails, and what is left of it is stopped;
//   - anything else: the flow is over (completed) when nothing of it is left live.
// Pure; thread-safe.
#pragma once

#include <taskmill/flow.h>
#include <taskmill/model.h>
#include <taskmill/storage.h>

#include <string>

namespace taskmill::flows {

// The flow role a run's data records (data.flow): which flow and step it belongs to.
struct Role {
  std::string flow;  // the flow's name
  std::string step;
  bool child = false;  // a child of the step, rather than the step itself
  bool root = false;   // the flow's root run
};
// nullopt for a run that belongs to no flow.
std::optional<Role> RoleOf(const Run& run);
boost::json::object ToJson(const Role& role);

// The id of the run of step `step` in the flow whose root is `root_id`.
std::string StepRunId(const std::string& root_id, std::string_view step);
// The id of the run of child `child_id` of the step run `step_run_id`: its characters
// outside [A-Za-z0-9_.-] become '_' (run ids allow few).
std::string ChildRunId(const std::string& step_run_id, std::string_view child_id);

// The member `key` of a run's args or result when it is an object, or null: what a flow
// reads of its runs' JSON (absent and not-an-object read alike).
const boost::json::value& JsonField(const boost::json::value& v, std::string_view key);

// The run of `step` in the flow of root `root`, pending from `now`, with the step's
// retry and timeout; its args are {"args": the flow's args}.
Run StepRun(const FlowDef& flow, const FlowStep& step, const Run& root, TimePoint now);

// The run of child `child_id` (with `definition`) of the step run `step_run` (with its
// input), pending from `now`: the step's child function, retry and timeout, in the
// queue of the step's cap when it has one, with the state the step saw plus the
// additions of `result` (the step's result so far).
Run ChildRun(const FlowDef& flow, const FlowStep& step, const Run& step_run,
             const boost::json::value& result, const boost::json::value& child_id,
             const boost::json::value& definition, TimePoint now);

// Adds to `finish`, the end of `run`'s current attempt, what the flow does with it.
void AdvanceFlow(const FlowRegistry& flows, const Run& run, RunFinish& finish);

}  // namespace taskmill::flows
