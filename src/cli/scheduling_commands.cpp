#include "cli/scheduling_commands.h"

#include <boost/json.hpp>
#include <iostream>

#include "cli/api_command.h"
#include "cli/client.h"
#include "cli/global_options.h"

namespace taskmill::cli {
namespace {

struct Target {
  std::string name;
  std::string server;  // "": the global --server
};

// POSTs to `path` and prints either the JSON answer or `done` (a sentence).
int PostAndReport(const Target& t, const std::string& path, const std::string& done) {
  auto response = SendApiRequest(t.server, "POST", path, "");
  if (!response.ok()) return ReportUnreachable(t.server, response.status());
  if (response->status < 200 || response->status >= 300) return ReportApiError(*response);
  if (JsonRequested()) {
    std::cout << response->body << "\n";
  } else {
    std::string extra;
    boost::system::error_code ec;
    auto v = boost::json::parse(response->body, ec);
    if (const auto* id = !ec && v.is_object() ? v.get_object().if_contains("id") : nullptr;
        id && id->is_string()) {
      extra = " (run " + std::string(id->get_string()) + ")";
    }
    std::cout << done << extra << "\n";
  }
  return 0;
}

void AddNamedAction(CLI::App* parent, const std::string& action, const std::string& help,
                    const std::string& noun, std::function<std::string(const std::string&)> path,
                    std::function<std::string(const std::string&)> done) {
  auto t = std::make_shared<Target>();
  auto* cmd = parent->add_subcommand(action, help);
  cmd->add_option("NAME", t->name, noun + " name")->required();
  cmd->callback([t, path, done] {
    throw CLI::RuntimeError(PostAndReport(*t, path(UrlEncode(t->name)), done(t->name)));
  });
}

}  // namespace

void AddSchedulingCommands(CLI::App& app) {
  auto* task = app.add_subcommand("task", "Enable, disable or start a task");
  task->require_subcommand(1);
  AddNamedAction(
      task, "enable", "Enable a task (periodical and continuous tasks launch again)", "Task",
      [](const std::string& n) { return "/api/v1/tasks/" + n + "/enable"; },
      [](const std::string& n) { return "task " + n + " enabled"; });
  AddNamedAction(
      task, "disable", "Disable a task (a continuous task's live run is stopped)", "Task",
      [](const std::string& n) { return "/api/v1/tasks/" + n + "/disable"; },
      [](const std::string& n) { return "task " + n + " disabled"; });
  AddNamedAction(
      task, "start", "Start a run of a task now", "Task",
      [](const std::string& n) { return "/api/v1/tasks/" + n + "/start"; },
      [](const std::string& n) { return "task " + n + " started"; });

  auto* queue = app.add_subcommand("queue", "Pause or resume a queue");
  queue->require_subcommand(1);
  AddNamedAction(
      queue, "pause", "Pause a queue: its runs stay pending", "Queue",
      [](const std::string& n) { return "/api/v1/queues/" + n + "/pause"; },
      [](const std::string& n) { return "queue " + n + " paused"; });
  AddNamedAction(
      queue, "resume", "Resume a paused queue", "Queue",
      [](const std::string& n) { return "/api/v1/queues/" + n + "/resume"; },
      [](const std::string& n) { return "queue " + n + " resumed"; });
}

}  // namespace taskmill::cli
