#include "runner/runner.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>

#include "flows/advance.h"
#include "flows/callbacks.h"
#include "flows/caps.h"
#include "flows/flow_events.h"
#include "flows/input.h"
#include "flows/step_store.h"

namespace taskmill {

namespace {

double Seconds(Duration d) { return std::chrono::duration<double>(d).count(); }

std::string DefaultRunnerId() {
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  return std::string(host) + ":" + std::to_string(getpid());
}
}  // namespace

Runner::Runner(RunnerOptions options, Storage& storage, const FunctionRegistry& functions,
               Clock& clock, EventBus& events)
    : options_(std::move(options)),
      storage_(storage),
      functions_(functions),
      clock_(clock),
      notifier_(events, [this](TimePoint due) { WakeAt(due); }),
      metrics_(metrics::Taskmill()) {
  if (options_.id.empty()) options_.id = DefaultRunnerId();
  options_.capacity = std::max(1, options_.capacity);
}

Runner::~Runner() { Stop(); }

Status Runner::Start() {
  std::lock_guard lock(mu_);
  if (running_) return Status::Ok();
  running_ = true;
  // Runs that other processes store (an API process beside this runner-only one) wake
  // the fetcher as they are committed; a backend that cannot tell of them
  // (Capabilities) leaves them to the poll.
  if (storage_.Capabilities().commit_notifications) {
    commit_watch_ = storage_.WatchCommits([this] { CommitSeen(); });
  }
  // So that, if this process dies, its claims are handed back at once (storage.h).
  (void)storage_.HolderAttach(options_.id);
  // A worker counts as awake until it first waits: one that has not yet taken mu_ when
  // the fetcher hands out the first runs takes them without a wake-up. Counted only
  // once it ran, a wake-up meant for it stayed pending for good, and from then on
  // WakeWorker saw every slot awake and woke no one.
  awake_workers_ = options_.capacity;
  wakes_pending_ = 0;
  threads_.emplace_back([this] { FetchLoop(); });
  finisher_left_ = false;
  threads_.emplace_back([this] { FinishLoop(); });
  threads_.emplace_back([this] { PublishLoop(); });
  threads_.emplace_back([this] { SupervisorLoop(); });
  for (int i = 0; i < options_.capacity; ++i) threads_.emplace_back([this] { WorkerLoop(); });
  return Status::Ok();
}

void Runner::Stop() {
  std::unique_ptr<CommitWatch> watch;
  {
    std::lock_guard lock(mu_);
    watch = std::move(commit_watch_);
    if (!running_) return;
    // First of all: from here on nothing is claimed, so the runs that the stopping
    // attempts hand back (interrupted, due at once) are not claimed again.
    running_ = false;
    // Attempts still executing are told to stop; their finishes are still written,
    // and runs claimed but not started go back to storage through the lease sweeper.
    for (auto& [id, f] : in_flight_) f->token->Cancel(std::string(kRunnerStoppingReason));
    // Runs claimed past a cap never started: they go back uncharged.
    HandBack(cap_slots_.TakeAllWaiting());
  }
  // Outside mu_: a call back in progress takes it, and the watch waits for it.
  watch.reset();
  fetch_cv_.notify_all();
  work_cv_.notify_all();
  finish_cv_.notify_all();
  supervisor_cv_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
  storage_.HolderDetach(options_.id);  // every claim is finished by now
}

void Runner::Wake() {
  {
    std::lock_guard lock(mu_);
    wake_ = true;
  }
  fetch_cv_.notify_one();
}

void Runner::CancelLocal(const std::string& id, const std::string& reason) {
  std::lock_guard lock(mu_);
  auto it = in_flight_.find(id);
  if (it != in_flight_.end()) it->second->token->Cancel(reason);
}

int Runner::ClaimLimit() const {
  // How long the runs claimed ahead may wait for a slot, at the measured pace.
  constexpr Duration kClaimAheadWait = std::chrono::milliseconds(1);
  int ahead = 0;
  if (options_.prefetch > 0 && average_attempt_.count() >= 0) {
    // The runs the slots finish within that wait: capacity × wait / average.
    const int64_t finished_meanwhile = options_.capacity * kClaimAheadWait.count() /
                                       std::max<int64_t>(1, average_attempt_.count());
    ahead = static_cast<int>(std::min<int64_t>(options_.prefetch, finished_meanwhile));
  }
  return options_.capacity + ahead;
}

void Runner::FetchLoop() {
  std::unique_lock lock(mu_);
  while (running_) {
    TimePoint now = clock_.Now();
    int limit = ClaimLimit();
    int free_slots = limit - claimed_.load();
    const int half = std::max(1, limit / 2);
    // Wake the fetcher again when the claimed runs fall to half the limit: with runs
    // claimed ahead, the next claim then lands while slots still have work.
    refill_at_ = static_cast<size_t>(std::max(0, half - options_.capacity));
    if (free_slots > 0 && backlog_ && free_slots < half) {
      // Batching window: while runs are waiting, give the slots a few milliseconds
      // to free up so that one claim (one commit) fills many of them. Real time on
      // purpose: this is a throughput knob, not scheduling semantics.
      fetch_cv_.wait_for(lock, std::chrono::milliseconds(5),
                         [&] { return !running_ || limit - claimed_.load() >= half; });
      if (!running_) break;
      free_slots = limit - claimed_.load();
    }
    if (claiming_) {
      // The finisher claims with its finishes (FinishLoop): what it takes reaches the
      // slots without this thread. A wake-up that came meanwhile claims again after.
      fetcher_waits_ = true;
      fetch_cv_.wait(lock, [&] { return !running_ || !claiming_; });
      fetcher_waits_ = false;
      if (wake_) continue;
    } else if (free_slots > 0) {
      TimePoint next_run_at = TimePoint::max();
      std::vector<CapClaim> caps;
      bool json_as_text = false;
      RunTakeParams params = ClaimParams(now, free_slots, &next_run_at, &caps, &json_as_text);
      claiming_ = true;
      lock.unlock();
      auto taken = storage_.RunTake(params);
      lock.lock();
      const ClaimAnswer answer = AcceptTaken(taken, params, next_run_at);
      if (answer == ClaimAnswer::kStopping) break;
      if (answer == ClaimAnswer::kFull) continue;  // there may be more
      if (taken.ok()) free_slots -= static_cast<int>(taken->size());
    }
    // With a slot free, sleep until woken (an enqueue, a commit of another process),
    // until the earliest known run falls due (a retry, a delayed run, a launch), or
    // until the poll interval (runs of processes whose commits the storage cannot
    // tell of). With no slot free, sleep until one frees up: a run due meanwhile has
    // nowhere to go, and a wait that ended for it would end again at once, over and
    // over, without ever letting go of mu_ (this wedged the whole runner). The
    // worker that frees a slot wakes the fetcher (WorkerLoop), which then claims
    // whatever fell due meanwhile.
    const TimePoint deadline = free_slots > 0 ? std::min(now + options_.poll_interval, next_due_)
                                              : now + options_.poll_interval;
    clock_.WaitUntil(lock, fetch_cv_, deadline, [&] {
      if (!running_) return true;
      if (claimed_.load() >= ClaimLimit()) return false;
      return wake_ || next_due_ < deadline;
    });
  }
}

RunTakeParams Runner::ClaimParams(TimePoint now, int free_slots, TimePoint* next_run_at,
                                  std::vector<CapClaim>* caps, bool* json_as_text) {
  wake_ = false;
  if (next_due_ <= now) next_due_ = TimePoint::max();
  // The storage answers, with a claim that took every due run, when the next run of
  // these queues falls due: runs made by other processes are waited for as exactly as
  // those this process told of (WakeAt).
  // The runs beyond the free slots are claimed ahead: not started, so that a crash
  // hands them back uncharged.
  const int start = std::max(0, options_.capacity - claimed_.load());
  RunTakeParams params{options_.id, options_.queues, free_slots, now, start, next_run_at};
  // Named queues: also the capped children of the flows run in them (flows/caps.h).
  params.queue_prefixes = flows::ChildQueuePrefixes(options_.flows.get(), options_.queues);
  // Runs past a capped queue's cap wait here for an attempt of their queue to end:
  // only while attempts are short is that wait short too.
  if (AttemptsAreShort()) params.caps = caps;
  // Parsed by the workers (WorkerLoop), each as it takes its run, not all before any
  // starts.
  params.json_as_text = json_as_text;
  return params;
}

void Runner::AnnounceStart(const Run& run, TimePoint now) {
  metrics_.enqueue_to_start->Observe(std::max(0.0, Seconds(now - run.run_at)));
  notifier_.Started(run);
  if (run.flow_id.empty()) return;
  const std::optional<flows::Role> role = flows::RoleOf(run);
  if (!role || role->root || role->child) return;  // a child is counted, not told
  flows::PublishStarted(notifier_.events(), run);
  // Not a commit of a finish: stored as the step starts (callbacks.h), and due now.
  if (flows::StoreCallback(storage_, options_.flows.get(), "step_start", run, now)) {
    Wake();
  }
}

Runner::ClaimAnswer Runner::AcceptTaken(Result<std::vector<ClaimedRun>>& taken,
                                        const RunTakeParams& params, TimePoint next_run_at) {
  claiming_ = false;
  if (fetcher_waits_) fetch_cv_.notify_one();
  if (!running_ && taken.ok() && !taken->empty()) {
    // Stop() ran while this claim was being written: it cancelled only the runs it
    // found, and the workers may have left already. These runs never start; they are
    // finished here as not started, as Stop() has the runs waiting for a slot finished
    // (a worker would otherwise run them to the end, or none would take them and the
    // finisher would wait for them forever).
    auto stopping = std::make_shared<CancellationToken>();
    stopping->Cancel(std::string(kRunnerStoppingReason));
    for (auto& run : *taken) {
      if (params.json_as_text != nullptr && *params.json_as_text) ParseRunJsonText(run);
      RunFinish finish = Execute(run, stopping);
      finishes_.emplace_back(std::move(finish), std::move(run));
    }
    finish_cv_.notify_one();
    return ClaimAnswer::kStopping;
  }
  next_due_ = std::min(next_due_, next_run_at);
  if (!taken.ok()) {
    spdlog::warn("runner {}: take failed: {}", options_.id, taken.status().ToString());
    return ClaimAnswer::kShort;
  }
  backlog_ = static_cast<int>(taken->size()) == params.max;
  if (taken->empty()) return ClaimAnswer::kShort;
  claimed_.fetch_add(static_cast<int>(taken->size()));
  const std::vector<CapClaim>* caps = params.caps;
  int index = 0;  // of the runs not claimed past a cap: the first params.start start
  for (size_t i = 0; i < taken->size(); ++i) {
    auto f = std::make_shared<InFlight>();
    f->cap = caps != nullptr && i < caps->size() ? (*caps)[i] : CapClaim::kNone;
    f->claimed_ahead = f->cap == CapClaim::kPastCap || index++ >= params.start;
    f->json_as_text = params.json_as_text != nullptr && *params.json_as_text;
    f->token = std::make_shared<CancellationToken>();
    Run& run = (*taken)[i];
    f->lease_until = *run.lease_until;
    if (run.timeout) f->deadline = *run.started_at + *run.timeout;
    f->run = std::move(run);
    in_flight_[f->run.id] = f;
    if (f->cap == CapClaim::kPastCap) {
      const std::string& queue = f->run.queue;
      cap_slots_.Wait(queue, f);
      continue;
    }
    if (f->cap == CapClaim::kSlot) cap_slots_.Held(f->run.queue);
    work_.push_back(std::move(f));
  }
  // Runs past a cap take the slots of runs that ended while this claim was in
  // flight, if their finishes are not yet written; those of a queue of which this
  // runner holds no slot go back.
  for (auto& f : cap_slots_.TakeFree()) StartInHandedSlot(std::move(f));
  HandBack(cap_slots_.Stranded());
  WakeWorker();
  supervisor_kick_ = true;  // new deadlines and leases to watch
  supervisor_cv_.notify_one();
  return backlog_ ? ClaimAnswer::kFull : ClaimAnswer::kShort;
}

void Runner::CommitSeen() {
  {
    std::lock_guard lock(mu_);
    // While claims fill every free slot, the fetcher claims again anyway as slots free
    // up, and finds these runs then; a claim per commit would only split its batches.
    if (backlog_ || wake_) return;
    wake_ = true;
  }
  fetch_cv_.notify_one();
}

void Runner::WakeAt(TimePoint due) {
  {
    std::lock_guard lock(mu_);
    if (due >= next_due_) return;
    next_due_ = due;
  }
  fetch_cv_.notify_one();
}

bool Runner::AttemptsAreShort() const {
  // About the cost of putting a thread to sleep and waking it on a virtual machine.
  constexpr Duration kShortAttempt = std::chrono::microseconds(50);
  return average_attempt_.count() >= 0 && average_attempt_ < kShortAttempt;
}

void Runner::WakeWorker() {
  // Chain wake-ups: the fetcher wakes one worker, and a worker that takes a run while
  // more wait wakes the next, instead of a wake-up per claimed run. While attempts
  // are short, no more workers than cores are kept awake: each one takes run after
  // run, and more would cost a context switch per run for nothing. If one attempt
  // turns out long, the supervisor wakes the others (SupervisorLoop).
  static const int kCores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int awake = awake_workers_ + wakes_pending_;
  if (awake >= options_.capacity || (AttemptsAreShort() && awake >= kCores)) return;
  ++wakes_pending_;
  work_cv_.notify_one();
}

void Runner::WorkerLoop() {
  // One lock acquisition per run hands back the previous outcome and picks the next
  // run; wake-ups of the finisher and fetcher happen only when they have work, so
  // thousands of short runs per second do not turn into a storm of context switches.
  std::unique_lock lock(mu_);  // awake_workers_ counts this worker from Start()
  for (;;) {
    while (running_ && work_.empty()) {
      --awake_workers_;
      work_cv_.wait(lock);
      ++awake_workers_;
      if (wakes_pending_ > 0) --wakes_pending_;  // this wake-up, or a spurious one
    }
    if (work_.empty()) {
      --awake_workers_;
      return;
    }
    std::shared_ptr<InFlight> f = std::move(work_.front());
    work_.pop_front();
    ++runs_taken_;
    if (f->claimed_ahead && !f->start_queued) {
      if (finishes_.empty() && starts_.empty()) finish_cv_.notify_one();
      starts_.push_back({f->run.queue, f->run.id, f->run.attempt});
    }
    if (!work_.empty()) WakeWorker();
    executing_.fetch_add(1, std::memory_order_relaxed);
    lock.unlock();
    if (f->json_as_text) ParseRunJsonText(f->run);
    // On the engine's clock, so that tests decide what "short" is.
    const TimePoint started = clock_.Now();
    AnnounceStart(f->run, started);
    RunFinish finish = Execute(f->run, f->token);
    const Duration took = std::max(Duration{0}, finish.finished_at - started);
    lock.lock();
    // A moving average over about the last eight attempts.
    average_attempt_ =
        average_attempt_.count() < 0 ? took : average_attempt_ + (took - average_attempt_) / 8;
    in_flight_.erase(f->run.id);
    if (f->claimed_ahead) {
      // Its finish records the start: only attempts still executing need a start
      // written. Starts not yet written are few (the attempts executing), newest last.
      auto it = std::find_if(starts_.rbegin(), starts_.rend(), [&](const RunStart& s) {
        return s.id == f->run.id && s.attempt == f->run.attempt;
      });
      if (it != starts_.rend()) starts_.erase(std::next(it).base());
    }
    if (f->cap != CapClaim::kNone) {
      // Its slot of the queue's cap goes to a run claimed past it, whose start is
      // queued before this finish; a stopped attempt's slot may be free already.
      const bool reusable = !f->token->IsCancelled();
      if (auto next = cap_slots_.Ended(f->run.queue, reusable)) StartInHandedSlot(*next);
      if (!reusable) HandBack(cap_slots_.Stranded());
    }
    // A finisher that holds only starts waits for this finish, to write both at once.
    bool finisher_idle = finishes_.empty();
    finishes_.emplace_back(std::move(finish), std::move(f->run));
    // The slot is free as soon as the handler returned: claiming the next runs
    // overlaps with writing these outcomes.
    executing_.fetch_sub(1, std::memory_order_relaxed);
    const bool last_in_flight = claimed_.fetch_sub(1) == 1;
    const bool inline_finish = finisher_idle && last_in_flight && running_ && !finisher_busy_ &&
                               inline_finishes_ == 0 && starts_.empty();
    if (!inline_finish && (finisher_idle || last_in_flight ||
                           static_cast<int>(finishes_.size()) == options_.capacity)) {
      finish_cv_.notify_one();
    }
    // A freed slot is worth a claim when the last claim was held back by the slots
    // (backlog_), or when the fetcher waits for a slot (every one claimed: a wake-up
    // or a due run may be pending). After a short claim (no more due runs, or a queue
    // at its cap), a claim now would find what the last one found: the claim that
    // rides with these outcomes (WriteFinishes) takes what they free or store.
    if (work_.size() <= refill_at_ && (backlog_ || claimed_.load() + 1 >= ClaimLimit())) {
      wake_ = true;
      fetch_cv_.notify_one();
    }
    if (inline_finish) {
      // The only finish, with nothing else in flight and the finisher idle: this
      // worker writes it (and the claim that rides with it) itself, and so may run
      // what it claims (a flow's next step) without a thread hand-off either way.
      ++inline_finishes_;
      std::vector<std::pair<RunFinish, Run>> batch;
      batch.swap(finishes_);
      cap_slots_.FinishesWritten();
      lock.unlock();
      WriteFinishes(batch);
      batch.clear();
      lock.lock();
      --inline_finishes_;
      // What finished meanwhile, or a finisher waiting to stop.
      if (!finishes_.empty() || !running_) finish_cv_.notify_one();
    }
  }
}

RunFinish Runner::Execute(const Run& run, const std::shared_ptr<CancellationToken>& token) {
  const FlowRegistry* registry = run.flow_id.empty() ? nullptr : options_.flows.get();
  std::optional<flows::Role> role;
  if (registry != nullptr) role = flows::RoleOf(run);
  // Only a step reads its input and sets a cap: a child's input is in its args, and
  // running it as it was claimed spares a copy of the run per child.
  if (role && !role->root && !role->child) {
    // A flow's step reads the flow's state as it starts (flows/input.h); a C++ step
    // stages its children and pages its predecessors' through a store (step_store.h).
    flows::StepInput step = flows::PrepareStep(storage_, *registry, functions_, clock_, run);
    const Run& input = step.run;
    // Its children's cap is in place before it adds them (flows/caps.h).
    if (Status st = flows::SetChildCap(storage_, *registry, run); !st.ok()) {
      HandlerOutcome failed{.status = RunStatus::kFailed,
                            .error = "cannot set the cap of the step's children: " + st.ToString()};
      return DecideFinish(input, failed, clock_.Now(), registry);
    }
    HandlerOutcome outcome = InvokeHandler(functions_, input, token, step.store.get());
    return DecideFinish(input, outcome, clock_.Now(), registry);
  }
  HandlerOutcome outcome = InvokeHandler(functions_, run, token);
  return DecideFinish(run, outcome, clock_.Now(), registry);
}

void Runner::FinishLoop() {
  std::vector<std::pair<RunFinish, Run>> batch;
  std::vector<RunStart> starts;
  std::vector<RunStart> hand_backs;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      // A worker writing a finish itself (WorkerLoop) may leave runs to finish as not
      // started, should the runner stop meanwhile (AcceptTaken): waited for.
      finish_cv_.wait(lock, [&] {
        return !finishes_.empty() || !starts_.empty() || !hand_backs_.empty() ||
               (!running_ && claimed_ == 0 && inline_finishes_ == 0);
      });
      hand_backs.swap(hand_backs_);
      if (finishes_.empty() && starts_.empty() && hand_backs.empty()) {
        finisher_left_ = true;
        publish_cv_.notify_one();
        return;
      }
      if (finishes_.empty() && running_) {
        // Only starts: while attempts are short a finish follows within microseconds,
        // and one commit then carries both (a commit per start would halve the
        // finisher's pace). A start alone is written after this wait at the latest.
        // Real time on purpose: a throughput knob, like the fetcher's batching window.
        finish_cv_.wait_for(lock, std::chrono::milliseconds(2),
                            [&] { return !finishes_.empty() || !running_; });
      }
      if (!finishes_.empty() && running_ && claimed_.load() > 0 && AttemptsAreShort()) {
        // Batching window: while short attempts are still executing or waiting for a
        // slot, their finishes follow within a fraction of a millisecond. Waiting for
        // them (or for a slot's worth) makes one commit of what would be many small
        // ones, and the claim that rides with it (WriteFinishes) refills the slots (or
        // a capped queue's room) at once rather than a few at a time. Real time on
        // purpose: a throughput knob, like the fetcher's batching window.
        finish_cv_.wait_for(lock, std::chrono::microseconds(500), [&] {
          return !running_ || claimed_.load() == 0 ||
                 static_cast<int>(finishes_.size()) >= options_.capacity;
        });
      }
      batch.swap(finishes_);
      starts.swap(starts_);
      cap_slots_.FinishesWritten();
    }
    if (!hand_backs.empty()) {
      if (Status st = storage_.RunHandBack(hand_backs); !st.ok()) {
        // Their leases end, and the sweep hands them back then.
        spdlog::warn("runner {}: handing back {} claims failed: {}", options_.id, hand_backs.size(),
                     st.ToString());
      }
      hand_backs.clear();
    }
    if (!starts.empty()) {
      if (Status st = storage_.RunStartBatch(starts); !st.ok()) {
        // The runs count as not started: after a crash they go back uncharged.
        spdlog::warn("runner {}: recording {} starts failed: {}", options_.id, starts.size(),
                     st.ToString());
      }
      starts.clear();
    }
    if (batch.empty()) continue;
    {
      std::lock_guard lock(mu_);
      finisher_busy_ = true;
    }
    WriteFinishes(batch);
    batch.clear();
    {
      std::lock_guard lock(mu_);
      finisher_busy_ = false;
    }
  }
}

