// AN EXAMPLE, NOT FOR PRODUCTION (memory_storage.h): the Storage contract kept in
// plain containers under one mutex. Each method says in a line what the contract asks
// of it; docs/storage.md has the whole contract.
#include "memory_storage.h"

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <cctype>
#include <charconv>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <utility>
#include <vector>

#include "memory_caps.h"
#include "memory_cluster.h"
#include "memory_database.h"
#include "memory_filter.h"
#include "memory_follow_ups.h"
#include "memory_staging.h"

namespace taskmill::example {

std::shared_ptr<MemoryDatabase> NewMemoryDatabase() { return std::make_shared<MemoryDatabase>(); }

namespace {
Status TakenId(const Run& run) {
  return Status::Conflict("run '" + run.id + "' already exists in queue '" + run.queue + "'");
}

Status NotCurrent(int attempt, const std::string& id) {
  return Status::FailedPrecondition("attempt " + std::to_string(attempt) + " of run '" + id +
                                    "' is no longer current");
}

class MemoryStorage final : public Storage {
 public:
  explicit MemoryStorage(std::shared_ptr<MemoryDatabase> db) : db_(std::move(db)) {}

  // ---- runs -----------------------------------------------------------------------
  // All or nothing; a duplicate (queue, id) is answered, replaced or refused by the
  // conflict mode, and never another account's run.
  Result<std::vector<Run>> RunPut(RunPutParams params) override {
    std::lock_guard lock(db_->mu);
    Undo undo;
    std::vector<Run> out;
    std::vector<bool> inserted;
    for (Run& run : params.runs) {
      if (StoredRun* existing = Find(run.id, run.queue, /*exact=*/true)) {
        if (existing->run.account_id != run.account_id) return undo.Rollback(TakenId(run));
        if (params.conflict == ConflictMode::kIgnore) {
          out.push_back(existing->run);
          inserted.push_back(false);
          continue;
        }
        if (params.conflict == ConflictMode::kError) return undo.Rollback(TakenId(run));
        if (existing->run.status == RunStatus::kRunning) {
          return undo.Rollback(Status::Conflict("run '" + run.id + "' in queue '" + run.queue +
                                                "' is running and cannot be overwritten"));
        }
        DeleteRun(SeqOf(*existing), undo);
      }
      if (LaunchTaken(run)) {
        return undo.Rollback(Status::Conflict("task '" + run.task +
                                              "' already has a launch scheduled at " +
                                              FormatTime(*run.scheduled_at)));
      }
      Insert(run, undo);
      out.push_back(run);
      inserted.push_back(true);
    }
    if (Status st = CommitFiles(params, out, inserted, undo); !st.ok()) return undo.Rollback(st);
    return out;
  }

  // By id; in any queue when `queue` is empty.
  Result<Run> RunGet(const std::string& id, const std::string& queue) override {
    std::lock_guard lock(db_->mu);
    StoredRun* found = Find(id, queue, false);
    if (!found) return Status::NotFound("no run with id '" + id + "'");
    return found->run;
  }

  // Newest first; the cursor is the insertion number of the last run of the page.
  Result<RunPage> RunList(const RunFilter& f) override {
    const int limit = std::clamp(f.limit, 1, 1000);
    int64_t before = std::numeric_limits<int64_t>::max();
    if (!f.cursor.empty()) {
      auto [end, ec] = std::from_chars(f.cursor.data(), f.cursor.data() + f.cursor.size(), before);
      if (ec != std::errc() || end != f.cursor.data() + f.cursor.size() || before <= 0) {
        return Status::InvalidArgument("cursor: '" + f.cursor + "' is not a cursor from a listing");
      }
    }
    std::lock_guard lock(db_->mu);
    const int64_t now_seq = db_->runs.empty() ? 0 : db_->runs.rbegin()->first;
    RunPage page;
    for (auto it = std::make_reverse_iterator(db_->runs.lower_bound(before));
         it != db_->runs.rend(); ++it) {
      const Run& r = it->second.run;
      if (!MatchesFilter(f, r, it->first, now_seq)) {
        continue;
      }
      if (static_cast<int>(page.runs.size()) == limit) {
        page.next_cursor = std::to_string(std::prev(it)->first);
        break;
      }
      page.runs.push_back(r);
    }
    return page;
  }

