// taskmill/engine.h — the composition root: storage, runner, scheduler and events.
//
// An Engine is what a C++ service embeds and what `taskmill serve` runs. Open it
// with a registry of functions, Start() the roles it should play, enqueue runs and
// wait for them. All methods are thread-safe. Start() and Stop() tolerate being
// called twice; the destructor stops.
#pragma once

#include <taskmill/clock.h>
#include <taskmill/enqueue_request.h>
#include <taskmill/events.h>
#include <taskmill/flow.h>
#include <taskmill/function.h>
#include <taskmill/model.h>
#include <taskmill/runner_options.h>
#include <taskmill/scheduler_options.h>
#include <taskmill/storage.h>

#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace taskmill {

struct EngineOptions {
  StorageOptions storage;
  Clock* clock = nullptr;  // Default: SystemClock::Instance()
  bool runner = true;      // play the runner role
  bool scheduler = true;   // play the scheduler role
  RunnerOptions runner_options;
  SchedulerOptions scheduler_options;
  Duration default_time_to_resolve = std::chrono::seconds(60);  // task_storage.task_ttr
  // The flows this node starts and advances (taskmill/flow.h). Every node that runs a
  // flow's steps must know the flow. Default: none.
  std::shared_ptr<const FlowRegistry> flows;
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
  // Opens an engine on a storage the application built: a backend of its own (one
  // that passes the conformance suite, taskmill/testing/storage_conformance.h), or a
  // storage it also uses itself. options.storage is not read. The engine shares
  // ownership, so the storage lives as long as the longest holder; it must be ready
  // for use (migrated). A null storage is kInvalidArgument.
  static Result<std::unique_ptr<Engine>> Open(EngineOptions options,
                                              std::shared_ptr<Storage> storage,
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
  virtual std::future<Result<Run>> Finished(const std::string& id,
                                            const std::string& queue = "") = 0;

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
  // Stores a task definition, new or replacing the one of that name, once
  // TaskDef::Validate passes, and publishes Event::Type::kTaskChanged so that every
  // scheduler sees it. Its function must be one this node knows (kInvalidArgument,
  // code unknown_function); command tasks come from the configuration file only,
  // which registers their command as a function.
  virtual Status TaskPut(const TaskDef& task) = 0;

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
