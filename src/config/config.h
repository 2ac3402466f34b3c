// config/config.h — the taskmill configuration file (YAML), loaded into plain structs.
//
// The file has the shape of the Tarantool task manager's cluster configuration
// (`server`, `task_storage`, `task_runner`, `tasks`); docs/configuration.md is the
// reference for every key. Loading is strict: an unknown key, a value of the wrong
// type or out of range, or a task that cannot run is an error, and every error names
// the file, the line and the key path, e.g.
//
//   taskmill.yaml:12: tasks.nightly.shedule: unknown key (did you mean 'schedule'?)
//
// All errors of a file are reported at once (one per line of the Status message, in
// line order; Status::details() holds them as {"errors": [{file, line, path, message}]}).
// Only the file is read: nothing comes from the environment.
//
// The functions here are pure and thread-safe; Config is a plain value.
#pragma once

#include <taskmill/bulk.h>
#include <taskmill/clock.h>
#include <taskmill/engine.h>
#include <taskmill/flow.h>
#include <taskmill/function.h>
#include <taskmill/model.h>
#include <taskmill/status.h>

#include <chrono>
#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace taskmill::config {

// `server:` — how `taskmill serve` runs.
struct ServerSection {
  // host:port of the HTTP API and UI. Default: 127.0.0.1:8080.
  std::string listen = "127.0.0.1:8080";
  // Directory of the default (embedded) database. Relative paths are relative to the
  // working directory of the process. Default: ./taskmill-data.
  std::string data_dir = "./taskmill-data";
  // Storage URL (see StorageOptions::url). Default: empty, meaning the embedded
  // database file <data_dir>/taskmill.db.
  std::string storage;
  // The embedded database's synchronous mode, "full" or "normal", passed to it in the
  // storage URL (ToEngineOptions). Default: full.
  std::string synchronous = "full";
  // Roles this process plays: any non-empty subset of api, scheduler, runner, each
  // at most once. Default: all three.
  std::vector<std::string> roles = {"api", "scheduler", "runner"};

  friend bool operator==(const ServerSection&, const ServerSection&) = default;
};

// `api:` — limits and rules of the HTTP API (see api::ApiOptions, which this feeds).
struct ApiSection {
  int threads = 2;                                      // io threads. Default: 2
  size_t max_json_body = size_t{1} << 20;               // bytes. Default: 1 MiB
  size_t max_header = size_t{16} << 10;                 // bytes. Default: 16 KiB
  Duration request_timeout = std::chrono::seconds(30);  // Default: 30 s
  Duration idle_timeout = std::chrono::seconds(60);     // Default: 60 s
  int max_connections = 1024;                           // Default: 1024
  Duration max_wait = std::chrono::seconds(60);         // longest ?wait=. Default: 60 s
  bool allow_command_tasks = false;                     // Default: false
  std::string tls_cert;  // PEM certificate chain; with tls_key: HTTPS. Default: none
  std::string tls_key;   // PEM private key. Default: none

  friend bool operator==(const ApiSection&, const ApiSection&) = default;
};

// The shortest scheduler.lease (and --scheduler-lease): the leader renews its lease
// every sweep (1 s), so a shorter one would lapse between two renewals.
inline constexpr Duration kMinSchedulerLease = std::chrono::seconds(2);

