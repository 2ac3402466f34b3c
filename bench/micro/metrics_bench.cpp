// bench/micro/metrics_bench.cpp — cost of the metrics hot path (src/metrics): what the
// runner and the storage writer pay per run or per commit, and a scrape's rendering.
// Threaded variants show the cost when every thread hits the same atomics. Run with:
//   taskmill_micro_bench --benchmark_filter=Metrics --benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true
// This file defines no main(): the bench target links benchmark::benchmark_main.
#include <benchmark/benchmark.h>

#include <string>

#include "metrics/metrics.h"
#include "metrics/taskmill_metrics.h"

namespace taskmill::metrics {
namespace {

void BM_MetricsCounterIncrement(benchmark::State& state) {
  static Registry registry;
  static Counter& counter = registry.AddCounter("bench_total", "Bench.").Get();
  for (auto _ : state) counter.Increment();
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MetricsCounterIncrement)->Threads(1)->Threads(2);

void BM_MetricsHistogramObserve(benchmark::State& state) {
  static Registry registry;
  static Histogram& histogram = registry
                                    .AddHistogram("bench_seconds", "Bench.",
                                                  {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                   0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300})
                                    .Get();
  double value = 0.0001;
  for (auto _ : state) {
    histogram.Observe(value);
    value = value > 100 ? 0.0001 : value * 1.7;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MetricsHistogramObserve)->Threads(1)->Threads(2);

// The API server's per-request lookup of the {route, code} child.
void BM_MetricsWithLabelsLookup(benchmark::State& state) {
  static Registry registry;
  static CounterFamily& family =
      registry.AddCounter("bench_requests_total", "Bench.", {"route", "code"});
  for (auto _ : state) family.WithLabels({"/api/v1/runs/{id}", "200"}).Increment();
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MetricsWithLabelsLookup)->Threads(1)->Threads(2);

// A scrape of the engine's registered metrics (without storage reads).
void BM_MetricsRender(benchmark::State& state) {
  Registry registry;
  TaskmillMetrics m = RegisterTaskmillMetrics(registry);
  for (const char* route : {"/api/v1/runs", "/api/v1/runs/{id}", "/metrics", "other"}) {
    m.http_requests->WithLabels({route, "200"}).Increment();
  }
  size_t bytes = 0;
  for (auto _ : state) {
    std::string text = registry.Render();
    bytes = text.size();
    benchmark::DoNotOptimize(text);
  }
  state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_MetricsRender);

}  // namespace
}  // namespace taskmill::metrics
