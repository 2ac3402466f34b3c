// metrics/taskmill_metrics.h — the metrics the engine's components observe, registered
// once in metrics::Default() (docs/metrics.md describes each one).
//
// Components keep a reference to the struct (or to the children they use) and call
// the instruments directly: every child a hot path touches is looked up here, once.
// The gauges computed at scrape time (runs by status, queues, runner slots) are not
// here: the API server's /metrics route collects them from its engine.
#pragma once

#include <taskmill/model.h>

#include <array>
#include <string_view>

#include "metrics/metrics.h"

namespace taskmill::metrics {

struct TaskmillMetrics {
  // taskmill_runs_finished_total{status}, one child per final status (by RunStatus
  // value; null for pending and running, which are not final).
  std::array<Counter*, std::size(kAllRunStatuses)> runs_finished{};
  Histogram* attempt_duration = nullptr;   // taskmill_attempt_duration_seconds
  Histogram* enqueue_to_start = nullptr;   // taskmill_enqueue_to_start_seconds
  Gauge* scheduler_lag = nullptr;          // taskmill_scheduler_lag_seconds
  Histogram* commit_batch_size = nullptr;  // taskmill_storage_commit_batch_size
  Histogram* commit_duration = nullptr;    // taskmill_storage_commit_duration_seconds
  CounterFamily* http_requests = nullptr;  // taskmill_http_requests_total{route,code}

  // The counter of a run that finished with `status`; null for a non-final status.
  Counter* finished(RunStatus status) const { return runs_finished[static_cast<size_t>(status)]; }
};

// The metrics, registered in `registry` (idempotent: the same families come back).
TaskmillMetrics RegisterTaskmillMetrics(Registry& registry);
// Those of metrics::Default(), registered on first use.
const TaskmillMetrics& Taskmill();

// The route label of requests that matched no route (bounded cardinality: raw paths
// never become label values).
inline constexpr std::string_view kOtherRoute = "other";

}  // namespace taskmill::metrics
