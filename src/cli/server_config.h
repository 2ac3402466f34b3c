// cli/server_config.h — the configuration a server command works with: the config file
// (explicit, or ./taskmill.yaml when present) overridden by command-line flags. Shared
// by `serve` and the maintenance commands that open storage directly (`token`).
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "config/config.h"

namespace taskmill::cli {

struct ServerFlags {
  std::string config_path;
  std::string data_dir;
  std::string storage;
};

// Adds --config, --data-dir and --storage to `cmd`.
void AddServerFlags(CLI::App* cmd, ServerFlags* flags);

// Loads the file and applies the flags.
Result<config::Config> LoadServerConfig(const ServerFlags& flags);

}  // namespace taskmill::cli
