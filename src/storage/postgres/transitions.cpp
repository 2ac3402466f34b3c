// transitions.cpp — an operator's changes of one run: cancel, make due, retry, and the
// progress counters of a running attempt. A cancel moves the run to history and a
// retry brings it back, each keeping the run's seq (its place in listings).
// "status || '' = ..." in a lookup of one run: a plain status test lets the planner
// pick a partial index of one status, which stale statistics can make look tiny, and
// walk it instead of seeking the run's (id, queue).
#include "storage/postgres/storage_impl.h"

namespace taskmill::postgres {

Result<Run> PgStorage::RunCancel(const std::string& id, const std::string& queue, TimePoint now) {
  TASKMILL_RETURN_IF_ERROR(EnsureMonths({Micros(now)}));
  Run out;
  Status st = pool_.Transaction([&](Connection& c) -> Status {
    auto found = GetOn(c, id, queue, /*for_update=*/true);
    if (!found.ok()) return found.status();
    Run run = std::move(*found);
    if (IsFinal(run.status)) {
      return Status::FailedPrecondition("run '" + id + "' is already " +
                                        std::string(ToString(run.status)));
    }
    auto seq = c.Exec("DELETE FROM runs WHERE id = $1 AND queue = $2 RETURNING seq",
                      Params().Add(run.id).Add(run.queue));
    if (!seq.ok()) return seq.status();
    if (seq->size() != 1) return Status::Internal("a run being cancelled vanished");
    std::vector<int64_t> seqs{seq->Int(0, 0)};
    if (run.status == RunStatus::kRunning) {
      // The running attempt ends as stopped; its fence no longer holds.
      Attempt attempt;
      attempt.number = run.attempt;
      attempt.runner = run.runner;
      attempt.started_at = run.started_at.value_or(TimePoint{});
      attempt.finished_at = now;
      attempt.outcome = "stopped";
      attempt.error = "stopped by an operator";
      run.attempts.push_back(std::move(attempt));
      // A stopped attempt never finishes: the runs it staged go (staged_runs.cpp).
      TASKMILL_RETURN_IF_ERROR(DeleteStaged(c, {run.id}));
    }
    run.status = RunStatus::kStopped;
    run.finished_at = now;
    run.lease_until.reset();
    run.runner.clear();
    run.error = "stopped by an operator";
    run.error_kind = "stopped";
    TASKMILL_RETURN_IF_ERROR(InsertRuns(c, "runs_history", {&run}, &seqs));
    out = std::move(run);
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return out;
}

Result<Run> PgStorage::RunMakeDue(const std::string& id, const std::string& queue, TimePoint now) {
  Run out;
  Status st = pool_.Transaction([&](Connection& c) -> Status {
    auto rows = c.Exec(
        "UPDATE runs SET run_at = least(run_at, $3) WHERE id = $1 AND ($2 = '' OR "
        "queue = $2) AND status || '' = 'pending' RETURNING " +
            std::string(kRunColumns),
        Params().Add(id).Add(queue).Add(Micros(now)));
    if (!rows.ok()) return rows.status();
    if (rows->size() == 0) {
      auto found = GetOn(c, id, queue);
      if (!found.ok()) return found.status();
      return Status::FailedPrecondition("run '" + id + "' is " +
                                        std::string(ToString(found->status)) +
                                        "; only a pending run can be made due");
    }
    out = ReadRun(*rows, 0);
    return c.Exec(kNotifySql).status();
  });
  if (!st.ok()) return st;
  return out;
}

Result<Run> PgStorage::RunRetry(const std::string& id, const std::string& queue, TimePoint now) {
  Run out;
  Status st = pool_.Transaction([&](Connection& c) -> Status {
    bool in_history = false;
    auto found = GetOn(c, id, queue, /*for_update=*/true, &in_history);
    if (!found.ok()) return found.status();
    Run run = std::move(*found);
    if (!IsFinal(run.status) || !in_history) {
      return Status::FailedPrecondition("run '" + id + "' is " + std::string(ToString(run.status)) +
                                        "; only a finished run can be retried");
    }
    auto seq = c.Exec("DELETE FROM runs_history WHERE id = $1 AND queue = $2 RETURNING seq",
                      Params().Add(run.id).Add(run.queue));
    if (!seq.ok()) return seq.status();
    if (seq->size() != 1) return Status::Internal("a run being retried vanished");
    std::vector<int64_t> seqs{seq->Int(0, 0)};
    run.status = RunStatus::kPending;
    run.run_at = now;
    run.finished_at.reset();
    run.error.clear();
    run.error_kind.clear();
    run.result = nullptr;
    run.retry.max_attempts = std::max(run.retry.max_attempts, run.attempt + 1);
    TASKMILL_RETURN_IF_ERROR(InsertRuns(c, "runs", {&run}, &seqs));
    TASKMILL_RETURN_IF_ERROR(c.Exec(kNotifySql));
    out = std::move(run);
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return out;
}

Status PgStorage::RunProgress(const std::string& id, const std::string& queue, int attempt,
                              const Progress& p) {
  return pool_.Transaction([&](Connection& c) -> Status {
    auto rows = c.Exec(
        "UPDATE runs SET progress_total = $1, progress_succeeded = $2, progress_failed = $3 "
        "WHERE id = $4 AND queue = $5 AND attempt = $6 AND status || '' = 'running'",
        Params().Add(p.total).Add(p.succeeded).Add(p.failed).Add(id).Add(queue).Add(attempt));
    if (!rows.ok()) return rows.status();
    if (rows->Affected() != 1) {
      return Status::FailedPrecondition("attempt " + std::to_string(attempt) + " of run '" + id +
                                        "' is no longer current");
    }
    return Status::Ok();
  });
}

}  // namespace taskmill::postgres
