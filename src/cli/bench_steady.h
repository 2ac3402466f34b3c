// bench_steady.h — `taskmill bench steady`: a fixed-rate enqueue beside the drain,
// reported every interval (the load of bench/pg/bloat.sh).
#pragma once

#include <CLI/CLI.hpp>

namespace taskmill::cli {
// Adds the `steady` subcommand to `bench`; returns it.
CLI::App* AddBenchSteadyCommand(CLI::App& bench);
}  // namespace taskmill::cli
