#include "metrics/taskmill_metrics.h"

namespace taskmill::metrics {

TaskmillMetrics RegisterTaskmillMetrics(Registry& registry) {
  TaskmillMetrics m;
  CounterFamily& finished = registry.AddCounter(
      "taskmill_runs_finished_total",
      "Runs that reached a final status in this process (run.finished events), by status.",
      {"status"});
  // Every final status is there from the start, so a rate() sees the first finish.
  for (RunStatus status : kAllRunStatuses) {
    if (!IsFinal(status)) continue;
    m.runs_finished[static_cast<size_t>(status)] = &finished.WithLabels({ToString(status)});
  }
  // Attempts last from milliseconds (functions) to hours (bulk runs, commands).
  m.attempt_duration =
      &registry
           .AddHistogram("taskmill_attempt_duration_seconds",
                         "Duration of attempts executed by this runner, from claim to end.",
                         {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600})
           .Get();
  m.enqueue_to_start =
      &registry
           .AddHistogram("taskmill_enqueue_to_start_seconds",
                         "Time from when a run fell due (run_at) to its claim by this runner.",
                         {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
                          30, 60, 300})
           .Get();
  m.scheduler_lag =
      &registry
           .AddGauge("taskmill_scheduler_lag_seconds",
                     "How late the last periodical launch of this scheduler was stored, after "
                     "its scheduled instant (0: stored ahead of or at the instant).")
           .Get();
  m.commit_batch_size =
      &registry
           .AddHistogram("taskmill_storage_commit_batch_size",
                         "Write operations per storage commit (writes that share one commit).",
                         ExponentialBuckets(1, 2, 12))
           .Get();
  m.commit_duration =
      &registry
           .AddHistogram("taskmill_storage_commit_duration_seconds",
                         "Duration of a storage commit, from its first write to its end.",
                         {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                          0.25, 0.5, 1})
           .Get();
  m.http_requests = &registry.AddCounter(
      "taskmill_http_requests_total",
      "HTTP requests answered, by route pattern (\"other\" when no route matched) and "
      "status code.",
      {"route", "code"});
  return m;
}

const TaskmillMetrics& Taskmill() {
  static const TaskmillMetrics metrics = RegisterTaskmillMetrics(Default());
  return metrics;
}

}  // namespace taskmill::metrics
