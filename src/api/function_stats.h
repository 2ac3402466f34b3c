// api/function_stats.h — per-function figures over the last hour, for
// GET /api/v1/functions/{name}/stats (the Functions page's metrics), and the same
// figures per queue for GET /api/v1/stats/queues (the dashboard's sparklines): one
// recorder keyed by function, another keyed by queue.
//
// Like ThroughputRecorder, the recorder subscribes to the engine's EventBus and
// counts the runs that finish through this process (not other nodes'), from its
// start. Reading storage instead would mean a scan: the runs table has no index by
// function. Per (function, account) it keeps one bucket per minute for an hour
// (finished runs: completed, and failed — every other final status) and the most
// recent kSamples finishes with their attempt duration and start latency, from which
// a query takes p50 and p95. Memory is bounded by the number of (function, account)
// pairs seen, each at most a few dozen KiB.
//
// Thread-safe.
#pragma once

#include <taskmill/clock.h>
#include <taskmill/events.h>

#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace taskmill::api {

class FunctionStatsRecorder {
 public:
  static constexpr int kMinutes = 60;       // the window: the last hour, by minute
  static constexpr size_t kSamples = 2000;  // timed finishes kept per (function, account)

  // What the runs are grouped by: their function, or their queue.
  enum class Key { kFunction, kQueue };

  FunctionStatsRecorder(EventBus& bus, Clock& clock, Key key = Key::kFunction);
  ~FunctionStatsRecorder();
  FunctionStatsRecorder(const FunctionStatsRecorder&) = delete;
  FunctionStatsRecorder& operator=(const FunctionStatsRecorder&) = delete;

  struct Minute {
    int64_t at = 0;  // Unix seconds: start of the minute
    int64_t completed = 0;
    int64_t failed = 0;
    // Start latency (due -> start) summed over the `started` finishes of the minute:
    // their mean is the minute's point of a latency sparkline.
    double latency_sum = 0;
    int64_t started = 0;
  };
  struct Figures {
    int64_t runs = 0;  // finished in the window
    int64_t failed = 0;
    int64_t timed = 0;  // finishes the percentiles are taken from (at most kSamples each)
    std::optional<double> duration_p50, duration_p95;  // seconds, of the last attempt
    std::optional<double> latency_p50, latency_p95;    // seconds, due -> start
    std::vector<Minute> minutes;  // kMinutes, oldest first; the last one is in progress
  };
  // The last hour up to `now` of `function`; `account`: only that account's runs,
  // nullopt: every account's.
  Figures Query(TimePoint now, const std::string& function,
                const std::optional<std::string>& account) const;
  // The names (functions or queues) with a run finished in the last hour up to `now`,
  // sorted; `account` as for Query.
  std::vector<std::string> Names(TimePoint now, const std::optional<std::string>& account) const;

  // Counts one finished run (the bus subscription calls this; tests too). `started`
  // and `due` are unset for a run that never started (cancelled while pending).
  void Record(TimePoint at, const std::string& function, const std::string& account, bool completed,
              std::optional<TimePoint> started, std::optional<TimePoint> due);

 private:
  struct Sample {
    int64_t second = 0;  // when it finished
    double duration = 0;
    double latency = 0;
  };
  struct Series {
    std::array<Minute, kMinutes> ring{};  // minute % kMinutes; `at` says which minute
    std::deque<Sample> samples;           // oldest first, at most kSamples
  };

  EventBus& bus_;
  Clock& clock_;
  const Key key_;
  uint64_t subscription_ = 0;
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, Series> series_;  // guarded by mu_
};

}  // namespace taskmill::api
