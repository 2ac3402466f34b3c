// cli/stop_signals.h — the server's stop signals (SIGTERM, SIGINT), taken in one place.
//
// BlockStopSignals() must run on the main thread before any other thread starts: every
// thread inherits the mask, so no thread of the server (storage, runner, API) ever
// takes a stop signal and its default action (ending the process at once). One thread
// started by StopSignals receives them with sigwait:
//   1st  the server stops gracefully: WaitForStop() returns; commands get SIGTERM and
//        `kill_grace` to exit;
//   2nd  the grace is skipped: every command's process group is killed at once
//        (process_groups::ShutdownNow), and the stop goes on, so their attempts are
//        still recorded as interrupted;
//   3rd  the process exits at once (the groups are killed first); attempts not yet
//        recorded are found later as lost runs.
//
// Thread-safety: WaitForStop may be called from any thread. The object is never
// destroyed (its thread lives until the process ends).
#pragma once

#include <condition_variable>
#include <mutex>

namespace taskmill::cli {

void BlockStopSignals();

class StopSignals {
 public:
  // Starts the signal thread; call after BlockStopSignals.
  static StopSignals& Start();

  // Blocks until the first stop signal; returns its number.
  int WaitForStop();

 private:
  StopSignals() = default;
  void Loop();

  std::mutex mu_;
  std::condition_variable cv_;
  int received_ = 0;      // stop signals so far; guarded by mu_
  int first_signal_ = 0;  // guarded by mu_
};

}  // namespace taskmill::cli
