// Flows over HTTP (docs/api.md, "Flows"): the definitions with their recent runs, a
// start, and the graph of one flow run — steps with their state and children's counts,
// edges and the flow's state — the shapes the flow page draws. Cancel and retry go
// through the runs' own routes. A flow run belongs to the account that started it.
#include <taskmill/flow.h>

#include <boost/json.hpp>

#include "api/api_error.h"
#include "api/json_body.h"
#include "api/routes.h"
#include "flows/advance.h"
#include "flows/input.h"
#include "storage/run_pages.h"

namespace taskmill::api {
namespace json = boost::json;
namespace http = boost::beast::http;

namespace {

const FlowRegistry* Flows(RouteContext& ctx) { return ctx.engine.options().flows.get(); }

json::object RunSummary(const Run& run) {
  json::object o{{"run_id", run.id},
                 {"status", ToString(run.status)},
                 {"created_at", FormatTime(run.created_at)},
                 {"finished_at", TimeToJson(run.finished_at)}};
  if (!run.error.empty()) o["error"] = run.error;
  return o;
}

Reply ListFlows(RouteContext& ctx, Exchange& ex) {
  if (Status s = ex.CheckQuery({}); !s.ok()) return s;
  json::array out;
  if (const FlowRegistry* flows = Flows(ctx)) {
    for (const FlowDef* flow : flows->List()) {
      json::object item = ToJson(*flow);
      // Recent runs: roots of this flow, newest first, of the caller's account.
      RunFilter filter;
      filter.function = "flow.run";
      filter.queue = flow->queue;
      if (auto account = AccountScope(ex)) filter.account_id = *account;
      filter.limit = 100;
      json::array recent;
      auto page = ctx.engine.storage().RunList(filter);
      if (!page.ok()) return page.status();
      for (const Run& run : page->runs) {
        auto role = flows::RoleOf(run);
        if (!role || role->flow != flow->name || run.id != run.flow_id) continue;
        if (!CheckVisible(ex, run).ok()) continue;
        recent.push_back(RunSummary(run));
        if (recent.size() >= 10) break;
      }
      item["recent_runs"] = std::move(recent);
      out.push_back(std::move(item));
    }
  }
  return JsonResponse(http::status::ok, PlainJson(json::object{{"flows", std::move(out)}}));
}

Reply StartFlowRun(RouteContext& ctx, Exchange& ex) {
  if (Status s = ex.CheckQuery({"account"}); !s.ok()) return s;
  auto body = ParseJsonBody(ex.request(), /*optional=*/true);
  if (!body.ok()) return body.status();
  FlowStartRequest request;
  request.flow = ex.path_param(0);
  if (*body) {
    if (!(*body)->is_object()) return FieldError("body", "expected a JSON object {args, id}");
    for (const auto& [key, value] : (*body)->as_object()) {
      if (key == "args") {
        request.args = value;
      } else if (key == "id") {
        if (!value.is_string()) return FieldError("id", "expected a string");
        request.id = value.as_string();
      } else {
        return FieldError(key, "unknown field; expected args or id");
      }
    }
  }
  TASKMILL_RETURN_IF_ERROR(ApplyAccount(ex, &request.account_id, &request.auth_account_id));
  auto root = StartFlow(ctx.engine, request);
  if (!root.ok()) return root.status();
  return RunResponse(http::status::created, *root);
}

// The runs of one parent, counted by state.
Result<json::object> ChildCounts(Storage& storage, const std::string& parent) {
  int64_t total = 0, done = 0, failed = 0, running = 0;
  RunFilter filter;
  filter.parent_id = parent;
  Status st = ForEachRun(storage, std::move(filter), [&](const Run& r) {
    ++total;
    if (r.status == RunStatus::kCompleted || r.status == RunStatus::kPartial)
      ++done;
    else if (r.status == RunStatus::kRunning)
      ++running;
    else if (IsFinal(r.status))
      ++failed;
  });
  if (!st.ok()) return st;
  return json::object{{"total", total}, {"done", done}, {"failed", failed}, {"running", running}};
}

Reply FlowGraph(RouteContext& ctx, Exchange& ex) {
  if (Status s = ex.CheckQuery({}); !s.ok()) return s;
  auto root = GetVisibleRun(ctx, ex, ex.path_param(0), "");
  if (!root.ok()) return root.status();
  auto role = flows::RoleOf(*root);
  if (!role || root->id != root->flow_id) {
    return Status::NotFound("run '" + root->id + "' is not the run of a flow");
  }
  const FlowDef* flow = Flows(ctx) ? Flows(ctx)->Find(role->flow) : nullptr;
  if (flow == nullptr) {
    return Status::NotFound("flow '" + role->flow + "' of run '" + root->id +
                            "' is not defined on this server");
  }
  Storage& storage = ctx.engine.storage();
  json::array steps;
  for (const FlowStep& step : flow->steps) {
    json::object item{{"name", step.name}, {"func_name", step.function}};
    std::string id = flows::StepRunId(root->id, step.name);
    auto run = storage.RunGet(id, "");
    if (run.ok()) {
      item["run_id"] = run->id;
      item["state"] = ToString(run->status);
      item["attempts"] = run->attempt;
      item["max_attempts"] = run->retry.max_attempts;
      if (!run->error.empty()) item["error"] = run->error;
    } else {
      item["run_id"] = nullptr;
      item["state"] = IsFinal(root->status) ? "skipped" : "waiting";
      item["attempts"] = 0;
      item["max_attempts"] = step.retry.max_attempts;
    }
    if (!step.child_function.empty()) {
      auto counts = ChildCounts(storage, id);
      if (!counts.ok()) return counts.status();
      item["children"] = std::move(*counts);
    } else {
      item["children"] = json::object{{"total", 0}, {"done", 0}, {"failed", 0}, {"running", 0}};
    }
    steps.push_back(std::move(item));
  }
  json::array edges;
  for (const auto& [from, to] : flow->Edges()) edges.push_back({{"from", from}, {"to", to}});
  auto state = flows::FlowState(storage, root->id);
  if (!state.ok()) return state.status();
  json::object body{{"run_id", root->id},
                    {"flow", flow->name},
                    {"status", ToString(root->status)},
                    {"entrance", flow->entrance},
                    {"args", root->args},
                    {"result", root->result},
                    {"error", root->error},
                    {"created_at", FormatTime(root->created_at)},
                    {"finished_at", TimeToJson(root->finished_at)},
                    {"steps", std::move(steps)},
                    {"edges", std::move(edges)},
                    {"state", std::move(*state)}};
  return JsonResponse(http::status::ok, PlainJson(body));
}

}  // namespace

void AddFlowRoutes(Router& router, RouteContext context) {
  router.Add(http::verb::get, "/api/v1/flows",
             [context](Exchange& ex) mutable { return ListFlows(context, ex); });
  router.Add(http::verb::post, "/api/v1/flows/{name}/runs",
             [context](Exchange& ex) mutable { return StartFlowRun(context, ex); });
  router.Add(http::verb::get, "/api/v1/flows/runs/{run_id}",
             [context](Exchange& ex) mutable { return FlowGraph(context, ex); });
}

}  // namespace taskmill::api
