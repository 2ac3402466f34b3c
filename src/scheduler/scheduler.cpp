#include "scheduler/scheduler.h"

#include <spdlog/spdlog.h>
#include <taskmill/run_enums.h>
#include <unistd.h>

#include <map>

#include "core/lifecycle/finish_decision.h"
#include "flows/caps.h"

namespace taskmill {

Scheduler::Scheduler(SchedulerOptions options, Storage& storage, Clock& clock, EventBus& events,
                     std::function<void()> wake_runners, SchedulerHooks hooks)
    : options_(std::move(options)),
      storage_(storage),
      clock_(clock),
      events_(events),
      wake_runners_(std::move(wake_runners)),
      launcher_(
          storage, clock, events, std::move(hooks), wake_runners_, [this] { return Fence(); },
          [this] { Deposed(); }),
      periodical_(launcher_, options_.misfire_grace, std::max(Duration{0}, options_.launch_ahead)),
      continuous_(launcher_),
      each_account_(launcher_, options_.triggers),
      trigger_tasks_(TriggerTasks(options_.triggers)) {
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  id_ =
      std::string(host) + ":" + std::to_string(getpid()) + ":" + NewRunId(clock_.Now()).substr(24);
}

Scheduler::~Scheduler() { Stop(); }

void Scheduler::StoreTriggerTasks() {
  for (TaskDef def : TriggerTaskRows(options_.triggers)) {
    if (auto stored = storage_.TaskGet(def.name); stored.ok()) def.enabled = stored->enabled;
    if (Status s = storage_.TaskUpsert(def); !s.ok()) {
      spdlog::warn("scheduler: storing task {}: {}", def.name, s.ToString());
    }
  }
}

Status Scheduler::Start() {
  {
    std::lock_guard lock(mu_);
    if (running_) return Status::Ok();
  }
  StoreTriggerTasks();
  // Subscribed before mu_ is taken: the bus calls OnEvent, which takes mu_, under its own
  // lock, so subscribing under mu_ would take the two locks in both orders (a deadlock
  // with a concurrent Publish).
  uint64_t subscription = events_.Subscribe([this](const Event& e) { OnEvent(e); });
  std::unique_lock lock(mu_);
  if (running_) {
    lock.unlock();
    events_.Unsubscribe(subscription);
    return Status::Ok();
  }
  running_ = true;
  // So that, if this process dies, the next scheduler takes the lease at once.
  (void)storage_.HolderAttach(id_);
  subscription_ = subscription;
  thread_ = std::thread([this] { Loop(); });
  return Status::Ok();
}

void Scheduler::Stop() {
  uint64_t subscription;
  {
    std::lock_guard lock(mu_);
    if (!running_) return;
    running_ = false;
    subscription = subscription_;
    subscription_ = 0;
  }
  events_.Unsubscribe(subscription);
  cv_.notify_all();
  thread_.join();
  bool was_leader;
  {
    std::lock_guard lock(mu_);
    was_leader = leader_;
    leader_ = false;
    next_wake_.reset();
  }
  // Hand the lease over at once instead of making the next scheduler wait for expiry.
  if (was_leader) (void)storage_.LeaderResign(kSchedulerLease, id_);
  storage_.HolderDetach(id_);
}

void Scheduler::Poke() {
  {
    std::lock_guard lock(mu_);
    poke_ = true;
  }
  cv_.notify_all();
}

void Scheduler::OnEvent(const Event& event) {
  bool poke = event.type == Event::Type::kTaskChanged;
  if (event.type == Event::Type::kRunFinished && !event.task.empty()) {
    // The end of a continuous task's run: its successor is due pause_sec after it,
    // and a pass now stores it at once rather than at the next sweep.
    std::lock_guard lock(mu_);
    poke = continuous_tasks_.count(event.task) > 0;
  }
  if (poke) Poke();
}

bool Scheduler::is_leader() const {
  std::lock_guard lock(mu_);
  return leader_;
}

std::optional<TimePoint> Scheduler::next_wake() const {
  std::lock_guard lock(mu_);
  return next_wake_;
}

bool Scheduler::LeaseHeld() const {
  TimePoint now = clock_.Now();
  std::lock_guard lock(mu_);
  return leader_ && now < lease_until_;
}

std::optional<LeaderFence> Scheduler::Fence() const {
  TimePoint now = clock_.Now();
  std::lock_guard lock(mu_);
  if (!leader_ || now >= lease_until_) return std::nullopt;
  return LeaderFence{kSchedulerLease, term_};
}

void Scheduler::Deposed() {
  std::lock_guard lock(mu_);
  if (leader_) spdlog::info("scheduler {}: lost leadership (term {} is over)", id_, term_);
  leader_ = false;
  next_wake_.reset();
}

void Scheduler::Loop() {
  std::unique_lock lock(mu_);
  while (running_) {
    bool full = clock_.Now() >= next_sweep_;
    poke_ = false;
    lock.unlock();
    Pass(full);
    lock.lock();
    TimePoint wake = next_sweep_;
    if (next_wake_ && *next_wake_ < wake) wake = *next_wake_;
    clock_.WaitUntil(lock, cv_, wake, [&] { return !running_ || poke_; });
  }
}

bool Scheduler::Tick() { return Pass(/*full=*/true); }

bool Scheduler::Elect(TimePoint now) {
  auto elected = storage_.LeaderAttemptElect(kSchedulerLease, id_, now, options_.leader_ttl);
  if (!elected.ok()) {
    spdlog::warn("scheduler: leader election failed: {}", elected.status().ToString());
  }
  bool leader = elected.ok() && *elected;
  // The term is read after the election: the lease's term changes only with its
  // holder, so a lease read as ours carries our term, even if it was taken over and
  // back in between (a later term, then, which our writes carry from now on).
  int64_t term = 0;
  if (leader) {
    auto lease = storage_.LeaderGet(kSchedulerLease);
    if (!lease.ok()) {
      spdlog::warn("scheduler: reading the leader lease: {}", lease.status().ToString());
    }
    leader = lease.ok() && *lease && (*lease)->holder == id_;
    if (leader) term = (*lease)->term;
  }
  bool new_term = false;
  {
    std::lock_guard lock(mu_);
    if (leader != leader_) {
      spdlog::info("scheduler {}: {} leadership", id_, leader ? "took" : "lost");
    }
    // A leader that did not pass for longer than a lease (a stalled process) may have
    // been replaced meanwhile: its memory is stale, and what fell due while it
    // stalled was missed like any downtime.
    new_term = leader && (!leader_ || term != term_ || now - last_pass_ > options_.leader_ttl);
    leader_ = leader;
    if (leader) {
      term_ = term;
      elected_at_ = now;
      lease_until_ = now + options_.leader_ttl;
      if (new_term) leading_since_ = now;
    } else {
      next_wake_.reset();
    }
  }
  if (new_term) {
    periodical_.Reset();
    each_account_.Reset();
  }
  return leader;
}

void Scheduler::PruneByAge(TimePoint now) {
  // Only the leader prunes, so schedulers do not repeat each other's work; the storage
  // still serializes prunes (a `taskmill prune` may run meanwhile). What is left past
  // a call's bound goes at the next prune.
  auto pruned = storage_.RunPruneOlderThan(now - options_.history_retention, now);
  if (!pruned.ok()) {
    spdlog::warn("scheduler: pruning history by age failed: {}", pruned.status().ToString());
    return;
  }
  for (const auto& [period, runs] : pruned->dropped) {
    spdlog::info("scheduler: history retention dropped {} ({} runs)", period, runs);
  }
  if (pruned->runs > 0) spdlog::info("scheduler: history retention removed {} runs", pruned->runs);
}

bool Scheduler::Pass(bool full) {
  std::lock_guard pass(pass_mu_);
  TimePoint now = clock_.Now();
  bool renew;
  bool prune_due;
  {
    std::lock_guard lock(mu_);
    // Between sweeps a pass woken for a fire instant skips the election (a write) as
    // long as more than half the lease is left; that keeps a commit off the launch's
    // critical path.
    renew = full || !leader_ || now >= elected_at_ + options_.leader_ttl / 2 || now >= lease_until_;
    if (full) next_sweep_ = now + options_.sweep_interval;
    prune_due = now - last_prune_ >= options_.prune_interval;
  }
  // Every scheduler sweeps, leader or not: each change is fenced, so sweeping needs
  // no lease, and a lost run is not kept waiting for an election (doc.md, "Lost runs").
  if (full) SweepLost(now);
  if (renew && !Elect(now)) return false;
  if (!LeaseHeld()) return false;

  if (full) {
    if (prune_due) {
      {
        std::lock_guard lock(mu_);
        last_prune_ = now;
      }
      auto removed = storage_.RunPrune(options_.task_log_max_size);
      if (!removed.ok()) spdlog::warn("scheduler: prune failed: {}", removed.status().ToString());
      if (options_.history_retention > Duration::zero()) PruneByAge(now);
      // Uploads that died before their run was stored leave staged files behind; an
      // hour is far longer than any upload in progress stays silent (request_timeout).
      auto staged = storage_.FilePruneStaged(now - std::chrono::hours(1));
      if (!staged.ok()) {
        spdlog::warn("scheduler: pruning staged files failed: {}", staged.status().ToString());
      }
    }
  }

  std::vector<ScheduledTask> tasks;
  // The triggers' rows (StoreTriggerTasks) say only whether each trigger is enabled:
  // a trigger launches from this scheduler's bindings, and a row left by bindings
  // since removed launches nothing.
  std::map<std::string, bool> trigger_enabled;
  auto stored = storage_.TaskList();
  if (!stored.ok()) {
    spdlog::warn("scheduler: listing tasks failed: {}", stored.status().ToString());
  } else {
    tasks.reserve(stored->size() + trigger_tasks_.size());
    for (TaskDef& def : *stored) {
      if (IsTriggerTaskName(def.name)) {
        trigger_enabled[def.name] = def.enabled;
        continue;
      }
      tasks.push_back({std::move(def), /*stored=*/true});
    }
  }
  for (ScheduledTask task : trigger_tasks_) {
    if (auto it = trigger_enabled.find(task.def.name); it != trigger_enabled.end()) {
      task.def.enabled = it->second;
    }
    tasks.push_back(std::move(task));
  }
  auto each_account = trigger_enabled.find("trigger.each_account");
  bool each_account_enabled = each_account == trigger_enabled.end() || each_account->second;
  std::set<std::string> continuous;
  for (const ScheduledTask& task : tasks) {
    if (task.def.kind == TaskKind::kContinuous) continuous.insert(task.def.name);
  }

  TimePoint leading_since;
  {
    std::lock_guard lock(mu_);
    leading_since = leading_since_;
    continuous_tasks_ = std::move(continuous);
  }
  std::optional<TimePoint> next = periodical_.Pass(now, leading_since, tasks);
  bool leading = LeaseHeld() && continuous_.Pass(now, tasks);
  if (leading && each_account_enabled) {
    std::optional<TimePoint> sweep = each_account_.Pass(now);
    if (sweep && (!next || *sweep < *next)) next = sweep;
  }
  leading = leading && LeaseHeld();
  {
    std::lock_guard lock(mu_);
    next_wake_ = leading ? next : std::nullopt;
    if (leading) last_pass_ = now;
  }
  return leading;
}

int Scheduler::SweepLost(TimePoint now) {
  // A dead runner may leave thousands of claims (its runs claimed ahead, and outcomes
  // it had not yet written): the sweep goes on by batches until a batch comes back
  // short, rather than one batch per sweep_interval.
  constexpr int kBatch = 1000;
  int resolved = 0;
  for (;;) {
    // Claims that never started go back to pending first, uncharged.
    auto released = storage_.RunReleaseUnstarted(now, kBatch);
    if (!released.ok()) {
      spdlog::warn("scheduler: handing back unstarted claims failed: {}",
                   released.status().ToString());
      break;
    }
    // Handed back, due again: the runners are woken for them.
    launcher_.notifier().Created(*released);
    resolved += static_cast<int>(released->size());
    if (released->size() < static_cast<size_t>(kBatch)) break;
  }
  for (;;) {
    auto expired = storage_.RunListExpired(now, kBatch);
    if (!expired.ok()) {
      spdlog::warn("scheduler: sweep failed: {}", expired.status().ToString());
      break;
    }
    if (expired->empty()) break;
    std::vector<RunFinish> finishes;
    finishes.reserve(expired->size());
    for (const Run& run : *expired) {
      HandlerOutcome lost;
      lost.status = RunStatus::kLost;
      // Found by its lease, or before it ends because its runner's process is gone.
      lost.error = run.lease_until && *run.lease_until < now
                       ? "lease expired: runner " + run.runner + " stopped heartbeating"
                       : "runner " + run.runner + " ended while the attempt ran";
      lost.error_kind = ToString(ErrorKind::kLost);
      RunFinish f = DecideFinish(run, lost, now, options_.flows.get());
      f.outcome = ToString(ErrorKind::kLost);
      finishes.push_back(std::move(f));
    }
    auto results = storage_.RunFinishBatch(finishes);
    if (!results.ok()) {
      spdlog::warn("scheduler: sweep failed: {}", results.status().ToString());
      break;
    }
    int accepted = 0;
    for (size_t i = 0; i < finishes.size(); ++i) {
      if (!(*results)[i].accepted) continue;
      ++accepted;
      // A retry wakes the runners at its instant.
      launcher_.notifier().Finished((*expired)[i], finishes[i]);
      // A flow this finish ended lifts its children's caps (flows/caps.h).
      if ((*results)[i].settled) {
        auto root = storage_.RunGet(finishes[i].settle->id, finishes[i].settle->queue);
        if (root.ok()) flows::DropChildCaps(storage_, options_.flows.get(), *root);
      }
    }
    resolved += accepted;
    // A short batch was the last; a batch that changed nothing (another node resolved
    // them meanwhile) is not read again in this pass.
    if (expired->size() < static_cast<size_t>(kBatch) || accepted == 0) break;
  }
  return resolved;
}

}  // namespace taskmill
