// scheduler.h — the scheduler role: one active per cluster, chosen by a leader lease
// in storage. While it leads it
//   * launches periodical tasks at their fire instants (misfire and overlap policies),
//   * keeps one live run per enabled continuous task,
//   * fires the headless triggers (minutely / hourly / daily / each_account),
//   * prunes history to task_log_max_size per task, and by age (history_retention).
// Every scheduler, leading or not, sweeps lost runs (expired leases, or runners known
// dead, become a retry or `lost`; claims that never started go back to pending): the
// sweep's changes are fenced, so it needs no lease.
// A scheduler that loses the lease stops storing launches at once, even part-way
// through a pass. doc.md beside this file describes the states; docs/scheduling.md
// the behaviour users see.
//
// The loop sleeps on the Clock until the earliest of the next launch and the next
// sweep (sweep_interval), or until Poke() — an event for a task change or the end of a
// continuous task's run — so launches are not quantised to the sweep interval. A
// periodical launch is stored launch_ahead before its instant, due at the instant, and
// the runners are told to wake then: the commit is off the critical path, and the
// launch starts within the runner's wake-up precision of its instant.
// Start() and Stop() may be called twice; all methods are thread-safe, and passes
// (the loop's and Tick()'s) never overlap.
#pragma once

#include <taskmill/clock.h>
#include <taskmill/events.h>
#include <taskmill/scheduler_options.h>
#include <taskmill/storage.h>

#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "scheduler/continuous.h"
#include "scheduler/launcher.h"
#include "scheduler/periodic.h"
#include "scheduler/triggers.h"

namespace taskmill {

// The name of the leader lease the schedulers compete for (Storage::LeaderAttemptElect).
inline const std::string kSchedulerLease = "scheduler";

class Scheduler {
 public:
  Scheduler(SchedulerOptions options, Storage& storage, Clock& clock, EventBus& events,
            std::function<void()> wake_runners, SchedulerHooks hooks = {});
  ~Scheduler();

  // Stores the triggers' task rows (StoreTriggerTasks), then starts the loop.
  Status Start();
  void Stop();
  // Stores a task row per trigger with bindings (TriggerTaskRows), keeping the
  // `enabled` flag already stored: operator state, as for the configuration's tasks.
  // A failure is logged; the triggers then fire as if enabled.
  void StoreTriggerTasks();
  // Runs one pass of every duty now: renews (or tries to win) the lease, sweeps lost
  // runs, prunes, launches what is due. Tests drive the scheduler with this and a
  // ManualClock. Returns whether this scheduler leads after the pass.
  bool Tick();
  // Asks the loop for a pass now (a task was changed or enabled).
  void Poke();

  bool is_leader() const;
  const std::string& id() const { return id_; }
  // When the loop will wake next for a launch: launch_ahead before the next fire
  // instant (or the instant itself when the launch must be decided then); nullopt
  // when none is known (not leading, or nothing scheduled).
  std::optional<TimePoint> next_wake() const;

  // One sweep of expired leases and claims of dead runners (any scheduler, leading or
  // not); returns how many runs it resolved.
  int SweepLost(TimePoint now);

 private:
  // One pass; `full` adds the sweep, the prune and the lease renewal.
  bool Pass(bool full);
  // Retention by age (history_retention), run by the leader with the prune.
  void PruneByAge(TimePoint now);
  // Takes or renews the lease; starts a new term of leadership when needed.
  bool Elect(TimePoint now);
  // True while the lease won at the last election has not expired.
  bool LeaseHeld() const;
  // The fence of the lease held (its term), nullopt when LeaseHeld() is false.
  std::optional<LeaderFence> Fence() const;
  // A launch was refused for a stale term: this scheduler no longer leads, and its
  // next pass tries the election (as a standby) instead of launching.
  void Deposed();
  void Loop();
  void OnEvent(const Event& event);

  SchedulerOptions options_;
  Storage& storage_;
  Clock& clock_;
  EventBus& events_;
  std::function<void()> wake_runners_;
  std::string id_;

  std::mutex pass_mu_;  // held for a whole pass: the loop's or a Tick()
  // The duties and their memory; used only while holding pass_mu_.
  Launcher launcher_;
  PeriodicalDuty periodical_;
  ContinuousDuty continuous_;
  EachAccountDuty each_account_;
  std::vector<ScheduledTask> trigger_tasks_;  // immutable after construction

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool running_ = false;                     // guarded by mu_
  bool poke_ = false;                        // guarded by mu_
  bool leader_ = false;                      // guarded by mu_
  TimePoint lease_until_{};                  // guarded by mu_; end of the lease we hold
  int64_t term_ = 0;                         // guarded by mu_; its LeaderLease::term
  TimePoint elected_at_{};                   // guarded by mu_; last successful election
  TimePoint leading_since_{};                // guarded by mu_; start of the current term
  TimePoint last_pass_{};                    // guarded by mu_; last pass as the leader
  TimePoint last_prune_{};                   // guarded by mu_
  TimePoint next_sweep_ = TimePoint::min();  // guarded by mu_
  std::optional<TimePoint> next_wake_;       // guarded by mu_
  std::set<std::string> continuous_tasks_;   // guarded by mu_; names, for OnEvent
  uint64_t subscription_ = 0;                // guarded by mu_; 0 when not subscribed
  std::thread thread_;
};

}  // namespace taskmill
