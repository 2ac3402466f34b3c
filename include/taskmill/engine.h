// taskmill/engine.h — the composition root: storage, runner, scheduler and events.
//
// An Engine is what a C++ service embeds and what `taskmill serve` runs. Open it
// with a registry of functions, Start() the roles it should play, enqueue runs and
// wait for them. All methods are thread-safe. Start() and Stop() tolerate being
// called twice; the destructor stops.
#pragma once

#include <taskmill/clock.h>
#include <taskmill/events.h>
#include <taskmill/function.h>
#include <taskmill/model.h>
#include <taskmill/storage.h>

#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace taskmill {

struct RunnerOptions {
  int capacity = 16;                       // concurrent attempts (slots). Default: 16
  // Most runs claimed ahead of the free slots, waiting in the runner for a slot,
  // while attempts are short: the runner claims only as many as its slots finish in
  // about a millisecond at the attempt duration it measures, so long attempts get no
  // runs claimed ahead. Claiming many runs per storage call is what lets thousands
  // of short runs a second through. 0: claim for free slots only. Default: 1000
  int prefetch = 1000;
  std::string id;                          // Default: hostname:pid
  std::vector<std::string> queues;         // Default: every queue
  Duration poll_interval = std::chrono::seconds(1);  // fallback when no wake-up arrives
  Duration heartbeat_interval{0};          // Default: a third of the shortest lease
  Duration kill_grace = std::chrono::seconds(5);     // SIGTERM → SIGKILL for commands
  size_t output_limit = 1 << 20;           // captured command output per attempt
};

// Kazoo's headless triggers: functions bound to a clock-aligned trigger. Each
// trigger with bindings fires one run (function `trigger.<name>`, task
// `trigger.<name>`) that calls its functions one after another, in binding order; a
// failing function does not stop the next, and each one's outcome is recorded in the
// run's result. docs/scheduling.md, "Triggers".
struct TriggerBindings {
  std::vector<std::string> minutely;  // on every minute (UTC)
  std::vector<std::string> hourly;    // on every hour (UTC)
  std::vector<std::string> daily;     // at midnight UTC
  // Once per known account per browse_interval (intervals aligned on the Unix epoch),
  // each function called with the account id (RunContext::account_id() and args
  // [account_id]).
  std::vector<std::string> each_account;
  Duration browse_interval = std::chrono::hours(24);  // Default: 1 day
  // The accounts each_account visits. Default (unset): every distinct non-empty
  // account_id of the stored runs, read once per browse_interval.
  std::function<Result<std::vector<std::string>>()> accounts;

  bool empty() const {
    return minutely.empty() && hourly.empty() && daily.empty() && each_account.empty();
  }
};

struct SchedulerOptions {
  // How long a won leader lease lasts; renewed at least every sweep_interval.
  // Default: 15 s
  Duration leader_ttl = std::chrono::seconds(15);
  // Lost-run sweeps, lease renewal and the continuous guard run this often; periodical
  // launches do not wait for it (the scheduler wakes at each fire instant). Default: 1 s
  Duration sweep_interval = std::chrono::seconds(1);
  int task_log_max_size = 100;             // finished runs kept per task. Default: 100
  // History is pruned to task_log_max_size this often. Default: 60 s
  Duration prune_interval = std::chrono::seconds(60);
  // A periodical instant that passed while no scheduler led, more than this before
  // the current leader took over, is a misfire (the task's misfire policy decides);
  // later instants launch normally, so a quick restart misses nothing. Default: 5 s
  Duration misfire_grace = std::chrono::seconds(5);
  // A periodical launch is stored this long before its instant, due at the instant,
  // so that the commit is done when the instant comes and the runner claims the run
  // right then. While the task has a live run and overlap is skip, the launch is
  // decided at the instant itself instead. Default: 200 ms (0: store at the instant)
  Duration launch_ahead = std::chrono::milliseconds(200);
  TriggerBindings triggers;  // Default: none
};

struct EngineOptions {
  StorageOptions storage;
  Clock* clock = nullptr;                  // Default: SystemClock::Instance()
  bool runner = true;                      // play the runner role
  bool scheduler = true;                   // play the scheduler role
  RunnerOptions runner_options;
  SchedulerOptions scheduler_options;
  Duration default_time_to_resolve = std::chrono::seconds(60);  // task_storage.task_ttr
};

