// bench_lateness.h — `taskmill bench lateness`: how late due runs start.
#pragma once

#include <CLI/CLI.hpp>

namespace taskmill::cli {
// Adds the `lateness` subcommand to `bench`; returns it.
CLI::App* AddBenchLatenessCommand(CLI::App& bench);
}  // namespace taskmill::cli
