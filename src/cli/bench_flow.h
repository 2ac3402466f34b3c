// bench_flow.h — `taskmill bench flow`: a flow's children per second, the time from a
// step's finish to its successor's start along a chain, and the peak RSS.
#pragma once

#include <CLI/CLI.hpp>

namespace taskmill::cli {
// Adds the `flow` subcommand to `bench`; returns it.
CLI::App* AddBenchFlowCommand(CLI::App& bench);
}  // namespace taskmill::cli
