// bench_processes.h — the drain of `taskmill bench --processes N`: N runner processes
// of their own on one shared storage (as `serve --roles runner` on N machines), and
// `taskmill bench runner`, the no-op runner each of them is.
#pragma once

#include <taskmill/status.h>

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

namespace taskmill::cli {

// The function every bench run executes; registered by the bench and by its runners.
inline constexpr const char* kBenchFunction = "bench.noop";

// Adds `bench runner` (a runner of no-op bench runs until its standard input closes);
// returns it.
CLI::App* AddBenchRunnerCommand(CLI::App& bench);

// Starts `processes` runner processes on `storage_url`, each with `capacity` slots,
// waits until they have finished `runs` runs between them (each reports its count on a
// pipe), and stops them. Returns the seconds from the start of the first process to the
// last finish reported.
Result<double> DrainWithProcesses(const std::string& storage_url, int processes, int capacity,
                                  int64_t runs);

}  // namespace taskmill::cli
