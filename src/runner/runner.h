// runner.h — the runner role: claims due runs from storage and executes them.
//
// Threads (all owned by Runner):
//   fetcher     claims up to the number of free slots per storage call, plus runs
//               ahead of them while attempts are short (RunnerOptions::prefetch), when
//               woken (an enqueue in this process, a commit of another process, a
//               freed slot while the slots held the last claim back, a batch of
//               finishes on its way to storage after a claim that came back short: a
//               capped queue, whose room those finishes free in their commit), when
//               the earliest run it knows of falls due (WakeAt, and
//               the storage's answer to a claim), or every poll_interval; while no
//               slot is free it sleeps until one is;
//   workers     `capacity` threads, one attempt each at a time (the slots). While
//               attempts are short (under 50 us on average), only one worker per
//               core is kept awake to take the claimed runs in turn;
//   finisher    writes outcomes in batches (one commit for everything that finished
//               meanwhile), and takes the next batch once the commit is durable;
//   publisher   tells what each durable batch stored and ended (metrics, run.finished
//               and flows' events, flow roots settled), in the order written, off the
//               finisher's path from one batch to the next;
//   supervisor  renews leases (heartbeats), enforces per-attempt timeouts, and wakes
//               every worker if the awake ones took no run for a millisecond (a long
//               attempt among short ones).
// A claimed run carries its attempt number as a fencing token; a finish or heartbeat
// for an attempt that is no longer current is rejected by storage, and the runner
// cancels such an attempt. Start() and Stop() may be called twice; thread-safe.
#pragma once

#include <taskmill/clock.h>
#include <taskmill/events.h>
#include <taskmill/function.h>
#include <taskmill/runner_options.h>
#include <taskmill/storage.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/lifecycle/finish_decision.h"
#include "core/lifecycle/handler_invocation.h"
#include "core/lifecycle/run_notifier.h"
#include "flows/flow_events.h"
#include "metrics/taskmill_metrics.h"
#include "runner/cap_slots.h"

namespace taskmill {

class Runner {
 public:
  Runner(RunnerOptions options, Storage& storage, const FunctionRegistry& functions, Clock& clock,
         EventBus& events);
  ~Runner();

  Status Start();
  void Stop();
  // Hints that runs may be due now (an enqueue happened).
  void Wake();
  // Hints that a run falls due at `due` (a retry or a delayed run), so the runner
  // claims it then rather than at its next poll.
  void WakeAt(TimePoint due);
  // Stops a run this runner is executing, if any (operator cancel).
  void CancelLocal(const std::string& id, const std::string& reason);

  int capacity() const { return options_.capacity; }
  // Slots executing an attempt now.
  int busy() const { return executing_.load(std::memory_order_relaxed); }
  const std::string& id() const { return options_.id; }

 private:
  struct InFlight {
    Run run;
    std::shared_ptr<CancellationToken> token;
    TimePoint lease_until;
    std::optional<TimePoint> deadline;  // per-attempt timeout
    // Claimed ahead of the free slots: stored as not started until a worker takes it
    // and the finisher records the start (Storage::RunStartBatch).
    bool claimed_ahead = false;
    CapClaim cap = CapClaim::kNone;  // what it is to its queue's cap (cap_slots_)
    bool start_queued = false;       // its start is in starts_ already (a slot handed over)
    // Its args and data are the stored text, parsed by the worker that takes it
    // (RunTakeParams::json_as_text).
    bool json_as_text = false;
  };

