// cli/token_commands.h — `taskmill token create|list|revoke`: API tokens, managed
// directly in storage (like `serve`, they take --config/--data-dir/--storage), so the
// first token can be made before a server on a public address will start.
#pragma once

#include <CLI/CLI.hpp>

namespace taskmill::cli {

void AddTokenCommands(CLI::App& app);

}  // namespace taskmill::cli
