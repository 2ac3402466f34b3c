#include "runner/runner_beacon.h"

#include <spdlog/spdlog.h>

namespace taskmill {

Status RunnerBeaconOptions::Validate() const {
  if (interval <= Duration::zero()) {
    return Status::InvalidArgument("runner beat interval must be positive");
  }
  return Status::Ok();
}

RunnerBeacon::RunnerBeacon(RunnerBeaconOptions options, Storage& storage, Clock& clock,
                           std::function<RunnerInfo()> snapshot)
    : options_(options), storage_(storage), clock_(clock), snapshot_(std::move(snapshot)) {}

RunnerBeacon::~RunnerBeacon() { Stop(); }

Status RunnerBeacon::Start() {
  TASKMILL_RETURN_IF_ERROR(options_.Validate());
  std::lock_guard lock(mu_);
  if (running_) return Status::Ok();
  running_ = true;
  thread_ = std::thread([this] { Loop(); });
  return Status::Ok();
}

void RunnerBeacon::Stop() {
  {
    std::lock_guard lock(mu_);
    if (!running_) return;
    running_ = false;
  }
  cv_.notify_all();
  thread_.join();
}

void RunnerBeacon::Beat() {
  RunnerInfo runner = snapshot_();
  runner.last_seen = clock_.Now();
  if (Status s = storage_.RunnerBeat(runner); !s.ok()) {
    // Only the runners' list is behind; runs go on.
    spdlog::warn("runner {}: beat not stored: {}", runner.id, s.ToString());
  }
}

void RunnerBeacon::Loop() {
  std::unique_lock lock(mu_);
  while (running_) {
    lock.unlock();
    Beat();
    lock.lock();
    clock_.WaitUntil(lock, cv_, clock_.Now() + options_.interval, [&] { return !running_; });
  }
}

}  // namespace taskmill