  // A finished or pending run, with its files and checkpoint; never a running one.
  Status RunRemove(const std::string& id, const std::string& queue) override {
    std::lock_guard lock(db_->mu);
    StoredRun* found = Find(id, queue, false);
    if (!found) return Status::NotFound("no run with id '" + id + "'");
    if (found->run.status == RunStatus::kRunning) {
      return Status::FailedPrecondition("run '" + id + "' is running; cancel it first");
    }
    Undo none;
    DeleteRun(SeqOf(*found), none);
    return Status::Ok();
  }

  // Due pending runs of unpaused queues, highest priority, then earliest run_at, then
  // oldest; each gets a lease of its time_to_resolve and the next attempt number.
  Result<std::vector<ClaimedRun>> RunTake(const RunTakeParams& p) override {
    std::vector<ClaimedRun> out;
    if (p.max <= 0) return out;
    std::lock_guard lock(db_->mu);
    std::vector<StoredRun*> due;
    for (auto& [seq, stored] : db_->runs) {
      const Run& r = stored.run;
      if (r.status == RunStatus::kPending && r.run_at <= p.now && Serves(p, r.queue)) {
        due.push_back(&stored);
      }
    }
    // std::map iterates by seq, and stable_sort keeps that order among equals.
    std::stable_sort(due.begin(), due.end(), [](const StoredRun* a, const StoredRun* b) {
      if (a->run.priority != b->run.priority) return a->run.priority > b->run.priority;
      return a->run.run_at < b->run.run_at;
    });
    std::vector<const Run*> candidates, running;
    for (const StoredRun* d : due) candidates.push_back(&d->run);
    for (const auto& [seq, stored] : db_->runs) {
      // A flow's root is stored running but held by no runner: it holds no slot.
      const bool root = stored.run.id == stored.run.flow_id;
      if (stored.run.status == RunStatus::kRunning && !root) running.push_back(&stored.run);
    }
    std::vector<StoredRun*> taken;
    for (size_t i : CappedClaims(candidates, running, db_->queue_caps, db_->tasks,
                                 static_cast<size_t>(p.max))) {
      taken.push_back(due[i]);
    }
    due = std::move(taken);
    for (size_t i = 0; i < due.size(); ++i) {
      Run& r = due[i]->run;
      r.status = RunStatus::kRunning;
      r.attempt += 1;
      r.runner = p.runner;
      r.started_at = p.now;
      r.lease_until = p.now + r.time_to_resolve;
      due[i]->started = static_cast<int64_t>(i) < p.start;
      out.push_back(r);
    }
    if (p.next_run_at && out.size() < static_cast<size_t>(p.max)) {
      TimePoint next = TimePoint::max();
      for (const auto& [seq, stored] : db_->runs) {
        const Run& r = stored.run;
        if (r.status == RunStatus::kPending && r.run_at > p.now && Serves(p, r.queue)) {
          next = std::min(next, r.run_at);
        }
      }
      *p.next_run_at = next;
    }
    return out;
  }

  StorageCapabilities Capabilities() const override { return {.staged_runs = true}; }
  Status RunStage(const std::string& parent_queue, const std::string& parent_id, int attempt,
                  const std::vector<Run>& runs) override {
    return StageRuns(*db_, parent_queue, parent_id, attempt, runs);
  }
  Result<ChildOutcomePage> RunListChildOutcomes(const std::string& parent_id,
                                                const std::string& cursor, int limit) override {
    return ChildOutcomesInOrder(*db_, parent_id, cursor, limit);
  }

  // Per heartbeat: whether its attempt is still the current one.
  Result<std::vector<bool>> RunHeartbeatBatch(const std::vector<RunHeartbeat>& beats) override {
    std::lock_guard lock(db_->mu);
    std::vector<bool> out;
    for (const RunHeartbeat& b : beats) {
      StoredRun* r = Current(b.id, b.queue, b.attempt);
      if (r) r->run.lease_until = b.lease_until;
      out.push_back(r != nullptr);
    }
    return out;
  }

  // Each finish of the current attempt ends it and records it in the run's attempts;
  // a stale one changes nothing.
  Result<std::vector<RunFinishResult>> RunFinishBatch(
      const std::vector<RunFinish>& finishes) override {
    std::lock_guard lock(db_->mu);
    std::vector<RunFinishResult> out;
    for (const RunFinish& f : finishes) {
      StoredRun* stored = Current(f.id, f.queue, f.attempt);
      out.push_back({stored != nullptr});
      if (!stored) continue;
      Run& r = stored->run;
      const bool retry = f.status == RunStatus::kPending;
      r.attempts.push_back(Attempt{
          f.attempt, r.runner, r.started_at.value_or(TimePoint{}), f.finished_at,
          f.outcome.empty() ? std::string(ToString(f.status)) : f.outcome, f.error, f.output});
      r.status = f.status;
      r.finished_at = retry ? std::nullopt : std::optional<TimePoint>(f.finished_at);
      if (retry) r.run_at = f.run_at;  // a finished run keeps the instant it was due
      r.result = f.result;
      r.error = f.error;
      r.error_kind = f.error_kind;
      r.lease_until.reset();
      r.runner.clear();
      if (f.progress) r.progress = *f.progress;
      out.back().settled = ApplyFollowUps(*db_, f);  // in the same commit: under the mutex
    }
    return out;
  }