void Runner::WriteFinishes(std::vector<std::pair<RunFinish, Run>>& batch) {
  std::vector<RunFinish> finishes;
  finishes.reserve(batch.size());
  for (auto& [f, run] : batch) {
    finishes.push_back(std::move(f));  // back into batch after the commit
    finishes.back().claimed = &run;    // the storage need not read it back
  }
  // After a short claim (a queue at its cap, or no due run left), the room these
  // finishes free in a capped queue and the runs they store (a flow's children and
  // successors) are claimed in their commit (Storage::RunFinishThenTake), unless the
  // fetcher is claiming already: that claim is then woken to come right behind them.
  std::optional<RunTakeParams> take;
  std::vector<CapClaim> caps;
  bool json_as_text = false;
  TimePoint next_run_at = TimePoint::max();
  {
    std::lock_guard lock(mu_);
    const int free_slots = ClaimLimit() - claimed_.load();
    if (running_ && !backlog_ && !claiming_ && free_slots > 0) {
      take = ClaimParams(clock_.Now(), free_slots, &next_run_at, &caps, &json_as_text);
      claiming_ = true;
    }
  }
  Result<std::vector<RunFinishResult>> results = std::vector<RunFinishResult>{};
  if (take) {
    results =
        storage_.RunFinishThenTake(finishes, *take, [&](Result<std::vector<ClaimedRun>> taken) {
          std::lock_guard lock(mu_);
          if (AcceptTaken(taken, *take, next_run_at) == ClaimAnswer::kFull) {
            wake_ = true;  // the claim filled every free slot: there may be more
            fetch_cv_.notify_one();
          }
        });
  } else {
    PreWakeFetcher();
    results = storage_.RunFinishBatch(finishes);
  }
  for (size_t i = 0; i < batch.size(); ++i) batch[i].first = std::move(finishes[i]);
  if (!results.ok()) {
    // The leases will expire and the sweeper retries these runs: at-least-once.
    spdlog::error("runner {}: storing {} outcomes failed: {}", options_.id, batch.size(),
                  results.status().ToString());
  } else if (!take) {
    // The runs of a flow that this commit stored are due now: the claim that rode
    // with the finishes took them, but a claim woken before the commit may have
    // reached the storage ahead of it (in an earlier commit): one claim more per
    // batch, rather than one per finish that stored runs. A stale finish may store
    // what an accepted one of the batch left to it.
    bool stored = false;
    for (size_t i = 0; i < batch.size(); ++i) {
      stored |= FinishMayHaveStoredRuns(batch[i].first, (*results)[i]);
    }
    if (stored) Wake();
  }
  std::map<std::string, bool> steps_all_over;
  if (results.ok()) {
    std::map<std::string, bool> told;  // by the storage, at the commit
    for (size_t i = 0; i < batch.size(); ++i) {
      if (const std::optional<bool>& over = (*results)[i].parent_over) {
        told[batch[i].second.parent_id] = *over;
      }
    }
    steps_all_over = flows::StepsAllOver(storage_, OfFlows(batch, *results), told);
  }
  {
    std::lock_guard lock(mu_);
    written_.push_back(Written{std::move(batch), std::move(results), std::move(steps_all_over)});
  }
  publish_cv_.notify_one();
}

