// cli/migrate_command.h — `taskmill migrate`: brings the storage's schema up to the one
// this build uses (Storage::Migrate) and says what it did. Takes the server flags
// (--config/--data-dir/--storage), like `token`.
#pragma once

#include <CLI/CLI.hpp>

namespace taskmill::cli {

void AddMigrateCommand(CLI::App& app);

}  // namespace taskmill::cli
