// What an accepted finish brings into its commit (RunFollowUp, RunSettle in
// taskmill/storage.h): the runs that follow it, each stored when its conditions hold,
// and the end of a flow's root. The writer applies one transaction at a time, so a
// condition read here is the truth at the commit: of two parents finishing at once,
// the second to reach the writer sees the first final and stores the step they join.
#include "storage/sqlite/storage_impl.h"

namespace taskmill::sqlite {
namespace {

// Pending or running: the terms of the partial indexes runs_flow_live and
// runs_parent_live (migrations 10 and 14), spelled as they are so that SQLite may use
// them, and named by INDEXED BY because its planner otherwise prefers runs_parent_seq
// and runs_flow_seq: walking those for a live row passes every final child of a step
// first, once per child's finish.
constexpr const char* kParentLive =
    "SELECT flow_id FROM runs INDEXED BY runs_parent_live WHERE parent_id = ?1 "
    "AND parent_id <> '' AND status IN ('pending', 'running') LIMIT 1";
// The live runs of a flow but its root: its live steps (runs_flow_live holds only
// steps, migration 14), then the live children of each of its steps. ?1: the root.
constexpr const char* kFlowLiveSteps =
    "SELECT id, queue, task, account_id, status, attempt, runner, started_at, attempts "
    "FROM runs INDEXED BY runs_flow_live WHERE flow_id = ?1 AND flow_id <> '' "
    "AND parent_id = flow_id AND status IN ('pending', 'running') AND id <> ?1";
constexpr const char* kFlowLiveChildren =
    "SELECT c.id, c.queue, c.task, c.account_id, c.status, c.attempt, c.runner, "
    "c.started_at, c.attempts FROM runs AS s INDEXED BY runs_parent_seq "
    "JOIN runs AS c INDEXED BY runs_parent_live ON c.parent_id = s.id "
    "WHERE s.parent_id = ?1 AND s.parent_id <> '' AND c.parent_id <> '' "
    "AND c.status IN ('pending', 'running')";

// A release of staged runs under way (staged_runs.cpp) counts as a live child of its
// step: the runs it has yet to release are. The table holds a row only meanwhile.
constexpr const char* kParentReleasing =
    "SELECT flow_id FROM staged_releases WHERE parent_id = ?1 LIMIT 1";
constexpr const char* kFlowReleasing = "SELECT 1 FROM staged_releases WHERE flow_id = ?1 LIMIT 1";

// Whether anything of the flow whose root is `root` is live but the root: one seek
// while a step is, and a walk of its steps (a seek each) only once none is.
Result<bool> FlowLive(Connection& db, const std::string& root) {
  static const std::string kSteps = std::string(kFlowLiveSteps) + " LIMIT 1";
  static const std::string kChildren = std::string(kFlowLiveChildren) + " LIMIT 1";
  static const std::string kReleasing = kFlowReleasing;
  for (const std::string* sql : {&kSteps, &kChildren, &kReleasing}) {
    auto rows = Select(db, *sql, root);
    if (!rows.ok()) return rows.status();
    auto live = rows->Next();
    if (!live.ok()) return live.status();
    if (*live) return true;
  }
  return false;
}

// A run of `queue` that is final, and whose children are all final too. A live child
// found says which flow is live (`live_flow`): the settle of that flow then need not
// look for one again.
Result<bool> Over(Connection& db, const std::string& id, const std::string& queue,
                  std::string* live_flow) {
  auto key = SqliteStorage::FindKey(db, id, queue);
  if (!key.ok()) return key.status().IsNotFound() ? Result<bool>(false) : key.status();
  if (!IsFinal(key->status)) return false;
  for (const char* sql : {kParentLive, kParentReleasing}) {
    auto rows = Select(db, sql, id);
    if (!rows.ok()) return rows.status();
    auto live = rows->Next();
    if (!live.ok()) return live.status();
    if (*live) {
      *live_flow = std::string(rows->row().Text(0));
      return false;
    }
  }
  return true;
}

}  // namespace

Result<bool> SqliteStorage::ParentOver(Connection& db, const std::string& id) {
  std::string live_flow;
  return Over(db, id, "", &live_flow);
}

namespace {

// What makes a follow-up or a settle one that several finishes carry alike: a
// conditional follow-up (a step's successor, its all-over callback) by its run, a
// settle when idle by its run. Empty: not shared.
std::string SharedKey(const RunFollowUp& up) {
  if (up.after.empty()) return {};
  return "f\x1f" + up.run.queue + "\x1f" + up.run.id;
}
std::string SharedKey(const RunSettle& settle) {
  if (!settle.when_idle || settle.stop_live) return {};
  return "s\x1f" + settle.queue + "\x1f" + settle.id;
}

}  // namespace

SqliteStorage::SharedFollowUps::SharedFollowUps(const std::vector<RunFinish>& finishes) {
  if (finishes.size() < 2) return;
  // A batch's children share one vector of successors: its keys are made once.
  const std::vector<RunFollowUp>* keyed = nullptr;
  std::vector<std::string> keys;
  for (size_t i = 0; i < finishes.size(); ++i) {
    for (const RunFollowUp& up : finishes[i].follow_ups) {
      if (std::string key = SharedKey(up); !key.empty()) last[std::move(key)] = i;
    }
    if (const std::vector<RunFollowUp>* ups = finishes[i].shared_follow_ups.get()) {
      if (ups != keyed) {
        keyed = ups;
        keys.clear();
        for (const RunFollowUp& up : *ups) keys.push_back(SharedKey(up));
      }
      for (const std::string& key : keys) {
        if (!key.empty()) last[key] = i;
      }
    }
    if (finishes[i].settle) {
      if (std::string key = SharedKey(*finishes[i].settle); !key.empty()) last[std::move(key)] = i;
    }
  }
}

Status SqliteStorage::ApplyFinishFollowUps(Tx& tx, const std::vector<RunFinish>& finishes, size_t i,
                                           bool accepted, SharedFollowUps& shared,
                                           std::vector<RunFinishResult>& out) {
  const RunFinish& f = finishes[i];
  if (!HasFollowUps(f) && !f.settle) return Status::Ok();
  // Whether finish i is the last to carry `key`: false while a later one does.
  auto last_here = [&](const std::string& key) {
    auto it = shared.last.find(key);
    return it == shared.last.end() || it->second == i;
  };
  std::vector<FollowUpAt> ups;
  ForEachFollowUp(f, [&](const RunFollowUp& up, bool shared_up) {
    // A follow-up shared by finishes is stored at the instant of the one it came with.
    const FollowUpAt here{&up, shared_up ? std::optional(f.finished_at) : std::nullopt};
    std::string key = shared.last.empty() ? std::string() : SharedKey(up);
    if (key.empty()) {
      if (accepted) ups.push_back(here);
      return;
    }
    if (!last_here(key)) {
      if (accepted) shared.follow_ups[key] = here;  // a later carrier applies it
      return;
    }
    if (accepted) {
      ups.push_back(here);
    } else if (auto it = shared.follow_ups.find(key); it != shared.follow_ups.end()) {
      ups.push_back(it->second);  // for an earlier carrier that was accepted
    }
    shared.follow_ups.erase(key);
  });
  const RunSettle* settle = nullptr;
  size_t settled_by = i;  // the accepted finish whose settle ended its run
  if (f.settle) {
    std::string key = shared.last.empty() ? std::string() : SharedKey(*f.settle);
    if (key.empty()) {
      if (accepted) settle = &*f.settle;
    } else if (!last_here(key)) {
      if (accepted) shared.settles[key] = {&*f.settle, i};
    } else {
      if (accepted) {
        settle = &*f.settle;
      } else if (auto it = shared.settles.find(key); it != shared.settles.end()) {
        settle = it->second.first;
        settled_by = it->second.second;
      }
      shared.settles.erase(key);
    }
  }
  if (ups.empty() && settle == nullptr) return Status::Ok();
  return ApplyFollowUps(tx, ups, settle, finishes[accepted ? i : settled_by].finished_at,
                        &out[settled_by].settled);
}

Status SqliteStorage::ApplyFollowUps(Tx& tx, const std::vector<FollowUpAt>& ups,
                                     const RunSettle* settle_of, TimePoint finished_at,
                                     bool* settled) {
  static const std::string kInsertOrSkip = InsertRunsSql(1) + " ON CONFLICT DO NOTHING";
  // Read once per finish: no follow-up changes whether a run is final (a step's
  // 100,000 children name the same root).
  std::string live_checked;
  bool live_ok = false;
  std::string live_flow;  // a flow seen with a live run in this commit
  for (const FollowUpAt& up_at : ups) {
    const RunFollowUp& up = *up_at.up;
    bool due = true;
    // The cheap refusal first: a child's finish finds a live sibling of its step.
    for (size_t i = 0; due && i < up.after.size(); ++i) {
      auto over = Over(tx.db, up.after[i], "", &live_flow);
      if (!over.ok()) return over.status();
      due = *over;
    }
    if (due && !up.while_live.empty()) {
      if (up.while_live != live_checked) {
        auto key = FindKey(tx.db, up.while_live, "");
        if (!key.ok() && !key.status().IsNotFound()) return key.status();
        live_checked = up.while_live;
        live_ok = key.ok() && !IsFinal(key->status);
      }
      due = live_ok;
    }
    if (!due) continue;
    auto stmt = tx.db.Prepare(kInsertOrSkip);
    if (!stmt.ok()) return stmt.status();
    ScopedReset reset(**stmt);
    // Bound in place (BindRun): the copy at its instant lives until the Exec.
    std::optional<Run> at_instant;
    if (up_at.at) {
      at_instant = up.run;
      at_instant->created_at = at_instant->run_at = *up_at.at;
    }
    BindRun(**stmt, at_instant ? *at_instant : up.run);
    TASKMILL_RETURN_IF_ERROR((*stmt)->Exec());
    if (tx.db.Changes() == 1) {
      ++tx.runs_stored;
      tx.deltas.Add(up.run.queue, up.run.task, up.run.account_id, up.run.status, 1);
      if (!up.run.flow_id.empty() && !IsFinal(up.run.status)) live_flow = up.run.flow_id;
    }
  }
  if (settle_of == nullptr) return Status::Ok();
  const RunSettle& settle = *settle_of;
  // A settle when idle of a flow seen live above has nothing to do.
  if (settle.when_idle && !settle.stop_live && live_flow == settle.id) return Status::Ok();
  auto root = FindKey(tx.db, settle.id, settle.queue);
  if (!root.ok()) return root.status().IsNotFound() ? Status::Ok() : root.status();
  if (IsFinal(root->status)) return Status::Ok();
  if (settle.stop_live)
    TASKMILL_RETURN_IF_ERROR(StopFlowRuns(tx, settle.id, settle.error, finished_at));
  if (settle.when_idle) {
    auto live = FlowLive(tx.db, settle.id);
    if (!live.ok()) return live.status();
    if (*live) return Status::Ok();
  }
  std::optional<std::string> result;
  if (!settle.result.is_null()) result = boost::json::serialize(settle.result);
  TASKMILL_RETURN_IF_ERROR(Exec(tx.db,
                                "UPDATE runs SET status = ?1, finished_at = ?2, result = ?3, "
                                "error = ?4, error_kind = ?5, lease_until = NULL, runner = '' "
                                "WHERE id = ?6 AND queue = ?7",
                                std::string(ToString(settle.status)), Micros(finished_at), result,
                                settle.error, settle.error_kind, settle.id, root->queue));
  tx.deltas.Move(root->queue, root->task, root->account_id, root->status, settle.status);
  *settled = true;
  for (const Run& then : settle.then) {
    auto stmt = tx.db.Prepare(kInsertOrSkip);
    if (!stmt.ok()) return stmt.status();
    ScopedReset reset(**stmt);
    BindRun(**stmt, then);
    TASKMILL_RETURN_IF_ERROR((*stmt)->Exec());
    if (tx.db.Changes() == 1) {
      ++tx.runs_stored;
      tx.deltas.Add(then.queue, then.task, then.account_id, then.status, 1);
    }
  }
  return Status::Ok();
}

// Stops every live run of a flow but its root, as RunCancel stops one (a running
// attempt is recorded as stopped, and its fence no longer holds).
Status SqliteStorage::StopFlowRuns(Tx& tx, const std::string& flow_id, const std::string& error,
                                   TimePoint now) {
  struct Live {
    std::string id, queue, task, account;
    RunStatus status;
    std::optional<std::string> attempts;
  };
  // The runs of a release under way are live children too: released first.
  TASKMILL_RETURN_IF_ERROR(ReleaseAllOf(tx, flow_id));
  std::vector<Live> live;
  for (const char* sql : {kFlowLiveSteps, kFlowLiveChildren}) {
    auto rows = Select(tx.db, sql, flow_id);
    if (!rows.ok()) return rows.status();
    for (;;) {
      auto row = rows->Next();
      if (!row.ok()) return row.status();
      if (!*row) break;
      const Statement& r = rows->row();
      Live l{std::string(r.Text(0)),
             std::string(r.Text(1)),
             std::string(r.Text(2)),
             std::string(r.Text(3)),
             ParseRunStatus(r.Text(4)).value_or(RunStatus::kPending),
             std::nullopt};
      if (l.status == RunStatus::kRunning) {
        std::optional<int64_t> started_at;
        if (!r.IsNull(7)) started_at = r.Int(7);
        l.attempts = std::string(r.Text(8));
        AppendAttempt(*l.attempts, static_cast<int>(r.Int(5)), r.Text(6), started_at, Micros(now),
                      "stopped", error, "");
        // A stopped attempt never finishes: the runs it staged go (staged_runs.cpp).
        tx.stopped.emplace_back(l.id, r.Int(5));
      }
      live.push_back(std::move(l));
    }
  }
  for (const Live& l : live) {
    TASKMILL_RETURN_IF_ERROR(Exec(tx.db,
                                  "UPDATE runs SET status = 'stopped', finished_at = ?1, "
                                  "lease_until = NULL, runner = '', error = ?2, "
                                  "error_kind = 'stopped', attempts = coalesce(?3, attempts) "
                                  "WHERE id = ?4 AND queue = ?5",
                                  Micros(now), error, l.attempts, l.id, l.queue));
    tx.deltas.Move(l.queue, l.task, l.account, l.status, RunStatus::kStopped);
  }
  return Status::Ok();
}

}  // namespace taskmill::sqlite
