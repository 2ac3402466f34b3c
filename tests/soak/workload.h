// workload.h — the soak test's seeded random mix of runs, and the final state each
// kind of run must reach. The same seed gives the same batches, pauses and runs.
#pragma once

#include <taskmill/clock.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace taskmill::testing {

enum class RunKind {
  kEcho,     // demo.echo: completes at once
  kFail,     // demo.fail, max_attempts 3 and a retry delay of 1, 2 or 5 s: fails 3 times
  kSleep,    // demo.sleep of 0.2–6 s: completes
  kDelayed,  // demo.echo delayed 10 to 20 minutes: still pending when the test ends
};
const char* ToString(RunKind kind);

struct PlannedRun {
  RunKind kind;
  boost::json::object item;  // one item of POST /api/v1/runs:batch
  double sleep_seconds = 0;  // kSleep: how long it sleeps
};

class Workload {
 public:
  explicit Workload(uint64_t seed) : rng_(seed) {}

  // 2–25 runs of the ordinary mix.
  std::vector<PlannedRun> NextBatch();
  // `size` runs of which one in ten fails with retries and the rest are demo.echo.
  std::vector<PlannedRun> LargeBatch(int size);
  // The pause before the next batch: 0.3–1.5 s.
  std::chrono::duration<double> NextPause();
  // A moment in [low, high) seconds, for placing the large batch.
  double Uniform(double low, double high);

 private:
  PlannedRun Echo();
  PlannedRun Fail();
  PlannedRun Sleep();
  PlannedRun Delayed();

  std::mt19937_64 rng_;
  int64_t serial_ = 0;  // makes every echo's args distinct, so its result identifies it
};

// Empty when `run` (a run object of the API) is in the final state a run of `kind`
// must reach once everything due has been done; otherwise what is wrong with it.
std::string CheckFinalState(RunKind kind, const boost::json::object& run, TimePoint now);

}  // namespace taskmill::testing
