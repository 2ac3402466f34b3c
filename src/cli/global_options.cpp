#include "cli/global_options.h"

#include <cstdlib>
#include <string>

#include "cli/client.h"

namespace taskmill::cli {
namespace {

bool json_requested = false;

}  // namespace

void AddGlobalOptions(CLI::App& app) {
  // Set before any command is added: commands inherit it, and an option a command
  // does not know is then looked up here.
  app.fallthrough();
  app.add_option("--server", "Server URL (default: $TASKMILL_SERVER, else http://127.0.0.1:8080)")
      ->each([](const std::string& server) { setenv("TASKMILL_SERVER", server.c_str(), 1); });
  app.add_option("--token", "API token sent as `Authorization: Bearer` (default: $TASKMILL_TOKEN)")
      ->check(
          [](const std::string& token) {
            Status s = CheckToken(token);
            return s.ok() ? std::string() : std::string(s.message());
          },
          "TOKEN")
      ->each([](const std::string& token) { setenv("TASKMILL_TOKEN", token.c_str(), 1); });
  app.add_option("--ca-file",
                 "CA certificates (PEM) to verify an https server with, instead of the system's "
                 "(default: $TASKMILL_CA_FILE)")
      ->each([](const std::string& file) { setenv("TASKMILL_CA_FILE", file.c_str(), 1); });
  app.add_flag("--json", json_requested,
               "Print the API's JSON (or one JSON object) instead of text");
}

bool JsonRequested() { return json_requested; }

}  // namespace taskmill::cli