  // Stops a pending or running run; a running attempt is recorded as stopped, and its
  // fence no longer holds.
  Result<Run> RunCancel(const std::string& id, const std::string& queue, TimePoint now) override {
    std::lock_guard lock(db_->mu);
    StoredRun* found = Find(id, queue, false);
    if (!found) return Status::NotFound("no run with id '" + id + "'");
    Run& r = found->run;
    if (IsFinal(r.status)) {
      return Status::FailedPrecondition("run '" + id + "' is already " +
                                        std::string(ToString(r.status)));
    }
    if (r.status == RunStatus::kRunning) {
      r.attempts.push_back(Attempt{r.attempt, r.runner, r.started_at.value_or(TimePoint{}), now,
                                   "stopped", "stopped by an operator", ""});
      StageRelease(*db_, id, r.attempt, StagedRuns::kDrop);  // the attempt never finishes
    }
    r.status = RunStatus::kStopped;
    r.finished_at = now;
    r.lease_until.reset();
    r.runner.clear();
    r.error = "stopped by an operator";
    r.error_kind = "stopped";
    return r;
  }

  // A pending run becomes due now, if it was due later.
  Result<Run> RunMakeDue(const std::string& id, const std::string& queue, TimePoint now) override {
    std::lock_guard lock(db_->mu);
    StoredRun* found = Find(id, queue, false);
    if (!found) return Status::NotFound("no run with id '" + id + "'");
    Run& r = found->run;
    if (r.status != RunStatus::kPending) {
      return Status::FailedPrecondition("run '" + id + "' is " + std::string(ToString(r.status)) +
                                        "; only a pending run can be made due");
    }
    r.run_at = std::min(r.run_at, now);
    return r;
  }

  // A final run goes back to pending, due now, with one more attempt allowed.
  Result<Run> RunRetry(const std::string& id, const std::string& queue, TimePoint now) override {
    std::lock_guard lock(db_->mu);
    StoredRun* found = Find(id, queue, false);
    if (!found) return Status::NotFound("no run with id '" + id + "'");
    Run& r = found->run;
    if (!IsFinal(r.status)) {
      return Status::FailedPrecondition("run '" + id + "' is " + std::string(ToString(r.status)) +
                                        "; only a finished run can be retried");
    }
    r.status = RunStatus::kPending;
    r.run_at = now;
    r.finished_at.reset();
    r.error.clear();
    r.error_kind.clear();
    r.result = nullptr;
    r.retry.max_attempts = std::max(r.retry.max_attempts, r.attempt + 1);
    return r;
  }

  // All or nothing: every run is checked before any changes.
  Result<Run> RunReopen(const std::string& id, const std::string& queue,
                        const std::vector<std::string>& retry, TimePoint now) override {
    std::lock_guard lock(db_->mu);
    std::vector<StoredRun*> found{Find(id, queue, false)};
    for (const std::string& other : retry) found.push_back(Find(other, "", false));
    for (size_t i = 0; i < found.size(); ++i) {
      const std::string& run_id = i == 0 ? id : retry[i - 1];
      if (!found[i]) return Status::NotFound("no run with id '" + run_id + "'");
      if (!IsFinal(found[i]->run.status)) {
        return Status::FailedPrecondition("run '" + run_id + "' is " +
                                          std::string(ToString(found[i]->run.status)) +
                                          "; only a finished run can be reopened");
      }
    }
    for (size_t i = 0; i < found.size(); ++i) {
      Run& r = found[i]->run;
      r.finished_at.reset();
      r.error.clear();
      r.error_kind.clear();
      r.result = nullptr;
      if (i == 0) {
        r.status = RunStatus::kRunning;
        r.lease_until.reset();
        r.runner.clear();
        continue;
      }
      r.status = RunStatus::kPending;
      r.run_at = now;
      r.retry.max_attempts = std::max(r.retry.max_attempts, r.attempt + 1);
    }
    return found[0]->run;
  }

