// The `taskmill` binary: server, command-line client and maintenance tool.
#include "cli/api_command.h"
#include "cli/bench_command.h"
#include "cli/bulk_commands.h"
#include "cli/client_commands.h"
#include "cli/cron_command.h"
#include "cli/scheduler_bench.h"
#include "cli/scheduling_commands.h"
#include "cli/serve_command.h"
#include "cli/token_commands.h"
#include "cli/watch_command.h"

#include <malloc.h>

#include <CLI/CLI.hpp>
#include <cstdlib>

int main(int argc, char** argv) {
  // glibc hands a freed block of 128 KiB or more back to the kernel, and trims the heap
  // above 128 KiB free: every batch of runs (vectors of a few hundred KiB) was then
  // faulted in again page by page, which cost enqueueing 40 % of its throughput. Keep
  // such blocks in the heap for the next batch. Peak memory is unchanged; freed memory
  // is reused rather than returned. (A program embedding the library may do the same.)
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
  CLI::App app{"taskmill — a durable background task manager", "taskmill"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "taskmill 0.1.0");
  // Accepted before or after the command name; the client reads it from the environment
  // so that every command, and any program it starts, sees the same token.
  app.fallthrough();
  app.add_option("--token", "API token sent as `Authorization: Bearer` (default: $TASKMILL_TOKEN)")
      ->each([](const std::string& token) { setenv("TASKMILL_TOKEN", token.c_str(), 1); });
  app.add_option("--ca-file",
                 "CA certificates (PEM) to verify an https server with, instead of the system's "
                 "(default: $TASKMILL_CA_FILE)")
      ->each([](const std::string& file) { setenv("TASKMILL_CA_FILE", file.c_str(), 1); });
  taskmill::cli::AddServeCommand(app);
  taskmill::cli::AddBenchCommand(app);
  taskmill::cli::AddClientCommands(app);
  taskmill::cli::AddApiCommand(app);
  taskmill::cli::AddBulkCommands(app);
  taskmill::cli::AddSchedulingCommands(app);
  taskmill::cli::AddCronCommand(app);
  taskmill::cli::AddSchedulerBenchCommand(app);
  taskmill::cli::AddTokenCommands(app);
  taskmill::cli::AddWatchCommand(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Subcommands report their exit status through CLI::RuntimeError.
    return app.exit(e);
  }
  return 0;
}