flows::FinishedRuns Runner::OfFlows(const std::vector<std::pair<RunFinish, Run>>& batch,
                                    const std::vector<RunFinishResult>& results) {
  flows::FinishedRuns out;
  for (size_t i = 0; i < batch.size(); ++i) {
    const auto& [f, run] = batch[i];
    if (results[i].accepted && !run.flow_id.empty()) out.emplace_back(&run, &f);
  }
  return out;
}

void Runner::PublishLoop() {
  std::unique_lock lock(mu_);
  for (;;) {
    publish_cv_.wait(lock, [&] { return !written_.empty() || finisher_left_; });
    if (written_.empty()) return;
    {
      // Told and freed here, not on the finisher's thread.
      Written written = std::move(written_.front());
      written_.pop_front();
      lock.unlock();
      Publish(written);
    }
    lock.lock();
  }
}

void Runner::Publish(const Written& written) {
  const auto& [batch, results, steps_all_over] = written;
  // Every attempt counts, whether or not its outcome was still current.
  for (const auto& [f, run] : batch) {
    metrics_.attempt_duration->Observe(
        std::max(0.0, Seconds(f.finished_at - run.started_at.value_or(f.finished_at))));
  }
  if (!results.ok()) return;
  for (size_t i = 0; i < batch.size(); ++i) {
    // A retry wakes the fetcher at its instant.
    if ((*results)[i].accepted) notifier_.Finished(batch[i].second, batch[i].first);
  }
  const flows::FinishedRuns of_flows = OfFlows(batch, *results);
  if (!of_flows.empty()) {
    flows::PublishFinished(notifier_.events(), of_flows, steps_all_over);
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    if ((*results)[i].accepted && (*results)[i].settled) AnnounceSettled(*batch[i].first.settle);
  }
}

