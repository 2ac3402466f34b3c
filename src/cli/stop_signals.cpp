#include "cli/stop_signals.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <thread>

#include "process/process_groups.h"

namespace taskmill::cli {
namespace {

sigset_t StopSet() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

}  // namespace

void BlockStopSignals() {
  sigset_t set = StopSet();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

StopSignals& StopSignals::Start() {
  static StopSignals* signals = [] {
    auto* created = new StopSignals();
    std::thread([created] { created->Loop(); }).detach();
    return created;
  }();
  return *signals;
}

int StopSignals::WaitForStop() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return received_ > 0; });
  return first_signal_;
}

void StopSignals::Loop() {
  sigset_t set = StopSet();
  for (;;) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) continue;
    int count;
    {
      std::lock_guard lock(mu_);
      count = ++received_;
      if (count == 1) first_signal_ = sig;
    }
    cv_.notify_all();
    if (count == 1) {
      spdlog::info("taskmill: signal {} received, stopping (again to skip the grace period)", sig);
    } else if (count == 2) {
      spdlog::warn("taskmill: signal {} received again: killing every command now", sig);
      process_groups::ShutdownNow();
    } else {
      spdlog::warn("taskmill: signal {} received a third time: exiting now", sig);
      process_groups::ShutdownNow();
      ::_exit(1);
    }
  }
}

}  // namespace taskmill::cli
