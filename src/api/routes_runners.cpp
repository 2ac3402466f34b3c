// Routes of runners: remote workers claim runs of a queue, renew their leases and
// report outcomes over HTTP; and the list of runners. The routes parse and answer;
// the protocol itself is RemoteRunnerService's (src/runner/remote_runner_service.h).
// docs/remote-runners.md describes the protocol, docs/api.md the routes.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <cmath>
#include <map>

#include "api/api_error.h"
#include "api/json_body.h"
#include "api/routes.h"
#include "runner/remote_runner_service.h"

namespace taskmill::api {
namespace json = boost::json;
namespace http = boost::beast::http;

namespace {

constexpr int kMaxTake = 100;            // runs per take
constexpr size_t kMaxHeartbeats = 1000;  // runs per heartbeat
constexpr size_t kMaxErrorKind = 50;     // characters of a finish's error_kind
// A runner whose last beat is older is left out of the list: a local runner beats
// every 5 s, a remote worker calls at least once per long-poll (at most 60 s).
constexpr Duration kForgetRunnersAfter = std::chrono::seconds(60);

// Runner ids follow the rule of run ids, so they are safe in URLs, logs and attempts.
Status CheckRunnerId(const std::string& runner) {
  bool ok = !runner.empty() && runner.size() <= 200;
  for (char c : runner) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '_' || c == '-' || c == '.' || c == ':');
  }
  if (ok) return Status::Ok();
  return Status::InvalidArgument("runner id '" + runner +
                                 "' must be 1-200 characters of [A-Za-z0-9_.:-]");
}

Result<double> NumberParam(std::string_view name, const std::string& text) {
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value)) {
    return ParameterError(name, "'" + text + "' is not a number");
  }
  return value;
}

// The key of an object that is not in `accepted`, as a 422 naming it.
Status CheckKeys(const json::object& object, const std::string& prefix,
                 std::initializer_list<std::string_view> accepted) {
  for (const auto& kv : object) {
    bool known = false;
    for (auto key : accepted) known = known || key == kv.key();
    if (known) continue;
    std::string list;
    for (auto key : accepted) {
      if (!list.empty()) list += ", ";
      list += key;
    }
    return FieldError(prefix + std::string(kv.key()), "unknown key; accepted: " + list);
  }
  return Status::Ok();
}

// The value of `key` in `object`, or nullptr when absent or null.
const json::value* Find(const json::object& object, std::string_view key) {
  auto it = object.find(key);
  return it == object.end() || it->value().is_null() ? nullptr : &it->value();
}

Status ReadString(const json::object& object, std::string_view key, const std::string& prefix,
                  bool required, std::string* out) {
  const json::value* v = Find(object, key);
  std::string name = prefix + std::string(key);
  if (!v) return required ? FieldError(name, "required") : Status::Ok();
  if (!v->is_string()) return FieldError(name, "expected a string");
  *out = std::string(v->get_string());
  return Status::Ok();
}

// The fencing token the take answered (the attempt number): a positive integer.
Status ReadToken(const json::object& object, const std::string& prefix, int* out) {
  const json::value* v = Find(object, "fencing_token");
  std::string name = prefix + "fencing_token";
  if (!v) return FieldError(name, "required: the fencing_token the take answered");
  if (!v->is_int64() && !v->is_uint64()) return FieldError(name, "expected a positive integer");
  int64_t token = v->is_int64() ? v->get_int64() : static_cast<int64_t>(v->get_uint64());
  if (token < 1 || token > INT32_MAX) return FieldError(name, "expected a positive integer");
  *out = static_cast<int>(token);
  return Status::Ok();
}

Status ReadProgress(const json::value& value, const std::string& name, Progress* out) {
  if (!value.is_object()) return FieldError(name, "expected an object {total, succeeded, failed}");
  const json::object& object = value.get_object();
  TASKMILL_RETURN_IF_ERROR(CheckKeys(object, name + ".", {"total", "succeeded", "failed"}));
  for (auto [key, field] :
       {std::pair{"total", &out->total}, std::pair{"succeeded", &out->succeeded},
        std::pair{"failed", &out->failed}}) {
    const json::value* v = Find(object, key);
    if (!v) continue;
    if (!v->is_int64() || v->get_int64() < 0) {
      return FieldError(name + "." + key, "expected a non-negative integer");
    }
    *field = v->get_int64();
  }
  return Status::Ok();
}

