// Routes of runs: create (one or a batch), list, get (with long-poll), cancel,
// retry, delete.
#include <boost/json.hpp>
#include <charconv>
#include <cmath>
#include <map>

#include "api/api_error.h"
#include "api/json_body.h"
#include "api/routes.h"
#include "api/run_request.h"

namespace taskmill::api {
namespace json = boost::json;
namespace http = boost::beast::http;

Response RunResponse(http::status status, const Run& run) {
  std::string body;
  body.reserve(1024);  // a run without large args or result fits
  AppendJson(run, &body);
  return JsonResponse(status, std::move(body));
}

namespace {

// Longest batch accepted in one request; the body limit (1 MiB by default) usually
// binds first.
constexpr size_t kMaxBatch = 10000;

// How many of the most recent runs a text search (?q=) reads at most: it stays a
// bounded scan of the newest rows however many runs are stored.
constexpr int64_t kSearchWindow = 50000;

TaskRetryLookup TaskRetryFrom(Engine& engine) {
  return [&engine](const std::string& task) -> Result<RetryPolicy> {
    auto def = engine.storage().TaskGet(task);
    if (!def.ok()) return def.status();
    return def->retry;
  };
}

// The engine answers kNotFound for a run that names a task nobody defined; in a
// request body that is a bad value (422 unknown_task), not a missing URL.
Status UnknownTaskIfNotFound(const Status& status, const std::string& task) {
  if (!status.IsNotFound()) return status;
  json::object details;
  if (status.details().is_object()) details = status.details().get_object();
  details["field"] = details.contains("index")
                         ? "runs[" + json::serialize(details["index"]) + "].task"
                         : std::string("task");
  if (!task.empty()) details["task"] = task;
  return ApiStatus(StatusCode::kInvalidArgument, "unknown_task",
                   status.message() + "; `taskmill tasks` lists the defined tasks",
                   std::move(details));
}

// {"runs":[...]} written straight into the body (AppendJson); without the closing
// brace when `close` is false, for a caller that adds members.
std::string RunsBody(const std::vector<Run>& runs, bool close = true) {
  std::string body;
  body.reserve(16 + runs.size() * 900);
  body += "{\"runs\":[";
  for (size_t i = 0; i < runs.size(); ++i) {
    if (i > 0) body += ',';
    AppendJson(runs[i], &body);
  }
  body += ']';
  if (close) body += '}';
  return body;
}

// {"runs":[{"id":…,"status":…},…]}: the answer of runs:batch?return=ids.
std::string RunIdsBody(const std::vector<Run>& runs) {
  std::string body;
  body.reserve(16 + runs.size() * 64);
  body += "{\"runs\":[";
  for (size_t i = 0; i < runs.size(); ++i) {
    if (i > 0) body += ',';
    body += "{\"id\":";
    // Ids are validated to need no escaping; serialized all the same, so that a
    // change of that rule cannot make the answer invalid JSON.
    body += json::serialize(json::string_view(runs[i].id));
    body += ",\"status\":\"";
    body += ToString(runs[i].status);
    body += "\"}";
  }
  body += "]}";
  return body;
}

Result<double> ParseNumberParam(std::string_view name, const std::string& text) {
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value)) {
    return ParameterError(name, "'" + text + "' is not a number");
  }
  return value;
}

// The checks every new run passes: who owns it, and whether this principal may
// create runs of its function at all. A task run's function is read once per task
// name and kept in `task_functions` (a batch names the same tasks again and again).
Status AuthorizeNewRun(RouteContext& ctx, const Exchange& ex, EnqueueRequest& request,
                       std::map<std::string, std::string>& task_functions) {
  TASKMILL_RETURN_IF_ERROR(ApplyAccount(ex, &request.account_id, &request.auth_account_id));
  std::string function = request.function;
  if (function.empty() && !request.task.empty()) {
    auto it = task_functions.find(request.task);
    if (it == task_functions.end()) {
      auto task = ctx.engine.storage().TaskGet(request.task);
      it = task_functions.emplace(request.task, task.ok() ? task->function : "").first;
    }
    function = it->second;
  }
  return CheckFunctionAllowed(ctx, ex, function);
}

