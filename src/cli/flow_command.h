// flow_command.h — `taskmill flow dot NAME [--config FILE]`: a flow of the configuration
// file as Graphviz DOT (`--json`: its definition, steps and edges), computed locally.
// A file that does not load, or an unknown flow, prints what and where and exits 2.
#pragma once

#include <CLI/CLI.hpp>

namespace taskmill::cli {
void AddFlowCommands(CLI::App& app);
}  // namespace taskmill::cli
