// scheduler.h — the scheduler role: one active per cluster, chosen by a leader lease
// in storage. While it leads it sweeps lost runs (expired leases become a retry or
// `lost`), prunes history to task_log_max_size per task, and launches periodical and
// continuous tasks (docs/scheduling.md). A scheduler that loses the lease stops
// acting at once. Start() and Stop() may be called twice; thread-safe.
#pragma once

#include <taskmill/clock.h>
#include <taskmill/engine.h>
#include <taskmill/events.h>
#include <taskmill/storage.h>

#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace taskmill {

class Scheduler {
 public:
  Scheduler(SchedulerOptions options, Storage& storage, Clock& clock, EventBus& events,
            std::function<void()> wake_runners);
  ~Scheduler();

  Status Start();
  void Stop();
  // Runs one pass of every duty now (tests drive the scheduler with this and a
  // ManualClock). Returns whether this scheduler is the leader.
  bool Tick();

  bool is_leader() const;
  const std::string& id() const { return id_; }

  // One sweep of expired leases; returns how many runs it resolved.
  int SweepLost(TimePoint now);

 private:
  void Loop();

  SchedulerOptions options_;
  Storage& storage_;
  Clock& clock_;
  EventBus& events_;
  std::function<void()> wake_runners_;
  std::string id_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool running_ = false;        // guarded by mu_
  bool leader_ = false;         // guarded by mu_
  TimePoint last_prune_{};      // guarded by mu_
  std::thread thread_;
};

}  // namespace taskmill
