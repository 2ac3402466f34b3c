#include "cli/serve_command.h"

#include <fmt/core.h>
#include <spdlog/spdlog.h>
#include <taskmill/bulk.h>
#include <taskmill/engine.h>

#include <csignal>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <string_view>
#include <utility>

#include "api/server.h"
#include "cli/demo_functions.h"
#include "cli/server_config.h"
#include "cli/stop_signals.h"
#include "cli/web_assets.h"
#include "config/age.h"
#include "config/config.h"
#include "examples/numbers/numbers.h"
#include "process/process_groups.h"
#include "runner/command_handler.h"

namespace taskmill::cli {
namespace {

struct ServeOptions {
  ServerFlags server;
  std::string listen;
  std::string roles;
  double scheduler_lease = 0;     // seconds; 0: scheduler.lease of the file
  std::string history_retention;  // e.g. 30d; empty: task_storage.history_retention
};

std::vector<std::string> SplitComma(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(',', start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

bool Has(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

int Fail(const Status& s) {
  std::cerr << "error: " << s.message() << "\n";
  return 2;
}

// A process without the api role that was given --listen still answers /metrics and
// /healthz there: a runner or a scheduler must be observable like an api node.
std::unique_ptr<api::ApiServer> ObservabilityServer(const std::string& listen, Engine& engine) {
  api::ApiOptions options;
  options.listen = listen;
  options.threads = 1;
  options.observability_only = true;
  return std::make_unique<api::ApiServer>(options, engine);
}

int Serve(const ServeOptions& o) {
  // Before anything can start a thread (the storage starts some when it opens): every
  // thread inherits the mask, and only the signal thread takes SIGTERM and SIGINT.
  BlockStopSignals();
  StopSignals& stop_signals = StopSignals::Start();
  std::signal(SIGPIPE, SIG_IGN);
  // A crash of the server kills the commands it started (their groups) first.
  process_groups::InstallFatalSignalHandlers();

  // 1. Configuration: the file (explicit, or ./taskmill.yaml when present), then flags.
  Result<config::Config> loaded = LoadServerConfig(o.server);
  if (!loaded.ok()) return Fail(loaded.status());
  config::Config cfg = std::move(*loaded);
  if (!o.listen.empty()) cfg.server.listen = o.listen;
  if (!o.roles.empty()) {
    cfg.server.roles = SplitComma(o.roles);
    for (const auto& role : cfg.server.roles) {
      if (role != "api" && role != "scheduler" && role != "runner") {
        return Fail(Status::InvalidArgument("--roles: unknown role '" + role +
                                            "'; expected api, scheduler, runner"));
      }
    }
    // The file was checked with its own roles; --roles may have added the runner.
    if (Status s = config::CheckRemoteQueues(cfg); !s.ok()) return Fail(s);
  }

  if (o.scheduler_lease != 0) {
    if (o.scheduler_lease < std::chrono::duration<double>(config::kMinSchedulerLease).count()) {
      return Fail(Status::InvalidArgument(
          "--scheduler-lease: must be at least 2 seconds (the lease is renewed every second), "
          "got " +
          fmt::format("{}", o.scheduler_lease)));
    }
    cfg.scheduler_lease =
        std::chrono::duration_cast<Duration>(std::chrono::duration<double>(o.scheduler_lease));
  }

  if (!o.history_retention.empty()) {
    auto age = config::ParseAge(o.history_retention);
    if (!age.ok())
      return Fail(Status::InvalidArgument("--history-retention: " + age.status().message()));
    cfg.history_retention = *age;
  }

  // 2. Functions: the demo functions, and one command function per command task.
  auto registry = std::make_shared<FunctionRegistry>();
  RegisterDemoFunctions(*registry);
  // Bulk CSV functions: the numbers example and the configured co-processes.
  auto bulk = std::make_shared<BulkRuntime>(cfg.bulk);
  std::string numbers_db = (std::filesystem::path(cfg.server.data_dir) / "numbers.db").string();
  if (Status s = examples::RegisterNumberFunctions(*registry, bulk, {.database = numbers_db});
      !s.ok()) {
    return Fail(s);
  }
  for (const auto& spec : cfg.functions) {
    if (Status s = RegisterCoprocessFunction(*registry, bulk, spec); !s.ok()) return Fail(s);
  }
  // Functions executed by remote runners: declared here so that runs of them are
  // accepted and land in their queue.
  for (const auto& info : cfg.remote_functions) {
    if (Status s = RegisterRemoteFunction(*registry, info); !s.ok()) return Fail(s);
  }
  for (auto& task : cfg.tasks) {
    if (task.command.empty()) continue;
    CommandSpec spec = CommandSpecForTask(task);
    spec.output_limit = cfg.runner_output_limit;
    spec.kill_grace = cfg.kill_grace;
    if (Status s = spec.Validate(); !s.ok()) {
      return Fail(Status::InvalidArgument("tasks." + task.name + ": " + s.message()));
    }
    FunctionInfo info{.name = task.function,
                      .description = "command task " + task.name,
                      .doc = "Runs: " + fmt::format("{}", fmt::join(task.command, " ")),
                      .input = "json",
                      .handler_kind = "command"};
    if (Status s = registry->Register(info, MakeCommandHandler(std::move(spec))); !s.ok()) {
      return Fail(s);
    }
  }

  // Flows of the file, and flow.start, which a periodical task names to launch one.
  auto flows = std::make_shared<FlowRegistry>();
  for (const FlowDef& flow : cfg.flows) {
    if (Status s = flows->Register(flow); !s.ok()) return Fail(s);
  }
  auto flow_engine = std::make_shared<Engine*>(nullptr);
  if (Status s = RegisterFlowFunctions(*registry, flow_engine); !s.ok()) return Fail(s);

  // 3. The engine, with the tasks of the file stored so that every node sees them.
  EngineOptions options = config::ToEngineOptions(cfg);
  options.flows = flows;
  auto engine_or = Engine::Open(options, registry);
  if (!engine_or.ok()) return Fail(engine_or.status());
  Engine& engine = **engine_or;
  *flow_engine = &engine;
  bulk->Attach(engine);
  for (const auto& task : cfg.tasks) {
    // A task's enabled flag is operator state: keep what is stored.
    TaskDef def = task;
    if (auto stored = engine.storage().TaskGet(task.name); stored.ok())
      def.enabled = stored->enabled;
    if (Status s = engine.storage().TaskUpsert(def); !s.ok()) return Fail(s);
  }
  for (const auto& [queue, cap] : cfg.queue_caps) {
    if (Status s = engine.storage().QueueSetConcurrency(queue, cap); !s.ok()) return Fail(s);
  }

  if (Has(cfg.server.roles, "runner")) {
    // Commands left running by a server on this data directory that ended without
    // stopping them (kill -9) are killed before this one starts their runs again.
    if (Status s = process_groups::OpenRecord(cfg.server.data_dir); !s.ok()) return Fail(s);
  }

  if (Status s = engine.Start(); !s.ok()) return Fail(s);
  std::unique_ptr<api::ApiServer> server;
  if (Has(cfg.server.roles, "api")) {
    api::ApiOptions api_options;
    api_options.listen = cfg.server.listen;
    api_options.threads = cfg.api.threads;
    api_options.max_json_body = cfg.api.max_json_body;
    api_options.max_header = cfg.api.max_header;
    api_options.request_timeout = cfg.api.request_timeout;
    api_options.idle_timeout = cfg.api.idle_timeout;
    api_options.max_connections = cfg.api.max_connections;
    api_options.max_wait = cfg.api.max_wait;
    api_options.allow_command_tasks = cfg.api.allow_command_tasks;
    api_options.tls_cert = cfg.api.tls_cert;
    api_options.tls_key = cfg.api.tls_key;
    server = std::make_unique<api::ApiServer>(api_options, engine);
    server->SetStaticAssets([](std::string_view p) -> std::optional<api::WebAsset> {
      const auto& assets = web::Assets();
      auto it = assets.find(p);
      if (it == assets.end()) return std::nullopt;
      return api::WebAsset{.content_type = it->second.content_type,
                           .body = it->second.body,
                           .gzip = it->second.gzip};
    });
    if (Status s = server->Start(); !s.ok()) {
      engine.Stop();
      return Fail(s);
    }
  } else if (!o.listen.empty()) {
    server = ObservabilityServer(o.listen, engine);
    if (Status s = server->Start(); !s.ok()) {
      engine.Stop();
      return Fail(s);
    }
  }
  std::string roles = fmt::format("{}", fmt::join(cfg.server.roles, ","));
  std::cout << "taskmill serving (roles " << roles << ", storage " << options.storage.url << ")\n";
  if (server) std::cout << "taskmill listening on " << server->url() << "\n";
  std::cout << std::flush;

  stop_signals.WaitForStop();
  // New requests and pending long-polls are answered 503 while the runner stops its
  // attempts (up to kill_grace), then the API closes.
  if (server) server->BeginShutdown();
  engine.Stop();
  if (server) server->Stop();
  process_groups::KillAll();  // nothing should be left; if anything is, it goes now
  process_groups::CloseRecord();
  return 0;
}
}  // namespace

void AddServeCommand(CLI::App& app) {
  auto opts = std::make_shared<ServeOptions>();
  auto* cmd = app.add_subcommand("serve", "Run the server: api, scheduler and runner roles");
  AddServerFlags(cmd, &opts->server);
  cmd->add_option("--listen", opts->listen, "HOST:PORT of the API and UI (default 127.0.0.1:8080)");
  cmd->add_option("--roles", opts->roles, "Comma-separated roles: api,scheduler,runner");
  cmd->add_option("--scheduler-lease", opts->scheduler_lease,
                  "Seconds a leader's lease lasts (scheduler.lease; default 15)");
  cmd->add_option("--history-retention", opts->history_retention,
                  "Remove finished runs older than this, e.g. 30d "
                  "(task_storage.history_retention; default: none)");
  cmd->callback([opts] { throw CLI::RuntimeError(Serve(*opts)); });
}

}  // namespace taskmill::cli
