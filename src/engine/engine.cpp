#include <taskmill/engine.h>

#include "metrics/taskmill_metrics.h"
#include "runner/runner.h"
#include "scheduler/scheduler.h"

#include <boost/json.hpp>

#include <array>
#include <thread>

namespace taskmill {
namespace {
namespace json = boost::json;

Status FieldError(std::string field, std::string message) {
  json::object details;
  details["field"] = field;
  return Status::InvalidArgument(field + ": " + message, std::move(details));
}

// Letters, digits and _ - . : (a table: every id of every enqueued run is checked).
constexpr std::array<bool, 256> kNameChars = [] {
  std::array<bool, 256> table{};
  for (int c = 0; c < 256; ++c) {
    table[static_cast<size_t>(c)] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                                    (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.' ||
                                    c == ':';
  }
  return table;
}();

bool ValidName(std::string_view s, size_t max) {
  if (s.empty() || s.size() > max) return false;
  for (char c : s) {
    if (!kNameChars[static_cast<unsigned char>(c)]) return false;
  }
  return true;
}

class EngineImpl final : public Engine {
 public:
  EngineImpl(EngineOptions options, std::shared_ptr<const FunctionRegistry> functions,
             std::unique_ptr<Storage> storage)
      : options_(std::move(options)), functions_(std::move(functions)), storage_(std::move(storage)) {
    clock_ = options_.clock ? options_.clock : &SystemClock::Instance();
    // Finishes are counted from the bus rather than in the runner: runs also end by a
    // cancel, the lost-run sweep and the scheduler's did_not_start records.
    finished_subscription_ = events_.Subscribe([&m = metrics::Taskmill()](const Event& event) {
      if (event.type != Event::Type::kRunFinished) return;
      if (metrics::Counter* counter = m.finished(event.status)) counter->Increment();
    });
    if (options_.runner) {
      runner_ = std::make_unique<Runner>(options_.runner_options, *storage_, *functions_, *clock_,
                                         events_);
    }
    if (options_.scheduler) {
      SchedulerHooks hooks;
      // Scheduled runs are built like any other, and stopped like an operator's cancel.
      hooks.prepare = [this](const EnqueueRequest& r) { return PrepareRun(r); };
      hooks.wake_runners_at = [this](TimePoint due) {
        if (runner_) runner_->WakeAt(due);
      };
      hooks.cancel = [this](const std::string& id, const std::string& queue) {
        return Cancel(id, queue);
      };
      scheduler_ = std::make_unique<Scheduler>(
          options_.scheduler_options, *storage_, *clock_, events_, [this] { WakeRunner(); },
          std::move(hooks));
    }
  }
  ~EngineImpl() override {
    Stop();
    events_.Unsubscribe(finished_subscription_);
  }

  Status Start() override {
    if (runner_) TASKMILL_RETURN_IF_ERROR(runner_->Start());
    if (scheduler_) TASKMILL_RETURN_IF_ERROR(scheduler_->Start());
    return Status::Ok();
  }

  void Stop() override {
    // The runner first: from here on it claims nothing, so the runs its stopping
    // attempts hand back (interrupted, due at once) wait for the next server instead
    // of being claimed again by this one while the scheduler resigns.
    if (runner_) runner_->Stop();
    if (scheduler_) scheduler_->Stop();
  }

  Result<Run> PrepareRun(const EnqueueRequest& req) override {
    if (req.function.empty() == req.task.empty()) {
      return FieldError("function", "give exactly one of function or task");
    }
    TimePoint now = clock_->Now();
    Run run;
    run.status = RunStatus::kPending;
    run.created_at = now;
    run.time_to_resolve = options_.default_time_to_resolve;
    if (!req.task.empty()) {
      auto task = storage_->TaskGet(req.task);
      if (!task.ok()) return task.status();
      run.task = task->name;
      run.function = task->function;
      run.args = task->args;
      run.queue = task->queue;
      run.priority = task->priority;
      run.retry = task->retry;
      run.timeout = task->timeout;
      run.time_to_resolve = task->time_to_resolve;
    } else {
      run.function = req.function;
    }
    const FunctionRegistry::Entry* entry = functions_->Find(run.function);
    if (!entry) {
      if (!req.task.empty()) {
        // A stored task whose function this node lacks still runs somewhere else, or
        // ends unknown_task; only anonymous runs are checked strictly.
      } else {
        json::object details;
        details["code"] = "unknown_function";
        details["field"] = "function";
        return Status::InvalidArgument("unknown function '" + run.function +
                                           "'; `taskmill functions` lists the known ones",
                                       std::move(details));
      }
    }
    if (req.args) {
      if (!req.args->is_array() && !req.args->is_object() && !req.args->is_null()) {
        return FieldError("args", "expected a JSON array or object");
      }
      if (!req.args->is_null()) run.args = *req.args;
    }
    if (!req.data.is_object()) return FieldError("data", "expected a JSON object");
    run.data = req.data;
    if (!req.queue.empty()) {
      run.queue = req.queue;
    } else if (req.task.empty() && entry && !entry->info.queue.empty()) {
      // A function served elsewhere (a remote function) names the queue its workers
      // take; a task's runs keep the task's queue.
      run.queue = entry->info.queue;
    }
    if (!ValidName(run.queue, 100)) {
      return FieldError("queue", "'" + run.queue + "' must be 1-100 characters of [A-Za-z0-9_.:-]");
    }
    run.id = req.id.empty() ? NewRunId(now) : req.id;
    if (!ValidName(run.id, 200)) {
      return FieldError("id", "'" + run.id + "' must be 1-200 characters of [A-Za-z0-9_.:-]");
    }
    if (req.priority) run.priority = *req.priority;
    if (req.retry) run.retry = *req.retry;
    if (Status s = run.retry.Validate(); !s.ok()) {
      std::string field = s.message().substr(0, s.message().find(':'));
      return FieldError(field, s.message().substr(s.message().find(':') + 2));
    }
    if (req.timeout) {
      if (req.timeout->count() <= 0) return FieldError("timeout", "must be positive");
      run.timeout = *req.timeout;
    }
    if (req.time_to_resolve) {
      if (req.time_to_resolve->count() <= 0) {
        return FieldError("time_to_resolve", "must be positive");
      }
      run.time_to_resolve = *req.time_to_resolve;
    }
    if (req.delay && req.delay->count() < 0) return FieldError("delay", "must not be negative");
    if (req.delay && req.run_at) return FieldError("delay", "give either delay or run_at");
    run.run_at = req.run_at ? *req.run_at : now + req.delay.value_or(Duration{0});
    run.scheduled_at = req.scheduled_at;
    run.account_id = req.account_id;
    // The creator as the caller says: an admin token of no account acting for another
    // account created the run as no account, not as its owner.
    run.auth_account_id = req.auth_account_id;
    run.parent_id = req.parent_id;
    run.flow_id = req.flow_id;
    return run;
  }

  // A function that reads a CSV input cannot run without one: refused when the run is
  // created rather than failing when it runs. Bulk runs come with their input through
  // BulkUpload, not through Enqueue.
  Status CheckInputGiven(const Run& run) const {
    const FunctionRegistry::Entry* entry = functions_->Find(run.function);
    if (!entry || entry->info.input != "csv" || !run.input_file.empty()) return Status::Ok();
    json::object details;
    details["code"] = "csv_input_required";
    details["field"] = "function";
    return Status::InvalidArgument(
        "function '" + run.function +
            "' reads a CSV input: upload one (POST /api/v1/runs?function=" + run.function +
            " with Content-Type: text/csv, or taskmill create " + run.function + " --input FILE)",
        std::move(details));
  }

  Result<Run> Enqueue(const EnqueueRequest& request, ConflictMode conflict) override {
    auto runs = EnqueueBatch({request}, conflict);
    if (!runs.ok()) return runs.status();
    return std::move(runs->front());
  }

  Result<std::vector<Run>> EnqueueBatch(const std::vector<EnqueueRequest>& requests,
                                        ConflictMode conflict) override {
    RunPutParams params;
    params.conflict = conflict;
    params.runs.reserve(requests.size());
    for (size_t i = 0; i < requests.size(); ++i) {
      auto run = PrepareRun(requests[i]);
      if (run.ok()) {
        if (Status s = CheckInputGiven(*run); !s.ok()) run = s;
      }
      if (!run.ok()) {
        if (requests.size() == 1) return run.status();
        json::value details = run.status().details();
        if (!details.is_object()) details = json::object();
        details.as_object()["index"] = i;
        return Status(run.status().code(),
                      "runs[" + std::to_string(i) + "]: " + run.status().message(),
                      std::move(details));
      }
      params.runs.push_back(std::move(*run));
    }
    auto stored = storage_->RunPut(std::move(params));
    if (!stored.ok()) return stored.status();
    TimePoint now = clock_->Now();
    TimePoint earliest = TimePoint::max();
    for (const Run& run : *stored) {
      if (run.status == RunStatus::kPending) earliest = std::min(earliest, run.run_at);
      events_.Publish({.type = Event::Type::kRunCreated, .run_id = run.id, .queue = run.queue,
                       .task = run.task, .function = run.function,
                       .account_id = run.account_id, .status = run.status});
    }
    if (runner_ && earliest != TimePoint::max()) {
      if (earliest <= now) runner_->Wake(); else runner_->WakeAt(earliest);
    }
    return stored;
  }

  Result<Run> WaitFinished(const std::string& id, const std::string& queue,
                           Duration timeout) override {
    struct Waiter {
      std::mutex mu;
      std::condition_variable cv;
      bool changed = false;
    };
    auto waiter = std::make_shared<Waiter>();
    uint64_t sub = events_.Subscribe([waiter, id](const Event& e) {
      if (e.run_id != id) return;
      {
        std::lock_guard lock(waiter->mu);
        waiter->changed = true;
      }
      waiter->cv.notify_all();
    });
    auto deadline = std::chrono::steady_clock::now() + timeout;
    Result<Run> run = Status::NotFound("no run with id '" + id + "'");
    for (;;) {
      run = storage_->RunGet(id, queue);
      if (!run.ok() || IsFinal(run->status)) break;
      std::unique_lock lock(waiter->mu);
      auto now = std::chrono::steady_clock::now();
      if (now >= deadline) break;
      // Events wake the waiter at once; the one-second poll covers changes made by
      // other nodes, which publish no event here.
      waiter->cv.wait_until(lock, std::min(deadline, now + std::chrono::seconds(1)),
                            [&] { return waiter->changed; });
      waiter->changed = false;
    }
    events_.Unsubscribe(sub);
    return run;
  }

  std::future<Result<Run>> Finished(const std::string& id, const std::string& queue) override {
    return std::async(std::launch::async, [this, id, queue] {
      return WaitFinished(id, queue, std::chrono::hours(24 * 365));
    });
  }

  Result<Run> Cancel(const std::string& id, const std::string& queue) override {
    auto run = storage_->RunCancel(id, queue, clock_->Now());
    if (!run.ok()) return run;
    if (runner_) runner_->CancelLocal(run->id, "stopped by an operator");
    events_.Publish({.type = Event::Type::kRunFinished, .run_id = run->id, .queue = run->queue,
                     .task = run->task, .function = run->function,
                     .account_id = run->account_id, .status = run->status});
    return run;
  }

  Result<Run> Retry(const std::string& id, const std::string& queue) override {
    auto run = storage_->RunRetry(id, queue, clock_->Now());
    if (!run.ok()) return run;
    events_.Publish({.type = Event::Type::kRunCreated, .run_id = run->id, .queue = run->queue,
                     .task = run->task, .function = run->function,
                     .account_id = run->account_id, .status = run->status});
    WakeRunner();
    return run;
  }

  Status TaskSetEnabled(const std::string& name, bool enabled) override {
    auto task = storage_->TaskGet(name);
    if (!task.ok()) return task.status();
    if (enabled && !task->enabled && task->kind == TaskKind::kPeriodical) {
      // Before the flag flips, so no scheduler sees the task enabled with a cursor from
      // before it was disabled: the disabled time is not a run of missed launches.
      TASKMILL_RETURN_IF_ERROR(PeriodicalDuty::RestartCursor(*storage_, *task, clock_->Now()));
    }
    TASKMILL_RETURN_IF_ERROR(storage_->TaskSetEnabled(name, enabled));
    // A continuous task's live run stops; of a periodical task only a launch stored
    // ahead of its instant (SchedulerOptions::launch_ahead), which has not begun.
    const bool continuous = task->kind == TaskKind::kContinuous;
    if (!enabled && task->kind != TaskKind::kSingleShot) {
      const TimePoint now = clock_->Now();
      for (RunStatus status : {RunStatus::kRunning, RunStatus::kPending}) {
        if (!continuous && status == RunStatus::kRunning) continue;
        RunFilter filter;
        filter.task = name;
        filter.status = status;
        filter.limit = 1000;
        auto live = storage_->RunList(filter);
        if (!live.ok()) return live.status();
        for (const Run& run : live->runs) {
          if (!continuous && !(run.scheduled_at && *run.scheduled_at > now)) continue;
          auto stopped = Cancel(run.id, run.queue);
          // Ended on its own meanwhile: nothing to stop.
          if (!stopped.ok() && stopped.status().code() != StatusCode::kFailedPrecondition) {
            return stopped.status();
          }
        }
      }
    }
    events_.Publish({.type = Event::Type::kTaskChanged, .task = name});
    return Status::Ok();
  }

  Status QueueSetPaused(const std::string& queue, bool paused) override {
    if (!ValidName(queue, 100)) {
      return FieldError("queue", "'" + queue + "' must be 1-100 characters of [A-Za-z0-9_.:-]");
    }
    TASKMILL_RETURN_IF_ERROR(storage_->QueueSetPaused(queue, paused));
    if (!paused) WakeRunner();
    return Status::Ok();
  }

  int runner_busy() const override { return runner_ ? runner_->busy() : 0; }
  int runner_capacity() const override { return runner_ ? runner_->capacity() : 0; }
  std::string runner_id() const override { return runner_ ? runner_->id() : std::string(); }
  void RunStored(TimePoint run_at) override {
    if (!runner_) return;
    if (run_at <= clock_->Now()) runner_->Wake(); else runner_->WakeAt(run_at);
  }

  bool scheduler_leader() const override { return scheduler_ && scheduler_->is_leader(); }
  Result<SchedulerState> scheduler_state() override {
    auto lease = storage_->LeaderGet(kSchedulerLease);
    if (!lease.ok()) return lease.status();
    SchedulerState state;
    if (*lease && (*lease)->until >= clock_->Now()) {
      state.leader = (*lease)->holder;
      state.lease_until = (*lease)->until;
    }
    state.is_leader = scheduler_ && scheduler_->is_leader() && state.leader == scheduler_->id();
    return state;
  }

  Storage& storage() override { return *storage_; }
  const FunctionRegistry& functions() const override { return *functions_; }
  Clock& clock() override { return *clock_; }
  EventBus& events() override { return events_; }
  const EngineOptions& options() const override { return options_; }

 private:
  void WakeRunner() {
    if (runner_) runner_->Wake();
  }

  EngineOptions options_;
  std::shared_ptr<const FunctionRegistry> functions_;
  std::unique_ptr<Storage> storage_;
  Clock* clock_ = nullptr;
  EventBus events_;
  uint64_t finished_subscription_ = 0;    // counts run.finished events (metrics)
  std::unique_ptr<Runner> runner_;        // null without the runner role
  std::unique_ptr<Scheduler> scheduler_;  // null without the scheduler role
};

}  // namespace

Result<std::unique_ptr<Engine>> Engine::Open(EngineOptions options,
                                             std::shared_ptr<const FunctionRegistry> functions) {
  if (!functions) functions = std::make_shared<FunctionRegistry>();
  // Every node registers the trigger functions (trigger.hourly, ...), so that any
  // runner can execute a trigger run whichever scheduler launched it.
  auto with_triggers =
      AddTriggerFunctions(std::move(functions), options.scheduler_options.triggers);
  if (!with_triggers.ok()) return with_triggers.status();
  functions = std::move(*with_triggers);
  auto storage = OpenStorage(options.storage);
  if (!storage.ok()) return storage.status();
  return std::unique_ptr<Engine>(
      new EngineImpl(std::move(options), std::move(functions), std::move(*storage)));
}

}  // namespace taskmill
