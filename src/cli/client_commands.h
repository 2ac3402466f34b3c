// cli/client_commands.h — the `taskmill` subcommands that talk to a server over the
// HTTP API: functions, create, start, runs, run, cancel, retry, rm, stats, tasks.
//
// They read the global options (cli/global_options.h): --server URL (default:
// $TASKMILL_SERVER, else http://127.0.0.1:8080) and --json (print the API's JSON
// exactly as received; with --wait, the final run as GET /api/v1/runs/{id} returns
// it). docs/cli.md is the reference.
//
// Exit status, reported by throwing CLI::RuntimeError(code) from the command:
//   0  success (with --wait: the run completed)
//   1  with --wait: the run ended in another final status (failed, partial, …)
//   2  usage or bad input, or the server rejected the request (4xx)
//   3  the server failed (5xx), could not be reached, or answered something else
//      than taskmill's API (never an abort)
// Errors go to stderr as "error: <message> (<code>)".
#pragma once

#include <CLI/CLI.hpp>

namespace taskmill::cli {

void AddClientCommands(CLI::App& app);

// Exit status for an exception from app.parse(): a command's CLI::RuntimeError
// carries its own; any other CLI11 parse error is a usage error, 2 (CLI11's own
// codes are 100+); --help and --version are 0. Prints the message like app.exit().
int ExitCodeFor(const CLI::App& app, const CLI::ParseError& error);

}  // namespace taskmill::cli