void Runner::StartInHandedSlot(std::shared_ptr<InFlight> f) {
  if (finishes_.empty() && starts_.empty()) finish_cv_.notify_one();
  starts_.push_back({f->run.queue, f->run.id, f->run.attempt});
  f->start_queued = true;
  // Its timeout counts from now, not from its claim.
  if (f->run.timeout) f->deadline = clock_.Now() + *f->run.timeout;
  work_.push_front(std::move(f));
}

void Runner::HandBack(std::vector<std::shared_ptr<InFlight>> runs) {
  if (runs.empty()) return;
  for (const auto& f : runs) {
    hand_backs_.push_back({f->run.queue, f->run.id, f->run.attempt});
    in_flight_.erase(f->run.id);
  }
  claimed_.fetch_sub(static_cast<int>(runs.size()));
  finish_cv_.notify_one();
}

void Runner::PreWakeFetcher() {
  {
    std::lock_guard lock(mu_);
    if (backlog_ || !running_) return;
    wake_ = true;
  }
  fetch_cv_.notify_one();
}

void Runner::AnnounceSettled(const RunSettle& settle) {
  auto root = storage_.RunGet(settle.id, settle.queue);
  if (!root.ok()) return;
  // Before the flow is told over: who waits for it finds the caps lifted.
  flows::DropChildCaps(storage_, options_.flows.get(), *root);
  notifier_.Stored(*root);
  if (!settle.then.empty()) Wake();  // the flow's callback for flow.over is due now
  flows::PublishFlowOver(notifier_.events(), *root);
}

