// GET /metrics: the Prometheus text exposition (0.0.4) of the process's metrics
// (metrics::Default(): what the runner, storage writer, scheduler and this server
// observe) followed by the gauges of this server's engine, computed at scrape time
// from storage and the runner. docs/metrics.md lists every metric.
#include <spdlog/spdlog.h>

#include <boost/beast/http/field.hpp>
#include <memory>

#include "api/routes.h"
#include "metrics/metrics.h"
#include "metrics/taskmill_metrics.h"

namespace taskmill::api {
namespace http = boost::beast::http;

namespace {

constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

// The engine's gauges. A storage error leaves its families out (and is logged): the
// scrape still carries everything else, and the missing series show the problem.
std::vector<metrics::GaugeSnapshot> EngineGauges(Engine& engine) {
  std::vector<metrics::GaugeSnapshot> out;

  // From storage's run tallies (kept in each write's transaction): no run is counted
  // at scrape time. Every status of every task that has runs, zeros included, and of
  // the runs of no task (task="") always, so that no series appears and vanishes as
  // runs move between statuses.
  auto stats = engine.storage().RunStats();
  if (stats.ok()) {
    metrics::GaugeSnapshot runs{.name = "taskmill_runs",
                                .help = "Stored runs, by status and task (\"\": runs of no task).",
                                .label_names = {"status", "task"}};
    stats->by_task.try_emplace("");
    for (const auto& [task, by_status] : stats->by_task) {
      for (RunStatus status : kAllRunStatuses) {
        auto it = by_status.find(status);
        runs.samples.push_back({{std::string(ToString(status)), task},
                                static_cast<double>(it == by_status.end() ? 0 : it->second)});
      }
    }
    out.push_back(std::move(runs));
  } else {
    spdlog::warn("metrics: reading run counts: {}", stats.status().ToString());
  }

  // The same read as GET /api/v1/queues: run tallies, and one index seek per queue
  // for its oldest pending run.
  TimePoint now = engine.clock().Now();
  auto queues = engine.storage().QueueList(now);
  if (queues.ok()) {
    metrics::GaugeSnapshot depth{.name = "taskmill_queue_depth",
                                 .help = "Pending runs (due or not) in the queue.",
                                 .label_names = {"queue"}};
    metrics::GaugeSnapshot age{
        .name = "taskmill_queue_oldest_pending_age_seconds",
        .help = "How long the queue's oldest pending run has been due (0: none is due).",
        .label_names = {"queue"}};
    for (const QueueStats& q : *queues) {
      depth.samples.push_back({{q.queue}, static_cast<double>(q.pending)});
      double seconds = 0;
      if (q.oldest_pending_run_at && *q.oldest_pending_run_at < now) {
        seconds = std::chrono::duration<double>(now - *q.oldest_pending_run_at).count();
      }
      age.samples.push_back({{q.queue}, seconds});
    }
    out.push_back(std::move(depth));
    out.push_back(std::move(age));
  } else {
    spdlog::warn("metrics: reading queues: {}", queues.status().ToString());
  }

  metrics::GaugeSnapshot used{.name = "taskmill_runner_slots_used",
                              .help = "Runner slots holding a claimed run on this node."};
  used.samples.push_back({{}, static_cast<double>(engine.runner_busy())});
  out.push_back(std::move(used));
  metrics::GaugeSnapshot capacity{.name = "taskmill_runner_slots_capacity",
                                  .help = "Runner slots on this node (0 without the runner role)."};
  capacity.samples.push_back({{}, static_cast<double>(engine.runner_capacity())});
  out.push_back(std::move(capacity));
  return out;
}

}  // namespace

void AddMetricsRoutes(Router& router, RouteContext context) {
  // The engine's gauges live in a registry of this route (the process-wide one outlives
  // any engine); the route owns it, so the collector never outlives the engine's server.
  auto engine_metrics = std::make_shared<metrics::Registry>();
  Engine& engine = context.engine;
  engine_metrics->AddCollector([&engine] { return EngineGauges(engine); });
  // Registered now, so that a scrape before the first run shows every family.
  metrics::Taskmill();
  // Query parameters are ignored rather than refused: a scrape configuration may add
  // its own (Prometheus' `params`).
  router.Add(http::verb::get, "/metrics", [engine_metrics](Exchange&) -> Reply {
    Response response{http::status::ok, 11};
    response.set(http::field::content_type, kContentType);
    response.set(http::field::cache_control, "no-store");
    std::string& body = response.body();
    metrics::Default().RenderTo(&body);
    engine_metrics->RenderTo(&body);
    return response;
  });
}

}  // namespace taskmill::api
