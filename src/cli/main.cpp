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

#include <CLI/CLI.hpp>
#include <cstdlib>

int main(int argc, char** argv) {
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