// ?state= of a listing: a stored status, or a derived state of pending runs
// (docs/api.md): pending_due (run_at <= now), scheduled (run_at > now, never
// attempted) and retrying (run_at > now, attempted before).
Status ApplyRunState(const std::string& state, TimePoint now, RunFilter* filter) {
  if (state == "pending_due") {
    filter->run_at_not_after = now;
  } else if (state == "scheduled" || state == "retrying") {
    filter->run_at_after = now;
    filter->attempted = state == "retrying";
  } else if (auto status = ParseRunStatus(state)) {
    filter->status = status;
    return Status::Ok();
  } else {
    std::string accepted = "pending_due, scheduled, retrying";
    for (RunStatus s : kAllRunStatuses) (accepted += ", ") += ToString(s);
    return ParameterError("state", "unknown state '" + state + "'; accepted: " + accepted);
  }
  filter->status = RunStatus::kPending;
  return Status::Ok();
}

Reply CreateRun(RouteContext& ctx, Exchange& ex) {
  if (Status s = ex.CheckQuery({"account"}); !s.ok()) return s;
  auto body = ParseJsonBody(ex.request(), /*optional=*/false);
  if (!body.ok()) return body.status();
  RunBodyOptions options{.kind = RunBodyKind::kCreate, .task_retry = TaskRetryFrom(ctx.engine)};
  auto parsed = ParseRunBody(**body, options);
  if (!parsed.ok()) return parsed.status();
  std::map<std::string, std::string> task_functions;
  TASKMILL_RETURN_IF_ERROR(AuthorizeNewRun(ctx, ex, parsed->request, task_functions));
  auto run = ctx.engine.Enqueue(parsed->request, parsed->conflict.value_or(ConflictMode::kError));
  if (!run.ok()) return UnknownTaskIfNotFound(run.status(), parsed->request.task);
  return RunResponse(http::status::created, *run);
}

