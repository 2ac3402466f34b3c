// finishes.cpp — RunFinishBatch: one statement ends every attempt of the batch. The
// fence is in SQL (the row must still be running with the finish's attempt number), so
// a runner that comes back after a partition cannot overwrite a newer attempt. A final
// finish deletes the run from the hot table and inserts it, with the attempt appended,
// into runs_history in the same statement; a retry updates it in place.
#include "storage/postgres/storage_impl.h"

namespace taskmill::postgres {
namespace {

// f: the finishes, one row each, by ordinality. The attempt record appended to the
// run's attempts (the same fields as the SQLite backend's records).
constexpr const char* kFinishes =
    "WITH f AS (SELECT * FROM unnest($1::text[], $2::text[], $3::int4[], $4::text[], "
    "$5::int8[], $6::int8[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], "
    "$12::int8[], $13::int8[], $14::int8[]) WITH ORDINALITY AS f(id, queue, attempt, status, "
    "finished_at, run_at, result, error, error_kind, outcome, output, p_total, p_succeeded, "
    "p_failed, ord)), ";

constexpr const char* kAttempt =
    "r.attempts || jsonb_build_array(jsonb_build_object('number', f.attempt, 'runner', r.runner, "
    "'started_at', r.started_at, 'finished_at', f.finished_at, 'outcome', f.outcome, "
    "'error', f.error, 'output', f.output))";

}  // namespace

// Finishes per statement: a batch that grew while the server was away (the runner
// keeps its outcomes until they are stored) is stored in the same one commit, a
// statement of bounded size at a time.
constexpr size_t kFinishChunk = 2000;

// The statement of one chunk of finishes; the tests read its plan.
const std::string& FinishSql() {
  static const std::string kSql =
      std::string(kFinishes) +
      // DISTINCT ON: a run finished twice in one batch is finished by the first.
      // The status is tested outside the lookup: inside, it let the planner pick the
      // partial index of running runs (tiny by stale statistics) and walk it per finish.
      "hit AS MATERIALIZED (SELECT DISTINCT ON (x.seq) f.ord, x.seq FROM f CROSS JOIN "
      "LATERAL (SELECT r.seq, r.status FROM runs r WHERE r.id = f.id AND r.queue = f.queue "
      "AND r.attempt = f.attempt LIMIT 1 FOR UPDATE) x WHERE x.status = 'running' "
      "ORDER BY x.seq, f.ord), "
      "fin AS MATERIALIZED (SELECT h.seq, f.* FROM hit h JOIN f ON f.ord = h.ord), "
      "done AS (DELETE FROM runs r WHERE r.seq = ANY(ARRAY(SELECT seq FROM fin "
      "WHERE status <> 'pending')) RETURNING r.*), "
      "moved AS (INSERT INTO runs_history(seq, id, queue, function, task, status, args, data, "
      "priority, account_id, auth_account_id, created_at, run_at, scheduled_at, started_at, "
      "finished_at, lease_until, runner, attempt, max_attempts, delay_us, delay_factor, "
      "max_delay_us, timeout_us, ttr_us, result, error, error_kind, progress_total, "
      "progress_succeeded, progress_failed, parent_id, flow_id, input_file, output_file, "
      "attempts, started, part_at) SELECT r.seq, r.id, r.queue, r.function, r.task, f.status, "
      "r.args, r.data, r.priority, r.account_id, r.auth_account_id, r.created_at, r.run_at, "
      "r.scheduled_at, r.started_at, f.finished_at, NULL, '', r.attempt, r.max_attempts, "
      "r.delay_us, r.delay_factor, r.max_delay_us, r.timeout_us, r.ttr_us, f.result, f.error, "
      "f.error_kind, coalesce(f.p_total, r.progress_total), "
      "coalesce(f.p_succeeded, r.progress_succeeded), coalesce(f.p_failed, r.progress_failed), "
      "r.parent_id, r.flow_id, r.input_file, r.output_file, " +
      kAttempt +
      ", r.started, f.finished_at FROM done r JOIN fin f ON f.seq = r.seq), "
      "retried AS (UPDATE runs r SET status = 'pending', run_at = f.run_at, finished_at = NULL, "
      "result = f.result, error = f.error, error_kind = f.error_kind, lease_until = NULL, "
      "runner = '', progress_total = coalesce(f.p_total, r.progress_total), "
      "progress_succeeded = coalesce(f.p_succeeded, r.progress_succeeded), "
      "progress_failed = coalesce(f.p_failed, r.progress_failed), attempts = " +
      kAttempt +
      " FROM fin f WHERE r.seq = ANY(ARRAY(SELECT seq FROM fin WHERE status = 'pending')) "
      "AND r.seq = f.seq RETURNING f.ord) "
      "SELECT f.ord FROM done d JOIN fin f ON f.seq = d.seq UNION ALL SELECT ord FROM retried";
  return kSql;
}

Result<std::vector<RunFinishResult>> PgStorage::RunFinishBatch(
    const std::vector<RunFinish>& finishes) {
  std::vector<RunFinishResult> out(finishes.size());
  if (finishes.empty()) return out;
  std::vector<int64_t> months;
  for (const RunFinish& f : finishes) {
    if (f.status != RunStatus::kPending || f.settle) months.push_back(Micros(f.finished_at));
    ForEachFollowUp(f, [&](const RunFollowUp& up, bool shared) {
      if (IsFinal(up.run.status)) {
        months.push_back(
            Micros(up.run.finished_at.value_or(shared ? f.finished_at : up.run.created_at)));
      }
    });
  }
  TASKMILL_RETURN_IF_ERROR(EnsureMonths(months));
  // hit: each finish whose attempt is current, with its run's seq, found by one index
  // lookup per finish and locked (LATERAL ... LIMIT 1 cannot be flattened, so the
  // lookup is always driven by the finishes, whatever the planner believes of the hot
  // table's statistics: a join that walked the running runs for each finish took
  // minutes when the table was analyzed full of pending runs). The changes then reach
  // the runs by seq through = ANY(ARRAY(...)), an index scan of the primary key.
  const std::string& kSql = FinishSql();
  // The arrays of finishes [begin, end), one per column of f.
  auto chunk_params = [&](size_t begin, size_t end) {
    ArrayLiteral ids, queues, attempts, statuses, finished, run_ats, results, errors, kinds,
        outcomes, outputs, totals, succeeded, failed;
    std::string buffer;
    for (size_t i = begin; i < end; ++i) {
      const RunFinish& f = finishes[i];
      const bool retry = f.status == RunStatus::kPending;
      ids.Add(f.id);
      queues.Add(f.queue);
      attempts.Add(static_cast<int64_t>(f.attempt));
      statuses.Add(ToString(f.status));
      finished.Add(Micros(f.finished_at));
      if (retry) {
        run_ats.Add(Micros(f.run_at));
      } else {
        run_ats.AddNull();
      }
      if (f.result.is_null()) {
        results.AddNull();
      } else {
        buffer.clear();
        AppendJson(f.result, &buffer);
        results.Add(buffer);
      }
      errors.Add(f.error);
      kinds.Add(f.error_kind);
      outcomes.Add(f.outcome.empty() ? ToString(f.status) : std::string_view(f.outcome));
      outputs.Add(f.output);
      if (f.progress) {
        totals.Add(f.progress->total);
        succeeded.Add(f.progress->succeeded);
        failed.Add(f.progress->failed);
      } else {
        totals.AddNull();
        succeeded.AddNull();
        failed.AddNull();
      }
    }
    Params params;
    params.Add(ids.Take()).Add(queues.Take()).Add(attempts.Take()).Add(statuses.Take());
    params.Add(finished.Take()).Add(run_ats.Take()).Add(results.Take()).Add(errors.Take());
    params.Add(kinds.Take()).Add(outcomes.Take()).Add(outputs.Take()).Add(totals.Take());
    params.Add(succeeded.Take()).Add(failed.Take());
    return params;
  };
  std::vector<Params> chunks;
  for (size_t begin = 0; begin < finishes.size(); begin += kFinishChunk) {
    chunks.push_back(chunk_params(begin, std::min(finishes.size(), begin + kFinishChunk)));
  }
  Status st = pool_.Transaction([&](Connection& c) -> Status {
    for (auto& r : out) r = RunFinishResult{};
    bool retried = false;
    TASKMILL_RETURN_IF_ERROR(c.ExecScript(kSeekByKey));
    TASKMILL_RETURN_IF_ERROR(LockFlows(c, finishes));
    for (size_t k = 0; k < chunks.size(); ++k) {
      auto rows = c.Exec(kSql, chunks[k]);
      if (!rows.ok()) return rows.status();
      for (int i = 0; i < rows->size(); ++i) {
        const size_t at = k * kFinishChunk + static_cast<size_t>(rows->Int(i, 0) - 1);
        out[at].accepted = true;
        retried = retried || finishes[at].status == RunStatus::kPending;
      }
    }
    // Whether each finish stored claimable runs (its released children, its
    // follow-ups; both only ever set the flag): the runner claims again only after
    // those, and a commit that stored any wakes the other runners as a retry does.
    for (size_t i = 0; i < finishes.size(); ++i) {
      if (out[i].accepted)
        TASKMILL_RETURN_IF_ERROR(ApplyStaged(c, finishes[i], &out[i].may_have_stored_runs));
    }
    for (size_t i = 0; i < finishes.size(); ++i) {
      if (!out[i].accepted || !HasFollowUpsOrSettle(finishes[i])) continue;
      TASKMILL_RETURN_IF_ERROR(
          ApplyFollowUps(c, finishes[i], &out[i].settled, &out[i].may_have_stored_runs));
    }
    for (const RunFinishResult& r : out) retried = retried || r.may_have_stored_runs;
    if (retried) TASKMILL_RETURN_IF_ERROR(c.Exec(kNotifySql));
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return out;
}

}  // namespace taskmill::postgres