struct Config {
  ServerSection server;
  ApiSection api;
  // `tasks:` in file order. A command task's `function` is "task.<name>"; every task
  // without its own time_to_resolve has task_ttr.
  std::vector<TaskDef> tasks;
  // task_storage.task_ttr: default time_to_resolve of tasks. Default: 60 s.
  Duration task_ttr = std::chrono::seconds(60);
  // scheduler.lease: how long a won leader lease lasts (SchedulerOptions::leader_ttl);
  // a standby takes over within about 2 × this after the leader dies. Default: 15 s.
  Duration scheduler_lease = std::chrono::seconds(15);
  // task_storage.task_log_max_size: finished runs kept per task. Default: 100.
  int task_log_max_size = 100;
  // task_storage.history_retention: finished runs older than this are removed (on
  // PostgreSQL, by whole months). Default: 0, none by age.
  Duration history_retention{0};
  // task_runner.capacity: concurrent attempts per runner. Default: 16.
  int runner_capacity = 16;
  // task_runner.prefetch: most runs claimed ahead of free slots while attempts are
  // short (RunnerOptions::prefetch). Default: 1000.
  int runner_prefetch = 1000;
  // task_runner.output_limit: bytes of command output kept per attempt. Default: 1 MiB.
  size_t runner_output_limit = size_t{1} << 20;
  // task_runner.kill_grace_sec: SIGTERM → SIGKILL delay for commands. Default: 5 s.
  Duration kill_grace = std::chrono::seconds(5);
  // task_runner.queues: the queues this process's runner serves (RunnerOptions::queues).
  // Default: empty, meaning every queue.
  std::vector<std::string> runner_queues;
  // `queues:` — per-queue settings: max_concurrency, the most runs of the queue
  // running at once across every runner sharing the storage (0: no cap). Applied to
  // the storage by `taskmill serve` at start. Default: none.
  std::map<std::string, int> queue_caps;
  // `triggers:` — functions bound to the headless triggers (minutely, hourly, daily,
  // each_account) and triggers.browse_interval_sec. Default: none.
  TriggerBindings triggers;
  // `functions:` — bulk functions run as JSON-lines co-processes (`process:`,
  // `protocol: jsonl`), in file order, ready for RegisterCoprocessFunction. Default: none.
  std::vector<CoprocessSpec> functions;
  // `remote_functions:` — functions executed by remote runners over HTTP, in file order,
  // ready for RegisterRemoteFunction: name, queue (required), description, doc. A task
  // of such a function without its own `queue` gets the function's queue. While this
  // process plays the runner role, task_runner.queues must leave these queues out, so
  // the local runner never claims their runs. Default: none.
  std::vector<FunctionInfo> remote_functions;
  // `bulk:` — limits and defaults of bulk CSV runs (max_file_size, max_record_size,
  // progress_every, wait_after_row_ms). Default: BulkOptions's defaults.
  BulkOptions bulk;
  // `flows:` — flow definitions (docs/flows.md), in file order, each validated
  // (FlowDef::Validate: cycles, unknown and unreachable steps). Default: none.
  std::vector<FlowDef> flows;
  // Where the config came from (file path or LoadString's source_name), for messages.
  std::string source;
};

// Reads and validates the file at `path`. kNotFound when the file does not exist;
// kInvalidArgument, naming the file, line and key of every problem, when it cannot be
// read or is not a valid configuration.
Result<Config> LoadFile(const std::string& path);

// The same for text already in memory; `source_name` stands for the file in messages.
// An empty document is a valid configuration with every default.
Result<Config> LoadString(std::string_view yaml, std::string source_name = "<string>");

// The storage URL to open: server.storage, or the path <data_dir>/taskmill.db when
// server.storage is empty.
std::string StorageUrl(const ServerSection& server);

// True when `role` ("api", "scheduler" or "runner") is in server.roles.
bool HasRole(const ServerSection& server, std::string_view role);

// kInvalidArgument naming the first remote function whose queue this process's runner
// would serve (the runner role is on and task_runner.queues is unset or lists it).
// LoadFile checks this for the file's roles; `taskmill serve` again after --roles.
Status CheckRemoteQueues(const Config& config);

// Engine options for a loaded configuration: storage URL and synchronous mode, the
// runner and scheduler roles, the task_storage / task_runner settings (queues
// included) and the trigger bindings. Fields the
// file does not cover (clock, runner id, intervals) keep their EngineOptions defaults.
EngineOptions ToEngineOptions(const Config& config);

}  // namespace taskmill::config
