#include "core/lifecycle/finish_decision.h"

#include <taskmill/run_enums.h>

#include "flows/advance.h"
#include "flows/callbacks.h"

namespace taskmill {

RunFinish DecideOwnFinish(const Run& run, const HandlerOutcome& outcome, TimePoint now);

RunFinish DecideFinish(const Run& run, const HandlerOutcome& outcome, TimePoint now,
                       const FlowRegistry* flows) {
  RunFinish f = DecideOwnFinish(run, outcome, now);
  if (flows != nullptr && !run.flow_id.empty()) {
    flows::AdvanceFlow(*flows, run, f);
    flows::AddCallbacks(*flows, run, f);  // in the same commit as what they tell
  }
  return f;
}

RunFinish DecideOwnFinish(const Run& run, const HandlerOutcome& outcome, TimePoint now) {
  RunFinish f;
  f.queue = run.queue;
  f.id = run.id;
  f.attempt = run.attempt;
  f.finished_at = now;
  f.result = outcome.result;
  f.error = outcome.error;
  f.error_kind = outcome.error_kind;
  f.output = outcome.output;
  f.progress = outcome.progress;
  f.status = outcome.status;
  constexpr std::string_view kTimeout = ToString(ErrorKind::kTimeout);
  constexpr std::string_view kInterrupted = ToString(ErrorKind::kInterrupted);
  // The attempt's outcome word: its status, or the kind of a timeout or interruption.
  f.outcome = f.error_kind == kTimeout ? kTimeout : ToString(outcome.status);
  if (f.error_kind == kInterrupted) {
    // The runner shut down under the attempt: hand the run back at once.
    f.status = RunStatus::kPending;
    f.run_at = now;
    f.outcome = kInterrupted;
    return f;
  }
  bool retryable = outcome.status == RunStatus::kFailed || outcome.status == RunStatus::kLost;
  // "rows": a bulk run ended failed because its rows failed (every row failed, or the
  // function stopped it): another attempt would fail the same rows again.
  if (retryable && f.error_kind != ToString(ErrorKind::kStopped) &&
      f.error_kind != ToString(ErrorKind::kRows) && run.attempt < run.retry.max_attempts) {
    f.status = RunStatus::kPending;
    f.run_at = now + run.retry.DelayBeforeRetry(run.attempt);
  }
  return f;
}

}  // namespace taskmill
