// Retrying a failed step of a failed flow over HTTP (docs/api.md, "Flows"): the flow
// reopens (flows/reopen.h). A flow run belongs to the account that started it: another
// account's is not found.
#include <boost/json.hpp>

#include "api/api_error.h"
#include "api/routes.h"
#include "flows/reopen.h"

namespace taskmill::api {
namespace http = boost::beast::http;

namespace {

Reply RetryFlowStep(RouteContext& ctx, Exchange& ex) {
  if (Status s = ex.CheckQuery({}); !s.ok()) return s;
  auto root = GetVisibleRun(ctx, ex, ex.path_param(0), "");
  if (!root.ok()) return root.status();
  auto reopened = flows::ReopenFlow(ctx.engine, *root, ex.path_param(1));
  if (!reopened.ok()) return reopened.status();
  return RunResponse(http::status::ok, *reopened);
}

}  // namespace

void AddFlowRetryRoutes(Router& router, RouteContext context) {
  router.Add(http::verb::post, "/api/v1/flows/runs/{run_id}/steps/{step}/retry",
             [context](Exchange& ex) mutable { return RetryFlowStep(context, ex); });
}

}  // namespace taskmill::api
