#include "core/lifecycle/handler_invocation.h"

#include <taskmill/run_enums.h>

#include <chrono>
#include <exception>
#include <string>

#include "flows/step_store.h"

namespace taskmill {

HandlerOutcome InvokeHandler(const FunctionRegistry& functions, const Run& run,
                             const std::shared_ptr<CancellationToken>& token,
                             flow::StepStore* flow_store) {
  HandlerOutcome outcome;
  const auto* entry = functions.Find(run.function);
  if (token->IsCancelled() && token->Reason() == kRunnerStoppingReason) {
    outcome.status = RunStatus::kFailed;
    outcome.error_kind = ToString(ErrorKind::kInterrupted);
    outcome.error = "runner stopped before the attempt started";
    return outcome;
  }
  if (!entry) {
    outcome.status = RunStatus::kUnknownTask;
    outcome.error = "no runner has the function '" + run.function + "'";
    outcome.error_kind = ToString(ErrorKind::kUnknownTask);
    return outcome;
  }
  RunContext ctx(run, token);
  ctx.set_flow_store(flow_store);
  try {
    outcome = entry->handler->Execute(ctx);
  } catch (const std::exception& e) {
    // What the handler reported before it threw (progress, output) is kept.
    outcome = std::move(ctx.outcome());
    outcome.status = RunStatus::kFailed;
    outcome.error = e.what();
  } catch (...) {
    outcome = std::move(ctx.outcome());
    outcome.status = RunStatus::kFailed;
    outcome.error = "unknown exception";
  }
  // The children a step staged are all stored before its finish, which releases them.
  if (flow_store != nullptr) {
    if (Status staged = flow_store->Flush(); !staged.ok() && outcome.status != RunStatus::kFailed) {
      outcome.status = RunStatus::kFailed;
      outcome.error = staged.message();
    }
  }
  if (token->IsCancelled()) {
    std::string reason = token->Reason();
    outcome.status = RunStatus::kFailed;
    outcome.error_kind = ToString(reason == kTimeoutReason          ? ErrorKind::kTimeout
                                  : reason == kRunnerStoppingReason ? ErrorKind::kInterrupted
                                                                    : ErrorKind::kStopped);
    if (reason == kTimeoutReason) {
      outcome.error = "timed out after " +
                      std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                         run.timeout.value_or(Duration{0}))
                                         .count()) +
                      " ms";
    } else if (outcome.error.empty() || outcome.error.starts_with("stopped")) {
      outcome.error = "stopped: " + reason;
    }
  }
  if (outcome.status == RunStatus::kFailed && outcome.error_kind.empty()) {
    outcome.error_kind = ToString(ErrorKind::kUser);
  }
  return outcome;
}

}  // namespace taskmill