  // A claim ahead that a slot took now counts as started.
  Status RunStartBatch(const std::vector<RunStart>& starts) override {
    std::lock_guard lock(db_->mu);
    for (const RunStart& s : starts) {
      if (StoredRun* r = Current(s.id, s.queue, s.attempt)) r->started = true;
    }
    return Status::Ok();
  }

  // Started running runs whose lease ended before `now`, soonest-ended first. (This
  // backend cannot tell that a runner's process ended: leases alone decide.)
  Result<std::vector<Run>> RunListExpired(TimePoint now, int limit) override {
    std::lock_guard lock(db_->mu);
    std::vector<Run> out;
    for (const auto& [seq, stored] : db_->runs) {
      const Run& r = stored.run;
      if (r.status == RunStatus::kRunning && stored.started && r.lease_until &&
          *r.lease_until < now) {
        out.push_back(r);
      }
    }
    std::stable_sort(out.begin(), out.end(),
                     [](const Run& a, const Run& b) { return *a.lease_until < *b.lease_until; });
    if (out.size() > static_cast<size_t>(std::max(0, limit)))
      out.resize(static_cast<size_t>(limit));
    return out;
  }

  // Claims that never started and whose lease ended go back to pending uncharged: the
  // attempt number keeps growing, so max_attempts grows with it.
  Result<std::vector<Run>> RunReleaseUnstarted(TimePoint now, int limit) override {
    std::lock_guard lock(db_->mu);
    std::vector<Run> out;
    for (auto& [seq, stored] : db_->runs) {
      if (static_cast<int>(out.size()) >= limit) break;
      Run& r = stored.run;
      if (r.status != RunStatus::kRunning || stored.started || !r.lease_until ||
          *r.lease_until >= now) {
        continue;
      }
      r.status = RunStatus::kPending;
      r.lease_until.reset();
      r.runner.clear();
      stored.started = true;
      r.retry.max_attempts += 1;
      r.started_at = r.attempts.empty() ? std::nullopt
                                        : std::optional<TimePoint>(r.attempts.back().started_at);
      out.push_back(r);
    }
    return out;
  }

  // Fenced like a finish.
  Status RunProgress(const std::string& id, const std::string& queue, int attempt,
                     const Progress& progress) override {
    std::lock_guard lock(db_->mu);
    StoredRun* r = Current(id, queue, attempt);
    if (!r) return NotCurrent(attempt, id);
    r->run.progress = progress;
    return Status::Ok();
  }

  // Counted on every call (a real backend keeps tallies instead).
  Result<StorageStats> RunStats(const std::optional<std::string>& account) override {
    std::lock_guard lock(db_->mu);
    StorageStats stats;
    for (RunStatus s : kAllRunStatuses) stats.by_status[s] = 0;
    for (const auto& [seq, stored] : db_->runs) {
      const Run& r = stored.run;
      if (account && r.account_id != *account) continue;
      ++stats.by_status[r.status];
      ++stats.by_task[r.task][r.status];
      ++stats.total;
    }
    return stats;
  }

  // Per task, the newest `keep` finished runs stay; anonymous runs are not touched.
  Result<int64_t> RunPrune(int keep) override {
    std::lock_guard lock(db_->mu);
    std::map<std::string, std::vector<std::pair<TimePoint, int64_t>>> finished;  // task -> runs
    for (const auto& [seq, stored] : db_->runs) {
      const Run& r = stored.run;
      if (r.task.empty() || !IsFinal(r.status)) continue;
      finished[r.task].emplace_back(r.finished_at.value_or(TimePoint{}), seq);
    }
    int64_t removed = 0;
    Undo none;
    for (auto& [task, runs] : finished) {
      std::sort(runs.rbegin(), runs.rend());  // newest finish first, then newest seq
      for (size_t i = static_cast<size_t>(std::max(0, keep)); i < runs.size() && removed < 10000;
           ++i, ++removed) {
        DeleteRun(runs[i].second, none);
      }
    }
    return removed;
  }

  // Retention by age: every finished run whose finish is before `before` goes, with
  // what it owns; a map holds no periods, so runs go one by one.
  Result<HistoryPruned> RunPruneOlderThan(TimePoint before, TimePoint now) override {
    if (before > now) {
      return Status::InvalidArgument("RunPruneOlderThan: `before` is after `now`");
    }
    std::lock_guard lock(db_->mu);
    std::vector<int64_t> doomed;
    for (const auto& [seq, stored] : db_->runs) {
      const Run& r = stored.run;
      if (IsFinal(r.status) && r.finished_at.value_or(r.created_at) < before) {
        doomed.push_back(seq);
      }
    }
    Undo none;
    for (int64_t seq : doomed) DeleteRun(seq, none);
    return HistoryPruned{.runs = static_cast<int64_t>(doomed.size())};
  }

