// Routes and rules of access: the account rules every route applies, the live event
// stream, and token management.
#include <boost/json.hpp>
#include <charconv>

#include "api/api_error.h"
#include "api/json_body.h"
#include "api/routes.h"

namespace taskmill::api {
namespace json = boost::json;
namespace http = boost::beast::http;

Status CheckVisible(const Exchange& ex, const Run& run) {
  if (ex.principal().CanSee(run.account_id)) return Status::Ok();
  return Status::NotFound("no run with id '" + run.id + "'");
}

Result<Run> GetVisibleRun(RouteContext& ctx, const Exchange& ex, const std::string& id,
                          const std::string& queue) {
  auto run = ctx.engine.storage().RunGet(id, queue);
  if (!run.ok()) return run.status();
  if (Status visible = CheckVisible(ex, *run); !visible.ok()) {
    // Without a queue the id may name runs of several queues and accounts: the token's
    // own is the one it means, whichever the storage found first.
    if (!queue.empty()) return visible;
    RunFilter filter;
    filter.id = id;
    filter.account_id = ex.principal().account_id;
    filter.limit = 1;
    auto own = ctx.engine.storage().RunList(filter);
    if (!own.ok()) return own.status();
    if (own->runs.empty()) return visible;
    return std::move(own->runs.front());
  }
  return run;
}

std::optional<std::string> AccountScope(const Exchange& ex) {
  if (ex.principal().admin) return std::nullopt;
  return ex.principal().account_id;
}

Status RequireAdmin(const Exchange& ex, std::string_view what) {
  if (ex.principal().admin) return Status::Ok();
  return ApiStatus(StatusCode::kPermissionDenied, "forbidden",
                   "only admin tokens may " + std::string(what));
}

Status ApplyAccount(const Exchange& ex, std::string* account_id, std::string* auth_account_id) {
  const Principal& who = ex.principal();
  std::optional<std::string> named = ex.query("account");
  if (!who.admin && named && *named != who.account_id) {
    json::object details;
    details["parameter"] = "account";
    return ApiStatus(StatusCode::kPermissionDenied, "forbidden",
                     "this token acts for account '" + who.account_id + "' only",
                     std::move(details));
  }
  *account_id = named.value_or(who.account_id);
  *auth_account_id = who.account_id;
  return Status::Ok();
}

Status CheckFunctionAllowed(RouteContext& ctx, const Exchange& ex, const std::string& function) {
  const auto* entry = ctx.engine.functions().Find(function);
  if (!entry || entry->info.handler_kind != "command") return Status::Ok();
  if (ex.principal().admin && ctx.allow_command_tasks) return Status::Ok();
  return ApiStatus(StatusCode::kPermissionDenied, "forbidden",
                   "'" + function +
                       "' runs a command; the API creates such runs only for admin tokens on a "
                       "server with api.allow_command_tasks: true (start the task instead: "
                       "POST /api/v1/tasks/{name}/start)");
}

namespace {

Result<std::set<std::string>> ParseTypes(const std::optional<std::string>& text) {
  std::set<std::string> types;
  if (!text || text->empty()) return types;
  static const std::set<std::string> kKnown = {"run.created", "run.started", "run.progress",
                                               "run.finished", "task.changed"};
  size_t start = 0;
  while (start <= text->size()) {
    size_t end = text->find(',', start);
    if (end == std::string::npos) end = text->size();
    std::string type = text->substr(start, end - start);
    if (!kKnown.contains(type)) {
      return ParameterError("types", "unknown event type '" + type +
                                         "'; accepted: run.created, run.started, run.progress, "
                                         "run.finished, task.changed");
    }
    types.insert(std::move(type));
    start = end + 1;
  }
  return types;
}

Reply StreamEvents(RouteContext& ctx, Exchange& ex) {
  if (Status s = ex.CheckQuery({"types"}); !s.ok()) return s;
  auto types = ParseTypes(ex.query("types"));
  if (!types.ok()) return types.status();
  std::optional<uint64_t> last;
  auto header = ex.request()["Last-Event-ID"];
  if (!header.empty()) {
    uint64_t id = 0;
    auto [end, ec] = std::from_chars(header.data(), header.data() + header.size(), id);
    if (ec == std::errc() && end == header.data() + header.size()) last = id;
  }
  Response head{http::status::ok, 11};
  head.set(http::field::content_type, "text/event-stream");
  head.set(http::field::cache_control, "no-store");
  head.set("X-Accel-Buffering", "no");  // reverse proxies must not hold events back
  return Reply::Push(std::move(head), ctx.events.Open(ex.principal(), last, std::move(*types)));
}

json::object TokenJson(const ApiToken& token) {
  return {{"name", token.name},
          {"account", token.account_id},
          {"admin", token.admin},
          {"created_at", TimeToJson(token.created_at)}};
}

Reply ListTokens(RouteContext& ctx, Exchange& ex) {
  if (Status s = ex.CheckQuery({}); !s.ok()) return s;
  TASKMILL_RETURN_IF_ERROR(RequireAdmin(ex, "manage tokens"));
  auto tokens = ctx.engine.storage().TokenList();
  if (!tokens.ok()) return tokens.status();
  json::array out;
  for (const ApiToken& token : *tokens) out.push_back(TokenJson(token));
  return JsonResponse(http::status::ok, json::serialize(json::object{{"tokens", out}}));
}

Reply CreateTokenRoute(RouteContext& ctx, Exchange& ex) {
  if (Status s = ex.CheckQuery({}); !s.ok()) return s;
  TASKMILL_RETURN_IF_ERROR(RequireAdmin(ex, "manage tokens"));
  auto body = ParseJsonBody(ex.request(), /*optional=*/true);
  if (!body.ok()) return body.status();
  std::string name, account;
  bool admin = false;
  if (*body) {
    if (!(*body)->is_object())
      return FieldError("body", "expected an object {name, account, admin}");
    for (const auto& kv : (*body)->get_object()) {
      const json::value& v = kv.value();
      if (kv.key() == "name" && v.is_string()) {
        name = v.get_string();
      } else if (kv.key() == "account" && v.is_string()) {
        account = v.get_string();
      } else if (kv.key() == "admin" && v.is_bool()) {
        admin = v.get_bool();
      } else if (kv.key() == "name" || kv.key() == "account" || kv.key() == "admin") {
        return FieldError(kv.key(),
                          kv.key() == "admin" ? "expected true or false" : "expected a string");
      } else {
        return FieldError(kv.key(), "unknown key; accepted: name, account, admin");
      }
    }
  }
  std::string secret;
  auto token =
      CreateToken(ctx.engine.storage(), name, account, admin, ctx.engine.clock().Now(), &secret);
  if (!token.ok()) return token.status();  // invalid input names its field ("name", "account")
  json::object out = TokenJson(*token);
  out["token"] = secret;  // the only time it is shown
  Response response = JsonResponse(http::status::created, json::serialize(out));
  response.set(http::field::cache_control, "no-store");
  return response;
}

Reply RevokeTokenRoute(RouteContext& ctx, Exchange& ex) {
  if (Status s = ex.CheckQuery({}); !s.ok()) return s;
  TASKMILL_RETURN_IF_ERROR(RequireAdmin(ex, "manage tokens"));
  TASKMILL_RETURN_IF_ERROR(api::RevokeToken(ctx.engine.storage(), ex.path_param(0)));
  return Response{http::status::no_content, 11};
}

}  // namespace

void AddAccessRoutes(Router& router, RouteContext context) {
  auto bind = [context](Reply (*handler)(RouteContext&, Exchange&)) {
    return [context, handler](Exchange& ex) mutable { return handler(context, ex); };
  };
  router.Add(http::verb::get, "/api/v1/events", bind(StreamEvents));
  router.Add(http::verb::get, "/api/v1/tokens", bind(ListTokens));
  router.Add(http::verb::post, "/api/v1/tokens", bind(CreateTokenRoute));
  router.Add(http::verb::delete_, "/api/v1/tokens/{name}", bind(RevokeTokenRoute));
}

}  // namespace taskmill::api
