// Routes of what can run and how things stand: tasks, functions, statistics, health,
// and the OpenAPI document that describes every route.
#include <boost/beast/http/field.hpp>
#include <boost/json.hpp>

#include "api/api_error.h"
#include "api/json_body.h"
#include "api/openapi.h"
#include "api/routes.h"
#include "api/run_request.h"
#include "cron/cron.h"
#include "scheduler/continuous.h"
#include "scheduler/fire_times.h"

namespace taskmill::api {
namespace json = boost::json;
namespace http = boost::beast::http;

namespace {

// A task definition with the latest run of the task, for the task list and the UI.
// `account`: the latest run is of that account only (an account token's view).
Result<json::object> TaskJson(Engine& engine, const TaskDef& task,
                              const std::optional<std::string>& account) {
  json::object out = ToJson(task);
  // A command's environment may carry the operator's secrets (API keys, passwords):
  // only admins read it.
  if (account) out.erase("env");
  // The next three fire instants, in the task's zone, for periodical tasks.
  json::array next;
  if (task.kind == TaskKind::kPeriodical) {
    auto compiled = CompileSchedule(task);
    if (compiled.ok()) {
      for (TimePoint t : NextFireTimes(task, engine.clock().Now(), 3)) {
        next.emplace_back(cron::FormatInZone(t, compiled->zone));
      }
    }
  }
  out["next_fire_times"] = std::move(next);
  auto latest = engine.storage().RunLatestOfTask(task.name, account);
  if (!latest.ok()) return latest.status();
  json::value last = nullptr;
  if (*latest) {
    const Run& run = **latest;
    last = json::object{{"id", run.id},
                        {"queue", run.queue},
                        {"status", ToString(run.status)},
                        {"started_at", TimeToJson(run.started_at)},
                        {"finished_at", TimeToJson(run.finished_at)}};
  }
  if (task.kind == TaskKind::kContinuous) {
    // The run keeping the task alive (pending during its pause, then running).
    out["live_run"] = *latest && !IsFinal((*latest)->status) ? last : json::value(nullptr);
    out["restart_count"] = ContinuousRestarts(engine.storage(), task.name);
  }
  out["last_run"] = std::move(last);
  return out;
}

Reply ListTasks(RouteContext& ctx, Exchange& ex) {
  if (Status s = ex.CheckQuery({}); !s.ok()) return s;
  auto tasks = ctx.engine.storage().TaskList();
  if (!tasks.ok()) return tasks.status();
  json::array out;
  out.reserve(tasks->size());
  for (const TaskDef& task : *tasks) {
    auto item = TaskJson(ctx.engine, task, AccountScope(ex));
    if (!item.ok()) return item.status();
    out.push_back(std::move(*item));
  }
  json::object body;
  body["tasks"] = std::move(out);
  return JsonResponse(http::status::ok, PlainJson(body));
}

Result<TaskDef> FindTask(Engine& engine, const std::string& name) {
  auto task = engine.storage().TaskGet(name);
  if (!task.ok() && task.status().IsNotFound()) {
    return Status::NotFound("no task named '" + name +
                            "'; `taskmill tasks` lists the defined tasks");
  }
  return task;
}

Reply GetTask(RouteContext& ctx, Exchange& ex) {
  if (Status s = ex.CheckQuery({}); !s.ok()) return s;
  auto task = FindTask(ctx.engine, ex.path_param(0));
  if (!task.ok()) return task.status();
  auto body = TaskJson(ctx.engine, *task, AccountScope(ex));
  if (!body.ok()) return body.status();
  return JsonResponse(http::status::ok, PlainJson(*body));
}

Reply StartTask(RouteContext& ctx, Exchange& ex) {
  if (Status s = ex.CheckQuery({"account"}); !s.ok()) return s;
  const std::string& name = ex.path_param(0);
  auto task = FindTask(ctx.engine, name);
  if (!task.ok()) return task.status();
  auto body = ParseJsonBody(ex.request(), /*optional=*/true);
  if (!body.ok()) return body.status();
  ParsedRunBody parsed;
  parsed.request.task = name;
  if (*body) {
    RunBodyOptions options{
        .kind = RunBodyKind::kTaskStart,
        .path_task = name,
        .task_retry = [&](const std::string&) -> Result<RetryPolicy> { return task->retry; }};
    auto overrides = ParseRunBody(**body, options);
    if (!overrides.ok()) return overrides.status();
    parsed = std::move(*overrides);
  }
  TASKMILL_RETURN_IF_ERROR(
      ApplyAccount(ex, &parsed.request.account_id, &parsed.request.auth_account_id));
  // A configured command runs as configured for admins; new arguments would change the
  // command line, which needs api.allow_command_tasks too.
  if (const auto* entry = ctx.engine.functions().Find(task->function);
      entry && entry->info.handler_kind == "command") {
    TASKMILL_RETURN_IF_ERROR(RequireAdmin(ex, "start command tasks"));
    if (parsed.request.args) {
      TASKMILL_RETURN_IF_ERROR(CheckFunctionAllowed(ctx, ex, task->function));
    }
  }
  auto run = ctx.engine.Enqueue(parsed.request, parsed.conflict.value_or(ConflictMode::kError));
  if (!run.ok()) return run.status();
  return RunResponse(http::status::created, *run);
}

Reply ListFunctions(RouteContext& ctx, Exchange& ex) {
  if (Status s = ex.CheckQuery({"category", "action"}); !s.ok()) return s;
  std::string category = ex.query("category").value_or("");
  std::string action = ex.query("action").value_or("");
  json::array out;
  for (const FunctionInfo& info : ctx.engine.functions().List()) {
    if (!category.empty() && info.category() != category) continue;
    if (!action.empty() && info.action() != action) continue;
    out.push_back(ToJson(info));
  }
  json::object body;
  body["functions"] = std::move(out);
  return JsonResponse(http::status::ok, PlainJson(body));
}

Reply GetStats(RouteContext& ctx, Exchange& ex) {
  if (Status s = ex.CheckQuery({}); !s.ok()) return s;
  auto stats = ctx.engine.storage().RunStats(AccountScope(ex));
  if (!stats.ok()) return stats.status();
  json::object statuses;
  // Every status is present, zeros included, in the documented order.
  for (RunStatus status : kAllRunStatuses) {
    auto it = stats->by_status.find(status);
    statuses[ToString(status)] = it == stats->by_status.end() ? 0 : it->second;
  }
  statuses["total"] = stats->total;
  json::object body;
  body["statuses"] = std::move(statuses);
  return JsonResponse(http::status::ok, PlainJson(body));
}

Reply OpenApi(RouteContext&, Exchange& ex) {
  if (Status s = ex.CheckQuery({}); !s.ok()) return s;
  Response response = JsonResponse(http::status::ok, std::string(OpenApiDocument()));
  // The document changes only with the binary: a client may keep it, but must ask
  // again (cheaply) so that an upgrade is seen.
  response.set(http::field::cache_control, "no-cache");
  return response;
}

}  // namespace

void AddHealthRoute(Router& router) {
  router.Add(http::verb::get, "/healthz", [](Exchange&) -> Reply {
    return JsonResponse(http::status::ok, R"({"status":"ok"})");
  });
}

void AddCatalogRoutes(Router& router, RouteContext context) {
  auto bind = [context](Reply (*handler)(RouteContext&, Exchange&)) {
    return [context, handler](Exchange& ex) mutable { return handler(context, ex); };
  };
  router.Add(http::verb::get, "/api/v1/tasks", bind(ListTasks));
  router.Add(http::verb::get, "/api/v1/tasks/{name}", bind(GetTask));
  router.Add(http::verb::post, "/api/v1/tasks/{name}/start", bind(StartTask));
  router.Add(http::verb::get, "/api/v1/functions", bind(ListFunctions));
  router.Add(http::verb::get, "/api/v1/stats", bind(GetStats));
  AddHealthRoute(router);
  router.Add(http::verb::get, "/api/v1/openapi.json", bind(OpenApi));
}

}  // namespace taskmill::api
