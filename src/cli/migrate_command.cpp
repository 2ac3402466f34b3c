#include "cli/migrate_command.h"

#include <taskmill/storage.h>

#include <boost/json.hpp>
#include <iostream>
#include <memory>
#include <string>

#include "cli/global_options.h"
#include "cli/server_config.h"

namespace taskmill::cli {
namespace {
namespace json = boost::json;

struct MigrateOptions {
  ServerFlags server;
  bool json = false;
};

int Migrate(const MigrateOptions& o) {
  auto fail = [](const Status& s) {
    std::cerr << "error: " << s.message() << "\n";
    return 2;
  };
  auto cfg = LoadServerConfig(o.server);
  if (!cfg.ok()) return fail(cfg.status());
  const std::string url = config::StorageUrl(cfg->server);
  auto storage = OpenStorage({.url = url});
  if (!storage.ok()) return fail(storage.status());
  auto done = (*storage)->Migrate();
  if (!done.ok()) return fail(done.status());
  if (o.json) {
    json::array applied;
    for (int v : done->applied) applied.push_back(v);
    std::cout << json::serialize(json::object{{"storage", url},
                                              {"version_before", done->before},
                                              {"version_after", done->after},
                                              {"applied", applied}})
              << "\n";
    return 0;
  }
  if (done->applied.empty()) {
    std::cout << "schema of " << url << " is up to date at version " << done->after << "\n";
    return 0;
  }
  std::cout << "schema of " << url << ": version " << done->before << " -> " << done->after
            << " (applied";
  for (int v : done->applied) std::cout << " " << v;
  std::cout << ")\n";
  return 0;
}

}  // namespace

void AddMigrateCommand(CLI::App& app) {
  auto options = std::make_shared<MigrateOptions>();
  auto* cmd = app.add_subcommand(
      "migrate", "Apply the storage schema migrations this build has and the storage lacks");
  AddServerFlags(cmd, &options->server);
  cmd->callback([options] {
    options->json = JsonRequested();  // --json: versions before and after, as JSON
    throw CLI::RuntimeError(Migrate(*options));
  });
}

}  // namespace taskmill::cli