Reply CreateRunBatch(RouteContext& ctx, Exchange& ex) {
  if (Status s = ex.CheckQuery({"account", "return"}); !s.ok()) return s;
  // ?return=ids answers each run's id and status only: a client that stores runs in
  // bulk rarely reads them back whole, and the full answer is several times the size
  // of the request.
  bool ids_only = false;
  if (auto form = ex.query("return"); form && !form->empty()) {
    if (*form == "ids") {
      ids_only = true;
    } else if (*form != "runs") {
      return ParameterError("return", "'" + *form + "' is not accepted; accepted: runs, ids");
    }
  }
  auto body = ParseJsonBody(ex.request(), /*optional=*/false);
  if (!body.ok()) return body.status();
  const json::value& value = **body;
  if (!value.is_object()) {
    return FieldError("runs", "the body must be an object {\"runs\": [...], \"conflict\": ...}");
  }
  const json::object& object = value.get_object();
  for (const auto& kv : object) {
    if (kv.key() != "runs" && kv.key() != "conflict") {
      return FieldError(kv.key(), "unknown key; accepted: runs, conflict");
    }
  }
  ConflictMode conflict = ConflictMode::kError;
  if (auto it = object.find("conflict"); it != object.end() && !it->value().is_null()) {
    auto mode = ParseConflictField(it->value(), "conflict");
    if (!mode.ok()) return mode.status();
    conflict = *mode;
  }
  auto runs_it = object.find("runs");
  if (runs_it == object.end() || !runs_it->value().is_array()) {
    return FieldError("runs", "expected an array of run objects");
  }
  const json::array& items = runs_it->value().get_array();
  if (items.empty()) return FieldError("runs", "must hold at least one run");
  if (items.size() > kMaxBatch) {
    return FieldError("runs", "holds " + std::to_string(items.size()) + " runs; at most " +
                                  std::to_string(kMaxBatch) + " per batch");
  }

  // Task policies are looked up once per task name, not once per item.
  std::map<std::string, Result<RetryPolicy>> task_policies;
  TaskRetryLookup lookup = TaskRetryFrom(ctx.engine);
  RunBodyOptions options{.kind = RunBodyKind::kBatchItem,
                         .task_retry = [&](const std::string& task) -> Result<RetryPolicy> {
                           auto it = task_policies.find(task);
                           if (it == task_policies.end()) {
                             it = task_policies.emplace(task, lookup(task)).first;
                           }
                           return it->second;
                         }};
  std::vector<EnqueueRequest> requests;
  requests.reserve(items.size());
  std::map<std::string, std::string> task_functions;
  for (size_t i = 0; i < items.size(); ++i) {
    options.field_prefix = "runs[" + std::to_string(i) + "].";
    auto parsed = ParseRunBody(items[i], options);
    if (!parsed.ok()) {
      json::object details;
      if (parsed.status().details().is_object()) details = parsed.status().details().get_object();
      details["index"] = i;
      return Status(parsed.status().code(), parsed.status().message(), std::move(details));
    }
    if (Status s = AuthorizeNewRun(ctx, ex, parsed->request, task_functions); !s.ok()) {
      json::object details;
      if (s.details().is_object()) details = s.details().get_object();
      details["index"] = i;
      return Status(s.code(), s.message(), std::move(details));
    }
    requests.push_back(std::move(parsed->request));
  }

  auto stored = ctx.engine.EnqueueBatch(requests, conflict);
  if (!stored.ok()) {
    const Status& error = stored.status();
    json::object details;
    if (error.details().is_object()) details = error.details().get_object();
    // The engine names the item of a batch by index, except in a batch of one.
    if (!details.contains("index") && items.size() == 1 &&
        (error.IsInvalidArgument() || error.IsNotFound())) {
      details["index"] = 0;
    }
    std::string task;
    if (auto index = details.if_contains("index"); index && index->is_number()) {
      size_t i = index->to_number<size_t>();
      if (i < requests.size()) task = requests[i].task;
    }
    return UnknownTaskIfNotFound(Status(error.code(), error.message(), std::move(details)), task);
  }
  if (ids_only) return JsonResponse(http::status::created, RunIdsBody(*stored));
  return JsonResponse(http::status::created, RunsBody(*stored));
}

