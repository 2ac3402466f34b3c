#include "soak/workload.h"

#include <cmath>

namespace taskmill::testing {
namespace json = boost::json;

const char* ToString(RunKind kind) {
  switch (kind) {
    case RunKind::kEcho:
      return "echo";
    case RunKind::kFail:
      return "fail";
    case RunKind::kSleep:
      return "sleep";
    case RunKind::kDelayed:
      return "delayed";
  }
  return "?";
}

double Workload::Uniform(double low, double high) {
  return std::uniform_real_distribution<double>(low, high)(rng_);
}

PlannedRun Workload::Echo() {
  return {RunKind::kEcho,
          json::object{{"function", "demo.echo"}, {"args", json::array{++serial_}}}};
}

PlannedRun Workload::Fail() {
  static constexpr int kRetryDelays[] = {1, 2, 5};
  int delay = kRetryDelays[std::uniform_int_distribution<int>(0, 2)(rng_)];
  return {RunKind::kFail,
          json::object{{"function", "demo.fail"}, {"max_attempts", 3}, {"retry_delay", delay}}};
}

PlannedRun Workload::Sleep() {
  // Tenths of a second, so the request shows a readable number.
  double seconds = std::round(Uniform(0.2, 6.0) * 10) / 10;
  return {RunKind::kSleep, json::object{{"function", "demo.sleep"}, {"args", json::array{seconds}}},
          seconds};
}

PlannedRun Workload::Delayed() {
  // 10 to 20 minutes: well beyond any soak, so these runs are never due during it.
  double delay = std::round(Uniform(600, 1200));
  return {
      RunKind::kDelayed,
      json::object{{"function", "demo.echo"}, {"args", json::array{++serial_}}, {"delay", delay}}};
}

std::vector<PlannedRun> Workload::NextBatch() {
  const int size = std::uniform_int_distribution<int>(2, 25)(rng_);
  // The mix: 35 % echo, 20 % fail with retries, 35 % sleep, 10 % delayed. The sleeps
  // (3.1 s on average, about 4.5 started a second) keep the 16 slots mostly full, and
  // the retries fall due while they are: the situation the runner must handle.
  std::discrete_distribution<int> pick({35, 20, 35, 10});
  std::vector<PlannedRun> batch;
  for (int i = 0; i < size; ++i) {
    switch (pick(rng_)) {
      case 0:
        batch.push_back(Echo());
        break;
      case 1:
        batch.push_back(Fail());
        break;
      case 2:
        batch.push_back(Sleep());
        break;
      default:
        batch.push_back(Delayed());
        break;
    }
  }
  return batch;
}

std::vector<PlannedRun> Workload::LargeBatch(int size) {
  std::vector<PlannedRun> batch;
  for (int i = 0; i < size; ++i) batch.push_back(Uniform(0, 1) < 0.1 ? Fail() : Echo());
  return batch;
}

std::chrono::duration<double> Workload::NextPause() {
  return std::chrono::duration<double>(Uniform(0.3, 1.5));
}

std::string CheckFinalState(RunKind kind, const json::object& run, TimePoint now) {
  const std::string status(run.at("status").as_string());
  const int64_t attempt = run.at("attempt").to_number<int64_t>();
  auto expect = [&](const char* want_status, int64_t want_attempt) -> std::string {
    if (status == want_status && attempt == want_attempt) return "";
    return std::string("expected ") + want_status + " after " + std::to_string(want_attempt) +
           " attempt(s), found " + status + " after " + std::to_string(attempt) +
           " (error: " + json::serialize(run.at("error")) + ")";
  };
  switch (kind) {
    case RunKind::kEcho:
    case RunKind::kSleep:
      return expect("completed", 1);
    case RunKind::kFail:
      return expect("failed", 3);
    case RunKind::kDelayed: {
      if (std::string err = expect("pending", 0); !err.empty()) return err;
      TimePoint run_at;
      const auto& text = run.at("run_at").as_string();
      if (!ParseTime(text, &run_at)) return "run_at is not a time: " + std::string(text);
      if (run_at <= now) return "run_at " + std::string(text) + " is not in the future";
      return "";
    }
  }
  return "unknown kind";
}

}  // namespace taskmill::testing
