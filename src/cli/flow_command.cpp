#include "cli/flow_command.h"

#include <taskmill/flow.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include "cli/client.h"
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

struct FlowStartOptions {
  std::string name;
  std::string args = "{}";
  bool wait = false;
  double timeout = 3600;  // seconds, with --wait
};

struct FlowShowOptions {
  std::string run_id;
  bool once = false;
};

Result<boost::json::value> Graph(HttpClient& client, const std::string& run_id) {
  return client.Get("/api/v1/flows/runs/" + UrlEncode(run_id));
}

bool Over(const boost::json::value& graph) {
  const auto* status = graph.as_object().if_contains("status");
  return status && status->is_string() && status->as_string() != "running" &&
         status->as_string() != "pending";
}

// The seed's two results: all_over with the flow's state, or failed_over with the step
// that could not be retried and why.
int PrintOutcome(const boost::json::value& graph) {
  const boost::json::object& g = graph.as_object();
  const bool all_over = g.at("status") == "completed";
  boost::json::object out{{"result", all_over ? "all_over" : "failed_over"},
                          {"run_id", g.at("run_id")},
                          {"status", g.at("status")}};
  if (all_over) {
    out["state"] = g.at("state");
  } else {
    const boost::json::object* result = g.at("result").if_object();
    out["step"] = result && result->contains("step") ? result->at("step") : nullptr;
    out["error"] = g.at("error");
  }
  if (JsonRequested()) {
    std::cout << boost::json::serialize(out) << "\n";
  } else if (all_over) {
    std::cout << "all_over " << boost::json::serialize(g.at("state")) << "\n";
  } else {
    std::cout << "failed_over";
    if (!out["step"].is_null()) std::cout << " at step " << out["step"].as_string().c_str();
    std::cout << ": " << g.at("error").as_string().c_str() << "\n";
  }
  return all_over ? 0 : 1;
}

