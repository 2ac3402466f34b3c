// api_command.h — `taskmill api METHOD PATH`: a raw request to the HTTP API, for
// scripts and for routes that have no command of their own (like `gh api`).
#pragma once

#include <CLI/CLI.hpp>

namespace taskmill::cli {
void AddApiCommand(CLI::App& app);
}  // namespace taskmill::cli
