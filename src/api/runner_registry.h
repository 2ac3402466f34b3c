// api/runner_registry.h — the remote runners this API server has heard from, for
// `GET /api/v1/runners`.
//
// A remote runner is known by the id in its URLs (`/api/v1/runners/{runner}/...`). Each
// take, heartbeat and finish refreshes it; one silent for longer than `forget_after`
// (60 s: a worker long-polls at most max_wait between takes) drops out of the list.
// The registry is memory only and per server; what it knows reaches the other API
// nodes through storage: BeatDue hands out a runner's beat (Storage::RunnerBeat) at
// most every few seconds per runner, and `GET /api/v1/runners` lists the stored beats
// of the whole cluster. Its runs in flight are the runs it claimed or
// heartbeated and has not finished or lost; its capacity is estimated from its takes
// (a worker asks for as many runs as it has free slots).
//
// Thread-safe: every method takes one mutex and does no I/O.
#pragma once

#include <taskmill/clock.h>
#include <taskmill/storage.h>

#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace taskmill::api {

class RunnerRegistry {
 public:
  explicit RunnerRegistry(Duration forget_after = std::chrono::seconds(60))
      : forget_after_(forget_after) {}

  struct RunKey {
    std::string queue;
    std::string id;
    friend auto operator<=>(const RunKey&, const RunKey&) = default;
  };

  struct RunnerInfo {
    std::string id;
    std::vector<std::string> queues;  // sorted
    int capacity = 0;
    int used = 0;  // runs in flight
    TimePoint last_seen{};
  };

  // A take of up to `max` runs of `queue` begins.
  void Take(const std::string& runner, const std::string& queue, int max, TimePoint now);
  // The runs a take claimed.
  void Claimed(const std::string& runner, const std::vector<RunKey>& runs, TimePoint now);
  // A heartbeat: `alive` are still the runner's, `gone` are not (finished elsewhere,
  // stopped, lost).
  void Heartbeat(const std::string& runner, const std::vector<RunKey>& alive,
                 const std::vector<RunKey>& gone, TimePoint now);
  // A finish of one run (accepted or not: either way the runner no longer holds it).
  void Finished(const std::string& runner, const RunKey& run, TimePoint now);

  // The beat to store for `runner` (kind "remote", host `host`) when its last one
  // was handed out `every` or longer ago, or never; nullopt otherwise.
  std::optional<taskmill::RunnerInfo> BeatDue(const std::string& runner, const std::string& host,
                                              TimePoint now,
                                              Duration every = std::chrono::seconds(5));

  // Runners seen within forget_after of `now`, by id; forgets the others.
  std::vector<RunnerInfo> List(TimePoint now);

 private:
  struct Entry {
    std::set<std::string> queues;
    std::set<RunKey> in_flight;
    int capacity = 0;
    TimePoint last_seen{};
    std::optional<TimePoint> beat_at;  // when BeatDue last handed out a beat
  };
  Entry& Touch(const std::string& runner, TimePoint now);  // requires mu_
  void Forget(TimePoint now);                              // requires mu_

  const Duration forget_after_;
  std::mutex mu_;
  std::map<std::string, Entry> runners_;  // guarded by mu_
};

}  // namespace taskmill::api
