#include <taskmill/engine.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <optional>
#include <thread>

#include "core/lifecycle/run_builder.h"
#include "core/lifecycle/run_notifier.h"
#include "flows/callbacks.h"
#include "flows/caps.h"
#include "flows/flow_events.h"
#include "flows/reopen.h"
#include "flows/start.h"
#include "metrics/taskmill_metrics.h"
#include "runner/runner.h"
#include "runner/runner_beacon.h"
#include "scheduler/scheduler.h"

namespace taskmill {
namespace {
namespace json = boost::json;

class EngineImpl final : public Engine {
 public:
  EngineImpl(EngineOptions options, std::shared_ptr<const FunctionRegistry> functions,
             std::shared_ptr<Storage> storage)
      : options_(std::move(options)),
        functions_(std::move(functions)),
        storage_(std::move(storage)) {
    clock_ = options_.clock ? options_.clock : &SystemClock::Instance();
    // Finishes are counted from the bus rather than in the runner: runs also end by a
    // cancel, the lost-run sweep and the scheduler's did_not_start records.
    finished_subscription_ = events_.Subscribe([&m = metrics::Taskmill()](const Event& event) {
      if (event.type != Event::Type::kRunFinished) return;
      if (metrics::Counter* counter = m.finished(event.status)) counter->Increment();
    });
    options_.runner_options.flows = options_.flows;
    options_.scheduler_options.flows = options_.flows;
    if (options_.runner) {
      runner_ = std::make_unique<Runner>(options_.runner_options, *storage_, *functions_, *clock_,
                                         events_);
      beacon_ = std::make_unique<RunnerBeacon>(RunnerBeaconOptions{}, *storage_, *clock_,
                                               [this] { return RunnerSnapshot(); });
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
    if (beacon_) TASKMILL_RETURN_IF_ERROR(beacon_->Start());
    if (scheduler_) TASKMILL_RETURN_IF_ERROR(scheduler_->Start());
    return Status::Ok();
  }

  void Stop() override {
    // The runner first: from here on it claims nothing, so the runs its stopping
    // attempts hand back (interrupted, due at once) wait for the next server instead
    // of being claimed again by this one while the scheduler resigns.
    if (beacon_) beacon_->Stop();
    if (runner_) runner_->Stop();
    if (scheduler_) scheduler_->Stop();
  }

  Result<Run> PrepareRun(const EnqueueRequest& req) override {
    std::optional<TaskDef> task;
    if (!req.task.empty() && req.function.empty()) {
      auto stored = storage_->TaskGet(req.task);
      if (!stored.ok()) return stored.status();
      task = std::move(*stored);
    }
    return BuildRun(req, task ? &*task : nullptr, functions_.get(),
                    options_.default_time_to_resolve, clock_->Now());
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
    notifier_.Created(*stored);
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
    notifier_.Stored(*run);
    if (run->id == run->flow_id) {
      StopFlowMembers(run->id);
      // Only once its members are stopped: a cap lifted earlier lets a runner claim
      // children between the listings of the live ones, and they would run on.
      flows::DropChildCaps(*storage_, options_.flows.get(), *run);
      flows::PublishFlowOver(events_, *run);
      // No finish's commit ends the flow here: its callback is stored just after.
      if (flows::StoreCallback(*storage_, options_.flows.get(), "over", *run, clock_->Now())) {
        RunStored(clock_->Now());
      }
    }
    return run;
  }

  // A stopped flow stops its live steps and children. Its root is final first, so no
  // finish stores a follow-up meanwhile (RunFollowUp::while_live).
  // A member can move between the listings of running and pending runs (a claim, a
  // retry), so the listing is read again until a pass finds nothing live.
  void StopFlowMembers(const std::string& root_id) {
    for (int pass = 0; pass < 5; ++pass) {
      auto live = flows::LiveMembers(*storage_, root_id);
      if (!live.ok() || live->empty()) return;
      for (const Run& member : *live) {
        auto stopped = storage_->RunCancel(member.id, member.queue, clock_->Now());
        if (!stopped.ok()) continue;  // it ended meanwhile
        if (runner_) runner_->CancelLocal(stopped->id, "stopped by an operator");
        notifier_.Stored(*stopped);
      }
    }
  }

  Result<Run> Retry(const std::string& id, const std::string& queue) override {
    if (options_.flows) {
      // A run of a failed flow reopens the flow (flows/reopen.h).
      auto stored = storage_->RunGet(id, queue);
      if (!stored.ok()) return stored;
      if (auto reopened = flows::RetryInFlow(*this, *stored)) return *reopened;
    }
    auto run = storage_->RunRetry(id, queue, clock_->Now());
    if (!run.ok()) return run;
    notifier_.Created(*run);
    return run;
  }

  Status TaskPut(const TaskDef& task) override {
    TASKMILL_RETURN_IF_ERROR(task.Validate());
    if (!task.command.empty()) {
      return FieldError("command", "command tasks are defined in the configuration file only");
    }
    if (!functions_->Find(task.function)) {
      json::object details;
      details["code"] = "unknown_function";
      details["field"] = "function";
      return Status::InvalidArgument(
          "unknown function '" + task.function + "'; `taskmill functions` lists the known ones",
          std::move(details));
    }
    TASKMILL_RETURN_IF_ERROR(storage_->TaskUpsert(task));
    notifier_.TaskChanged(task.name);
    return Status::Ok();
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
    notifier_.TaskChanged(name);
    return Status::Ok();
  }

  Status QueueSetPaused(const std::string& queue, bool paused) override {
    if (!IsValidQueueName(queue)) {
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
    if (run_at <= clock_->Now())
      runner_->Wake();
    else
      runner_->WakeAt(run_at);
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
  std::shared_ptr<Storage> storage_;  // shared with the application that built it
  Clock* clock_ = nullptr;
  EventBus events_;
  // After every commit of this engine's: events, and a wake-up of the local runner.
  RunNotifier notifier_{events_, [this](TimePoint due) { RunStored(due); }};
  uint64_t finished_subscription_ = 0;  // counts run.finished events (metrics)
  // This process's runner as the runners' list shows it (RunnerBeacon).
  RunnerInfo RunnerSnapshot() const {
    RunnerInfo info;
    info.id = runner_->id();
    info.kind = "local";
    char host[256] = {0};
    gethostname(host, sizeof host - 1);
    info.host = host;
    info.pid = getpid();
    info.queues = options_.runner_options.queues;
    info.capacity = runner_->capacity();
    info.running = runner_->busy();
    return info;
  }

  std::unique_ptr<Runner> runner_;        // null without the runner role
  std::unique_ptr<RunnerBeacon> beacon_;  // with the runner: its beats into storage
  std::unique_ptr<Scheduler> scheduler_;  // null without the scheduler role
};

// Every node registers the trigger functions (trigger.hourly, ...), so that any runner
// can execute a trigger run whichever scheduler launched it.
Result<std::shared_ptr<const FunctionRegistry>> WithTriggerFunctions(
    const EngineOptions& options, std::shared_ptr<const FunctionRegistry> functions) {
  if (!functions) functions = std::make_shared<FunctionRegistry>();
  return AddTriggerFunctions(std::move(functions), options.scheduler_options.triggers);
}

}  // namespace

Result<std::unique_ptr<Engine>> Engine::Open(EngineOptions options,
                                             std::shared_ptr<const FunctionRegistry> functions) {
  auto with_triggers = WithTriggerFunctions(options, std::move(functions));
  if (!with_triggers.ok()) return with_triggers.status();
  auto storage = OpenStorage(options.storage);
  if (!storage.ok()) return storage.status();
  return std::unique_ptr<Engine>(
      new EngineImpl(std::move(options), std::move(*with_triggers), std::move(*storage)));
}

Result<std::unique_ptr<Engine>> Engine::Open(EngineOptions options,
                                             std::shared_ptr<Storage> storage,
                                             std::shared_ptr<const FunctionRegistry> functions) {
  if (!storage) return Status::InvalidArgument("Engine::Open: the storage given is null");
  auto with_triggers = WithTriggerFunctions(options, std::move(functions));
  if (!with_triggers.ok()) return with_triggers.status();
  return std::unique_ptr<Engine>(
      new EngineImpl(std::move(options), std::move(*with_triggers), std::move(storage)));
}

}  // namespace taskmill
