// cli/prune_command.h — `taskmill prune --older-than AGE`: retention by age once
// (Storage::RunPruneOlderThan), on the storage of the server flags
// (--config/--data-dir/--storage), and what it dropped or deleted.
#pragma once

#include <CLI/CLI.hpp>

namespace taskmill::cli {

void AddPruneCommand(CLI::App& app);

}  // namespace taskmill::cli