void Runner::SupervisorLoop() {
  std::unique_lock lock(mu_);
  // When the attempts in flight are looked at next: at their earliest deadline or
  // lease renewal, or at once when runs were claimed (supervisor_kick_).
  TimePoint next_scan = TimePoint::min();
  while (running_) {
    TimePoint now = clock_.Now();
    if (supervisor_kick_ || now >= next_scan) {
      supervisor_kick_ = false;
      std::vector<RunHeartbeat> beats;
      std::vector<std::shared_ptr<InFlight>> beating;
      next_scan = now + std::chrono::seconds(1);
      for (auto& [id, f] : in_flight_) {
        if (f->deadline && *f->deadline <= now) {
          f->token->Cancel(std::string(kTimeoutReason));
          f->deadline.reset();  // once is enough; the handler is stopping
        }
        if (f->deadline) next_scan = std::min(next_scan, *f->deadline);
        // Renew when a third of the lease is left, so one missed beat is survivable.
        Duration ttr = f->run.time_to_resolve;
        TimePoint renew_at = f->lease_until - ttr / 3;
        if (options_.heartbeat_interval.count() > 0) {
          renew_at = std::min(renew_at, f->lease_until - ttr + options_.heartbeat_interval);
        }
        if (renew_at <= now) {
          f->lease_until = now + ttr;
          beats.push_back({f->run.queue, f->run.id, f->run.attempt, f->lease_until});
          beating.push_back(f);
        } else {
          next_scan = std::min(next_scan, renew_at);
        }
      }
      if (!beats.empty()) {
        lock.unlock();
        auto alive = storage_.RunHeartbeatBatch(beats);
        lock.lock();
        if (alive.ok()) {
          for (size_t i = 0; i < beating.size(); ++i) {
            if (!(*alive)[i]) beating[i]->token->Cancel("stopped or lease lost");
          }
        }
        next_scan = TimePoint::min();  // look again: time went by meanwhile
        continue;
      }
    }
    if (!work_.empty() && AttemptsAreShort()) {
      // Runs wait while few workers are awake (WakeWorker). If none was taken for a
      // millisecond, the awake ones are held by long attempts: wake every worker.
      // Real time, like the fetcher's batching window: the engine's clock may be a
      // simulated one that does not move.
      const uint64_t taken = runs_taken_;
      const bool kicked = supervisor_cv_.wait_for(lock, std::chrono::milliseconds(1),
                                                  [&] { return !running_ || supervisor_kick_; });
      if (!kicked && runs_taken_ == taken && !work_.empty()) {
        wakes_pending_ = options_.capacity - awake_workers_;
        work_cv_.notify_all();
      }
    } else {
      // Woken early when new runs arrive: their deadlines may come before next_scan
      // (and a simulated clock may never move again to reach next_scan).
      clock_.WaitUntil(lock, supervisor_cv_, next_scan,
                       [&] { return !running_ || supervisor_kick_; });
    }
  }
}

}  // namespace taskmill
