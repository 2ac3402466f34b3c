// scheduling_commands.h — `taskmill task enable|disable|start NAME` and
// `taskmill queue pause|resume NAME`.
#pragma once

#include <CLI/CLI.hpp>

namespace taskmill::cli {
void AddSchedulingCommands(CLI::App& app);
}  // namespace taskmill::cli
