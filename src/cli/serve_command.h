// serve_command.h — `taskmill serve`: runs the server roles (api, scheduler, runner)
// from a configuration file, with command-line overrides.
#pragma once

#include <CLI/CLI.hpp>

namespace taskmill::cli {
void AddServeCommand(CLI::App& app);
}  // namespace taskmill::cli
