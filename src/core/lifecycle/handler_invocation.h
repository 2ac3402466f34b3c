// handler_invocation.h — running one attempt of a run with its function's handler.
//
// The one home of what an attempt's outcome is made of, whoever executes it (the
// runner's workers, and the fetcher for runs claimed while it stops): what the
// handler returned, or what it threw (captured, never escaping to the caller), then
// the cancellation that stopped it (a timeout, an operator's stop, the runner
// shutting down). The finish to store is then DecideFinish's (finish_decision.h).
// Thread-safe as far as the handler is.
#pragma once

#include <taskmill/function.h>
#include <taskmill/model.h>

#include <memory>
#include <string_view>

namespace taskmill {

// The cancellation reason of an attempt stopped because its runner is shutting down:
// its outcome is "interrupted" and the run is handed back, not charged.
inline constexpr std::string_view kRunnerStoppingReason = "runner stopping";
// The cancellation reason of an attempt that ran past its run's timeout.
inline constexpr std::string_view kTimeoutReason = "timeout";

// Executes `run` with `functions`' handler for its function on the calling thread.
// A function this node lacks ends unknown_task; a token already cancelled with
// kRunnerStoppingReason ends the attempt before it starts (interrupted). A flow's C++
// step runs with `flow_store` (flows/step_store.h) when set.
HandlerOutcome InvokeHandler(const FunctionRegistry& functions, const Run& run,
                             const std::shared_ptr<CancellationToken>& token,
                             flow::StepStore* flow_store = nullptr);

}  // namespace taskmill
