// flow_command.h — the `taskmill flow` commands:
//   flow dot NAME [--config FILE]   a flow of the configuration file as Graphviz DOT
//                                   (`--json`: its definition), computed locally
//   flow start NAME [--args JSON] [--wait] [--timeout SEC]   start one on the server;
//                                   --wait prints all_over with the state or failed_over
//                                   with the step and why (`--json`: one object)
//   flow show RUN_ID [--once]       draw the steps, states and children's counts,
//                                   refreshed every second while the flow runs
// Bad input prints what and where and exits 2.
#pragma once

#include <CLI/CLI.hpp>

namespace taskmill::cli {
void AddFlowCommands(CLI::App& app);
}  // namespace taskmill::cli