// A request to launch a function (anonymous run) or a task.
struct EnqueueRequest {
  std::string function;                    // one of function / task
  std::string task;
  std::optional<boost::json::value> args;  // Default: task's args, or []
  boost::json::value data = boost::json::object();
  std::string queue;                       // Default: task's queue or "default"
  std::string id;                          // Default: a new UUIDv7
  std::optional<int> priority;
  std::optional<TimePoint> run_at;
  std::optional<Duration> delay;           // run_at = now + delay
  std::optional<RetryPolicy> retry;
  std::optional<Duration> timeout;
  std::optional<Duration> time_to_resolve;
  std::string account_id;                  // the owner
  std::string auth_account_id;             // who created it, stored as given (may differ)
  std::optional<TimePoint> scheduled_at;
  std::string parent_id;                   // the run that made this one, if any
  std::string flow_id;                     // the flow it belongs to, if any
};

// Who leads scheduling (Engine::scheduler_state).
struct SchedulerState {
  std::string leader;                    // holder of the scheduler lease; empty: no one
  std::optional<TimePoint> lease_until;  // end of that lease
  bool is_leader = false;                // this node's scheduler holds it
};

class Engine {
 public:
  // Opens storage (applying migrations) and stores the tasks given. Does not start
  // any role.
  static Result<std::unique_ptr<Engine>> Open(EngineOptions options,
                                              std::shared_ptr<const FunctionRegistry> functions);
  virtual ~Engine() = default;

  virtual Status Start() = 0;
  virtual void Stop() = 0;

  // Builds the run a request describes (validating it) without storing it.
  // Invalid values are kInvalidArgument with details {"field": NAME}; a function no
  // one registered is kInvalidArgument with details {"code": "unknown_function",
  // "field": "function"}; an unknown task is kNotFound.
  virtual Result<Run> PrepareRun(const EnqueueRequest& request) = 0;
  // Stores one run; returns it as stored, after the commit.
  virtual Result<Run> Enqueue(const EnqueueRequest& request,
                              ConflictMode conflict = ConflictMode::kError) = 0;
  // Stores many runs in one commit; all or nothing with kError.
  virtual Result<std::vector<Run>> EnqueueBatch(const std::vector<EnqueueRequest>& requests,
                                                ConflictMode conflict = ConflictMode::kError) = 0;
  // Tells this process's runner that a run stored without Enqueue (a bulk upload
  // committed by its own RunPut) is due at `run_at`, so it starts without waiting for
  // the runner's poll. Publishing the created event stays the storer's job.
  virtual void RunStored(TimePoint run_at) = 0;
  // Waits until the run is final, or `timeout` passes (then returns the run as it is).
  virtual Result<Run> WaitFinished(const std::string& id, const std::string& queue,
                                   Duration timeout) = 0;
  // The same as a future, for embedding programs.
  virtual std::future<Result<Run>> Finished(const std::string& id, const std::string& queue = "") = 0;

  virtual Result<Run> Cancel(const std::string& id, const std::string& queue = "") = 0;
  virtual Result<Run> Retry(const std::string& id, const std::string& queue = "") = 0;

  // Enables or disables a stored task and publishes Event::Type::kTaskChanged.
  // Disabling a continuous task also stops its live runs (as Cancel does); disabling a
  // periodical task stops further launches (including one already stored ahead of its
  // instant) and leaves a launch that has begun alone.
  // Enabling a periodical task starts its schedule from now, so the time it was
  // disabled does not count as missed launches. kNotFound for an unknown task.
  // Pauses or resumes a queue; resuming wakes this node's runner at once.
  virtual Status QueueSetPaused(const std::string& queue, bool paused) = 0;
  virtual Status TaskSetEnabled(const std::string& name, bool enabled) = 0;

  // Runner slots in use and in total on this node (0/0 without the runner role), and
  // whether this node's scheduler currently leads.
  virtual int runner_busy() const = 0;
  virtual int runner_capacity() const = 0;
  // This node's runner id (RunnerOptions::id, by default hostname:pid); empty without
  // the runner role. The queues it serves are options().runner_options.queues.
  virtual std::string runner_id() const = 0;
  virtual bool scheduler_leader() const = 0;
  // The scheduler lease as stored, whichever node holds it (nodes without the
  // scheduler role too); an expired lease counts as held by no one.
  virtual Result<SchedulerState> scheduler_state() = 0;

  virtual Storage& storage() = 0;
  virtual const FunctionRegistry& functions() const = 0;
  virtual Clock& clock() = 0;
  virtual EventBus& events() = 0;
  virtual const EngineOptions& options() const = 0;
};

}  // namespace taskmill
