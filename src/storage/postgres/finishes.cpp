// finishes.cpp — RunFinishBatch: a batch's finishes end their attempts in one commit.
// The fence is checked under the row lock (the row must still be running with the
// finish's attempt number), so a runner that comes back after a partition cannot
// overwrite a newer attempt. A final finish deletes the run from the hot table and
// inserts it, with the attempt appended, into runs_history in the same statement; a
// retry updates it in place.
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "storage/postgres/storage_impl.h"

namespace taskmill::postgres {
namespace {

// f: the finishes accepted, one row each, with their runs' seqs. The attempt record appended to the
// run's attempts (the same fields as the SQLite backend's records).
constexpr const char* kFinishes =
    "WITH f AS (SELECT * FROM unnest($1::text[], $2::text[], $3::int4[], $4::text[], "
    "$5::int8[], $6::int8[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], "
    "$12::int8[], $13::int8[], $14::int8[], $15::int8[]) WITH ORDINALITY AS f(id, queue, "
    "attempt, status, finished_at, run_at, result, error, error_kind, outcome, output, "
    "p_total, p_succeeded, p_failed, seq, ord)), ";

constexpr const char* kAttempt =
    "r.attempts || jsonb_build_array(jsonb_build_object('number', f.attempt, 'runner', r.runner, "
    "'started_at', r.started_at, 'finished_at', f.finished_at, 'outcome', f.outcome, "
    "'error', f.error, 'output', f.output))";

}  // namespace

// Finishes per statement: a batch that grew while the server was away (the runner
// keeps its outcomes until they are stored) is stored in the same one commit, a
// statement of bounded size at a time.
constexpr size_t kFinishChunk = 2000;

// A chunk's runs, locked: every live run of the chunk's keys, in one index scan of each
// generation's (id, queue) index. One set-oriented read instead of a lookup per finish
// (LATERAL ... LIMIT 1 per row cost a third of the finish: a rescan of the three
// generations' index scans per run); the process then matches the rows to the
// finishes, so no join of the batch with `runs` is left to the planner (a join planned
// from stale statistics walked every running run for each finish). `queue = ANY`
// narrows, it does not match: a run of another queue with the same id may be locked
// too, and is then left alone. The tests read its plan.
const std::string& FinishLockSql() {
  static const std::string kSql =
      "SELECT seq, id, queue, attempt, status FROM runs WHERE id = ANY($1::text[]) "
      "AND queue = ANY($2::text[]) FOR UPDATE";
  return kSql;
}

// The statement of one chunk of accepted finishes, their runs locked and reached by
// seq through = ANY(ARRAY(...)), an index scan of each generation's seq index. Returns
// how many runs it ended or retried. The tests read its plan.
const std::string& FinishSql() {
  static const std::string kSql =
      std::string(kFinishes) +
      "done AS (DELETE FROM runs r WHERE r.seq = ANY(ARRAY(SELECT seq FROM f "
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
      ", r.started, f.finished_at FROM done r JOIN f ON f.seq = r.seq), "
      "retried AS (UPDATE runs r SET status = 'pending', run_at = f.run_at, finished_at = NULL, "
      "result = f.result, error = f.error, error_kind = f.error_kind, lease_until = NULL, "
      "runner = '', progress_total = coalesce(f.p_total, r.progress_total), "
      "progress_succeeded = coalesce(f.p_succeeded, r.progress_succeeded), "
      "progress_failed = coalesce(f.p_failed, r.progress_failed), attempts = " +
      kAttempt +
      " FROM f WHERE r.seq = ANY(ARRAY(SELECT seq FROM f WHERE status = 'pending')) "
      "AND r.seq = f.seq RETURNING 1) "
      "SELECT (SELECT count(*) FROM done) + (SELECT count(*) FROM retried)";
  return kSql;
}

Result<std::vector<RunFinishResult>> PgStorage::RunFinishBatch(
    const std::vector<RunFinish>& finishes) {
  std::vector<RunFinishResult> out(finishes.size());
  if (finishes.empty()) return out;
  std::vector<int64_t> months;
  for (const RunFinish& f : finishes) {
    if (f.status != RunStatus::kPending || f.settle) months.push_back(Micros(f.finished_at));
    for (const RunFollowUp& up : f.follow_ups) {
      if (IsFinal(up.run.status))
        months.push_back(Micros(up.run.finished_at.value_or(up.run.created_at)));
    }
  }
  TASKMILL_RETURN_IF_ERROR(EnsureMonths(months));
  // The arrays of one chunk's accepted finishes, one per column of f.
  auto chunk_params = [&](const std::vector<size_t>& which, const std::vector<int64_t>& seqs) {
    ArrayLiteral ids, queues, attempts, statuses, finished, run_ats, results, errors, kinds,
        outcomes, outputs, totals, succeeded, failed, seq_list;
    std::string buffer;
    for (size_t k = 0; k < which.size(); ++k) {
      const RunFinish& f = finishes[which[k]];
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
      seq_list.Add(seqs[k]);
    }
    Params params;
    params.Add(ids.Take()).Add(queues.Take()).Add(attempts.Take()).Add(statuses.Take());
    params.Add(finished.Take()).Add(run_ats.Take()).Add(results.Take()).Add(errors.Take());
    params.Add(kinds.Take()).Add(outcomes.Take()).Add(outputs.Take()).Add(totals.Take());
    params.Add(succeeded.Take()).Add(failed.Take()).Add(seq_list.Take());
    return params;
  };
  // The keys of each chunk, for its lock (built before the transaction, which then
  // holds its connection for the statements only).
  std::vector<Params> locks;
  for (size_t begin = 0; begin < finishes.size(); begin += kFinishChunk) {
    ArrayLiteral ids, queues;
    for (size_t i = begin; i < std::min(finishes.size(), begin + kFinishChunk); ++i) {
      ids.Add(finishes[i].id);
      queues.Add(finishes[i].queue);
    }
    locks.push_back(Params().Add(ids.Take()).Add(queues.Take()));
  }
  Status st = pool_.Transaction([&](Connection& c) -> Status {
    for (auto& r : out) r = RunFinishResult{};
    bool retried = false;
    TASKMILL_RETURN_IF_ERROR(c.ExecScript(kSeekByKey));
    TASKMILL_RETURN_IF_ERROR(LockFlows(c, finishes));
    // A run taken by an earlier finish of the batch (finished twice: the first wins).
    std::unordered_set<int64_t> taken;
    for (size_t k = 0; k < locks.size(); ++k) {
      auto rows = c.Exec(FinishLockSql(), locks[k]);
      if (!rows.ok()) return rows.status();
      struct Live {
        int64_t seq;
        int64_t attempt;
        bool running;
      };
      std::unordered_map<std::string, Live> live;  // by queue '\0' id
      live.reserve(static_cast<size_t>(rows->size()));
      for (int i = 0; i < rows->size(); ++i) {
        std::string key(rows->Text(i, 2));
        key += '\0';
        key += rows->Text(i, 1);
        live[std::move(key)] = Live{rows->Int(i, 0), rows->Int(i, 3), rows->Text(i, 4) == "running"};
      }
      // The fence, on the rows as locked: still running, with the finish's attempt.
      std::vector<size_t> which;
      std::vector<int64_t> seqs;
      const size_t begin = k * kFinishChunk, end = std::min(finishes.size(), begin + kFinishChunk);
      for (size_t i = begin; i < end; ++i) {
        std::string key = finishes[i].queue;
        key += '\0';
        key += finishes[i].id;
        auto it = live.find(key);
        if (it == live.end() || !it->second.running || it->second.attempt != finishes[i].attempt)
          continue;
        if (!taken.insert(it->second.seq).second) continue;
        which.push_back(i);
        seqs.push_back(it->second.seq);
      }
      if (which.empty()) continue;
      auto ended = c.Exec(FinishSql(), chunk_params(which, seqs));
      if (!ended.ok()) return ended.status();
      // Locked, so each is ended exactly as read; anything else is a broken invariant.
      if (ended->Int(0, 0) != static_cast<int64_t>(which.size())) {
        return Status::Internal("storage: a finish batch ended " + std::to_string(ended->Int(0, 0)) +
                                " of the " + std::to_string(which.size()) + " runs it had locked");
      }
      for (size_t i : which) {
        out[i].accepted = true;
        retried = retried || finishes[i].status == RunStatus::kPending;
      }
    }
    for (size_t i = 0; i < finishes.size(); ++i) {
      if (!out[i].accepted || !HasFollowUps(finishes[i])) continue;
      TASKMILL_RETURN_IF_ERROR(ApplyFollowUps(c, finishes[i], &out[i].settled, &retried));
    }
    if (retried) TASKMILL_RETURN_IF_ERROR(c.Exec(kNotifySql));
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return out;
}

}  // namespace taskmill::postgres
