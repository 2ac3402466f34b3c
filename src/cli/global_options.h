// cli/global_options.h — the options every command takes: --server, --token, --ca-file
// and --json. They live on the application, not on each command, and every command
// falls through to them, so they work before or after the command's name
// (`taskmill --server URL stats` and `taskmill stats --server URL` are the same).
//
// --server, --token and --ca-file set $TASKMILL_SERVER, $TASKMILL_TOKEN and
// $TASKMILL_CA_FILE, which the client reads (DefaultServer(), TokenFromEnvironment(),
// CaFileFromEnvironment()): every command, and any program it starts, sees the same
// values. CLI11 sets them before any command's callback runs.
#pragma once

#include <CLI/CLI.hpp>

namespace taskmill::cli {

void AddGlobalOptions(CLI::App& app);

// --json was given: print the API's JSON (or a command's one JSON object) instead of text.
bool JsonRequested();

}  // namespace taskmill::cli
