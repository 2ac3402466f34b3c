// staged_runs.cpp — staged runs (Storage::RunStage): a flow's step stages its children
// in batches while it runs, into staged_runs (migration 6), which no claim, listing or
// tally reads, each row with the attempt of its parent that staged it. The finish of
// that attempt releases them into the hot table in its own transaction (their keys
// into run_keys first, so a child already stored is skipped), before its follow-ups,
// whose conditions then see them live; its staged rows, and those of the parent's
// earlier attempts, are deleted in the same transaction. A cancel or a flow's stop
// deletes the rows of the attempt it ends in its own transaction (DeleteStaged); rows
// of attempts lost otherwise (a crash, then a finish that kept them) are swept at open,
// a few thousand per transaction (SweepStaged). The next step pages its predecessors'
// children in the order they were stored (RunListChildOutcomes).
#include <algorithm>
#include <cstdlib>
#include <set>

#include "storage/child_key.h"
#include "storage/postgres/storage_impl.h"
#include "storage/seq_cursor.h"

namespace taskmill::postgres {
namespace {

constexpr const char* kColumns =
    "id, queue, function, task, status, args, data, priority, account_id, auth_account_id, "
    "created_at, run_at, scheduled_at, started_at, finished_at, lease_until, runner, attempt, "
    "max_attempts, delay_us, delay_factor, max_delay_us, timeout_us, ttr_us, result, error, "
    "error_kind, progress_total, progress_succeeded, progress_failed, parent_id, flow_id, "
    "input_file, output_file, attempts, started";

}  // namespace

Status PgStorage::RunStage(const std::string& parent_queue, const std::string& parent_id,
                           int attempt, const std::vector<Run>& runs) {
  std::vector<const Run*> batch;
  std::set<std::pair<std::string, std::string>> seen;
  ArrayLiteral ids;
  for (const Run& r : runs) {
    if (r.parent_id != parent_id) {
      return Status::InvalidArgument("run '" + r.id + "' has parent_id '" + r.parent_id +
                                     "', not '" + parent_id + "': it cannot be staged under it");
    }
    if (!seen.emplace(r.id, r.queue).second) continue;
    batch.push_back(&r);
    ids.Add(r.id);
  }
  // Not made durable before it returns: only the parent's finish, a later durable
  // commit, releases them, and a crash before it loses the attempt.
  return pool_.Transaction(
      [&](Connection& c) -> Status {
        // FOR SHARE: a finish or a cancel of the parent waits for this commit or is seen.
        auto current = c.Exec(
            "SELECT 1 FROM runs WHERE id = $1 AND queue = $2 AND status = 'running' AND "
            "attempt = $3 FOR SHARE",
            Params().Add(parent_id).Add(parent_queue).Add(attempt));
        if (!current.ok()) return current.status();
        if (current->size() == 0) {
          return Status::FailedPrecondition("attempt " + std::to_string(attempt) + " of run '" +
                                            parent_id + "' is no longer current");
        }
        if (batch.empty()) return Status::Ok();
        // The default of staged_runs.parent_attempt, for InsertRuns, which names no
        // column beyond a run's.
        auto set = c.Exec("SELECT set_config('taskmill.parent_attempt', $1, true)",
                          Params().Add(std::to_string(attempt)));
        if (!set.ok()) return set.status();
        // A batch staged again (an answer lost) replaces its rows: nothing twice.
        auto replaced = c.Exec(
            "DELETE FROM staged_runs WHERE parent_id = $1 AND parent_attempt = $2 AND "
            "id = ANY($3::text[])",
            Params().Add(parent_id).Add(attempt).Add(ids.Take()));
        if (!replaced.ok()) return replaced.status();
        auto inserted = InsertRuns(c, "staged_runs", batch);
        if (!inserted.ok()) return inserted.status();
        return Status::Ok();
      },
      /*durable=*/false);
}

Status ApplyStaged(Connection& c, const RunFinish& f, bool* stored) {
  if (f.staged == StagedRuns::kKeep) return Status::Ok();
  if (f.staged == StagedRuns::kRelease) {
    static const std::string kRelease =
        std::string(
            "WITH k AS (INSERT INTO run_keys(id, queue) SELECT id, queue FROM "
            "staged_runs WHERE parent_id = $1 AND parent_attempt = $2 ORDER BY seq "
            "ON CONFLICT DO NOTHING RETURNING id, queue) "
            "INSERT INTO runs(") +
        kColumns + ", gen) SELECT " + kColumns +
        ", (SELECT cur FROM runs_gen) FROM staged_runs s JOIN k USING (id, queue) "
        "WHERE s.parent_id = $1 AND s.parent_attempt = $2 ORDER BY s.seq";
    auto released = c.Exec(kRelease, Params().Add(f.id).Add(f.attempt));
    if (!released.ok()) return released.status();
    if (released->Affected() > 0) *stored = true;
  }
  auto swept = c.Exec("DELETE FROM staged_runs WHERE parent_id = $1 AND parent_attempt <= $2",
                      Params().Add(f.id).Add(f.attempt));
  if (!swept.ok()) return swept.status();
  return Status::Ok();
}

Status DeleteStaged(Connection& c, const std::vector<std::string>& parent_ids) {
  if (parent_ids.empty()) return Status::Ok();
  ArrayLiteral ids;
  for (const std::string& id : parent_ids) ids.Add(id);
  return c
      .Exec("DELETE FROM staged_runs WHERE parent_id = ANY($1::text[])", Params().Add(ids.Take()))
      .status();
}

Status PgStorage::SweepStaged() {
  // ctid: the rows found, deleted by their place; a transaction each batch, so that
  // none grows with the number of rows left behind. "status || ''": the parent is
  // sought by its id (transitions.cpp says why).
  constexpr int kBatch = 5000;
  for (;;) {
    int64_t deleted = 0;
    TASKMILL_RETURN_IF_ERROR(pool_.Transaction(
        [&](Connection& c) -> Status {
          auto rows = c.Exec(
              "DELETE FROM staged_runs WHERE ctid = ANY(ARRAY(SELECT s.ctid FROM staged_runs s "
              "WHERE NOT EXISTS (SELECT 1 FROM runs r WHERE r.id = s.parent_id AND "
              "r.status || '' = 'running' AND r.attempt = s.parent_attempt) LIMIT $1))",
              Params().Add(static_cast<int64_t>(kBatch)));
          if (!rows.ok()) return rows.status();
          deleted = rows->Affected();
          return Status::Ok();
        },
        /*durable=*/false));
    if (deleted < kBatch) return Status::Ok();
  }
}

Result<ChildOutcomePage> PgStorage::RunListChildOutcomes(const std::string& parent_id,
                                                         const std::string& cursor, int limit) {
  limit = std::clamp(limit, 1, 1000);
  Result<int64_t> parsed = storage::ParseSeqCursor(cursor);
  if (!parsed.ok()) return parsed.status();
  const int64_t after = *parsed;
  // Live children in the hot table, final ones in history: each side in seq order
  // (runs_history_parent), merged. Only what the next step reads: the child_id comes
  // out of the args on the server (as json, which keeps its text as stored), so that
  // the args are neither sent nor parsed here.
  static const std::string kColumns = "seq, id, status, args::json -> 'child_id', result";
  static const std::string kPage =
      "(SELECT " + kColumns +
      " FROM runs WHERE parent_id = $1 AND parent_id <> '' AND seq > $2 ORDER BY seq LIMIT $3) "
      "UNION ALL (SELECT " +
      kColumns +
      " FROM runs_history WHERE parent_id = $1 AND parent_id <> '' AND seq > $2 ORDER BY seq "
      "LIMIT $3) ORDER BY 1 LIMIT $3";
  ChildOutcomePage page;
  Status st = pool_.Transaction(
      [&](Connection& c) -> Status {
        auto rows = c.Exec(kPage, Params().Add(parent_id).Add(after).Add(limit + 1));
        if (!rows.ok()) return rows.status();
        int64_t last = 0;
        for (int i = 0; i < rows->size(); ++i) {
          if (static_cast<int>(page.children.size()) == limit) {
            page.next_cursor = std::to_string(last);
            break;
          }
          last = rows->Int(i, 0);
          ChildOutcome& child = page.children.emplace_back();
          child.id = rows->Text(i, 1);
          child.status = ParseRunStatus(rows->Text(i, 2)).value_or(RunStatus::kPending);
          child.child_key = storage::ChildKeyFromJsonText(
              rows->IsNull(i, 3) ? std::nullopt : std::optional<std::string_view>(rows->Text(i, 3)),
              child.id);
          if (!rows->IsNull(i, 4)) child.result = ParseJsonOr(rows->Text(i, 4), nullptr);
        }
        return Status::Ok();
      },
      /*durable=*/false);
  if (!st.ok()) return st;
  return page;
}

}  // namespace taskmill::postgres
