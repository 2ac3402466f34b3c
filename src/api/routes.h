// api/routes.h — the route handlers of /api/v1 and /healthz (docs/api.md is the
// reference for each). Handlers translate between HTTP + JSON and the Engine; they
// hold no state of their own (the long-poll waiters and the runner registry are the
// server's, and thread-safe), so every route is safe on any io thread.
#pragma once

#include <taskmill/engine.h>

#include "api/auth.h"
#include "api/event_stream.h"
#include "api/function_stats.h"
#include "api/router.h"
#include "api/run_waiter.h"
#include "api/runner_registry.h"
#include "api/take_waiter.h"
#include "api/throughput.h"

namespace taskmill::api {

struct RouteContext {
  Engine& engine;
  RunWaiter& waiter;
  Duration max_wait;  // longest ?wait= accepted on GET /api/v1/runs/{id} and on takes
  Authenticator& auth;
  EventHub& events;
  TakeWaiter& takes;                      // long-polls of remote runners' takes
  RunnerRegistry& runners;                // remote runners seen by this server
  ThroughputRecorder& throughput;         // finished runs per second, for the dashboard
  FunctionStatsRecorder& function_stats;  // per-function figures, for the Functions page
  FunctionStatsRecorder& queue_stats;     // the same per queue, for the dashboard's sparklines
  bool allow_command_tasks = false;       // ApiOptions::allow_command_tasks
};

// /api/v1/runs, /api/v1/runs:batch, /api/v1/runs/{id}[/cancel|/retry]
void AddRunRoutes(Router& router, RouteContext context);
// /api/v1/tasks[/{name}[/start]], /api/v1/functions, /api/v1/stats, /healthz,
// /api/v1/openapi.json
void AddCatalogRoutes(Router& router, RouteContext context);

// /api/v1/tasks/{name}/enable|disable, /api/v1/queues[/{name}/pause|resume]
void AddSchedulingRoutes(Router& router, RouteContext context);

// /api/v1/runners, /api/v1/runners/{runner}/take|heartbeat|finish (remote runners)
void AddRunnerRoutes(Router& router, RouteContext context);

// /api/v1/events (Server-Sent Events), /api/v1/tokens[/{name}]
void AddAccessRoutes(Router& router, RouteContext context);

// /api/v1/flows, /api/v1/flows/{name}/runs, /api/v1/flows/runs/{run_id} (routes_flows.cpp)
void AddFlowRoutes(Router& router, RouteContext context);
// /api/v1/flows/runs/{run_id}/steps/{step}/retry (routes_flow_retry.cpp)
void AddFlowRetryRoutes(Router& router, RouteContext context);

// /api/v1/whoami, /api/v1/stats/throughput, /api/v1/stats/queues, /api/v1/scheduler,
// /api/v1/functions/{name}/stats (routes_dashboard.cpp)
void AddDashboardRoutes(Router& router, RouteContext context);

// ---- account rules, shared by the route files -------------------------------------

// kNotFound, worded as for a missing run, when the principal may not see `run`: to an
// account token, other accounts' runs do not exist.
Status CheckVisible(const Exchange& ex, const Run& run);
// The run `id` (in `queue`, any when empty) if the principal may see it.
Result<Run> GetVisibleRun(RouteContext& ctx, const Exchange& ex, const std::string& id,
                          const std::string& queue);
// Whose runs a view counts and shows: nullopt for an admin (every account), the
// token's account for an account token.
std::optional<std::string> AccountScope(const Exchange& ex);
// 403 forbidden unless the principal is an admin; `what` completes "only admin tokens may …".
Status RequireAdmin(const Exchange& ex, std::string_view what);
// Sets the owner and creator of a new run: an account token creates runs for its own
// account (naming another with ?account= is a 403); an admin for the account named by
// ?account=, else its own.
Status ApplyAccount(const Exchange& ex, std::string* account_id, std::string* auth_account_id);
// 403 unless runs of `function` may be created through the API by this principal:
// command functions need an admin and api.allow_command_tasks.
Status CheckFunctionAllowed(RouteContext& ctx, const Exchange& ex, const std::string& function);

// GET /healthz (routes_catalog.cpp), also served by a process without the api role.
void AddHealthRoute(Router& router);

// GET /metrics (routes_metrics.cpp; docs/metrics.md)
void AddMetricsRoutes(Router& router, RouteContext context);

// Shared by the route files: the run as the API returns it.
Response RunResponse(boost::beast::http::status status, const Run& run);

}  // namespace taskmill::api