int FlowStart(const FlowStartOptions& o) {
  boost::system::error_code ec;
  boost::json::value args = boost::json::parse(o.args, ec);
  if (ec) {
    std::cerr << "error: --args: not JSON (" << ec.message() << "): " << o.args << "\n";
    return 2;
  }
  HttpClient client(DefaultServer());
  auto root = client.Post("/api/v1/flows/" + UrlEncode(o.name) + "/runs",
                          boost::json::object{{"args", args}});
  if (!root.ok()) return ReportFailure(root.status());
  const std::string id(root->as_object().at("id").as_string());
  if (!o.wait) {
    if (JsonRequested()) {
      std::cout << boost::json::serialize(*root) << "\n";
    } else {
      std::cout << "started flow " << o.name << ": run " << id << "\n";
    }
    return 0;
  }
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                      std::chrono::duration<double>(o.timeout));
  for (;;) {
    auto graph = Graph(client, id);
    if (!graph.ok()) return ReportFailure(graph.status());
    if (Over(*graph)) return PrintOutcome(*graph);
    if (std::chrono::steady_clock::now() >= deadline) {
      std::cerr << "error: flow run " << id << " still running after " << o.timeout << " s\n";
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

std::string Bar(int64_t done, int64_t failed, int64_t total, int width = 20) {
  if (total <= 0) return "";
  std::string bar = "[";
  int d = static_cast<int>(done * width / total);
  int f = static_cast<int>(failed * width / total);
  bar += std::string(d, '#') + std::string(f, '!') + std::string(width - d - f, '.') + "]";
  return bar;
}

void Draw(const boost::json::value& graph) {
  const boost::json::object& g = graph.as_object();
  std::cout << "flow " << g.at("flow").as_string().c_str() << "  run "
            << g.at("run_id").as_string().c_str() << "  " << g.at("status").as_string().c_str()
            << "\n";
  for (const auto& step : g.at("steps").as_array()) {
    const boost::json::object& s = step.as_object();
    const boost::json::object& c = s.at("children").as_object();
    std::string line = "  " + std::string(s.at("name").as_string());
    line.resize(std::max<size_t>(line.size() + 1, 18), ' ');
    std::string state(s.at("state").as_string());
    state.resize(std::max<size_t>(state.size() + 1, 11), ' ');
    line += state + "attempts " + std::to_string(s.at("attempts").to_number<int64_t>()) + "/" +
            std::to_string(s.at("max_attempts").to_number<int64_t>());
    int64_t total = c.at("total").to_number<int64_t>();
    if (total > 0) {
      int64_t done = c.at("done").to_number<int64_t>();
      int64_t failed = c.at("failed").to_number<int64_t>();
      line += "  children " + Bar(done, failed, total) + " " + std::to_string(done) + " done, " +
              std::to_string(failed) + " failed, " +
              std::to_string(c.at("running").to_number<int64_t>()) + " running of " +
              std::to_string(total);
    }
    if (const auto* error = s.if_contains("error")) line += "  " + std::string(error->as_string());
    std::cout << line << "\n";
  }
  for (const auto& edge : g.at("edges").as_array()) {
    std::cout << "  " << edge.at("from").as_string().c_str() << " -> "
              << edge.at("to").as_string().c_str() << "\n";
  }
}

int FlowShow(const FlowShowOptions& o) {
  HttpClient client(DefaultServer());
  const bool live = !o.once && !JsonRequested() && ::isatty(STDOUT_FILENO);
  for (;;) {
    auto graph = Graph(client, o.run_id);
    if (!graph.ok()) return ReportFailure(graph.status());
    if (JsonRequested()) {
      std::cout << boost::json::serialize(*graph) << "\n";
      return 0;
    }
    if (live) std::cout << "\x1b[H\x1b[2J";  // redraw in place while it runs
    Draw(*graph);
    std::cout.flush();
    if (!live || Over(*graph)) return 0;
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

struct FlowRetryOptions {
  std::string run_id;
  std::string step;
};

// Reopens a failed flow at its failed step (docs/flows.md, "Retrying a failed flow").
int FlowRetry(const FlowRetryOptions& o) {
  HttpClient client(DefaultServer());
  auto root = client.Post(
      "/api/v1/flows/runs/" + UrlEncode(o.run_id) + "/steps/" + UrlEncode(o.step) + "/retry",
      boost::json::object());
  if (!root.ok()) return ReportFailure(root.status());
  if (JsonRequested()) {
    std::cout << boost::json::serialize(*root) << "\n";
  } else {
    std::cout << "flow run " << o.run_id << " reopened at step " << o.step << "\n";
  }
  return 0;
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

  auto start_opts = std::make_shared<FlowStartOptions>();
  auto* start = flow->add_subcommand("start", "Start a flow on the server");
  start->add_option("NAME", start_opts->name, "The flow's name")->required();
  start->add_option("--args", start_opts->args, "The flow's args (JSON)")->capture_default_str();
  start->add_flag("--wait", start_opts->wait,
                  "Wait for the end: all_over with the flow's state (exit 0) or failed_over "
                  "with the step and why (exit 1)");
  start->add_option("--timeout", start_opts->timeout, "Seconds to wait at most, with --wait")
      ->capture_default_str();
  start->callback([start_opts] { throw CLI::RuntimeError(FlowStart(*start_opts)); });

  auto show_opts = std::make_shared<FlowShowOptions>();
  auto* show = flow->add_subcommand(
      "show", "Draw a flow run's steps, states and children, refreshed while it runs");
  show->add_option("RUN_ID", show_opts->run_id, "The flow's root run id")->required();
  show->add_flag("--once", show_opts->once, "Draw once, without refreshing");
  show->callback([show_opts] { throw CLI::RuntimeError(FlowShow(*show_opts)); });

  auto retry_opts = std::make_shared<FlowRetryOptions>();
  auto* retry = flow->add_subcommand(
      "retry", "Retry the failed step of a failed flow run: the flow runs again from there");
  retry->add_option("RUN_ID", retry_opts->run_id, "The flow's root run id")->required();
  retry->add_option("STEP", retry_opts->step, "The step that failed the flow")->required();
  retry->callback([retry_opts] { throw CLI::RuntimeError(FlowRetry(*retry_opts)); });
}

}  // namespace taskmill::cli
