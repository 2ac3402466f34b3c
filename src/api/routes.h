// api/routes.h — the route handlers of /api/v1 and /healthz (docs/api.md is the
// reference for each). Handlers translate between HTTP + JSON and the Engine; they
// hold no state of their own, so every route is safe on any io thread.
#pragma once

#include <taskmill/engine.h>

#include "api/router.h"
#include "api/run_waiter.h"

namespace taskmill::api {

struct RouteContext {
  Engine& engine;
  RunWaiter& waiter;
  Duration max_wait;  // longest ?wait= accepted on GET /api/v1/runs/{id}
};

// /api/v1/runs, /api/v1/runs:batch, /api/v1/runs/{id}[/cancel|/retry]
void AddRunRoutes(Router& router, RouteContext context);
// /api/v1/tasks[/{name}[/start]], /api/v1/functions, /api/v1/stats, /healthz
void AddCatalogRoutes(Router& router, RouteContext context);

// /api/v1/tasks/{name}/enable|disable, /api/v1/queues[/{name}/pause|resume]
void AddSchedulingRoutes(Router& router, RouteContext context);

// GET /metrics (routes_metrics.cpp; docs/metrics.md)
void AddMetricsRoutes(Router& router, RouteContext context);

// Shared by the route files: the run as the API returns it.
Response RunResponse(boost::beast::http::status status, const Run& run);

}  // namespace taskmill::api