  // The last stored run of the task (of one account when `account` is set).
  Result<std::optional<Run>> RunLatestOfTask(const std::string& task,
                                             const std::optional<std::string>& account) override {
    std::lock_guard lock(db_->mu);
    for (auto it = db_->runs.rbegin(); it != db_->runs.rend(); ++it) {
      const Run& r = it->second.run;
      if (!task.empty() && r.task == task && (!account || r.account_id == *account)) return {r};
    }
    return std::optional<Run>();
  }

  // Pending runs by derived state, oldest stored first, reading at most `limit`.
  Result<PendingSplit> RunPendingSplit(const std::optional<std::string>& account, TimePoint now,
                                       int64_t limit) override {
    std::lock_guard lock(db_->mu);
    PendingSplit split;
    for (const auto& [seq, stored] : db_->runs) {
      const Run& r = stored.run;
      if (split.counted >= limit) break;
      if (r.status != RunStatus::kPending || (account && r.account_id != *account)) continue;
      ++split.counted;
      ++(r.run_at <= now ? split.due : r.attempt > 0 ? split.retrying : split.scheduled);
    }
    return split;
  }

  Result<int64_t> RunCountLive(const std::string& task) override {
    std::lock_guard lock(db_->mu);
    int64_t n = 0;
    for (const auto& [seq, stored] : db_->runs) {
      n += stored.run.task == task && !IsFinal(stored.run.status);
    }
    return n;
  }

  // Stores the launches whose (task, scheduled_at), or (queue, id), is free; fenced.
  Result<std::vector<Run>> RunPutScheduled(std::vector<Run> runs,
                                           const LeaderFence& fence) override {
    std::lock_guard lock(db_->mu);
    TASKMILL_RETURN_IF_ERROR(LeaseCheckFence(*db_, fence));
    std::erase_if(runs, [&](const Run& run) {
      if (LaunchTaken(run) || Find(run.id, run.queue, true)) return true;
      Undo none;
      Insert(run, none);
      return false;
    });
    return runs;
  }

  // ---- queues -----------------------------------------------------------------------
  Status QueueSetPaused(const std::string& queue, bool paused) override {
    std::lock_guard lock(db_->mu);
    db_->queues[queue] = paused;
    return Status::Ok();
  }

  Status QueueSetConcurrency(const std::string& queue, int limit) override {
    if (limit < 0) return Status::InvalidArgument("queue '" + queue + "': negative cap");
    std::lock_guard lock(db_->mu);
    // A queue left uncapped keeps nothing of its cap (taskmill/storage.h).
    if (limit == 0) {
      db_->queue_caps.erase(queue);
    } else {
      db_->queue_caps[queue] = limit;
    }
    return Status::Ok();
  }

  // Queues with live runs, and queues ever paused or capped; of one account: only the queues
  // where it has live runs, with its counts.
  Result<std::vector<QueueStats>> QueueList(TimePoint now,
                                            const std::optional<std::string>& account) override {
    std::lock_guard lock(db_->mu);
    std::map<std::string, QueueStats> by_name;
    for (const auto& [seq, stored] : db_->runs) {
      const Run& r = stored.run;
      if (IsFinal(r.status) || (account && r.account_id != *account)) continue;
      QueueStats& q = by_name[r.queue];
      q.queue = r.queue;
      if (r.status == RunStatus::kRunning) {
        ++q.running;
      } else {
        ++q.pending;
        if (!q.oldest_pending_run_at || r.run_at < *q.oldest_pending_run_at) {
          q.oldest_pending_run_at = r.run_at;
        }
      }
    }
    for (const auto& [name, paused] : db_->queues) {
      if (account && !by_name.count(name)) continue;
      by_name[name].queue = name;
      by_name[name].paused = paused;
    }
    for (const auto& [name, cap] : db_->queue_caps) {
      if (account && !by_name.count(name)) continue;
      by_name[name].queue = name;
      by_name[name].max_concurrency = cap;
    }
    std::vector<QueueStats> out;
    for (auto& [name, q] : by_name) out.push_back(std::move(q));
    return out;
  }

