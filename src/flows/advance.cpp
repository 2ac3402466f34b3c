// The flow advancement rule (advance.h).
#include "flows/advance.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <cctype>
#include <memory>
#include <tuple>

#include "flows/caps.h"
#include "flows/step_store.h"

namespace taskmill::flows {
namespace json = boost::json;

std::optional<Role> RoleOf(const Run& run) {
  if (run.flow_id.empty()) return std::nullopt;
  const json::object* data = run.data.if_object();
  const json::value* flow = data ? data->if_contains("flow") : nullptr;
  if (flow == nullptr || !flow->is_object()) return std::nullopt;
  Role role;
  const json::object& o = flow->as_object();
  if (const auto* v = o.if_contains("name"); v && v->is_string()) role.flow = v->as_string();
  if (const auto* v = o.if_contains("step"); v && v->is_string()) role.step = v->as_string();
  if (const auto* v = o.if_contains("child"); v && v->is_bool()) role.child = v->as_bool();
  role.root = run.id == run.flow_id;
  if (role.flow.empty()) return std::nullopt;
  return role;
}

json::object ToJson(const Role& role) {
  json::object o{{"name", role.flow}};
  if (!role.step.empty()) o["step"] = role.step;
  if (role.child) o["child"] = true;
  return o;
}

std::string StepRunId(const std::string& root_id, std::string_view step) {
  return root_id + ":" + std::string(step);
}

std::string ChildRunId(const std::string& step_run_id, std::string_view child_id) {
  std::string id = step_run_id + ":";
  for (char c : child_id.substr(0, 100)) {
    bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
    id += ok ? c : '_';
  }
  return id;
}

const json::value& JsonField(const json::value& v, std::string_view key) {
  static const json::value null;
  const json::object* o = v.if_object();
  const json::value* f = o ? o->if_contains(key) : nullptr;
  return f ? *f : null;
}

namespace {

Run Member(const FlowDef& flow, const Run& from, std::string id, std::string parent,
           TimePoint now) {
  Run run;
  run.id = std::move(id);
  run.queue = flow.queue;
  run.flow_id = from.flow_id;
  run.parent_id = std::move(parent);
  run.account_id = from.account_id;
  run.auth_account_id = from.auth_account_id;
  run.created_at = now;
  run.run_at = now;
  run.priority = from.priority;
  return run;
}

}  // namespace

Run ChildRun(const FlowDef& flow, const FlowStep& step, const Run& step_run,
             const json::value& result, const json::value& child_id, const json::value& definition,
             TimePoint now) {
  std::string id_text =
      child_id.is_string() ? std::string(child_id.as_string()) : json::serialize(child_id);
  Run run = Member(flow, step_run, ChildRunId(step_run.id, id_text), step_run.id, now);
  run.function = step.child_function;
  // Held back by the cap of this run of the step (caps.h); others run in the flow's queue.
  if (step.max_concurrency > 0) run.queue = ChildQueue(flow, step, step_run.flow_id);
  run.retry = step.retry;
  run.timeout = step.timeout;
  run.time_to_resolve = step_run.time_to_resolve;
  // The state the step saw, with the step's own additions.
  json::object state;
  if (const json::object* seen = JsonField(step_run.args, "state").if_object()) state = *seen;
  if (const json::object* added = JsonField(result, "state").if_object()) {
    for (const auto& [key, value] : *added) state[key] = value;
  }
  run.args = json::object{{"child_id", child_id},
                          {"definition", definition},
                          {"state", std::move(state)},
                          {"args", JsonField(step_run.args, "args")}};
  run.data = json::object{{"flow", ToJson(Role{flow.name, step.name, true, false})}};
  return run;
}

namespace {

// The successors of `step`, each stored once every step it waits for is over.
void AddSuccessors(const FlowDef& flow, const FlowStep& step, const Run& run, RunFinish& f) {
  for (const std::string& next : flow.Successors(step.name)) {
    const FlowStep* s = flow.Find(next);
    if (s == nullptr) continue;
    Run root;
    root.id = run.flow_id;
    root.flow_id = run.flow_id;
    root.account_id = run.account_id;
    root.auth_account_id = run.auth_account_id;
    root.priority = run.priority;
    root.time_to_resolve = run.time_to_resolve;
    // The flow's args travel from step to step ({"args": ...}); the state and the
    // children's results are read when the step starts (input.h).
    const json::value& args = JsonField(run.args, "args");
    root.args = args;
    RunFollowUp up;
    up.run = StepRun(flow, *s, root, f.finished_at);
    for (const std::string& before : flow.Predecessors(next)) {
      up.after.push_back(StepRunId(run.flow_id, before));
    }
    up.while_live = run.flow_id;
    f.follow_ups.push_back(std::move(up));
  }
}

// A child's finish carries its step's successors, the same for every child of that
// step run but for the instant they are stored from: built once per step run and
// worker thread, and shared by the finishes (RunFinish::shared_follow_ups), which the
// storage stores at each one's own instant. Built for each child, they were about 40%
// of a child's work on the worker (callgrind), and a copy for each about half of it,
// on the path from the claim that brought the child to the finish that frees its slot.
void AddChildsSuccessors(const FlowDef& flow, const FlowStep& step, const Run& child,
                         RunFinish& f) {
  // What AddSuccessors reads of a child, which is its step run's.
  auto of_step = [](const Run& r) {
    return std::tie(r.parent_id, r.flow_id, r.account_id, r.auth_account_id, r.priority,
                    r.time_to_resolve);
  };
  struct Built {
    const FlowDef* flow = nullptr;
    const FlowStep* step = nullptr;
    Run child;  // the child they were built for
    std::shared_ptr<const std::vector<RunFollowUp>> ups;
  };
  thread_local Built built;
  if (built.flow != &flow || built.step != &step || of_step(built.child) != of_step(child) ||
      JsonField(built.child.args, "args") != JsonField(child.args, "args")) {
    RunFinish first;
    first.finished_at = f.finished_at;
    AddSuccessors(flow, step, child, first);
    built = Built{&flow, &step, child,
                  std::make_shared<const std::vector<RunFollowUp>>(std::move(first.follow_ups))};
  }
  // Stored at this child's finished_at, as the storage stores what is shared.
  if (!built.ups->empty()) f.shared_follow_ups = built.ups;
}

void SettleWhenIdle(const FlowDef& flow, const Run& run, RunFinish& f) {
  RunSettle settle;
  settle.queue = flow.queue;
  settle.id = run.flow_id;
  settle.status = RunStatus::kCompleted;
  settle.result = json::object{{"outcome", "all_over"}};
  settle.when_idle = true;
  f.settle = std::move(settle);
}

void FailFlow(const FlowDef& flow, const Run& run, const std::string& step, const RunFinish& end,
              RunFinish& f) {
  RunSettle settle;
  settle.queue = flow.queue;
  settle.id = run.flow_id;
  settle.status = RunStatus::kFailed;
  std::string why = end.error.empty() ? std::string(ToString(end.status)) : end.error;
  settle.error = "step '" + step + "' failed: " + why;
  settle.error_kind = "flow";
  settle.result = json::object{
      {"outcome", "failed_over"},     {"step", step},           {"run_id", run.id}, {"error", why},
      {"error_kind", end.error_kind}, {"attempts", run.attempt}};
  settle.when_idle = false;
  settle.stop_live = true;
  f.settle = std::move(settle);
}

}  // namespace

Run StepRun(const FlowDef& flow, const FlowStep& step, const Run& root, TimePoint now) {
  Run run = Member(flow, root, StepRunId(root.id, step.name), root.id, now);
  run.flow_id = root.id;
  run.function = step.function;
  run.retry = step.retry;
  run.timeout = step.timeout;
  run.time_to_resolve = root.time_to_resolve;
  run.args = json::object{{"args", root.args}};
  run.data = json::object{{"flow", ToJson(Role{flow.name, step.name, false, false})}};
  return run;
}

void AdvanceFlow(const FlowRegistry& flows, const Run& run, RunFinish& f) {
  SetStagedFate(run, f);           // the children the attempt staged (step_store.h)
  if (!IsFinal(f.status)) return;  // a retry: the step goes on
  std::optional<Role> role = RoleOf(run);
  if (!role || role->root) return;
  const FlowDef* flow = flows.Find(role->flow);
  const FlowStep* step = flow ? flow->Find(role->step) : nullptr;
  if (step == nullptr) {
    spdlog::warn("flow: run {} names flow '{}' step '{}', which this node does not define", run.id,
                 role->flow, role->step);
    return;
  }
  const bool ok = f.status == RunStatus::kCompleted || f.status == RunStatus::kPartial;
  if (!role->child) {
    if (!ok) return FailFlow(*flow, run, step->name, f, f);
    if (!step->child_function.empty()) {
      const json::value& children = JsonField(f.result, "children");
      if (const json::array* list = children.if_array()) {
        for (const json::value& child : *list) {
          const json::array* pair = child.if_array();
          if (pair == nullptr || pair->empty()) continue;
          const json::value definition = pair->size() > 1 ? (*pair)[1] : json::value(nullptr);
          RunFollowUp up;
          up.run = ChildRun(*flow, *step, run, f.result, (*pair)[0], definition, f.finished_at);
          up.while_live = run.flow_id;
          f.follow_ups.push_back(std::move(up));
        }
      }
    }
    AddSuccessors(*flow, *step, run, f);
    return SettleWhenIdle(*flow, run, f);
  }
  if (!ok && step->exit_on_failed) return FailFlow(*flow, run, step->name, f, f);
  // The successors of its step (they take the flow's id and args, which the child
  // shares with its step, and not the step's own id).
  AddChildsSuccessors(*flow, *step, run, f);
  SettleWhenIdle(*flow, run, f);
}

}  // namespace taskmill::flows
