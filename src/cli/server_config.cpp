#include "cli/server_config.h"

#include <filesystem>

namespace taskmill::cli {

void AddServerFlags(CLI::App* cmd, ServerFlags* flags) {
  cmd->add_option("--config", flags->config_path,
                  "Configuration file (default: ./taskmill.yaml when present)");
  cmd->add_option("--data-dir", flags->data_dir, "Data directory (default ./taskmill-data)");
  cmd->add_option("--storage", flags->storage,
                  "Storage URL (default: taskmill.db in the data dir)");
}

Result<config::Config> LoadServerConfig(const ServerFlags& flags) {
  std::string path = flags.config_path;
  if (path.empty() && std::filesystem::exists("taskmill.yaml")) path = "taskmill.yaml";
  Result<config::Config> loaded =
      path.empty() ? config::LoadString("", "<defaults>") : config::LoadFile(path);
  if (!loaded.ok()) return loaded.status();
  if (!flags.data_dir.empty()) loaded->server.data_dir = flags.data_dir;
  if (!flags.storage.empty()) loaded->server.storage = flags.storage;
  return loaded;
}

}  // namespace taskmill::cli