  // ---- task definitions -------------------------------------------------------------
  Status TaskUpsert(const TaskDef& task) override {
    std::lock_guard lock(db_->mu);
    db_->tasks[task.name] = task;
    return Status::Ok();
  }
  Result<std::vector<TaskDef>> TaskList() override {
    std::lock_guard lock(db_->mu);
    std::vector<TaskDef> out;
    for (const auto& [name, task] : db_->tasks) out.push_back(task);
    return out;
  }
  Result<TaskDef> TaskGet(const std::string& name) override {
    std::lock_guard lock(db_->mu);
    auto it = db_->tasks.find(name);
    if (it == db_->tasks.end()) return Status::NotFound("no task named '" + name + "'");
    return it->second;
  }
  Status TaskSetEnabled(const std::string& name, bool enabled) override {
    std::lock_guard lock(db_->mu);
    auto it = db_->tasks.find(name);
    if (it == db_->tasks.end()) return Status::NotFound("no task named '" + name + "'");
    it->second.enabled = enabled;
    return Status::Ok();
  }
  Status TaskRemove(const std::string& name) override {
    std::lock_guard lock(db_->mu);
    if (db_->tasks.erase(name) == 0) return Status::NotFound("no task named '" + name + "'");
    return Status::Ok();
  }

  // ---- leadership and state ---------------------------------------------------------
  // Taken when free, expired, or already held by `holder` (a renewal); memory_cluster.h.
  Result<bool> LeaderAttemptElect(const std::string& name, const std::string& holder, TimePoint now,
                                  Duration ttl) override {
    return LeaseElect(*db_, name, holder, now, ttl);
  }
  Status LeaderResign(const std::string& name, const std::string& holder) override {
    return LeaseResign(*db_, name, holder);
  }
  Result<std::optional<LeaderLease>> LeaderGet(const std::string& name) override {
    return LeaseGet(*db_, name);
  }
  Status RunnerBeat(const RunnerInfo& runner) override { return RunnerStoreBeat(*db_, runner); }
  Result<std::vector<RunnerInfo>> RunnerList(TimePoint now, Duration forget_after) override {
    return RunnersSeen(*db_, now, forget_after);
  }
  Result<std::optional<std::string>> StateGet(const std::string& key) override {
    std::lock_guard lock(db_->mu);
    auto it = db_->state.find(key);
    if (it == db_->state.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }
  Status StatePut(const std::string& key, const std::string& value) override {
    std::lock_guard lock(db_->mu);
    db_->state[key] = value;
    return Status::Ok();
  }

  // ---- API tokens (memory_cluster.h) ----------------------------------------------
  Status TokenCreate(const ApiToken& token) override { return TokenStore(*db_, token); }
  Result<std::vector<ApiToken>> TokenList() override { return TokensByName(*db_); }
  Status TokenRemove(const std::string& name) override { return TokenDelete(*db_, name); }

  // ---- files ------------------------------------------------------------------------
  Status FileCreate(const FileCreateParams& p) override {
    if (p.id.empty()) return Status::InvalidArgument("file id must not be empty");
    std::lock_guard lock(db_->mu);
    if (db_->files.count(p.id)) return Status::Conflict("file '" + p.id + "' already exists");
    StoredFile& f = db_->files[p.id];
    f.info.id = p.id;
    f.info.name = p.name;
    f.info.content_type = p.content_type;
    f.info.created_at = p.now;
    return Status::Ok();
  }
  // Only to a staged file, and only the next chunk.
  Status FileAppend(const std::string& id, int64_t chunk, std::string_view bytes) override {
    std::lock_guard lock(db_->mu);
    auto it = db_->files.find(id);
    if (it == db_->files.end()) return Status::NotFound("no file with id '" + id + "'");
    if (!it->second.info.run_id.empty()) {
      return Status::FailedPrecondition("file '" + id + "' belongs to run '" +
                                        it->second.info.run_id +
                                        "' and can no longer be appended to");
    }
    return AppendChunks(it->second, chunk, {std::string(bytes)});
  }
  Result<FileInfo> FileGet(const std::string& id) override {
    std::lock_guard lock(db_->mu);
    auto it = db_->files.find(id);
    if (it == db_->files.end()) return Status::NotFound("no file with id '" + id + "'");
    return it->second.info;
  }
  Status FileReadChunkInto(const std::string& id, int64_t chunk, std::string* out) override {
    std::lock_guard lock(db_->mu);
    const std::string* bytes = Chunk(id, chunk);
    if (!bytes) return Status::NotFound("file '" + id + "' has no chunk " + std::to_string(chunk));
    out->assign(*bytes);
    return Status::Ok();
  }
  Status FileRemove(const std::string& id) override {
    std::lock_guard lock(db_->mu);
    if (db_->files.erase(id) == 0) return Status::NotFound("no file with id '" + id + "'");
    return Status::Ok();
  }
  Result<int64_t> FilePruneStaged(TimePoint created_before) override {
    std::lock_guard lock(db_->mu);
    return static_cast<int64_t>(std::erase_if(db_->files, [&](const auto& entry) {
      const FileInfo& info = entry.second.info;
      return info.run_id.empty() && info.created_at < created_before;
    }));
  }

  // ---- bulk checkpoints -------------------------------------------------------------
  // All or nothing, fenced by the attempt (which an operator's stop during this very
  // attempt leaves valid, so that the output written up to the stop is kept).
  Status RunCheckpointSave(const RunCheckpoint& c) override {
    std::lock_guard lock(db_->mu);
    StoredRun* stored = Find(c.id, c.queue, true);
    const Run* r = stored ? &stored->run : nullptr;
    const bool current =
        r && r->attempt == c.attempt &&
        (r->status == RunStatus::kRunning ||
         (r->status == RunStatus::kStopped && !r->attempts.empty() &&
          r->attempts.back().number == c.attempt && r->attempts.back().outcome == "stopped"));
    if (!current) return NotCurrent(c.attempt, c.id);
    if (c.output_file.empty() && !c.output_chunks.empty()) {
      return Status::InvalidArgument("checkpoint: output chunks without an output file");
    }
    Undo undo;
    for (const std::string& file : c.remove_files) {
      auto it = db_->files.find(file);
      if (it == db_->files.end() || it->second.info.run_id != c.id ||
          it->second.info.run_queue != c.queue) {
        continue;
      }
      undo.Add([this, saved = it->second] { db_->files[saved.info.id] = saved; });
      db_->files.erase(it);
    }
    if (!c.output_file.empty()) {
      auto it = db_->files.find(c.output_file);
      if (it == db_->files.end()) {
        StoredFile f;
        f.info.id = c.output_file;
        f.info.name = c.output_name;
        f.info.content_type = "text/csv";
        f.info.run_id = c.id;
        f.info.run_queue = c.queue;
        f.info.created_at = c.now;
        it = db_->files.emplace(c.output_file, std::move(f)).first;
        undo.Add([this, id = c.output_file] { db_->files.erase(id); });
      }
      StoredFile& out = it->second;
      if (out.info.run_id != c.id || out.info.run_queue != c.queue) {
        return undo.Rollback(Status::FailedPrecondition("file '" + c.output_file +
                                                        "' does not belong to run '" + c.id + "'"));
      }
      Status appended = AppendChunks(out, c.output_first_chunk, c.output_chunks);
      if (!appended.ok()) return undo.Rollback(appended);
      if (c.output_meta) out.info.meta = *c.output_meta;
      stored->run.output_file = c.output_file;
    }
    stored->run.progress = c.progress;
    db_->checkpoints[{c.queue, c.id}] = StoredCheckpoint{c.attempt, c.state, c.now};
    return Status::Ok();
  }

  Result<std::optional<StoredCheckpoint>> RunCheckpointGet(const std::string& id,
                                                           const std::string& queue) override {
    std::lock_guard lock(db_->mu);
    auto it = db_->checkpoints.find({queue, id});
    if (it == db_->checkpoints.end()) return std::optional<StoredCheckpoint>();
    return std::optional<StoredCheckpoint>(it->second);
  }

 private:
  // The run (queue, id); with an empty queue and !exact, the first run of that id.
  StoredRun* Find(const std::string& id, const std::string& queue, bool exact) {
    for (auto& [seq, stored] : db_->runs) {
      if (stored.run.id == id && (stored.run.queue == queue || (!exact && queue.empty()))) {
        return &stored;
      }
    }
    return nullptr;
  }

  // The run whose attempt `attempt` is current (running).
  StoredRun* Current(const std::string& id, const std::string& queue, int attempt) {
    StoredRun* r = Find(id, queue, true);
    return r && r->run.status == RunStatus::kRunning && r->run.attempt == attempt ? r : nullptr;
  }

  int64_t SeqOf(const StoredRun& stored) {
    for (const auto& [seq, s] : db_->runs) {
      if (&s == &stored) return seq;
    }
    return 0;
  }

  // Whether another run holds the periodical launch (task, scheduled_at) of `run`.
  bool LaunchTaken(const Run& run) {
    if (!run.scheduled_at) return false;
    return std::any_of(db_->runs.begin(), db_->runs.end(), [&](const auto& entry) {
      return entry.second.run.task == run.task && entry.second.run.scheduled_at == run.scheduled_at;
    });
  }

  // Whether a claim with `p` takes from `queue`: one it names or whose name starts
  // with one of its prefixes (any, when it names none) that is not paused.
  bool Serves(const RunTakeParams& p, const std::string& queue) const {
    auto paused = db_->queues.find(queue);
    return (paused == db_->queues.end() || !paused->second) &&
           (p.queues.empty() ||
            std::find(p.queues.begin(), p.queues.end(), queue) != p.queues.end() ||
            std::any_of(p.queue_prefixes.begin(), p.queue_prefixes.end(),
                        [&](const std::string& prefix) { return queue.starts_with(prefix); }));
  }

  void Insert(const Run& run, Undo& undo) {
    const int64_t seq = db_->next_seq++;
    db_->runs[seq] = StoredRun{run, true};
    undo.Add([this, seq] { db_->runs.erase(seq); });
  }

  // Deletes a run with the files it owns and its checkpoint.
  void DeleteRun(int64_t seq, Undo& undo) {
    auto it = db_->runs.find(seq);
    const Key key{it->second.run.queue, it->second.run.id};
    for (auto f = db_->files.begin(); f != db_->files.end();) {
      if (f->second.info.run_id == key.second && f->second.info.run_queue == key.first) {
        undo.Add([this, saved = f->second] { db_->files[saved.info.id] = saved; });
        f = db_->files.erase(f);
      } else {
        ++f;
      }
    }
    if (auto cp = db_->checkpoints.find(key); cp != db_->checkpoints.end()) {
      undo.Add([this, key, saved = cp->second] { db_->checkpoints[key] = saved; });
      db_->checkpoints.erase(cp);
    }
    undo.Add([this, seq, saved = it->second] { db_->runs[seq] = saved; });
    db_->runs.erase(it);
  }

  // Hands the staged files of a RunPut to the runs that name them (RunPutParams).
  Status CommitFiles(const RunPutParams& params, const std::vector<Run>& stored,
                     const std::vector<bool>& inserted, Undo& undo) {
    for (const std::string& file : params.commit_files) {
      const Run* named = nullptr;
      bool taken = false;
      for (size_t i = 0; i < inserted.size() && !named; ++i) {
        const Run& run = inserted[i] ? stored[i] : params.runs[i];
        if (run.input_file == file || run.output_file == file) {
          named = &run;
          taken = inserted[i];
        }
      }
      if (!named) {
        return Status::FailedPrecondition("file '" + file + "' is not named by any run stored");
      }
      if (!taken) continue;  // a duplicate kIgnore kept: the caller removes the upload
      auto it = db_->files.find(file);
      if (it == db_->files.end() || !it->second.info.run_id.empty()) {
        return Status::FailedPrecondition("file '" + file + "' is not a staged file");
      }
      undo.Add([this, file] { db_->files[file].info.run_id.clear(); });
      it->second.info.run_id = named->id;
      it->second.info.run_queue = named->queue;
    }
    return Status::Ok();
  }

  // Appends chunks numbered from `first`, which must be the file's chunk count.
  static Status AppendChunks(StoredFile& file, int64_t first,
                             const std::vector<std::string>& chunks) {
    if (first != file.info.chunks) {
      return Status::FailedPrecondition("file '" + file.info.id + "' has " +
                                        std::to_string(file.info.chunks) +
                                        " chunks; cannot write chunk " + std::to_string(first));
    }
    for (const std::string& chunk : chunks) {
      file.chunks.push_back(chunk);
      file.info.size += static_cast<int64_t>(chunk.size());
      ++file.info.chunks;
    }
    return Status::Ok();
  }

  const std::string* Chunk(const std::string& id, int64_t chunk) {
    auto it = db_->files.find(id);
    if (it == db_->files.end() || chunk < 0 ||
        chunk >= static_cast<int64_t>(it->second.chunks.size())) {
      return nullptr;
    }
    return &it->second.chunks[static_cast<size_t>(chunk)];
  }

  std::shared_ptr<MemoryDatabase> db_;
};

}  // namespace

std::shared_ptr<Storage> OpenMemoryStorage(std::shared_ptr<MemoryDatabase> database) {
  SweepStaged(*database);  // what attempts that ended unfinished left (memory_staging.h)
  return std::make_shared<MemoryStorage>(std::move(database));
}

}  // namespace taskmill::example