// This machine's name, as the host of the remote runners it serves.
const std::string& HostName() {
  static const std::string host = [] {
    char name[256] = {0};
    gethostname(name, sizeof name - 1);
    return std::string(name);
  }();
  return host;
}

// Stores a remote runner's beat when one is due (RunnerRegistry::BeatDue: at most one
// write every few seconds per runner), so that every API node of the cluster lists it.
void StoreBeat(Engine& engine, RunnerRegistry& registry, const std::string& runner) {
  auto beat = registry.BeatDue(runner, HostName(), engine.clock().Now());
  if (!beat) return;
  if (Status s = engine.storage().RunnerBeat(*beat); !s.ok()) {
    spdlog::warn("remote runner {}: beat not stored: {}", runner, s.ToString());
  }
}

// The body of a route that takes a JSON object.
Result<json::object> ObjectBody(const Request& request, std::string_view shape) {
  auto body = ParseJsonBody(request, /*optional=*/false);
  if (!body.ok()) return body.status();
  if (!(*body)->is_object()) {
    return Status::InvalidArgument("the body must be an object " + std::string(shape));
  }
  return std::move((*body)->get_object());
}

Response TakeResponse(const std::vector<Run>& runs) {
  json::array out;
  out.reserve(runs.size());
  for (const Run& run : runs) {
    json::object item = ToJson(run);
    item["fencing_token"] = run.attempt;
    item["lease_until"] = TimeToJson(run.lease_until);
    out.push_back(std::move(item));
  }
  json::object body;
  body["runs"] = std::move(out);
  return JsonResponse(http::status::ok, json::serialize(body));
}

// The protocol, over this server's engine: a retry wakes this node's runner.
RemoteRunnerService Service(Engine& engine) {
  return RemoteRunnerService(
      engine.storage(), engine.clock(),
      RunNotifier(engine.events(), [&engine](TimePoint due) { engine.RunStored(due); }),
      engine.options().runner_options.output_limit, engine.options().flows.get());
}

// Says which of RemoteRunnerService::Holds()'s conditions failed: another runner
// holds this very attempt, or the attempt is over (lease expired, stopped, retried).
Status StaleToken(const Run& run, const std::string& runner, int token) {
  json::object details{{"id", run.id},
                       {"queue", run.queue},
                       {"fencing_token", token},
                       {"current_fencing_token", run.attempt},
                       {"status", ToString(run.status)}};
  std::string message;
  if (run.status == RunStatus::kRunning && run.attempt == token && run.runner != runner) {
    details["runner"] = run.runner;
    message = "attempt " + std::to_string(token) + " of run '" + run.id + "' is held by runner '" +
              run.runner + "', not by '" + runner +
              "'; only the runner that took it may report on it; nothing was changed";
  } else {
    message = "attempt " + std::to_string(token) + " of run '" + run.id +
              "' is no longer current (the run is " + std::string(ToString(run.status)) +
              ", attempt " + std::to_string(run.attempt) +
              "): its lease expired or it was stopped; nothing was changed";
  }
  return ApiStatus(StatusCode::kFailedPrecondition, "stale_fencing_token", std::move(message),
                   std::move(details));
}

// ---- POST /api/v1/runners/{runner}/take ----------------------------------------

