// cron_command.h — `taskmill cron next EXPR [--count N] [--from ISO] [--tz ZONE] [--json]`:
// the next fire instants of a cron expression, computed locally (no server needed).
// A bad expression, zone or instant prints what is wrong and where, and exits 2.
#pragma once

#include <CLI/CLI.hpp>

namespace taskmill::cli {
void AddCronCommand(CLI::App& app);
}  // namespace taskmill::cli
