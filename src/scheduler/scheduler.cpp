#include "scheduler/scheduler.h"

#include "runner/runner.h"

#include <spdlog/spdlog.h>

#include <unistd.h>

namespace taskmill {

namespace {
constexpr const char* kLeaseName = "scheduler";
constexpr Duration kPruneEvery = std::chrono::seconds(60);
}  // namespace

Scheduler::Scheduler(SchedulerOptions options, Storage& storage, Clock& clock, EventBus& events,
                     std::function<void()> wake_runners)
    : options_(options),
      storage_(storage),
      clock_(clock),
      events_(events),
      wake_runners_(std::move(wake_runners)) {
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  id_ = std::string(host) + ":" + std::to_string(getpid()) + ":" +
        NewRunId(clock_.Now()).substr(24);
}

Scheduler::~Scheduler() { Stop(); }

Status Scheduler::Start() {
  std::lock_guard lock(mu_);
  if (running_) return Status::Ok();
  running_ = true;
  thread_ = std::thread([this] { Loop(); });
  return Status::Ok();
}

void Scheduler::Stop() {
  {
    std::lock_guard lock(mu_);
    if (!running_) return;
    running_ = false;
  }
  cv_.notify_all();
  thread_.join();
  bool was_leader;
  {
    std::lock_guard lock(mu_);
    was_leader = leader_;
    leader_ = false;
  }
  // Hand the lease over at once instead of making the next scheduler wait for expiry.
  if (was_leader) (void)storage_.LeaderResign(kLeaseName, id_);
}

bool Scheduler::is_leader() const {
  std::lock_guard lock(mu_);
  return leader_;
}

void Scheduler::Loop() {
  std::unique_lock lock(mu_);
  while (running_) {
    lock.unlock();
    Tick();
    lock.lock();
    clock_.WaitUntil(lock, cv_, clock_.Now() + options_.sweep_interval,
                     [&] { return !running_; });
  }
}

bool Scheduler::Tick() {
  TimePoint now = clock_.Now();
  auto elected = storage_.LeaderAttemptElect(kLeaseName, id_, now, options_.leader_ttl);
  bool leader = elected.ok() && *elected;
  if (!elected.ok()) {
    spdlog::warn("scheduler: leader election failed: {}", elected.status().ToString());
  }
  bool prune_due;
  {
    std::lock_guard lock(mu_);
    if (leader != leader_) {
      spdlog::info("scheduler {}: {} leadership", id_, leader ? "took" : "lost");
    }
    leader_ = leader;
    prune_due = now - last_prune_ >= kPruneEvery;
    if (leader && prune_due) last_prune_ = now;
  }
  if (!leader) return false;
  SweepLost(now);
  if (prune_due) {
    auto removed = storage_.RunPrune(options_.task_log_max_size);
    if (!removed.ok()) spdlog::warn("scheduler: prune failed: {}", removed.status().ToString());
  }
  return true;
}

int Scheduler::SweepLost(TimePoint now) {
  auto expired = storage_.RunListExpired(now, 1000);
  if (!expired.ok()) {
    spdlog::warn("scheduler: sweep failed: {}", expired.status().ToString());
    return 0;
  }
  if (expired->empty()) return 0;
  std::vector<RunFinish> finishes;
  finishes.reserve(expired->size());
  for (const Run& run : *expired) {
    HandlerOutcome lost;
    lost.status = RunStatus::kLost;
    lost.error = "lease expired: runner " + run.runner + " stopped heartbeating";
    lost.error_kind = "lost";
    RunFinish f = DecideFinish(run, lost, now);
    f.outcome = "lost";
    finishes.push_back(std::move(f));
  }
  auto results = storage_.RunFinishBatch(finishes);
  if (!results.ok()) return 0;
  int resolved = 0;
  bool retried = false;
  for (size_t i = 0; i < finishes.size(); ++i) {
    if (!(*results)[i].accepted) continue;
    ++resolved;
    const Run& run = (*expired)[i];
    retried = retried || finishes[i].status == RunStatus::kPending;
    events_.Publish({.type = finishes[i].status == RunStatus::kPending
                                 ? Event::Type::kRunCreated
                                 : Event::Type::kRunFinished,
                     .run_id = run.id, .queue = run.queue, .task = run.task,
                     .function = run.function, .account_id = run.account_id,
                     .status = finishes[i].status});
  }
  if (retried && wake_runners_) wake_runners_();
  return resolved;
}

}  // namespace taskmill