Reply Take(RouteContext& ctx, Exchange& ex) {
  if (Status s = ex.CheckQuery({"queue", "max", "wait"}); !s.ok()) return s;
  // A runner sees every account's runs and their arguments: infrastructure, not a user.
  TASKMILL_RETURN_IF_ERROR(RequireAdmin(ex, "serve runs as a remote runner"));
  const std::string& runner = ex.path_param(0);
  if (Status s = CheckRunnerId(runner); !s.ok()) return s;
  // No body is expected; one that is given must be empty, so a misplaced parameter
  // is not silently ignored.
  auto body = ParseJsonBody(ex.request(), /*optional=*/true);
  if (!body.ok()) return body.status();
  if (*body && !((*body)->is_object() && (*body)->get_object().empty())) {
    return Status::InvalidArgument(
        "take has no body; give queue, max and wait as query parameters");
  }
  std::string queue = ex.query("queue").value_or("");
  if (queue.empty()) return ParameterError("queue", "required: the queue to take runs from");
  if (!IsValidQueueName(queue)) {
    return ParameterError("queue", "'" + queue + "' must be 1-100 characters of [A-Za-z0-9_.:-]");
  }
  int max = 1;
  if (auto text = ex.query("max"); text && !text->empty()) {
    auto number = NumberParam("max", *text);
    if (!number.ok()) return number.status();
    if (*number < 1 || *number > kMaxTake || std::floor(*number) != *number) {
      return ParameterError("max", "expected an integer from 1 to " + std::to_string(kMaxTake) +
                                       ", got '" + *text + "'");
    }
    max = static_cast<int>(*number);
  }
  Duration wait{0};
  if (auto text = ex.query("wait"); text && !text->empty()) {
    auto seconds = NumberParam("wait", *text);
    if (!seconds.ok()) return seconds.status();
    double longest = std::chrono::duration<double>(ctx.max_wait).count();
    if (*seconds < 0 || *seconds > longest) {
      return ParameterError("wait", "expected seconds from 0 to " +
                                        std::to_string(static_cast<int>(longest)) + ", got '" +
                                        *text + "'");
    }
    wait = Duration{static_cast<int64_t>(*seconds * 1e6)};
  }

  Engine* engine = &ctx.engine;
  RunnerRegistry* registry = &ctx.runners;
  registry->Take(runner, queue, max, engine->clock().Now());
  StoreBeat(*engine, *registry, runner);
  TakeWaiter::Try attempt = [service = Service(*engine), engine, registry, runner, queue,
                             max]() mutable -> Result<std::vector<Run>> {
    auto taken = service.Take(runner, queue, max);
    if (!taken.ok() || taken->empty()) return taken;
    std::vector<RunnerRegistry::RunKey> keys;
    keys.reserve(taken->size());
    for (const Run& run : *taken) keys.push_back({run.queue, run.id});
    registry->Claimed(runner, keys, engine->clock().Now());
    StoreBeat(*engine, *registry, runner);
    return taken;
  };
  if (wait.count() == 0) {
    auto taken = attempt();
    if (!taken.ok()) return taken.status();
    return TakeResponse(*taken);
  }
  // Nothing ready: wait for a run.created event of the queue (or the periodic re-try)
  // without holding the io thread.
  Exchange::Completion done = ex.Defer();
  ctx.takes.Wait(ex.strand(), queue, wait, std::move(attempt),
                 [done](Result<std::vector<Run>> taken) {
                   done(taken.ok() ? TakeResponse(*taken) : ErrorResponse(taken.status()));
                 });
  return Reply::Deferred();
}

// ---- POST /api/v1/runners/{runner}/heartbeat -----------------------------------

