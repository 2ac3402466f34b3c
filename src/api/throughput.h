// api/throughput.h — finished runs per second over the last hour, for
// GET /api/v1/stats/throughput (the dashboard's chart).
//
// The recorder subscribes to the engine's EventBus and counts each run.finished event
// in a ring of one slot per second, 3600 slots: so it counts the runs that finished
// through this process's event bus (its own runner, cancels and sweeps here, and
// remote runners' finishes through this API server), not those finished by other
// nodes, and it starts empty when the process starts. Counting runs from storage
// instead would cost a scan per query; the ring costs a few hundred KiB and a
// mutex-protected increment per finish.
//
// Each slot keeps the counts per final status, in total and per account, so that an
// account token sees its own account's runs only.
//
// Thread-safe.
#pragma once

#include <taskmill/clock.h>
#include <taskmill/events.h>
#include <taskmill/model.h>

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace taskmill::api {

class ThroughputRecorder {
 public:
  static constexpr int kSeconds = 3600;  // the longest window kept
  // The final statuses, in the order of RunStatus: completed ... unknown_task.
  static constexpr size_t kFinalStatuses = 7;
  using Counts = std::array<uint32_t, kFinalStatuses>;

  ThroughputRecorder(EventBus& bus, Clock& clock);
  ~ThroughputRecorder();
  ThroughputRecorder(const ThroughputRecorder&) = delete;
  ThroughputRecorder& operator=(const ThroughputRecorder&) = delete;

  struct Point {
    int64_t at = 0;  // Unix seconds: start of the step
    Counts counts{};
  };
  // One point per `step` seconds covering the `window` seconds up to `now`, oldest
  // first; the last point is the step in progress. `window` must be a multiple of
  // `step`, both in 1..kSeconds (the route checks). `account`: only the runs of that
  // account; nullopt: every run.
  std::vector<Point> Query(TimePoint now, int window, int step,
                           const std::optional<std::string>& account) const;

  // When counting began (the recorder's construction).
  TimePoint since() const { return since_; }

  // The final status at `index` of Counts.
  static RunStatus StatusAt(size_t index) {
    return static_cast<RunStatus>(static_cast<int>(RunStatus::kCompleted) +
                                  static_cast<int>(index));
  }

  // Counts one finished run at `at` (the bus subscription calls this; tests too).
  void Record(TimePoint at, RunStatus status, const std::string& account);

 private:
  struct Slot {
    int64_t second = -1;  // Unix second the counts are for; -1: never used
    Counts total{};
    // Per account; few accounts finish runs in the same second, so a vector.
    std::vector<std::pair<std::string, Counts>> accounts;
  };

  EventBus& bus_;
  Clock& clock_;
  const TimePoint since_;
  uint64_t subscription_ = 0;
  mutable std::mutex mu_;
  std::vector<Slot> ring_;  // guarded by mu_; kSeconds slots, second % kSeconds
};

}  // namespace taskmill::api