Reply ListRuns(RouteContext& ctx, Exchange& ex) {
  if (Status s = ex.CheckQuery({"status", "state", "q", "task", "function", "queue", "account",
                                "created_after", "created_before", "parent_id", "flow_id", "cursor",
                                "limit"});
      !s.ok()) {
    return s;
  }
  RunFilter filter;
  // An account token lists its own account's runs; an admin any account's, or all.
  if (ex.principal().admin) {
    filter.account_id = ex.query("account").value_or("");
  } else {
    std::string owner, creator;
    TASKMILL_RETURN_IF_ERROR(ApplyAccount(ex, &owner, &creator));
    filter.account_id = owner;
  }
  if (auto status = ex.query("status"); status && !status->empty()) {
    filter.status = ParseRunStatus(*status);
    if (!filter.status) {
      std::string accepted;
      for (RunStatus s : kAllRunStatuses) {
        if (!accepted.empty()) accepted += ", ";
        accepted += ToString(s);
      }
      return ParameterError("status", "unknown status '" + *status + "'; accepted: " + accepted);
    }
  }
  if (auto state = ex.query("state"); state && !state->empty()) {
    if (filter.status) return ParameterError("state", "give status or state, not both");
    TASKMILL_RETURN_IF_ERROR(ApplyRunState(*state, ctx.engine.clock().Now(), &filter));
  }
  filter.task = ex.query("task").value_or("");
  filter.function = ex.query("function").value_or("");
  filter.queue = ex.query("queue").value_or("");
  filter.parent_id = ex.query("parent_id").value_or("");
  filter.flow_id = ex.query("flow_id").value_or("");
  filter.cursor = ex.query("cursor").value_or("");
  for (auto [name, bound] : {std::pair{"created_after", &filter.created_after},
                             std::pair{"created_before", &filter.created_before}}) {
    if (auto text = ex.query(name); text && !text->empty()) {
      TimePoint at{};
      if (!ParseTime(*text, &at)) {
        return ParameterError(name,
                              "'" + *text + "' is not an RFC 3339 time, e.g. 2026-01-01T00:00:00Z");
      }
      *bound = at;
    }
  }
  if (auto limit = ex.query("limit"); limit && !limit->empty()) {
    auto number = ParseNumberParam("limit", *limit);
    if (!number.ok()) return number.status();
    if (*number < 1 || *number > 1000 || std::floor(*number) != *number) {
      return ParameterError("limit", "expected an integer from 1 to 1000, got '" + *limit + "'");
    }
    filter.limit = static_cast<int>(*number);
  }
  // ?q= searches: a run whose id is the text, else runs whose args, data or error
  // contain it among the most recent kSearchWindow runs (docs/api.md).
  std::string q = ex.query("q").value_or("");
  if (q.size() > 200)
    return ParameterError("q", "at most 200 characters, got " + std::to_string(q.size()));
  bool by_id = false;
  Result<RunPage> page = RunPage{};
  if (!q.empty() && filter.cursor.empty()) {
    RunFilter exact = filter;
    exact.id = q;
    page = ctx.engine.storage().RunList(exact);
    by_id = page.ok() && !page->runs.empty();
  }
  if (!by_id) {
    if (!q.empty()) {
      filter.text = q;
      filter.text_window = kSearchWindow;
    }
    page = ctx.engine.storage().RunList(filter);
  }
  if (!page.ok()) {
    // The only value storage rejects here is a cursor it did not issue.
    if (page.status().IsInvalidArgument() && !filter.cursor.empty()) {
      return ParameterError("cursor", page.status().message());
    }
    return page.status();
  }
  std::string body = RunsBody(page->runs, /*close=*/false);
  body += ",\"next_cursor\":";
  body += page->next_cursor.empty() ? std::string("null")
                                    : json::serialize(json::value(page->next_cursor));
  if (!q.empty()) {
    body += by_id
                ? ",\"search\":{\"by\":\"id\"}"
                : ",\"search\":{\"by\":\"text\",\"window\":" + std::to_string(kSearchWindow) + "}";
  }
  body += '}';
  return JsonResponse(http::status::ok, std::move(body));
}

Reply GetRun(RouteContext& ctx, Exchange& ex) {
  if (Status s = ex.CheckQuery({"queue", "wait"}); !s.ok()) return s;
  const std::string& id = ex.path_param(0);
  std::string queue = ex.query("queue").value_or("");
  Duration wait{0};
  if (auto text = ex.query("wait"); text && !text->empty()) {
    auto seconds = ParseNumberParam("wait", *text);
    if (!seconds.ok()) return seconds.status();
    double max = std::chrono::duration<double>(ctx.max_wait).count();
    if (*seconds < 0 || *seconds > max) {
      return ParameterError("wait", "expected seconds from 0 to " +
                                        std::to_string(static_cast<int>(max)) + ", got '" + *text +
                                        "'");
    }
    wait = Duration{static_cast<int64_t>(*seconds * 1e6)};
  }
  auto run = GetVisibleRun(ctx, ex, id, queue);
  if (!run.ok()) return run.status();
  if (wait.count() == 0) return RunResponse(http::status::ok, *run);
  // A long-poll must not hold the io thread: the waiter answers from a timer or an
  // event on this connection's strand. It waits for the run found, in its queue; the
  // answer is checked again, for the id may name another account's run by then (the
  // run deleted, and the id taken anew).
  Exchange::Completion done = ex.Defer();
  ctx.waiter.Wait(
      ex.strand(), id, run->queue, wait, [done, principal = ex.principal()](Result<Run> run) {
        if (run.ok() && !principal.CanSee(run->account_id)) {
          run = Status::NotFound("no run with id '" + run->id + "'");
        }
        done(run.ok() ? RunResponse(http::status::ok, *run) : ErrorResponse(run.status()));
      });
  return Reply::Deferred();
}

