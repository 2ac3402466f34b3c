// RunReopen (taskmill/storage.h): a failed flow's root back to running and the runs
// retried with it, in one transaction. Final runs live in runs_history and live ones
// in the hot table, so each moves back as RunRetry moves one.
#include "storage/postgres/storage_impl.h"

namespace taskmill::postgres {

Result<Run> PgStorage::RunReopen(const std::string& id, const std::string& queue,
                                 const std::vector<std::string>& retry, TimePoint now) {
  Run out;
  Status st = pool_.Transaction([&](Connection& c) -> Status {
    // The flow's lock (follow_ups.cpp takes the same key for a finish that settles the
    // root), so that no settle of this flow commits in between.
    TASKMILL_RETURN_IF_ERROR(
        c.Exec("SELECT pg_advisory_xact_lock(7220162, hashtext($1))", Params().Add(id)));
    // Moves one final run from history back to the hot table as `change` leaves it.
    auto reopen = [&](const std::string& run_id, const std::string& run_queue,
                      const auto& change) -> Result<Run> {
      bool in_history = false;
      auto found = GetOn(c, run_id, run_queue, /*for_update=*/true, &in_history);
      if (!found.ok()) return found.status();
      Run run = std::move(*found);
      if (!IsFinal(run.status) || !in_history) {
        return Status::FailedPrecondition("run '" + run_id + "' is " +
                                          std::string(ToString(run.status)) +
                                          "; only a finished run can be reopened");
      }
      auto seq = c.Exec("DELETE FROM runs_history WHERE id = $1 AND queue = $2 RETURNING seq",
                        Params().Add(run.id).Add(run.queue));
      if (!seq.ok()) return seq.status();
      if (seq->size() != 1) return Status::Internal("a run being reopened vanished");
      std::vector<int64_t> seqs{seq->Int(0, 0)};
      run.finished_at.reset();
      run.error.clear();
      run.error_kind.clear();
      run.result = nullptr;
      change(run);
      TASKMILL_RETURN_IF_ERROR(InsertRuns(c, "runs", {&run}, &seqs));
      return run;
    };
    auto root = reopen(id, queue, [](Run& run) {
      run.status = RunStatus::kRunning;
      run.lease_until.reset();
      run.runner.clear();
    });
    if (!root.ok()) return root.status();
    for (const std::string& other : retry) {
      auto retried = reopen(other, "", [&](Run& run) {
        run.status = RunStatus::kPending;
        run.run_at = now;
        run.retry.max_attempts = std::max(run.retry.max_attempts, run.attempt + 1);
      });
      if (!retried.ok()) return retried.status();
    }
    TASKMILL_RETURN_IF_ERROR(c.Exec(kNotifySql));
    out = std::move(*root);
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return out;
}

}  // namespace taskmill::postgres
