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

Result<std::vector<RunFinishResult>> PgStorage::RunFinishBatch(
    const std::vector<RunFinish>& finishes) {
  std::vector<RunFinishResult> out(finishes.size());
  if (finishes.empty()) return out;
  std::vector<int64_t> months;
  ArrayLiteral ids, queues, attempts, statuses, finished, run_ats, results, errors, kinds,
      outcomes, outputs, totals, succeeded, failed;
  std::string buffer;
  bool any_retry = false;
  for (const RunFinish& f : finishes) {
    const bool retry = f.status == RunStatus::kPending;
    any_retry = any_retry || retry;
    if (!retry) months.push_back(Micros(f.finished_at));
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
  TASKMILL_RETURN_IF_ERROR(EnsureMonths(months));
  Params params;
  params.Add(ids.Take()).Add(queues.Take()).Add(attempts.Take()).Add(statuses.Take());
  params.Add(finished.Take()).Add(run_ats.Take()).Add(results.Take()).Add(errors.Take());
  params.Add(kinds.Take()).Add(outcomes.Take()).Add(outputs.Take()).Add(totals.Take());
  params.Add(succeeded.Take()).Add(failed.Take());
  static const std::string kSql =
      std::string(kFinishes) +
      "done AS (DELETE FROM runs r USING f WHERE r.id = f.id AND r.queue = f.queue "
      "AND r.attempt = f.attempt AND r.status = 'running' AND f.status <> 'pending' "
      "RETURNING r.seq, r.id, r.queue, r.function, r.task, f.status, r.args, r.data, r.priority, "
      "r.account_id, r.auth_account_id, r.created_at, r.run_at, r.scheduled_at, r.started_at, "
      "f.finished_at, r.runner AS old_runner, r.attempt, r.max_attempts, r.delay_us, "
      "r.delay_factor, r.max_delay_us, r.timeout_us, r.ttr_us, f.result, f.error, f.error_kind, "
      "coalesce(f.p_total, r.progress_total) AS progress_total, "
      "coalesce(f.p_succeeded, r.progress_succeeded) AS progress_succeeded, "
      "coalesce(f.p_failed, r.progress_failed) AS progress_failed, r.parent_id, r.flow_id, "
      "r.input_file, r.output_file, " + kAttempt + " AS attempts, r.started, f.ord), "
      "moved AS (INSERT INTO runs_history(seq, id, queue, function, task, status, args, data, "
      "priority, account_id, auth_account_id, created_at, run_at, scheduled_at, started_at, "
      "finished_at, lease_until, runner, attempt, max_attempts, delay_us, delay_factor, "
      "max_delay_us, timeout_us, ttr_us, result, error, error_kind, progress_total, "
      "progress_succeeded, progress_failed, parent_id, flow_id, input_file, output_file, "
      "attempts, started, part_at) SELECT seq, id, queue, function, task, status, args, data, "
      "priority, account_id, auth_account_id, created_at, run_at, scheduled_at, started_at, "
      "finished_at, NULL, '', attempt, max_attempts, delay_us, delay_factor, max_delay_us, "
      "timeout_us, ttr_us, result, error, error_kind, progress_total, progress_succeeded, "
      "progress_failed, parent_id, flow_id, input_file, output_file, attempts, started, "
      "finished_at FROM done), "
      "retried AS (UPDATE runs r SET status = 'pending', run_at = f.run_at, finished_at = NULL, "
      "result = f.result, error = f.error, error_kind = f.error_kind, lease_until = NULL, "
      "runner = '', progress_total = coalesce(f.p_total, r.progress_total), "
      "progress_succeeded = coalesce(f.p_succeeded, r.progress_succeeded), "
      "progress_failed = coalesce(f.p_failed, r.progress_failed), attempts = " + kAttempt +
      " FROM f WHERE r.id = f.id AND r.queue = f.queue AND r.attempt = f.attempt "
      "AND r.status = 'running' AND f.status = 'pending' RETURNING f.ord) "
      "SELECT ord FROM done UNION ALL SELECT ord FROM retried";
  Status st = pool_.Transaction([&](Connection& c) -> Status {
    for (auto& r : out) r.accepted = false;
    auto rows = c.Exec(kSql, params);
    if (!rows.ok()) return rows.status();
    bool retried = false;
    for (int i = 0; i < rows->size(); ++i) {
      const size_t at = static_cast<size_t>(rows->Int(i, 0) - 1);
      out[at].accepted = true;
      retried = retried || finishes[at].status == RunStatus::kPending;
    }
    if (retried) TASKMILL_RETURN_IF_ERROR(c.Exec(kNotifySql));
    (void)any_retry;
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return out;
}

}  // namespace taskmill::postgres
