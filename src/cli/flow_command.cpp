#include "cli/flow_command.h"

#include <taskmill/flow.h>

#include <boost/json.hpp>
#include <iostream>
#include <memory>
#include <string>

#include "cli/global_options.h"
#include "config/config.h"

namespace taskmill::cli {
namespace {

struct FlowDotOptions {
  std::string name;
  std::string config = "taskmill.yaml";
};

int FlowDot(const FlowDotOptions& o) {
  auto cfg = config::LoadFile(o.config);
  if (!cfg.ok()) {
    std::cerr << "error: " << cfg.status().message() << "\n";
    return 2;
  }
  for (const FlowDef& flow : cfg->flows) {
    if (flow.name != o.name) continue;
    if (JsonRequested()) {
      std::cout << boost::json::serialize(ToJson(flow)) << "\n";
    } else {
      std::cout << ToDot(flow);
    }
    return 0;
  }
  std::string known;
  for (const FlowDef& flow : cfg->flows) known += (known.empty() ? "" : ", ") + flow.name;
  std::cerr << "error: " << o.config << ": no flow named '" << o.name << "'"
            << (known.empty() ? " (the file defines no flow)" : "; defined: " + known) << "\n";
  return 2;
}

}  // namespace

void AddFlowCommands(CLI::App& app) {
  auto* flow = app.add_subcommand("flow", "Flows: DAGs of steps (docs/flows.md)");
  flow->require_subcommand(1);
  auto opts = std::make_shared<FlowDotOptions>();
  auto* dot = flow->add_subcommand("dot", "Print a flow of the configuration as Graphviz DOT");
  dot->add_option("NAME", opts->name, "The flow's name")->required();
  dot->add_option("-c,--config", opts->config, "Configuration file")->capture_default_str();
  dot->callback([opts] { throw CLI::RuntimeError(FlowDot(*opts)); });
}

}  // namespace taskmill::cli
