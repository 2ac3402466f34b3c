// cli/watch_command.h — `taskmill watch`: the server's live events in the terminal.
#pragma once

#include <CLI/CLI.hpp>

namespace taskmill::cli {

void AddWatchCommand(CLI::App& app);

}  // namespace taskmill::cli
