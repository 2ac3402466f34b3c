// AN EXAMPLE, NOT FOR PRODUCTION (memory_follow_ups.h): the conditions are read by
// walking every run, under the one mutex that makes a finish a commit.
#include "memory_follow_ups.h"

#include "memory_staging.h"

namespace taskmill::example {
namespace {

bool Live(const Run& r) { return !IsFinal(r.status); }

Run* FindRun(MemoryDatabase& db, const std::string& id, const std::string& queue) {
  for (auto& [seq, stored] : db.runs) {
    if (stored.run.id == id && (queue.empty() || stored.run.queue == queue)) return &stored.run;
  }
  return nullptr;
}

// Final, with every child final too.
bool Over(MemoryDatabase& db, const std::string& id, const std::string& queue) {
  const Run* run = FindRun(db, id, queue);
  if (run == nullptr || Live(*run)) return false;
  for (const auto& [seq, stored] : db.runs) {
    if (stored.run.parent_id == id && Live(stored.run)) return false;
  }
  return true;
}

}  // namespace

bool ApplyFollowUps(MemoryDatabase& db, const RunFinish& f) {
  StageRelease(db, f.id, f.attempt, f.staged);  // before the follow-ups, whose conditions see them
  // Its own follow-ups, then those it shares with other finishes (at its instant).
  for (const RunFollowUp& up : FollowUpsAsStored(f)) {
    bool due = true;
    if (!up.while_live.empty()) {
      const Run* root = FindRun(db, up.while_live, "");
      due = root != nullptr && Live(*root);
    }
    for (size_t i = 0; due && i < up.after.size(); ++i) due = Over(db, up.after[i], "");
    if (!due || FindRun(db, up.run.id, up.run.queue) != nullptr) continue;
    db.runs[db.next_seq++] = StoredRun{up.run};
  }
  if (!f.settle) return false;
  const RunSettle& settle = *f.settle;
  Run* root = FindRun(db, settle.id, settle.queue);
  if (root == nullptr || !Live(*root)) return false;
  bool live_left = false;
  for (auto& [seq, stored] : db.runs) {
    Run& r = stored.run;
    if (r.flow_id != settle.id || r.id == settle.id || !Live(r)) continue;
    if (!settle.stop_live) {
      live_left = true;
      continue;
    }
    if (r.status == RunStatus::kRunning) {
      StageRelease(db, r.id, r.attempt, StagedRuns::kDrop);  // it never finishes
      r.attempts.push_back(Attempt{r.attempt, r.runner, r.started_at.value_or(TimePoint{}),
                                   f.finished_at, "stopped", settle.error, ""});
    }
    r.status = RunStatus::kStopped;
    r.finished_at = f.finished_at;
    r.lease_until.reset();
    r.runner.clear();
    r.error = settle.error;
    r.error_kind = "stopped";
  }
  if (settle.when_idle && live_left) return false;
  root->status = settle.status;
  root->finished_at = f.finished_at;
  root->result = settle.result;
  root->error = settle.error;
  root->error_kind = settle.error_kind;
  root->lease_until.reset();
  root->runner.clear();
  for (const Run& then : settle.then) {
    if (FindRun(db, then.id, then.queue) == nullptr) db.runs[db.next_seq++] = StoredRun{then};
  }
  return true;
}

}  // namespace taskmill::example
