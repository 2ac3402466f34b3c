// bench_command.h — `taskmill bench`: the engine's throughput and latency benchmark.
#pragma once

#include <CLI/CLI.hpp>

namespace taskmill::cli {
void AddBenchCommand(CLI::App& app);
}  // namespace taskmill::cli
