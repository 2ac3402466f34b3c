// The `taskmill` binary: server, command-line client and maintenance tool.
#include <malloc.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <exception>
#include <iostream>

#include "cli/api_command.h"
#include "cli/bench_command.h"
#include "cli/bulk_commands.h"
#include "cli/client.h"
#include "cli/client_commands.h"
#include "cli/cron_command.h"
#include "cli/flow_command.h"
#include "cli/global_options.h"
#include "cli/migrate_command.h"
#include "cli/prune_command.h"
#include "cli/scheduler_bench.h"
#include "cli/scheduling_commands.h"
#include "cli/serve_command.h"
#include "cli/token_commands.h"
#include "cli/watch_command.h"

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
  // Before the commands: they inherit fall-through to these options.
  taskmill::cli::AddGlobalOptions(app);
  taskmill::cli::AddServeCommand(app);
  taskmill::cli::AddBenchCommand(app);
  taskmill::cli::AddClientCommands(app);
  taskmill::cli::AddApiCommand(app);
  taskmill::cli::AddBulkCommands(app);
  taskmill::cli::AddSchedulingCommands(app);
  taskmill::cli::AddCronCommand(app);
  taskmill::cli::AddFlowCommands(app);
  taskmill::cli::AddSchedulerBenchCommand(app);
  taskmill::cli::AddTokenCommands(app);
  taskmill::cli::AddMigrateCommand(app);
  taskmill::cli::AddPruneCommand(app);
  taskmill::cli::AddWatchCommand(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Commands report their exit status through CLI::RuntimeError; any other parse
    // error is a usage error (docs/cli.md, "Exit status").
    return taskmill::cli::ExitCodeFor(app, e);
  }
  // A last resort: a command checks what it reads, but no answer a server sends may
  // abort the client.
  catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return taskmill::cli::kExitServer;
  }
  return 0;
}
