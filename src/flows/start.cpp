// Starting a flow: its root and its entrance step in one commit (flow.h, StartFlow).
#include "flows/start.h"

#include <boost/json.hpp>

#include "flows/advance.h"
#include "flows/callbacks.h"
#include "flows/flow_events.h"
#include "storage/run_pages.h"

namespace taskmill {
namespace json = boost::json;

namespace flows {

Result<std::vector<Run>> LiveMembers(Storage& storage, const std::string& root_id) {
  std::vector<Run> out;
  for (RunStatus status : {RunStatus::kRunning, RunStatus::kPending}) {
    RunFilter filter;
    filter.flow_id = root_id;
    filter.status = status;
    Status st = ForEachRun(storage, std::move(filter), [&](Run& r) {
      if (r.id != root_id) out.push_back(std::move(r));
    });
    if (!st.ok()) return st;
  }
  return out;
}

}  // namespace flows

Result<Run> StartFlow(Engine& engine, const FlowStartRequest& request) {
  const FlowRegistry* registry = engine.options().flows.get();
  const FlowDef* flow = registry ? registry->Find(request.flow) : nullptr;
  if (flow == nullptr) return Status::NotFound("no flow named '" + request.flow + "'");
  const FlowStep* entrance = flow->Find(flow->entrance);
  if (entrance == nullptr) return Status::Internal("flow '" + flow->name + "' has no entrance");
  TimePoint now = engine.clock().Now();
  Run root;
  root.id = request.id.empty() ? NewRunId(now) : request.id;
  if (root.id.size() > 120) return FieldError("id", "must be at most 120 characters");
  for (char c : root.id) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') {
      return FieldError("id", "'" + root.id + "' must be characters of [A-Za-z0-9_.-]");
    }
  }
  root.queue = flow->queue;
  root.function = "flow.run";
  root.status = RunStatus::kRunning;
  root.flow_id = root.id;
  root.args = request.args;
  root.data = json::object{{"flow", json::object{{"name", flow->name}}}};
  root.account_id = request.account_id;
  root.auth_account_id = request.auth_account_id;
  root.created_at = now;
  root.run_at = now;
  root.started_at = now;
  root.time_to_resolve = engine.options().default_time_to_resolve;
  RunPutParams put;
  put.runs = {root, flows::StepRun(*flow, *entrance, root, now)};
  // The callback of flow.start, in the commit that starts the flow (callbacks.h).
  if (auto callback = flows::CallbackRun(*flow, "start", root, "", 0, now)) {
    put.runs.push_back(std::move(*callback));
  }
  auto stored = engine.storage().RunPut(std::move(put));
  if (!stored.ok()) return stored.status();
  engine.RunStored(now);
  flows::PublishFlowStart(engine.events(), stored->front());
  return stored->front();
}

Status RegisterFlowFunctions(FunctionRegistry& registry, std::shared_ptr<Engine*> engine) {
  FunctionInfo info;
  info.name = std::string(kStartFlowFunction);
  info.description = "Starts a flow: args {\"flow\": name, \"args\": {...}}";
  return registry.Register(
      std::move(info), MakeCallableHandler([engine](RunContext& ctx) {
        if (*engine == nullptr) throw std::runtime_error("the engine is not open yet");
        const json::object* args = ctx.args().if_object();
        const json::value* name = args ? args->if_contains("flow") : nullptr;
        if (name == nullptr || !name->is_string()) {
          throw std::runtime_error("args must be {\"flow\": name, \"args\": {...}}");
        }
        FlowStartRequest request;
        request.flow = name->as_string();
        if (const json::value* a = args->if_contains("args")) request.args = *a;
        // One flow per attempt of this run: a retried launch finds the root it stored.
        request.id = "flow-" + ctx.run().id + "-" + std::to_string(ctx.attempt());
        request.account_id = ctx.account_id();
        request.auth_account_id = ctx.auth_account_id();
        auto root = StartFlow(**engine, request);
        if (!root.ok()) throw std::runtime_error(root.status().ToString());
        ctx.SetResult(json::object{{"flow_run_id", root->id}});
      }));
}

}  // namespace taskmill