Reply Heartbeat(RouteContext& ctx, Exchange& ex) {
  if (Status s = ex.CheckQuery({}); !s.ok()) return s;
  TASKMILL_RETURN_IF_ERROR(RequireAdmin(ex, "serve runs as a remote runner"));
  const std::string& runner = ex.path_param(0);
  if (Status s = CheckRunnerId(runner); !s.ok()) return s;
  auto body = ObjectBody(ex.request(), "{\"runs\": [{\"id\", \"fencing_token\", ...}]}");
  if (!body.ok()) return body.status();
  TASKMILL_RETURN_IF_ERROR(CheckKeys(*body, "", {"runs"}));
  const json::value* runs = Find(*body, "runs");
  if (!runs || !runs->is_array()) {
    return FieldError("runs", "expected an array of {id, fencing_token, progress?}");
  }
  if (runs->get_array().size() > kMaxHeartbeats) {
    return FieldError("runs", "at most " + std::to_string(kMaxHeartbeats) + " runs per heartbeat");
  }
  std::vector<RemoteRunnerService::Beat> beats;
  beats.reserve(runs->get_array().size());
  for (size_t i = 0; i < runs->get_array().size(); ++i) {
    const json::value& item = runs->get_array()[i];
    std::string prefix = "runs[" + std::to_string(i) + "].";
    if (!item.is_object()) {
      return FieldError("runs[" + std::to_string(i) + "]", "expected an object");
    }
    const json::object& object = item.get_object();
    TASKMILL_RETURN_IF_ERROR(
        CheckKeys(object, prefix, {"id", "queue", "fencing_token", "progress"}));
    RemoteRunnerService::Beat beat;
    TASKMILL_RETURN_IF_ERROR(ReadString(object, "id", prefix, /*required=*/true, &beat.id));
    TASKMILL_RETURN_IF_ERROR(ReadString(object, "queue", prefix, /*required=*/false, &beat.queue));
    TASKMILL_RETURN_IF_ERROR(ReadToken(object, prefix, &beat.token));
    if (const json::value* progress = Find(object, "progress")) {
      beat.progress.emplace();
      TASKMILL_RETURN_IF_ERROR(ReadProgress(*progress, prefix + "progress", &*beat.progress));
    }
    beats.push_back(std::move(beat));
  }

  auto answers = Service(ctx.engine).Heartbeat(runner, beats);
  if (!answers.ok()) return answers.status();
  std::vector<RunnerRegistry::RunKey> held;
  std::vector<RunnerRegistry::RunKey> gone;
  for (const auto& answer : *answers) {
    if (!answer.run) continue;
    (answer.accepted ? held : gone).push_back({answer.run->queue, answer.run->id});
  }
  ctx.runners.Heartbeat(runner, held, gone, ctx.engine.clock().Now());
  StoreBeat(ctx.engine, ctx.runners, runner);

  json::array out;
  out.reserve(beats.size());
  for (size_t i = 0; i < beats.size(); ++i) {
    const RemoteRunnerService::BeatAnswer& beat = (*answers)[i];
    out.push_back(
        json::object{{"id", beats[i].id},
                     {"queue", beat.run ? json::value(beat.run->queue) : json::value(nullptr)},
                     {"accepted", beat.accepted},
                     {"cancel_requested", beat.cancel_requested},
                     {"lease_until", beat.accepted ? json::value(FormatTime(beat.lease_until))
                                                   : json::value(nullptr)}});
  }
  json::object response;
  response["runs"] = std::move(out);
  return JsonResponse(http::status::ok, json::serialize(response));
}

// ---- POST /api/v1/runners/{runner}/finish --------------------------------------

Reply Finish(RouteContext& ctx, Exchange& ex) {
  if (Status s = ex.CheckQuery({}); !s.ok()) return s;
  TASKMILL_RETURN_IF_ERROR(RequireAdmin(ex, "serve runs as a remote runner"));
  const std::string& runner = ex.path_param(0);
  if (Status s = CheckRunnerId(runner); !s.ok()) return s;
  auto body = ObjectBody(ex.request(), "{\"id\", \"fencing_token\", \"status\", ...}");
  if (!body.ok()) return body.status();
  const json::object& object = *body;
  TASKMILL_RETURN_IF_ERROR(CheckKeys(object, "",
                                     {"id", "queue", "fencing_token", "status", "result", "error",
                                      "error_kind", "output", "progress"}));
  std::string id, queue, status_text, error, error_kind, output;
  int token = 0;
  TASKMILL_RETURN_IF_ERROR(ReadString(object, "id", "", /*required=*/true, &id));
  TASKMILL_RETURN_IF_ERROR(ReadString(object, "queue", "", /*required=*/false, &queue));
  TASKMILL_RETURN_IF_ERROR(ReadToken(object, "", &token));
  TASKMILL_RETURN_IF_ERROR(ReadString(object, "status", "", /*required=*/true, &status_text));
  TASKMILL_RETURN_IF_ERROR(ReadString(object, "error", "", /*required=*/false, &error));
  TASKMILL_RETURN_IF_ERROR(ReadString(object, "error_kind", "", /*required=*/false, &error_kind));
  TASKMILL_RETURN_IF_ERROR(ReadString(object, "output", "", /*required=*/false, &output));
  HandlerOutcome outcome;
  if (status_text == "completed") {
    outcome.status = RunStatus::kCompleted;
    if (!error.empty() || !error_kind.empty()) {
      return FieldError(error.empty() ? "error_kind" : "error", "only with status failed");
    }
  } else if (status_text == "failed") {
    outcome.status = RunStatus::kFailed;
  } else {
    return FieldError("status", "expected completed or failed, got '" + status_text + "'");
  }
  if (error_kind.size() > kMaxErrorKind ||
      !std::all_of(error_kind.begin(), error_kind.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
      })) {
    return FieldError("error_kind", "expected up to 50 characters of [a-z0-9_], e.g. user");
  }
  if (const json::value* result = Find(object, "result")) outcome.result = *result;
  if (const json::value* progress = Find(object, "progress")) {
    outcome.progress.emplace();
    TASKMILL_RETURN_IF_ERROR(ReadProgress(*progress, "progress", &*outcome.progress));
  }
  outcome.error = std::move(error);
  outcome.error_kind = std::move(error_kind);
  outcome.output = std::move(output);

  auto answer = Service(ctx.engine)
                    .Finish(runner, {.id = std::move(id),
                                     .queue = std::move(queue),
                                     .token = token,
                                     .outcome = std::move(outcome)});
  if (!answer.ok()) return answer.status();
  const Run& run = answer->run;
  if (answer->released) {
    ctx.runners.Finished(runner, {run.queue, run.id}, ctx.engine.clock().Now());
    StoreBeat(ctx.engine, ctx.runners, runner);
  }
  if (!answer->finished) return StaleToken(run, runner, token);
  return RunResponse(http::status::ok, run);
}

