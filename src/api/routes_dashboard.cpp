// Routes the web UI's dashboard and sign-in read: who the token is, finished runs
// over time, runs by state, and who leads scheduling.
#include <boost/json.hpp>
#include <charconv>

#include "api/api_error.h"
#include "api/routes.h"
#include "metrics/taskmill_metrics.h"

namespace taskmill::api {
namespace json = boost::json;
namespace http = boost::beast::http;

namespace {

// An integer query parameter in [min, max], `fallback` when absent or empty.
Result<int> IntParam(const Exchange& ex, std::string_view name, int fallback, int min, int max) {
  auto text = ex.query(name);
  if (!text || text->empty()) return fallback;
  int value = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (ec != std::errc() || end != text->data() + text->size() || value < min || value > max) {
    return ParameterError(name, "expected an integer from " + std::to_string(min) + " to " +
                                    std::to_string(max) + ", got '" + *text + "'");
  }
  return value;
}

Reply WhoAmI(RouteContext& ctx, Exchange& ex) {
  if (Status s = ex.CheckQuery({}); !s.ok()) return s;
  const Principal& who = ex.principal();
  json::object out;
  out["token"] = who.token_name.empty() ? json::value(nullptr) : json::value(who.token_name);
  out["account"] = who.account_id;
  out["admin"] = who.admin;
  // Whether this server asks for tokens at all: the UI offers "Sign out" only then.
  out["auth_required"] = ctx.auth.enabled();
  Response response = JsonResponse(http::status::ok, PlainJson(out));
  response.set(http::field::cache_control, "no-store");
  return response;
}

Reply Throughput(RouteContext& ctx, Exchange& ex) {
  if (Status s = ex.CheckQuery({"window", "step"}); !s.ok()) return s;
  constexpr int kMax = ThroughputRecorder::kSeconds;
  auto window = IntParam(ex, "window", kMax, 1, kMax);
  if (!window.ok()) return window.status();
  auto step = IntParam(ex, "step", 60, 1, kMax);
  if (!step.ok()) return step.status();
  if (*step > *window || *window % *step != 0) {
    return ParameterError("step", "must divide window (" + std::to_string(*window) +
                                      " s) into whole steps, got " + std::to_string(*step));
  }
  // An account token counts its own account's runs only, as it lists them.
  const Principal& who = ex.principal();
  std::optional<std::string> account;
  if (!who.admin) account = who.account_id;
  const TimePoint now = ctx.engine.clock().Now();
  json::array points;
  for (const ThroughputRecorder::Point& point :
       ctx.throughput.Query(now, *window, *step, account)) {
    json::object item;
    item["at"] = FormatTime(TimePoint(std::chrono::seconds(point.at)));
    uint64_t finished = 0;
    for (size_t i = 0; i < point.counts.size(); ++i) {
      item[ToString(ThroughputRecorder::StatusAt(i))] = point.counts[i];
      finished += point.counts[i];
    }
    item["finished"] = finished;
    points.push_back(std::move(item));
  }
  json::object out;
  out["window"] = *window;
  out["step"] = *step;
  out["since"] = FormatTime(ctx.throughput.since());
  out["points"] = std::move(points);
  return JsonResponse(http::status::ok, PlainJson(out));
}

// Runs by state, for the runs page's tabs: the stored statuses from the tallies (a
// read of a few rows), and pending runs split into due, scheduled and retrying. The
// split reads pending runs one by one, so it reads at most kSplitLimit of them; past
// that its counts are lower bounds ("exact": false).
constexpr int64_t kSplitLimit = 10000;

Reply States(RouteContext& ctx, Exchange& ex) {
  if (Status s = ex.CheckQuery({}); !s.ok()) return s;
  const Principal& who = ex.principal();
  std::optional<std::string> account;
  if (!who.admin) account = who.account_id;
  auto stats = ctx.engine.storage().RunStats(account);
  if (!stats.ok()) return stats.status();
  auto split = ctx.engine.storage().RunPendingSplit(account, ctx.engine.clock().Now(), kSplitLimit);
  if (!split.ok()) return split.status();
  json::object states;
  int64_t pending = 0;
  for (RunStatus status : kAllRunStatuses) {
    auto it = stats->by_status.find(status);
    int64_t n = it == stats->by_status.end() ? 0 : it->second;
    if (status == RunStatus::kPending) pending = n;
    states[ToString(status)] = n;
  }
  states["pending_due"] = split->due;
  states["scheduled"] = split->scheduled;
  states["retrying"] = split->retrying;
  json::object out;
  out["states"] = std::move(states);
  out["split"] = {{"exact", split->counted >= pending}, {"limit", kSplitLimit}};
  out["total"] = stats->total;
  return JsonResponse(http::status::ok, PlainJson(out));
}

Reply Scheduler(RouteContext& ctx, Exchange& ex) {
  if (Status s = ex.CheckQuery({}); !s.ok()) return s;
  // Infrastructure: which node leads and how many tasks it launches for everyone.
  TASKMILL_RETURN_IF_ERROR(RequireAdmin(ex, "read the scheduler's state"));
  auto state = ctx.engine.scheduler_state();
  if (!state.ok()) return state.status();
  auto tasks = ctx.engine.storage().TaskList();
  if (!tasks.ok()) return tasks.status();
  // What the leader launches on its own: enabled periodical and continuous tasks, and
  // the triggers (trigger.each_account has no schedule, yet the leader launches it).
  int64_t scheduled = 0;
  for (const TaskDef& task : *tasks) {
    if (task.enabled && (task.kind != TaskKind::kSingleShot || task.name.starts_with("trigger."))) {
      ++scheduled;
    }
  }
  json::object out;
  out["leader"] = state->leader.empty() ? json::value(nullptr) : json::value(state->leader);
  out["lease_until"] = TimeToJson(state->lease_until);
  out["is_leader"] = state->is_leader;
  // The lag is measured by the scheduler that launches, so only the leader knows it.
  if (state->is_leader) {
    out["lag_seconds"] = metrics::Taskmill().scheduler_lag->Value();
  } else {
    out["lag_seconds"] = nullptr;
  }
  out["tasks"] = scheduled;
  return JsonResponse(http::status::ok, PlainJson(out));
}

// The Functions page's figures for one function over the last hour (function_stats.h):
// finished runs and failures, p50 / p95 of the last attempt's duration and of the start
// latency (due -> start), and finished runs per minute, completed apart from failed.
Reply FunctionStats(RouteContext& ctx, Exchange& ex) {
  if (Status s = ex.CheckQuery({}); !s.ok()) return s;
  const std::string& name = ex.path_param(0);
  if (ctx.engine.functions().Find(name) == nullptr) {
    return Status::NotFound("no function named '" + name + "'; GET /api/v1/functions lists them");
  }
  const FunctionStatsRecorder::Figures figures =
      ctx.function_stats.Query(ctx.engine.clock().Now(), name, AccountScope(ex));
  auto seconds = [](const std::optional<double>& value) {
    return value ? json::value(*value) : json::value(nullptr);
  };
  json::array minutes;
  for (const FunctionStatsRecorder::Minute& m : figures.minutes) {
    minutes.push_back({{"at", FormatTime(TimePoint(std::chrono::seconds(m.at)))},
                       {"completed", m.completed},
                       {"failed", m.failed}});
  }
  json::object out;
  out["function"] = name;
  out["window"] = FunctionStatsRecorder::kMinutes * 60;
  out["step"] = 60;
  out["since"] = FormatTime(ctx.throughput.since());
  out["runs"] = figures.runs;
  out["failed"] = figures.failed;
  out["timed"] = figures.timed;
  out["duration_p50"] = seconds(figures.duration_p50);
  out["duration_p95"] = seconds(figures.duration_p95);
  out["latency_p50"] = seconds(figures.latency_p50);
  out["latency_p95"] = seconds(figures.latency_p95);
  out["points"] = std::move(minutes);
  return JsonResponse(http::status::ok, PlainJson(out));
}

// The dashboard's sparklines: per queue with a run finished in the last hour (at most
// kQueueSeries of them, by name), its runs and failures, p50 / p95 of the start latency
// and, per minute, the finished runs and their mean start latency (null: none started).
constexpr size_t kQueueSeries = 100;

Reply QueueStats(RouteContext& ctx, Exchange& ex) {
  if (Status s = ex.CheckQuery({}); !s.ok()) return s;
  const TimePoint now = ctx.engine.clock().Now();
  const std::optional<std::string> account = AccountScope(ex);
  std::vector<std::string> names = ctx.queue_stats.Names(now, account);
  const bool truncated = names.size() > kQueueSeries;
  if (truncated) names.resize(kQueueSeries);
  auto seconds = [](const std::optional<double>& value) {
    return value ? json::value(*value) : json::value(nullptr);
  };
  json::array queues;
  for (const std::string& name : names) {
    const FunctionStatsRecorder::Figures figures = ctx.queue_stats.Query(now, name, account);
    json::array minutes;
    for (const FunctionStatsRecorder::Minute& m : figures.minutes) {
      minutes.push_back(
          {{"at", FormatTime(TimePoint(std::chrono::seconds(m.at)))},
           {"completed", m.completed},
           {"failed", m.failed},
           {"latency", m.started > 0 ? json::value(m.latency_sum / static_cast<double>(m.started))
                                     : json::value(nullptr)}});
    }
    queues.push_back({{"name", name},
                      {"runs", figures.runs},
                      {"failed", figures.failed},
                      {"latency_p50", seconds(figures.latency_p50)},
                      {"latency_p95", seconds(figures.latency_p95)},
                      {"points", std::move(minutes)}});
  }
  json::object out;
  out["window"] = FunctionStatsRecorder::kMinutes * 60;
  out["step"] = 60;
  out["since"] = FormatTime(ctx.throughput.since());
  out["truncated"] = truncated;
  out["queues"] = std::move(queues);
  return JsonResponse(http::status::ok, PlainJson(out));
}

}  // namespace

void AddDashboardRoutes(Router& router, RouteContext context) {
  auto bind = [context](Reply (*handler)(RouteContext&, Exchange&)) {
    return [context, handler](Exchange& ex) mutable { return handler(context, ex); };
  };
  router.Add(http::verb::get, "/api/v1/whoami", bind(WhoAmI));
  router.Add(http::verb::get, "/api/v1/stats/throughput", bind(Throughput));
  router.Add(http::verb::get, "/api/v1/stats/states", bind(States));
  router.Add(http::verb::get, "/api/v1/stats/queues", bind(QueueStats));
  router.Add(http::verb::get, "/api/v1/scheduler", bind(Scheduler));
  router.Add(http::verb::get, "/api/v1/functions/{name}/stats", bind(FunctionStats));
}

}  // namespace taskmill::api
