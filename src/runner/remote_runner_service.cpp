#include "runner/remote_runner_service.h"

#include <taskmill/run_enums.h>

#include "core/lifecycle/finish_decision.h"
#include "flows/callbacks.h"
#include "flows/caps.h"
#include "flows/flow_events.h"
#include "flows/input.h"

namespace taskmill {

Result<std::vector<Run>> RemoteRunnerService::Take(const std::string& runner,
                                                   const std::string& queue, int max) {
  RunTakeParams params{runner, {queue}, max, clock_.Now()};
  // Also the capped children of the flows run in `queue` (flows/caps.h).
  params.queue_prefixes = flows::ChildQueuePrefixes(flows_, params.queues);
  auto taken = storage_.RunTake(params);
  if (!taken.ok()) return taken;
  for (Run& run : *taken) {
    notifier_.Started(run);
    if (run.flow_id.empty() || flows_ == nullptr) continue;
    flows::PublishStarted(notifier_.events(), run);
    if (flows::StoreCallback(storage_, flows_, "step_start", run, clock_.Now())) {
      notifier_.Due(clock_.Now());
    }
    // The remote worker sees the step's input as a local one would (flows/input.h).
    run = flows::WithStepInput(storage_, run);
  }
  return taken;
}

Result<std::vector<RemoteRunnerService::BeatAnswer>> RemoteRunnerService::Heartbeat(
    const std::string& runner, const std::vector<Beat>& beats) {
  const TimePoint now = clock_.Now();
  std::vector<BeatAnswer> answers(beats.size());
  std::vector<RunHeartbeat> renewals;
  std::vector<size_t> renewing;
  for (size_t i = 0; i < beats.size(); ++i) {
    auto run = storage_.RunGet(beats[i].id, beats[i].queue);
    if (!run.ok() && !run.status().IsNotFound()) return run.status();
    if (!run.ok()) continue;
    BeatAnswer& answer = answers[i];
    answer.run = std::move(*run);
    if (!Holds(*answer.run, runner, beats[i].token)) continue;
    answer.lease_until = now + answer.run->time_to_resolve;
    renewals.push_back({answer.run->queue, answer.run->id, beats[i].token, answer.lease_until});
    renewing.push_back(i);
  }
  if (!renewals.empty()) {
    auto alive = storage_.RunHeartbeatBatch(renewals);
    if (!alive.ok()) return alive.status();
    for (size_t i = 0; i < renewing.size(); ++i) answers[renewing[i]].accepted = (*alive)[i];
  }
  for (size_t i = 0; i < beats.size(); ++i) {
    BeatAnswer& answer = answers[i];
    if (answer.accepted && beats[i].progress) {
      const Run& run = *answer.run;
      Status stored = storage_.RunProgress(run.id, run.queue, beats[i].token, *beats[i].progress);
      if (stored.ok()) {
        notifier_.Progressed(run, *beats[i].progress);
      } else if (stored.code() == StatusCode::kFailedPrecondition) {
        answer.accepted = false;  // ended between the renewal and the progress
      } else {
        return stored;
      }
    }
    if (!answer.run || answer.accepted) continue;
    // Why the attempt is over, read after the renewal failed: an operator's cancel
    // during this very attempt is a request to stop, anything else a lost lease.
    auto current = storage_.RunGet(answer.run->id, answer.run->queue);
    answer.cancel_requested = current.ok() && current->status == RunStatus::kStopped &&
                              current->attempt == beats[i].token;
  }
  return answers;
}

Result<RemoteRunnerService::FinishAnswer> RemoteRunnerService::Finish(const std::string& runner,
                                                                      Report report) {
  auto run = storage_.RunGet(report.id, report.queue);
  if (!run.ok()) return run.status();
  FinishAnswer answer;
  if (!Holds(*run, runner, report.token)) {
    answer.run = std::move(*run);
    return answer;
  }
  HandlerOutcome& outcome = report.outcome;
  // A failure without a kind is the function's own, as for local handlers.
  if (outcome.status == RunStatus::kFailed && outcome.error_kind.empty()) {
    outcome.error_kind = ToString(ErrorKind::kUser);
  }
  // Kept like a command's captured output.
  if (outcome.output.size() > output_limit_) outcome.output.resize(output_limit_);
  // The local runner's decision: completion, retry (with the run's backoff) or failure.
  // A flow's step decides on its input, read again as the take read it (every step it
  // waits for is over, so it is the same): the children it adds carry its state.
  const bool of_flow = flows_ != nullptr && !run->flow_id.empty();
  // The cap of a step's children is in place before the commit that stores them
  // (flows/caps.h): the local runner sets it as the step starts, a remote step here.
  if (of_flow) {
    if (Status st = flows::SetChildCap(storage_, *flows_, *run); !st.ok()) {
      outcome =
          HandlerOutcome{.status = RunStatus::kFailed,
                         .error = "cannot set the cap of the step's children: " + st.ToString()};
    }
  }
  const Run input = of_flow ? flows::WithStepInput(storage_, *run) : *run;
  RunFinish finish = DecideFinish(input, outcome, clock_.Now(), flows_);
  // The run just read holds this very attempt (Holds), so storage may take what the
  // attempt does not change from it rather than read it again.
  finish.claimed = &*run;
  auto results = storage_.RunFinishBatch({finish});
  if (!results.ok()) return results.status();
  answer.released = true;
  if (!results->front().accepted) {
    // Lost the race with the sweeper or an operator between the read and the write.
    auto current = storage_.RunGet(run->id, run->queue);
    answer.run = current.ok() ? std::move(*current) : std::move(*run);
    return answer;
  }
  notifier_.Finished(*run, finish);
  if (of_flow) {
    // What the commit stored for the flow is due now; then the flow's events.
    if (FinishMayHaveStoredRuns(finish, results->front())) notifier_.Due(finish.finished_at);
    flows::PublishFinished(notifier_.events(), storage_, {{&input, &finish}});
    if (results->front().settled) {
      auto root = storage_.RunGet(finish.settle->id, finish.settle->queue);
      if (root.ok()) {
        notifier_.Stored(*root);
        if (!finish.settle->then.empty()) notifier_.Due(finish.finished_at);
        flows::PublishFlowOver(notifier_.events(), *root);
      }
    }
  }
  // The answer is the run as stored, with the attempt this finish recorded.
  auto stored = storage_.RunGet(run->id, run->queue);
  if (!stored.ok()) return stored.status();
  answer.finished = true;
  answer.run = std::move(*stored);
  return answer;
}

}  // namespace taskmill
