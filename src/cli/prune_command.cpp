#include "cli/prune_command.h"

#include <taskmill/storage.h>

#include <boost/json.hpp>
#include <iostream>
#include <memory>
#include <string>

#include "cli/global_options.h"
#include "cli/server_config.h"
#include "config/age.h"

namespace taskmill::cli {
namespace {
namespace json = boost::json;

struct PruneOptions {
  ServerFlags server;
  std::string older_than;
  bool json = false;
};

int Prune(const PruneOptions& o) {
  auto fail = [](const Status& s) {
    std::cerr << "error: " << s.message() << "\n";
    return 2;
  };
  auto age = config::ParseAge(o.older_than);
  if (!age.ok()) return fail(Status::InvalidArgument("--older-than: " + age.status().message()));
  auto cfg = LoadServerConfig(o.server);
  if (!cfg.ok()) return fail(cfg.status());
  const std::string url = config::StorageUrl(cfg->server);
  auto storage = OpenStorage({.url = url});
  if (!storage.ok()) return fail(storage.status());
  const TimePoint now = SystemClock::Instance().Now();
  // A call stops at its bound (short writes); the command goes on until all is gone.
  HistoryPruned total;
  for (;;) {
    auto pruned = (*storage)->RunPruneOlderThan(now - *age, now);
    if (!pruned.ok()) return fail(pruned.status());
    total.runs += pruned->runs;
    total.dropped.insert(total.dropped.end(), pruned->dropped.begin(), pruned->dropped.end());
    if (!pruned->more) break;
  }
  if (o.json) {
    json::array dropped;
    for (const auto& [period, runs] : total.dropped) {
      dropped.push_back(json::object{{"partition", period}, {"runs", runs}});
    }
    std::cout << json::serialize(json::object{{"storage", url},
                                              {"older_than", FormatTime(now - *age)},
                                              {"runs_removed", total.runs},
                                              {"dropped", dropped}})
              << "\n";
    return 0;
  }
  for (const auto& [period, runs] : total.dropped) {
    std::cout << "dropped " << period << " (" << runs << " runs)\n";
  }
  std::cout << "removed " << total.runs << " finished runs older than " << FormatTime(now - *age)
            << " from " << url << "\n";
  return 0;
}

}  // namespace

void AddPruneCommand(CLI::App& app) {
  auto options = std::make_shared<PruneOptions>();
  auto* cmd = app.add_subcommand(
      "prune", "Remove finished runs older than an age, once (on PostgreSQL, whole months)");
  AddServerFlags(cmd, &options->server);
  cmd->add_option("--older-than", options->older_than,
                  "Age of the runs to remove: a number and s, m, h, d or w, e.g. 30d")
      ->required();
  cmd->callback([options] {
    options->json = JsonRequested();
    throw CLI::RuntimeError(Prune(*options));
  });
}

}  // namespace taskmill::cli
