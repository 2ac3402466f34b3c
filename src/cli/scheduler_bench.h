// scheduler_bench.h — `taskmill bench-scheduler`: a soak of the scheduler's fire
// precision on the real clock (docs/BENCHMARKS.md, docs/scheduling.md).
#pragma once

#include <CLI/CLI.hpp>

namespace taskmill::cli {
void AddSchedulerBenchCommand(CLI::App& app);
}  // namespace taskmill::cli
