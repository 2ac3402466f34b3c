// runner/runner_beacon.h — a runner's beat into storage (Storage::RunnerBeat), so
// that `GET /api/v1/runners` on any API node of a cluster lists this runner with its
// load, whichever node it runs on.
//
// A beat is one small write every `interval` (5 s by default): a runner's load is a
// figure for operators, not for the engine, and a write per run would cost the drain.
// The first beat is written at Start, so a runner is listed as soon as it serves.
//
// Thread-safe: Start and Stop may be called twice, from any thread.
#pragma once

#include <taskmill/clock.h>
#include <taskmill/storage.h>

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace taskmill {

struct RunnerBeaconOptions {
  // Time between two beats. Default: 5 s. Must be positive.
  Duration interval = std::chrono::seconds(5);

  // kInvalidArgument naming the field when a value is out of range.
  Status Validate() const;
};

class RunnerBeacon {
 public:
  // `snapshot` answers the runner as it is now (last_seen is set here).
  RunnerBeacon(RunnerBeaconOptions options, Storage& storage, Clock& clock,
               std::function<RunnerInfo()> snapshot);
  ~RunnerBeacon();

  Status Start();
  void Stop();
  // Writes one beat now; a failure is logged, and the next beat tries again.
  void Beat();

 private:
  void Loop();

  const RunnerBeaconOptions options_;
  Storage& storage_;
  Clock& clock_;
  const std::function<RunnerInfo()> snapshot_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool running_ = false;  // guarded by mu_
  std::thread thread_;    // started and joined under the lifecycle of running_
};

}  // namespace taskmill
