// bench_processes.h — the drain of `taskmill bench --processes N`: N runner processes
// of their own on one shared storage (as `serve --roles runner` on N machines), and
// `taskmill bench runner`, the no-op runner each of them is.
#pragma once

#include <taskmill/engine.h>
#include <taskmill/status.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

namespace taskmill::cli {

// The function every bench run executes; registered by the bench and by its runners.
inline constexpr const char* kBenchFunction = "bench.noop";

// The engine every bench drains with: no scheduler, `capacity` runner slots on
// `storage_url`, running `registry`'s functions, its finished runs counted into
// `finished`. Not started yet. An error is printed (prefixed by `who`) and returned.
Result<std::unique_ptr<Engine>> OpenBenchEngine(const std::string& storage_url, int capacity,
                                                std::shared_ptr<FunctionRegistry> registry,
                                                std::atomic<int64_t>& finished,
                                                const std::string& who = "");

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
