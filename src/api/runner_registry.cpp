#include "api/runner_registry.h"

#include <algorithm>

namespace taskmill::api {

RunnerRegistry::Entry& RunnerRegistry::Touch(const std::string& runner, TimePoint now) {
  Entry& entry = runners_[runner];
  entry.last_seen = std::max(entry.last_seen, now);
  return entry;
}

void RunnerRegistry::Forget(TimePoint now) {
  std::erase_if(runners_,
                [&](const auto& item) { return item.second.last_seen + forget_after_ < now; });
}

void RunnerRegistry::Take(const std::string& runner, const std::string& queue, int max,
                          TimePoint now) {
  std::lock_guard lock(mu_);
  // Takes come from every live runner at least once per long-poll: a good moment to
  // drop the silent ones, so that ids nobody uses any more do not pile up.
  Forget(now);
  Entry& entry = Touch(runner, now);
  entry.queues.insert(queue);
  // A worker asks for its free slots, so what it holds plus what it asks for is its size.
  entry.capacity = static_cast<int>(entry.in_flight.size()) + max;
}

void RunnerRegistry::Claimed(const std::string& runner, const std::vector<RunKey>& runs,
                             TimePoint now) {
  std::lock_guard lock(mu_);
  Entry& entry = Touch(runner, now);
  for (const RunKey& run : runs) entry.in_flight.insert(run);
  entry.capacity = std::max(entry.capacity, static_cast<int>(entry.in_flight.size()));
}

void RunnerRegistry::Heartbeat(const std::string& runner, const std::vector<RunKey>& alive,
                               const std::vector<RunKey>& gone, TimePoint now) {
  std::lock_guard lock(mu_);
  Entry& entry = Touch(runner, now);
  // Heartbeats also teach a restarted server what the runner holds.
  for (const RunKey& run : alive) {
    entry.in_flight.insert(run);
    entry.queues.insert(run.queue);
  }
  for (const RunKey& run : gone) entry.in_flight.erase(run);
  entry.capacity = std::max(entry.capacity, static_cast<int>(entry.in_flight.size()));
}

void RunnerRegistry::Finished(const std::string& runner, const RunKey& run, TimePoint now) {
  std::lock_guard lock(mu_);
  Touch(runner, now).in_flight.erase(run);
}

std::optional<taskmill::RunnerInfo> RunnerRegistry::BeatDue(const std::string& runner,
                                                            const std::string& host, TimePoint now,
                                                            Duration every) {
  std::lock_guard lock(mu_);
  auto it = runners_.find(runner);
  if (it == runners_.end()) return std::nullopt;
  Entry& entry = it->second;
  if (entry.beat_at && now - *entry.beat_at < every) return std::nullopt;
  entry.beat_at = now;
  taskmill::RunnerInfo beat;
  beat.id = runner;
  beat.kind = "remote";
  beat.host = host;
  beat.queues.assign(entry.queues.begin(), entry.queues.end());
  beat.running = static_cast<int>(entry.in_flight.size());
  beat.capacity = std::max(entry.capacity, beat.running);
  beat.last_seen = entry.last_seen;
  return beat;
}

std::vector<RunnerRegistry::RunnerInfo> RunnerRegistry::List(TimePoint now) {
  std::lock_guard lock(mu_);
  Forget(now);
  std::vector<RunnerInfo> out;
  out.reserve(runners_.size());
  for (const auto& [id, entry] : runners_) {
    RunnerInfo info;
    info.id = id;
    info.queues.assign(entry.queues.begin(), entry.queues.end());
    info.used = static_cast<int>(entry.in_flight.size());
    info.capacity = std::max(entry.capacity, info.used);
    info.last_seen = entry.last_seen;
    out.push_back(std::move(info));
  }
  return out;
}

}  // namespace taskmill::api
