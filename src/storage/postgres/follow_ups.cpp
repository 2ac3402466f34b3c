// follow_ups.cpp — what an accepted finish brings into its commit (RunFollowUp,
// RunSettle in taskmill/storage.h): the runs that follow it, each stored when its
// conditions hold, and the end of a flow's root.
//
// The conditions ("every parent over", "nothing of the flow live") read other runs,
// and under READ COMMITTED two finishes committing at once would each see the other's
// run still live, so neither would store the step they join. So a finish that brings
// follow-ups or a settle first takes a transaction-level advisory lock on each flow
// (the run named by while_live and settle: the flow's root), in one order,
// before it locks its own run: of two such finishes of one flow, the second waits for
// the first's commit, and its checks — statements that start after that commit — see
// the first run final. Taking these locks before any row lock means no finish holds a
// run's row while it waits for a flow, so a settle that stops the flow's live runs
// never waits on a finish that waits on it.
#include <map>
#include <set>

#include "storage/postgres/storage_impl.h"

namespace taskmill::postgres {
namespace {

// Hashes of the keys, distinct and sorted, locked one after the other: sorted so that
// two batches never take two keys in opposite orders. The two-int form keeps these
// locks apart from the single-key locks of migrations and partitions.
constexpr const char* kLockFlows =
    "SELECT count(pg_advisory_xact_lock(7220162, h)) FROM (SELECT DISTINCT hashtext(k) AS h "
    "FROM unnest($1::text[]) k ORDER BY 1 OFFSET 0) s";

// Each id a run that is final (in history, not in the hot table) with no child live:
// the hot table holds exactly the pending and running runs. One statement, one
// snapshot. `parent_id <> ''` matches the partial index runs_parent_live.
constexpr const char* kAllOver =
    "SELECT coalesce(bool_and(NOT EXISTS (SELECT 1 FROM runs r WHERE r.id = a) "
    "AND EXISTS (SELECT 1 FROM runs_history h WHERE h.id = a) "
    "AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.parent_id = a AND r.parent_id <> '')), true) "
    "FROM unnest($1::text[]) a";

// The run is live (pending or running). FOR SHARE: an operator's cancel of the root,
// which takes no flow lock, either waits for this commit or is seen.
constexpr const char* kLive = "SELECT 1 FROM runs WHERE id = $1 LIMIT 1 FOR SHARE";

// A run of the flow other than its root is live. `flow_id <> ''` matches the partial
// index runs_flow_live.
constexpr const char* kFlowLive =
    "SELECT 1 FROM runs WHERE flow_id = $1 AND flow_id <> '' AND id <> $1 LIMIT 1";

// Moves runs of the hot table to history as given (their new state set by the
// caller), keeping their seqs.
Status MoveToHistory(Connection& c, const std::vector<Run>& runs,
                     const std::vector<int64_t>& seqs) {
  if (runs.empty()) return Status::Ok();
  ArrayLiteral list;
  for (int64_t seq : seqs) list.Add(seq);
  auto deleted = c.Exec("DELETE FROM runs WHERE seq = ANY($1::int8[])", Params().Add(list.Take()));
  if (!deleted.ok()) return deleted.status();
  if (deleted->Affected() != static_cast<int64_t>(runs.size())) {
    return Status::Internal("a run of a flow being ended vanished");
  }
  std::vector<const Run*> ptrs;
  for (const Run& run : runs) ptrs.push_back(&run);
  return InsertRuns(c, "runs_history", ptrs, &seqs).status();
}

// Stops every live run of a flow but its root, as RunCancel stops one (a running
// attempt is recorded as stopped, and its fence no longer holds).
Status StopFlowRuns(Connection& c, const std::string& flow_id, const std::string& error,
                    TimePoint now) {
  auto rows = c.Exec("SELECT " + std::string(kRunColumns) +
                         " FROM runs WHERE flow_id = $1 AND flow_id <> '' AND id <> $1 "
                         "ORDER BY seq FOR UPDATE",
                     Params().Add(flow_id));
  if (!rows.ok()) return rows.status();
  std::vector<Run> runs;
  std::vector<int64_t> seqs;
  std::vector<std::string> running;
  for (int i = 0; i < rows->size(); ++i) {
    int64_t seq = 0;
    Run run = ReadRun(*rows, i, &seq);
    if (run.status == RunStatus::kRunning) {
      running.push_back(run.id);
      Attempt attempt;
      attempt.number = run.attempt;
      attempt.runner = run.runner;
      attempt.started_at = run.started_at.value_or(TimePoint{});
      attempt.finished_at = now;
      attempt.outcome = "stopped";
      attempt.error = error;
      run.attempts.push_back(std::move(attempt));
    }
    run.status = RunStatus::kStopped;
    run.finished_at = now;
    run.lease_until.reset();
    run.runner.clear();
    run.error = error;
    run.error_kind = "stopped";
    runs.push_back(std::move(run));
    seqs.push_back(seq);
  }
  // A stopped attempt never finishes: the runs it staged go (staged_runs.cpp).
  TASKMILL_RETURN_IF_ERROR(DeleteStaged(c, running));
  return MoveToHistory(c, runs, seqs);
}

Result<bool> Exists(Connection& c, const char* sql, const std::string& id) {
  auto rows = c.Exec(sql, Params().Add(id));
  if (!rows.ok()) return rows.status();
  return rows->size() > 0;
}

// Stores the due follow-ups, each once: the finish of another parent of a fan-in, or
// this finish run again after a lost answer, finds the key taken and adds nothing. One
// statement for the keys and one per table, however many children a step adds.
Status StoreDue(Connection& c, std::vector<const Run*>& due, bool* stored) {
  if (due.empty()) return Status::Ok();
  ArrayLiteral ids, queues;
  for (const Run* run : due) {
    ids.Add(run->id);
    queues.Add(run->queue);
  }
  auto fresh = c.Exec(
      "INSERT INTO run_keys(id, queue) SELECT * FROM unnest($1::text[], $2::text[]) "
      "ON CONFLICT DO NOTHING RETURNING id, queue",
      Params().Add(ids.Take()).Add(queues.Take()));
  if (!fresh.ok()) return fresh.status();
  std::set<std::pair<std::string, std::string>> keys;
  for (int i = 0; i < fresh->size(); ++i) {
    keys.emplace(std::string(fresh->Text(i, 0)), std::string(fresh->Text(i, 1)));
  }
  std::vector<const Run*> hot, history;
  for (const Run* run : due) {
    if (keys.erase({run->id, run->queue}) == 0) continue;
    (IsFinal(run->status) ? history : hot).push_back(run);
  }
  due.clear();
  if (!hot.empty()) {
    auto inserted = InsertRuns(c, "runs", hot);
    if (!inserted.ok()) return inserted.status();
    *stored = true;
  }
  if (!history.empty()) return InsertRuns(c, "runs_history", history).status();
  return Status::Ok();
}

}  // namespace

bool HasFollowUpsOrSettle(const RunFinish& f) { return HasFollowUps(f) || f.settle.has_value(); }

Status LockFlows(Connection& c, const std::vector<RunFinish>& finishes) {
  // One key per flow as the engine writes them (every follow-up lives while its root
  // does): a step that adds ten thousand children takes one lock, not ten thousand
  // (advisory locks fill the server's shared lock table). A follow-up with no
  // while_live but an `after` is locked by its own id, which its other parents' finishes
  // name too; one with no condition needs no lock (its key is stored once anyway).
  std::set<std::string> keys;
  for (const RunFinish& f : finishes) {
    ForEachFollowUp(f, [&](const RunFollowUp& up, bool) {
      if (!up.while_live.empty()) {
        keys.insert(up.while_live);
      } else if (!up.after.empty()) {
        keys.insert(up.run.id);
      }
    });
    if (f.settle) keys.insert(f.settle->id);
  }
  if (keys.empty()) return Status::Ok();
  ArrayLiteral list;
  for (const std::string& key : keys) list.Add(key);
  return c.Exec(kLockFlows, Params().Add(list.Take())).status();
}

Status ApplyFollowUps(Connection& c, const RunFinish& f, bool* settled, bool* stored) {
  std::vector<const Run*> due;       // due, not yet stored: stored together
  std::map<std::string, bool> live;  // while_live answers: the root's fate is this commit's
  const std::vector<RunFollowUp> ups = FollowUpsAsStored(f);
  for (const RunFollowUp& up : ups) {
    if (!up.while_live.empty()) {
      auto known = live.find(up.while_live);
      if (known == live.end()) {
        auto found = Exists(c, kLive, up.while_live);
        if (!found.ok()) return found.status();
        known = live.emplace(up.while_live, *found).first;
      }
      if (!known->second) continue;
    }
    if (!up.after.empty()) {
      // The runs due before this one are stored first: they may be the children that
      // this one waits for.
      TASKMILL_RETURN_IF_ERROR(StoreDue(c, due, stored));
      ArrayLiteral after;
      for (const std::string& id : up.after) after.Add(id);
      auto over = c.Exec(kAllOver, Params().Add(after.Take()));
      if (!over.ok()) return over.status();
      if (!over->Bool(0, 0)) continue;
    }
    due.push_back(&up.run);
  }
  TASKMILL_RETURN_IF_ERROR(StoreDue(c, due, stored));
  if (!f.settle) return Status::Ok();
  const RunSettle& settle = *f.settle;
  // Live or not at all: a root already final (stopped by an operator) stays as it is.
  auto root_rows = c.Exec(
      "SELECT " + std::string(kRunColumns) + " FROM runs WHERE id = $1 AND queue = $2 FOR UPDATE",
      Params().Add(settle.id).Add(settle.queue));
  if (!root_rows.ok()) return root_rows.status();
  if (root_rows->size() == 0) return Status::Ok();
  int64_t seq = 0;
  Run root = ReadRun(*root_rows, 0, &seq);
  if (settle.stop_live) {
    TASKMILL_RETURN_IF_ERROR(StopFlowRuns(c, settle.id, settle.error, f.finished_at));
  }
  if (settle.when_idle) {
    auto live = Exists(c, kFlowLive, settle.id);
    if (!live.ok()) return live.status();
    if (*live) return Status::Ok();
  }
  root.status = settle.status;
  root.finished_at = f.finished_at;
  root.result = settle.result;
  root.error = settle.error;
  root.error_kind = settle.error_kind;
  root.lease_until.reset();
  root.runner.clear();
  TASKMILL_RETURN_IF_ERROR(MoveToHistory(c, {root}, {seq}));
  *settled = true;
  std::vector<const Run*> then;
  for (const Run& run : settle.then) then.push_back(&run);
  TASKMILL_RETURN_IF_ERROR(StoreDue(c, then, stored));
  return Status::Ok();
}

}  // namespace taskmill::postgres
