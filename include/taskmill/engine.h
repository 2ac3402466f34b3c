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

#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace taskmill {

struct RunnerOptions {
  int capacity = 16;                       // concurrent attempts (slots). Default: 16
  std::string id;                          // Default: hostname:pid
  std::vector<std::string> queues;         // Default: every queue
  Duration poll_interval = std::chrono::seconds(1);  // fallback when no wake-up arrives
  Duration heartbeat_interval{0};          // Default: a third of the shortest lease
  Duration kill_grace = std::chrono::seconds(5);     // SIGTERM → SIGKILL for commands
  size_t output_limit = 1 << 20;           // captured command output per attempt
};

struct SchedulerOptions {
  Duration leader_ttl = std::chrono::seconds(15);
  Duration sweep_interval = std::chrono::seconds(1);
  int task_log_max_size = 100;             // finished runs kept per task. Default: 100
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
  std::string account_id;
  std::string auth_account_id;
  std::optional<TimePoint> scheduled_at;
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
  // Waits until the run is final, or `timeout` passes (then returns the run as it is).
  virtual Result<Run> WaitFinished(const std::string& id, const std::string& queue,
                                   Duration timeout) = 0;
  // The same as a future, for embedding programs.
  virtual std::future<Result<Run>> Finished(const std::string& id, const std::string& queue = "") = 0;

  virtual Result<Run> Cancel(const std::string& id, const std::string& queue = "") = 0;
  virtual Result<Run> Retry(const std::string& id, const std::string& queue = "") = 0;

  // Runner slots in use and in total on this node (0/0 without the runner role), and
  // whether this node's scheduler currently leads.
  virtual int runner_busy() const = 0;
  virtual int runner_capacity() const = 0;
  virtual bool scheduler_leader() const = 0;

  virtual Storage& storage() = 0;
  virtual const FunctionRegistry& functions() const = 0;
  virtual Clock& clock() = 0;
  virtual EventBus& events() = 0;
  virtual const EngineOptions& options() const = 0;
};

}  // namespace taskmill
