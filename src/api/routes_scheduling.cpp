// Routes that steer scheduling: enable or disable a task, pause or resume a queue,
// and the queue overview (depth and oldest pending age).
#include <boost/json.hpp>

#include "api/api_error.h"
#include "api/json_body.h"
#include "api/routes.h"

namespace taskmill::api {
namespace json = boost::json;
namespace http = boost::beast::http;

namespace {

// Defines or redefines a task from its JSON form (the one GET /api/v1/tasks/{name}
// answers); the rules are TaskDef::Validate's, as for the configuration file.
Reply PutTask(RouteContext& ctx, Exchange& ex) {
  if (Status s = ex.CheckQuery({}); !s.ok()) return s;
  TASKMILL_RETURN_IF_ERROR(RequireAdmin(ex, "define tasks"));
  const std::string& name = ex.path_param(0);
  auto body = ParseJsonBody(ex.request(), /*optional=*/false);
  if (!body.ok()) return body.status();
  if (!(*body)->is_object()) return FieldError("task", "expected a JSON object");
  json::object definition = (*body)->get_object();
  if (!definition.contains("name")) definition["name"] = name;
  auto task = TaskDefFromJson(definition);
  if (!task.ok()) return task.status();
  if (task->name != name) {
    return FieldError("name", "'" + task->name + "' differs from the task named in the path");
  }
  const bool existed = ctx.engine.storage().TaskGet(name).ok();
  if (Status s = ctx.engine.TaskPut(*task); !s.ok()) {
    // A definition that parsed but breaks a rule is a 422 naming the first key at fault,
    // as any other field of a JSON body is.
    const auto* details = s.details().if_object();
    const auto* problems = details ? details->if_contains("problems") : nullptr;
    if (problems && problems->is_array() && !problems->as_array().empty() &&
        !details->contains("field")) {
      json::object with_field = *details;
      with_field["field"] = problems->as_array()[0].as_object().at("key");
      return Status(s.code(), s.message(), std::move(with_field));
    }
    return s;
  }
  return JsonResponse(existed ? http::status::ok : http::status::created, PlainJson(ToJson(*task)));
}

Reply SetTaskEnabled(RouteContext& ctx, Exchange& ex, bool enabled) {
  if (Status s = ex.CheckQuery({}); !s.ok()) return s;
  TASKMILL_RETURN_IF_ERROR(RequireAdmin(ex, "enable or disable tasks"));
  const std::string& name = ex.path_param(0);
  if (Status s = ctx.engine.TaskSetEnabled(name, enabled); !s.ok()) {
    if (s.IsNotFound()) {
      return Status::NotFound("no task named '" + name +
                              "'; `taskmill tasks` lists the defined tasks");
    }
    return s;
  }
  auto task = ctx.engine.storage().TaskGet(name);
  if (!task.ok()) return task.status();
  return JsonResponse(http::status::ok, PlainJson(ToJson(*task)));
}

Reply SetQueuePaused(RouteContext& ctx, Exchange& ex, bool paused) {
  if (Status s = ex.CheckQuery({}); !s.ok()) return s;
  TASKMILL_RETURN_IF_ERROR(RequireAdmin(ex, "pause or resume queues"));
  const std::string& name = ex.path_param(0);
  if (Status s = ctx.engine.QueueSetPaused(name, paused); !s.ok()) return s;
  json::object body{{"name", name}, {"paused", paused}};
  return JsonResponse(http::status::ok, PlainJson(body));
}

Reply ListQueues(RouteContext& ctx, Exchange& ex) {
  if (Status s = ex.CheckQuery({}); !s.ok()) return s;
  TimePoint now = ctx.engine.clock().Now();
  // An account token sees the queues where its account has runs, counting those only.
  auto queues = ctx.engine.storage().QueueList(now, AccountScope(ex));
  if (!queues.ok()) return queues.status();
  json::array out;
  for (const QueueStats& q : *queues) {
    json::object item{
        {"name", q.queue}, {"paused", q.paused}, {"pending", q.pending}, {"running", q.running}};
    if (q.max_concurrency > 0) item["max_concurrency"] = q.max_concurrency;  // `queues:` config
    if (q.oldest_pending_run_at && *q.oldest_pending_run_at < now) {
      item["oldest_pending_age"] =
          std::chrono::duration<double>(now - *q.oldest_pending_run_at).count();
    } else {
      item["oldest_pending_age"] = 0.0;
      // No pending run is due yet (all scheduled or waiting for a retry): when the
      // first one is, so that "nothing waits" is not read as "nothing is queued".
      if (q.oldest_pending_run_at) item["next_run_at"] = FormatTime(*q.oldest_pending_run_at);
    }
    out.push_back(std::move(item));
  }
  json::object body;
  body["queues"] = std::move(out);
  return JsonResponse(http::status::ok, PlainJson(body));
}

}  // namespace

void AddSchedulingRoutes(Router& router, RouteContext context) {
  router.Add(http::verb::post, "/api/v1/tasks/{name}/enable",
             [context](Exchange& ex) mutable { return SetTaskEnabled(context, ex, true); });
  router.Add(http::verb::put, "/api/v1/tasks/{name}",
             [context](Exchange& ex) mutable { return PutTask(context, ex); });
  router.Add(http::verb::post, "/api/v1/tasks/{name}/disable",
             [context](Exchange& ex) mutable { return SetTaskEnabled(context, ex, false); });
  router.Add(http::verb::post, "/api/v1/queues/{name}/pause",
             [context](Exchange& ex) mutable { return SetQueuePaused(context, ex, true); });
  router.Add(http::verb::post, "/api/v1/queues/{name}/resume",
             [context](Exchange& ex) mutable { return SetQueuePaused(context, ex, false); });
  router.Add(http::verb::get, "/api/v1/queues",
             [context](Exchange& ex) mutable { return ListQueues(context, ex); });
}

}  // namespace taskmill::api