  void FetchLoop();
  // What a claim answered, for the loop that made it (AcceptTaken).
  enum class ClaimAnswer {
    kShort,     // fewer runs than asked for (or none, or an error): none due for now
    kFull,      // as many as asked for: more may be due
    kStopping,  // the runner stopped meanwhile: the runs were finished as not started
  };
  // A claim of up to `free_slots` runs at `now`, the earliest run_at left into
  // `next_run_at`, what each run is to its queue's cap into `caps` (when runs past a
  // cap may be claimed), and whether their JSON is left as text into `json_as_text`.
  // Called with mu_ held, by whoever claims next (claiming_).
  RunTakeParams ClaimParams(TimePoint now, int free_slots, TimePoint* next_run_at,
                            std::vector<CapClaim>* caps, bool* json_as_text);
  // A run a worker starts at `now`, told to metrics and events (run.started), and a
  // flow's step to its step_start callback: by the worker, which has its JSON parsed,
  // as the run starts rather than when claimed (a run claimed ahead may wait for a
  // slot, or go back unstarted). Called without mu_ held.
  void AnnounceStart(const Run& run, TimePoint now);
  // Hands what a claim took to the slots (or has it wait, claimed ahead) and ends the
  // claim (claiming_). Called with mu_ held.
  ClaimAnswer AcceptTaken(Result<std::vector<ClaimedRun>>& taken, const RunTakeParams& params,
                          TimePoint next_run_at);
  // A commit of another process (Storage::WatchCommits): wakes an idle fetcher.
  void CommitSeen();
  // Runs claimed and not handed back that the fetcher aims for: the slots, plus runs
  // ahead of them while attempts are short. Called with mu_ held.
  int ClaimLimit() const;
  void WorkerLoop();
  void FinishLoop();
  // Writes a batch of finishes (with the claim that may ride with them), and hands
  // it to the publisher once durable; on the finisher's thread, or on a worker's for
  // a lone finish (WorkerLoop).
  void WriteFinishes(std::vector<std::pair<RunFinish, Run>>& batch);
  // A batch of finishes whose commit is durable, and what the storage answered.
  struct Written {
    std::vector<std::pair<RunFinish, Run>> batch;
    Result<std::vector<RunFinishResult>> results;
    // As the storage told it at the commit (RunFinishResult::parent_over), or read
    // right after the commit, before the next one (flows::StepsAllOver).
    std::map<std::string, bool> steps_all_over;
  };
  // The accepted finishes of flows' runs in `batch`.
  static flows::FinishedRuns OfFlows(const std::vector<std::pair<RunFinish, Run>>& batch,
                                     const std::vector<RunFinishResult>& results);
  void PublishLoop();
  // Tells what a written batch stored and ended. On the publisher's thread.
  void Publish(const Written& written);
  // Wakes the fetcher as a finish batch goes to storage with no claim riding with it
  // (the fetcher was claiming), when its last claim came back short: its next claim
  // may then share the batch's commit, or come right after it (WriteFinishes).
  void PreWakeFetcher();
  // A flow's root that a finish ended (RunSettle): its run.finished event.
  void AnnounceSettled(const RunSettle& settle);
  void SupervisorLoop();
  // Whether attempts are short enough that a few awake workers take the claimed runs
  // faster than one per slot would (see WakeWorker). Called with mu_ held.
  bool AttemptsAreShort() const;
  // Wakes a sleeping worker for runs waiting in work_, unless enough are awake: every
  // slot, or while attempts are short, one per core. Called with mu_ held.
  void WakeWorker();
  // Queues the start of a run claimed past its queue's cap that a slot of that queue
  // was handed to, and puts it first in line for a worker. Called with mu_ held.
  void StartInHandedSlot(std::shared_ptr<InFlight> f);
  // Hands back the runs claimed past a cap that can no longer start here (CapSlots),
  // through the finisher. Called with mu_ held.
  void HandBack(std::vector<std::shared_ptr<InFlight>> runs);
  // Runs one attempt on the calling worker thread (InvokeHandler) and decides its
  // finish (DecideFinish).
  RunFinish Execute(const Run& run, const std::shared_ptr<CancellationToken>& token);

  RunnerOptions options_;
  Storage& storage_;
  const FunctionRegistry& functions_;
  Clock& clock_;
  RunNotifier notifier_;  // events after commits; a retry wakes this runner's fetcher
  const metrics::TaskmillMetrics& metrics_;

  std::atomic<int> claimed_{0};    // claimed and not yet handed back (waiting or executing)
  std::atomic<int> executing_{0};  // slots in use

  std::mutex mu_;
  std::condition_variable fetch_cv_;
  std::condition_variable work_cv_;
  std::condition_variable finish_cv_;
  std::condition_variable supervisor_cv_;
  bool running_ = false;          // guarded by mu_
  bool wake_ = false;             // guarded by mu_
  bool supervisor_kick_ = false;  // runs were claimed since the supervisor looked; guarded by mu_
  bool backlog_ = false;          // the last claim filled every free slot; guarded by mu_
  // A claim is in flight, the fetcher's or the finisher's (one at a time, so that both
  // count the same free slots), and the fetcher waits for it to end. Guarded by mu_.
  bool claiming_ = false;
  bool fetcher_waits_ = false;
  // The finisher is writing a batch; workers are writing a lone finish each
  // (WorkerLoop). Guarded by mu_.
  bool finisher_busy_ = false;
  int inline_finishes_ = 0;
  TimePoint next_due_ = TimePoint::max();  // earliest known future run_at; guarded by mu_
  // Moving average of attempt durations (on the engine's clock), or negative before
  // the first attempt: the measure of "short" for claiming ahead. Guarded by mu_.
  Duration average_attempt_{-1};
  // The fetcher is woken when no more than this many claimed runs wait for a slot, so
  // that the next claim arrives before the slots run dry. Guarded by mu_.
  size_t refill_at_ = 0;
  std::deque<std::shared_ptr<InFlight>> work_;  // claimed, waiting for a slot; guarded by mu_
  // Workers not asleep (executing, or between runs), wake-ups sent and not yet taken,
  // and runs taken from work_ so far (the supervisor's sign of progress). Guarded by mu_.
  int awake_workers_ = 0;
  int wakes_pending_ = 0;
  uint64_t runs_taken_ = 0;
  std::vector<std::pair<RunFinish, Run>> finishes_;  // guarded by mu_
  // Claimed-ahead runs taken by a worker, whose start the finisher has not yet written
  // (unless their finish comes first, which records it). Guarded by mu_.
  std::vector<RunStart> starts_;
  // Runs claimed past their queue's cap, and the slots held of capped queues
  // (cap_slots.h); the claims to hand back, written by the finisher. Guarded by mu_.
  CapSlots<std::shared_ptr<InFlight>> cap_slots_;
  std::vector<RunStart> hand_backs_;
  // Batches written and not yet told (PublishLoop), oldest first; the finisher has
  // left for good, so the publisher leaves once they are told. Guarded by mu_.
  std::deque<Written> written_;
  bool finisher_left_ = false;
  std::condition_variable publish_cv_;
  std::map<std::string, std::shared_ptr<InFlight>> in_flight_;  // by id; guarded by mu_

  std::unique_ptr<CommitWatch> commit_watch_;  // null when storage cannot tell; guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace taskmill