// ---- GET /api/v1/runners -------------------------------------------------------

Reply ListRunners(RouteContext& ctx, Exchange& ex) {
  TASKMILL_RETURN_IF_ERROR(RequireAdmin(ex, "list remote runners"));
  if (Status s = ex.CheckQuery({}); !s.ok()) return s;
  Engine& engine = ctx.engine;
  const TimePoint now = engine.clock().Now();
  // Every runner of the cluster, as stored by its last beat; what this node knows
  // itself (its own runner, the remote runners that talk to it) is fresher and
  // replaces the stored beat.
  auto stored = engine.storage().RunnerList(now, kForgetRunnersAfter);
  if (!stored.ok()) return stored.status();
  std::map<std::pair<int, std::string>, RunnerInfo> runners;  // (local first, id)
  auto add = [&](RunnerInfo info) {
    int order = info.kind == "local" ? 0 : 1;
    runners[{order, info.id}] = std::move(info);
  };
  for (RunnerInfo& info : *stored) add(std::move(info));
  if (engine.runner_capacity() > 0) {
    RunnerInfo self;
    self.id = engine.runner_id();
    self.host = HostName();
    self.pid = getpid();
    // No queues listed means every queue.
    self.queues = engine.options().runner_options.queues;
    self.capacity = engine.runner_capacity();
    self.running = engine.runner_busy();
    self.last_seen = now;
    add(std::move(self));
  }
  for (const RunnerRegistry::RunnerInfo& seen : ctx.runners.List(now)) {
    RunnerInfo remote;
    remote.id = seen.id;
    remote.kind = "remote";
    remote.host = HostName();
    remote.queues = seen.queues;
    remote.capacity = seen.capacity;
    remote.running = seen.used;
    remote.last_seen = seen.last_seen;
    add(std::move(remote));
  }
  json::array out;
  for (const auto& [key, info] : runners) {
    json::array queues;
    for (const auto& queue : info.queues) queues.emplace_back(queue);
    out.push_back(json::object{{"id", info.id},
                               {"kind", info.kind},
                               {"host", info.host},
                               {"pid", info.pid},
                               {"queues", std::move(queues)},
                               {"capacity", info.capacity},
                               {"used", info.running},
                               {"last_seen", FormatTime(info.last_seen)}});
  }
  json::object body;
  body["runners"] = std::move(out);
  return JsonResponse(http::status::ok, json::serialize(body));
}

}  // namespace

void AddRunnerRoutes(Router& router, RouteContext context) {
  auto bind = [context](Reply (*handler)(RouteContext&, Exchange&)) {
    return [context, handler](Exchange& ex) mutable { return handler(context, ex); };
  };
  router.Add(http::verb::get, "/api/v1/runners", bind(ListRunners));
  router.Add(http::verb::post, "/api/v1/runners/{runner}/take", bind(Take));
  router.Add(http::verb::post, "/api/v1/runners/{runner}/heartbeat", bind(Heartbeat));
  router.Add(http::verb::post, "/api/v1/runners/{runner}/finish", bind(Finish));
}

}  // namespace taskmill::api
