// The flow's callback function, run once per lifecycle event (callbacks.h).
#include "flows/callbacks.h"

#include <spdlog/spdlog.h>
#include <taskmill/run_enums.h>

#include <boost/json.hpp>

#include "flows/advance.h"
#include "flows/flow_events.h"

namespace taskmill::flows {
namespace json = boost::json;
namespace {

int64_t Micros(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

// The flow's root, as a settle ends it.
Run SettledRoot(const Run& member, const RunSettle& settle) {
  Run root = member;
  root.id = settle.id;
  root.flow_id = settle.id;
  root.parent_id.clear();
  root.status = settle.status;
  root.error = settle.error;
  return root;
}

}  // namespace

std::optional<Run> CallbackRun(const FlowDef& flow, std::string_view what, const Run& about,
                               std::string_view step, int64_t n, TimePoint now) {
  if (flow.callback.empty()) return std::nullopt;
  const std::string root = about.flow_id.empty() ? about.id : about.flow_id;
  // What the run's id says past the root's: the step, or the step and the child.
  std::string_view own = about.id;
  own.remove_prefix(std::min(own.size(), root.size() + (about.id == root ? 0 : 1)));
  Run run;
  run.id = root + "::" + std::string(what) + ":" + std::string(own) + ":" + std::to_string(n);
  run.queue = flow.queue;
  run.function = flow.callback;
  run.parent_id = root;  // listed with the flow's steps; no flow_id: not a member
  run.account_id = about.account_id;
  run.auth_account_id = about.auth_account_id;
  run.priority = about.priority;
  run.time_to_resolve = about.time_to_resolve;
  run.created_at = now;
  run.run_at = now;
  json::object args{{"type", "flow." + std::string(what)},
                    {"flow", flow.name},
                    {"flow_id", root},
                    {"step", step},
                    {"run_id", about.id},
                    {"status", ToString(about.status)}};
  if (!about.error.empty()) args["error"] = about.error;
  run.args = std::move(args);
  run.data = json::object{{"flow_callback", json::object{{"name", flow.name}, {"event", what}}}};
  return run;
}

void AddCallbacks(const FlowRegistry& flows, const Run& run, RunFinish& f) {
  auto role = RoleOf(run);
  const FlowDef* flow = role ? flows.Find(role->flow) : nullptr;
  if (flow == nullptr || flow->callback.empty() || role->root) return;
  for (const FinishEvent& event : FinishEvents(run, f)) {
    Run about = run;
    about.status = f.status;
    about.error = f.error;
    RunFollowUp up;
    int64_t n = run.attempt;
    if (event.when_all_over) {
      // A child ended: the step's event, stored once the step and all its children
      // are final — by the finish of whichever child ends last (its id is the step's).
      about.id = run.parent_id;
      about.status = RunStatus::kCompleted;
      about.error.clear();
      n = 0;
      up.after = {run.parent_id};
    }
    if (event.what == "step_failed" || event.what == "step_exit") {
      // Only the finish that fails the flow: of two children failing an
      // exit_on_failed step, the second finds the flow over already.
      up.while_live = run.flow_id;
    }
    up.run = *CallbackRun(*flow, event.what, about, role->step, n, f.finished_at);
    f.follow_ups.push_back(std::move(up));
  }
  if (f.settle) {
    Run root = SettledRoot(run, *f.settle);
    f.settle->then.push_back(
        *CallbackRun(*flow, "over", root, "", Micros(f.finished_at), f.finished_at));
  }
}

bool StoreCallback(Storage& storage, const FlowRegistry* flows, std::string_view what,
                   const Run& about, TimePoint now) {
  auto role = RoleOf(about);
  const FlowDef* flow = role && flows ? flows->Find(role->flow) : nullptr;
  if (flow == nullptr) return false;
  if (what == "step_start" && (role->root || role->child)) return false;
  const int64_t n = what == "over" ? Micros(now) : about.attempt;
  std::optional<Run> run = CallbackRun(*flow, what, about, role->step, n, now);
  if (!run) return false;
  RunPutParams put;
  put.runs = {*run};
  put.conflict = ConflictMode::kIgnore;  // the same event told twice runs once
  auto stored = storage.RunPut(std::move(put));
  if (!stored.ok()) {
    spdlog::warn("flow {}: storing the callback run {} failed: {}", flow->name, run->id,
                 stored.status().ToString());
    return false;
  }
  return true;
}

}  // namespace taskmill::flows