Reply CancelRun(RouteContext& ctx, Exchange& ex) {
  if (Status s = ex.CheckQuery({"queue"}); !s.ok()) return s;
  auto visible = GetVisibleRun(ctx, ex, ex.path_param(0), ex.query("queue").value_or(""));
  if (!visible.ok()) return visible.status();
  // In the queue of the run found: without a queue the id may also name another
  // account's run elsewhere.
  auto run = ctx.engine.Cancel(ex.path_param(0), visible->queue);
  if (!run.ok()) return run.status();
  return RunResponse(http::status::ok, *run);
}

Reply RetryRun(RouteContext& ctx, Exchange& ex) {
  if (Status s = ex.CheckQuery({"queue"}); !s.ok()) return s;
  auto visible = GetVisibleRun(ctx, ex, ex.path_param(0), ex.query("queue").value_or(""));
  if (!visible.ok()) return visible.status();
  auto run = ctx.engine.Retry(ex.path_param(0), visible->queue);  // as in CancelRun
  if (!run.ok()) return run.status();
  return RunResponse(http::status::ok, *run);
}

// "Run now": a scheduled run, or one waiting for its retry, becomes due at once. A
// runner that sleeps until the old run_at claims it by its next poll.
Reply RunNow(RouteContext& ctx, Exchange& ex) {
  if (Status s = ex.CheckQuery({"queue"}); !s.ok()) return s;
  auto visible = GetVisibleRun(ctx, ex, ex.path_param(0), ex.query("queue").value_or(""));
  if (!visible.ok()) return visible.status();
  auto run = ctx.engine.storage().RunMakeDue(ex.path_param(0), visible->queue,
                                             ctx.engine.clock().Now());  // as in CancelRun
  if (!run.ok()) return run.status();
  return RunResponse(http::status::ok, *run);
}

Reply DeleteRun(RouteContext& ctx, Exchange& ex) {
  if (Status s = ex.CheckQuery({"queue"}); !s.ok()) return s;
  auto visible = GetVisibleRun(ctx, ex, ex.path_param(0), ex.query("queue").value_or(""));
  if (!visible.ok()) return visible.status();
  Status removed =
      ctx.engine.storage().RunRemove(ex.path_param(0), visible->queue);  // as in CancelRun
  if (!removed.ok()) return removed;
  Response response{http::status::no_content, 11};
  response.set(http::field::cache_control, "no-store");
  return response;
}

}  // namespace

void AddRunRoutes(Router& router, RouteContext context) {
  auto bind = [context](Reply (*handler)(RouteContext&, Exchange&)) {
    return [context, handler](Exchange& ex) mutable { return handler(context, ex); };
  };
  router.Add(http::verb::post, "/api/v1/runs", bind(CreateRun));
  router.Add(http::verb::get, "/api/v1/runs", bind(ListRuns));
  router.Add(http::verb::post, "/api/v1/runs:batch", bind(CreateRunBatch));
  router.Add(http::verb::get, "/api/v1/runs/{id}", bind(GetRun));
  router.Add(http::verb::delete_, "/api/v1/runs/{id}", bind(DeleteRun));
  router.Add(http::verb::post, "/api/v1/runs/{id}/cancel", bind(CancelRun));
  router.Add(http::verb::post, "/api/v1/runs/{id}/retry", bind(RetryRun));
  router.Add(http::verb::post, "/api/v1/runs/{id}/run-now", bind(RunNow));
}

}  // namespace taskmill::api
