#include <algorithm>
#include <limits>

#include "storage/sqlite/storage_impl.h"

namespace taskmill::sqlite {

// Runs claimed per statement (see TakeFromQueues).
constexpr int kClaimChunk = 64;
// Runs of a capped queue that may be claimed past its cap (CapClaim::kPastCap), in
// multiples of the cap. With a flow's step of 100,000 children of microseconds under
// a cap of 64: once the cap's size, 39,473 children/s; three times, 42,703 (medians of
// ten pairs; twice and four times gained less). More of them wait in the runner for a
// sibling's slot while the last outcomes are written, though more are handed back
// (about 2% of the children, against 0.1%), when a claim brings them to a runner whose
// siblings have all ended and been written (docs/BENCHMARKS.md).
constexpr int64_t kPastCapPool = 3;

namespace {

// The count that `sql` (with the queue as ?1) answers.
Result<int64_t> CountOfQueue(Connection& db, const char* sql, const std::string& queue) {
  auto stmt = db.Prepare(sql);
  if (!stmt.ok()) return stmt.status();
  ScopedReset reset(**stmt);
  (*stmt)->Bind(1, queue);
  auto row = (*stmt)->Step();
  if (!row.ok()) return row.status();
  return *row ? (*stmt)->Int(0) : 0;
}

// The roots of flows running in `queue`: stored running, held by no runner (they end
// when their flow does), so they hold no slot of the queue's cap although the running
// tally counts them. Found through runs_running_lease, among the running runs without
// a lease (a claim always sets one): as many rows as flows running, not as runs.
Result<int64_t> RunningFlowRoots(Connection& db, const std::string& queue) {
  return CountOfQueue(db,
                      "SELECT count(*) FROM runs INDEXED BY runs_running_lease WHERE "
                      "status = 'running' AND lease_until IS NULL AND queue = ?1 AND id = flow_id",
                      queue);
}

// The runs of `queue` claimed past its cap and not started (CapClaim::kPastCap):
// runs_past_cap holds only those (migration 13), at most kPastCapPool times the cap
// per queue.
Result<int64_t> PastCapRuns(Connection& db, const std::string& queue) {
  return CountOfQueue(db,
                      "SELECT count(*) FROM runs INDEXED BY runs_past_cap WHERE queue = ?1 "
                      "AND status = 'running' AND started = 2",
                      queue);
}

// A claim's args and data are read as text (ReadRunInto), and parsed off the writer
// thread: here, or by the caller when it parses them itself (json_as_text).
void AnswerClaimJson(const RunTakeParams& p, std::vector<ClaimedRun>& runs) {
  if (p.json_as_text != nullptr) {
    *p.json_as_text = true;
    return;
  }
  for (Run& run : runs) ParseRunJsonText(run);
}

}  // namespace

Result<std::vector<ClaimedRun>> SqliteStorage::RunTake(const RunTakeParams& p) {
  if (p.max <= 0) return std::vector<ClaimedRun>{};
  std::vector<ClaimedRun> out;
  Status st = WriteClaim(TakeWrite(p, out));
  if (!st.ok()) return st;
  AnswerClaimJson(p, out);
  return out;
}

Result<std::vector<RunFinishResult>> SqliteStorage::RunFinishThenTake(
    const std::vector<RunFinish>& finishes, const RunTakeParams& take,
    const std::function<void(Result<std::vector<ClaimedRun>>)>& on_taken) {
  std::vector<RunFinishResult> finished;
  std::vector<ClaimedRun> taken;
  PendingWrite finish{FinishWrite(finishes, finished), /*durable=*/true, {}};
  PendingWrite claim{TakeWrite(take, taken), /*durable=*/false, {}};
  claim.claim = true;  // after the finishes, in their commit (WriterLoop)
  auto finish_done = finish.done.get_future();
  auto claim_done = claim.done.get_future();
  if (Status queued = QueueTogether({&finish, &claim}); !queued.ok()) {
    on_taken(queued);
    return queued;
  }
  // A claim is answered at its commit, the finishes once the log holding them is
  // synced: the runs claimed start meanwhile.
  if (Status claimed = claim_done.get(); claimed.ok()) {
    AnswerClaimJson(take, taken);
    on_taken(std::move(taken));
  } else {
    on_taken(claimed);
  }
  if (Status st = finish_done.get(); !st.ok()) return st;
  return finished;
}

std::function<Status(Tx&)> SqliteStorage::TakeWrite(const RunTakeParams& p,
                                                    std::vector<ClaimedRun>& out) {
  return [&p, &out](Tx& tx) -> Status {
    out.clear();
    if (p.max <= 0) return Status::Ok();
    TASKMILL_RETURN_IF_ERROR(TakeFromQueues(tx, p, out));
    if (p.next_run_at && static_cast<int>(out.size()) < p.max) {
      TASKMILL_RETURN_IF_ERROR(EarliestPendingRunAt(tx, p, p.next_run_at));
    }
    for (const Run& run : out) {
      tx.deltas.Move(run.queue, run.task, run.account_id, RunStatus::kPending, RunStatus::kRunning);
    }
    return Status::Ok();
  };
}

// Claims for a runner of the queues it names, or of every queue (none named): the
// best `max` of each queue through the per-queue pending index, merged in claim order
// (priority DESC, run_at, seq), then claimed by rowid. Walking one index of every
// pending run instead would, for a runner of some queues, walk past the backlogs of
// the others at every poll (a million runs elsewhere made each idle poll a scan of
// them all), and would cost every put and claim a B-tree operation.
Status SqliteStorage::TakeFromQueues(Tx& tx, const RunTakeParams& p, std::vector<ClaimedRun>& out) {
  std::vector<std::string> queues;
  TASKMILL_RETURN_IF_ERROR(ClaimQueues(tx, p, queues));
  // Concurrency caps (caps.cpp): with none, the claim reads what it did without.
  std::vector<std::pair<std::string, int64_t>> task_rooms;
  TASKMILL_RETURN_IF_ERROR(TaskRooms(tx, task_rooms));
  const bool task_caps = !task_rooms.empty();
  auto paused = tx.db.Prepare("SELECT paused, max_running FROM queues WHERE name = ?1");
  if (!paused.ok()) return paused.status();
  // Whole rows, through the index: each claimed row is then read once, before its
  // UPDATE, and the claim's changes are applied to the runs read.
  static const std::string kSelect = Sql("SELECT ",
                                         " FROM runs INDEXED BY runs_queue_pending "
                                         "WHERE status = 'pending' AND queue = ?1 AND run_at <= ?2 "
                                         "ORDER BY priority DESC, run_at LIMIT ?3");
  auto select = tx.db.Prepare(kSelect);
  if (!select.ok()) return select.status();
  // Read straight into the answer, with their rowids alongside; runs claimed past a
  // queue's cap (CapClaim::kPastCap) apart, to follow the others.
  out.clear();
  out.reserve(static_cast<size_t>(p.max));
  std::vector<int64_t> seqs;
  seqs.reserve(static_cast<size_t>(p.max));
  std::vector<ClaimedRun> past_cap;
  std::vector<int64_t> past_cap_seqs;
  std::vector<std::string_view> capped_queues;  // whose runs hold a slot of a cap
  std::vector<std::string_view> seen;
  size_t queues_read = 0;
  for (const std::string& queue : queues) {
    if (std::find(seen.begin(), seen.end(), queue) != seen.end()) continue;
    seen.push_back(queue);
    int64_t room = p.max;  // runs of this queue that may hold a slot of it
    int64_t past_cap_room = 0;
    {
      ScopedReset reset(**paused);
      (*paused)->Bind(1, queue);
      auto row = (*paused)->Step();
      if (!row.ok()) return row.status();
      if (*row && (*paused)->Int(0) != 0) continue;
      if (*row && (*paused)->Int(1) > 0) {
        // The cap counts the runs holding a slot: running, but for flow roots (held
        // by no runner) and runs claimed past the cap (which hold none).
        const int64_t cap = (*paused)->Int(1);
        auto running = RunningNow(tx, /*by_queue=*/true, queue);
        if (!running.ok()) return running.status();
        auto roots = RunningFlowRoots(tx.db, queue);
        if (!roots.ok()) return roots.status();
        auto past = PastCapRuns(tx.db, queue);
        if (!past.ok()) return past.status();
        room = std::min(room, cap - (*running - *roots - *past));
        if (p.caps != nullptr) past_cap_room = kPastCapPool * cap - *past;
        if (room <= 0 && past_cap_room <= 0) continue;
        room = std::max<int64_t>(room, 0);
        capped_queues.push_back(queue);
      }
    }
    const int64_t wanted = std::min<int64_t>(p.max, room + past_cap_room);
    Statement& s = **select;
    ScopedReset reset(s);
    s.Bind(1, queue);
    s.Bind(2, Micros(p.now));
    // With task caps, the runs of a task at its cap are passed over, so the statement
    // reads on (no LIMIT) until the queue gave its share: a run held back does not
    // hold back the runs after it.
    s.Bind(3, task_caps ? int64_t{-1} : wanted);
    ++queues_read;
    for (int64_t taken = 0; taken < wanted;) {
      auto row = s.Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      // The queue's runs past its room are claimed past its cap.
      const bool past = taken >= room;
      std::vector<ClaimedRun>& into = past ? past_cap : out;
      std::vector<int64_t>& into_seqs = past ? past_cap_seqs : seqs;
      // Args and data are parsed after the commit, by the caller's thread (RunTake).
      ReadRunInto(s, into.emplace_back(), &into_seqs.emplace_back(), /*raw_json=*/true);
      if (task_caps) {
        auto capped = std::find_if(task_rooms.begin(), task_rooms.end(),
                                   [&](const auto& r) { return r.first == into.back().task; });
        if (capped != task_rooms.end()) {
          if (capped->second <= 0) {
            into.pop_back();
            into_seqs.pop_back();
            continue;
          }
          --capped->second;
        }
      }
      ++taken;
    }
  }
  // One queue's runs come in claim order already; several are merged.
  if (queues_read > 1) MergeClaimOrder(out, seqs, static_cast<size_t>(p.max));
  const size_t holding = out.size();  // runs that hold a slot, if their queue has a cap
  const size_t past_cap_taken = std::min(past_cap.size(), static_cast<size_t>(p.max) - holding);
  for (size_t i = 0; i < past_cap_taken; ++i) {
    out.push_back(std::move(past_cap[i]));
    seqs.push_back(past_cap_seqs[i]);
  }
  // Claimed kClaimChunk at a time, by one UPDATE of rowids IN a list: a statement per
  // run made each run pay for opening a cursor on the table and every index, and for
  // halting and resetting, a fifth of a claim. A short last chunk binds NULL, which
  // matches no rowid.
  // Of the runs holding a slot, the first p.start start at once and the rest are
  // claimed ahead (started = 0); then come those claimed past a cap (started = 2).
  static const std::string kUpdate =
      "UPDATE runs SET status = 'running', attempt = attempt + 1, runner = ?1, "
      "started_at = ?2, lease_until = ?2 + ttr_us, started = ?3 WHERE seq IN (" +
      Placeholders(4, kClaimChunk) + ")";
  auto update = tx.db.Prepare(kUpdate);
  if (!update.ok()) return update.status();
  const int64_t now = Micros(p.now);
  const size_t started = std::min(holding, static_cast<size_t>(std::max(0, p.start)));
  for (size_t begin = 0; begin < seqs.size();) {
    // A chunk never spans two of these kinds.
    const size_t kind_end = begin < started ? started : begin < holding ? holding : seqs.size();
    const size_t end = std::min(kind_end, begin + static_cast<size_t>(kClaimChunk));
    const size_t n = end - begin;
    Statement& u = **update;
    ScopedReset reset_update(u);
    u.Bind(1, p.runner);
    u.Bind(2, now);
    u.Bind(3, begin < started ? 1 : begin < holding ? 0 : 2);
    for (size_t i = 0; i < n; ++i) u.Bind(static_cast<int>(4 + i), seqs[begin + i]);
    begin = end;
    TASKMILL_RETURN_IF_ERROR(u.Exec());
    if (tx.db.Changes() != static_cast<int64_t>(n)) {
      return Status::Internal("a claimed run vanished");
    }
  }
  if (p.caps != nullptr) {
    p.caps->assign(out.size(), CapClaim::kNone);
    for (size_t i = 0; i < out.size(); ++i) {
      if (i >= holding) {
        (*p.caps)[i] = CapClaim::kPastCap;
      } else if (std::find(capped_queues.begin(), capped_queues.end(), out[i].queue) !=
                 capped_queues.end()) {
        (*p.caps)[i] = CapClaim::kSlot;
      }
    }
  }
  for (Run& run : out) {
    // What the UPDATE stored.
    run.status = RunStatus::kRunning;
    run.attempt += 1;
    run.runner = p.runner;
    run.started_at = FromMicros(now);
    run.lease_until = FromMicros(now + run.time_to_resolve.count());
  }
  return Status::Ok();
}

// The earliest run_at of the pending runs left after a claim that took every due
// run, in the claim's unpaused queues: one seek per priority in use in each queue
// (the index orders a queue's pending runs by priority, then run_at), so a runner
// sleeps until exactly then, also for runs other processes made.
Status SqliteStorage::EarliestPendingRunAt(Tx& tx, const RunTakeParams& p, TimePoint* out) {
  std::vector<std::string> queues;
  TASKMILL_RETURN_IF_ERROR(ClaimQueues(tx, p, queues));
  auto paused = tx.db.Prepare("SELECT paused FROM queues WHERE name = ?1");
  if (!paused.ok()) return paused.status();
  // Two seeks per priority: the next priority below, then its first run_at after now.
  // One statement with `priority < ?2 AND run_at > ?3` seeks the band but walks every
  // due run of it (run_at follows a range), which a capped queue of a flow step's
  // 100,000 due children paid at every poll.
  auto band = tx.db.Prepare(
      "SELECT priority FROM runs INDEXED BY runs_queue_pending "
      "WHERE status = 'pending' AND queue = ?1 AND priority < ?2 "
      "ORDER BY priority DESC LIMIT 1");
  if (!band.ok()) return band.status();
  auto first = tx.db.Prepare(
      "SELECT run_at FROM runs INDEXED BY runs_queue_pending "
      "WHERE status = 'pending' AND queue = ?1 AND priority = ?2 AND run_at > ?3 "
      "ORDER BY priority DESC, run_at LIMIT 1");
  if (!first.ok()) return first.status();
  int64_t earliest = std::numeric_limits<int64_t>::max();
  for (const std::string& queue : queues) {
    {
      ScopedReset reset(**paused);
      (*paused)->Bind(1, queue);
      auto row = (*paused)->Step();
      if (!row.ok()) return row.status();
      if (*row && (*paused)->Int(0) != 0) continue;
    }
    int64_t below = std::numeric_limits<int64_t>::max();
    for (;;) {
      {
        ScopedReset reset(**band);
        (*band)->Bind(1, queue);
        (*band)->Bind(2, below);
        auto row = (*band)->Step();
        if (!row.ok()) return row.status();
        if (!*row) break;
        below = (*band)->Int(0);
      }
      ScopedReset reset(**first);
      (*first)->Bind(1, queue);
      (*first)->Bind(2, below);
      (*first)->Bind(3, Micros(p.now));
      auto row = (*first)->Step();
      if (!row.ok()) return row.status();
      if (*row) earliest = std::min(earliest, (*first)->Int(0));
    }
  }
  *out = earliest == std::numeric_limits<int64_t>::max() ? TimePoint::max() : FromMicros(earliest);
  return Status::Ok();
}

// Puts the runs read from several queues (each queue's in claim order) in claim
// order, priority DESC, run_at, seq, and keeps the first `max`.
void SqliteStorage::MergeClaimOrder(std::vector<Run>& runs, std::vector<int64_t>& seqs,
                                    size_t max) {
  std::vector<size_t> order(runs.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (runs[a].priority != runs[b].priority) return runs[a].priority > runs[b].priority;
    if (runs[a].run_at != runs[b].run_at) return runs[a].run_at < runs[b].run_at;
    return seqs[a] < seqs[b];
  });
  if (order.size() > max) order.resize(max);
  std::vector<Run> sorted_runs;
  std::vector<int64_t> sorted_seqs;
  sorted_runs.reserve(order.size());
  sorted_seqs.reserve(order.size());
  for (size_t i : order) {
    sorted_runs.push_back(std::move(runs[i]));
    sorted_seqs.push_back(seqs[i]);
  }
  runs = std::move(sorted_runs);
  seqs = std::move(sorted_seqs);
}

Result<std::vector<bool>> SqliteStorage::RunHeartbeatBatch(const std::vector<RunHeartbeat>& beats) {
  std::vector<bool> out;
  Status st = Write(
      [&](Tx& tx) -> Status {
        out.assign(beats.size(), false);
        auto stmt = tx.db.Prepare(
            "UPDATE runs SET lease_until = ?1 WHERE id = ?2 AND queue = ?3 AND attempt = ?4 "
            "AND status = 'running'");
        if (!stmt.ok()) return stmt.status();
        for (size_t i = 0; i < beats.size(); ++i) {
          Statement& s = **stmt;
          ScopedReset reset(s);
          s.Bind(1, Micros(beats[i].lease_until));
          s.Bind(2, beats[i].id);
          s.Bind(3, beats[i].queue);
          s.Bind(4, beats[i].attempt);
          TASKMILL_RETURN_IF_ERROR(s.Exec());
          out[i] = tx.db.Changes() == 1;
        }
        return Status::Ok();
      },
      /*durable=*/false);
  if (!st.ok()) return st;
  return out;
}

Result<std::vector<RunFinishResult>> SqliteStorage::RunFinishBatch(
    const std::vector<RunFinish>& finishes) {
  std::vector<RunFinishResult> out;
  Status st = Write(FinishWrite(finishes, out));
  if (!st.ok()) return st;
  return out;
}

std::function<Status(Tx&)> SqliteStorage::FinishWrite(const std::vector<RunFinish>& finishes,
                                                      std::vector<RunFinishResult>& out) {
  return [this, &finishes, &out](Tx& tx) -> Status {
    out.assign(finishes.size(), RunFinishResult{});
    // A finish that carries its claimed run is one UPDATE fenced by the attempt: the
    // claim returned what the attempt record and the tallies need, and while the
    // attempt is current that is what is stored. Otherwise the current attempt is
    // found first (its rowid, task and attempt record), then updated by rowid:
    // reading it costs far less than an UPDATE ... RETURNING (SQLite gathers
    // returned rows in a temporary table).
    static const std::string kSet =
        "UPDATE runs SET status = ?1, finished_at = ?2, run_at = coalesce(?3, run_at), "
        "result = ?4, error = ?5, error_kind = ?6, lease_until = NULL, runner = '', "
        "progress_total = coalesce(?7, progress_total), "
        "progress_succeeded = coalesce(?8, progress_succeeded), "
        "progress_failed = coalesce(?9, progress_failed), attempts = ?10 ";
    static const std::string kByFence =
        kSet + "WHERE id = ?11 AND queue = ?12 AND attempt = ?13 AND status = 'running'";
    static const std::string kBySeq = kSet + "WHERE seq = ?11";
    auto by_fence = tx.db.Prepare(kByFence);
    if (!by_fence.ok()) return by_fence.status();
    auto by_seq = tx.db.Prepare(kBySeq);
    if (!by_seq.ok()) return by_seq.status();
    auto find = tx.db.Prepare(
        "SELECT seq, task, runner, started_at, attempts, account_id FROM runs WHERE id = ?1 "
        "AND queue = ?2 AND attempt = ?3 AND status = 'running'");
    if (!find.ok()) return find.status();
    std::string task;
    std::string account;
    std::string runner;
    std::string attempts;
    // A finish whose fence is stale still applies what an earlier finish of the batch,
    // accepted, left to the last one carrying it (SharedFollowUps).
    SharedFollowUps shared(finishes);
    auto stale = [&](size_t i) {
      const int64_t stored_before = tx.runs_stored;
      Status applied = ApplyFinishFollowUps(tx, finishes, i, false, shared, out);
      out[i].may_have_stored_runs = tx.runs_stored > stored_before;
      return applied;
    };
    for (size_t i = 0; i < finishes.size(); ++i) {
      const RunFinish& f = finishes[i];
      const std::string_view outcome =
          f.outcome.empty() ? ToString(f.status) : std::string_view(f.outcome);
      const Run* claimed = f.claimed;
      if (claimed &&
          (claimed->attempt != f.attempt || claimed->id != f.id || claimed->queue != f.queue)) {
        claimed = nullptr;  // not this attempt's claim
      }
      int64_t seq = 0;
      std::optional<int64_t> started_at;
      if (claimed) {
        attempts = "[]";  // into the buffer the earlier finishes grew
        AppendAttempts(attempts, claimed->attempts);
        runner = claimed->runner;
        if (claimed->started_at) started_at = Micros(*claimed->started_at);
      } else {
        Statement& q = **find;
        ScopedReset reset(q);
        q.BindView(1, f.id);
        q.BindView(2, f.queue);
        q.Bind(3, f.attempt);
        auto row = q.Step();
        if (!row.ok()) return row.status();
        if (!*row) {  // not the current attempt: a stale fence
          TASKMILL_RETURN_IF_ERROR(stale(i));
          continue;
        }
        seq = q.Int(0);
        task = q.Text(1);
        runner = q.Text(2);
        if (!q.IsNull(3)) started_at = q.Int(3);
        attempts = q.Text(4);
        account = q.Text(5);
      }
      AppendAttempt(attempts, f.attempt, runner, started_at, Micros(f.finished_at), outcome,
                    f.error, f.output);
      Statement& s = claimed ? **by_fence : **by_seq;
      ScopedReset reset(s);
      bool retry = f.status == RunStatus::kPending;
      s.BindView(1, ToString(f.status));
      if (retry)
        s.BindNull(2);
      else
        s.Bind(2, Micros(f.finished_at));
      // run_at moves only for a retry; a finished run keeps the instant it was due.
      if (retry)
        s.Bind(3, Micros(f.run_at));
      else
        s.BindNull(3);
      if (f.result.is_null())
        s.BindNull(4);
      else
        BindJson(s, 4, f.result);
      s.BindView(5, f.error);
      s.BindView(6, f.error_kind);
      if (f.progress) {
        s.Bind(7, f.progress->total);
        s.Bind(8, f.progress->succeeded);
        s.Bind(9, f.progress->failed);
      }
      s.BindView(10, attempts);
      if (claimed) {
        s.BindView(11, f.id);
        s.BindView(12, f.queue);
        s.Bind(13, f.attempt);
      } else {
        s.Bind(11, seq);
      }
      TASKMILL_RETURN_IF_ERROR(s.Exec());
      if (claimed) {
        if (tx.db.Changes() != 1) {  // not the current attempt: a stale fence
          TASKMILL_RETURN_IF_ERROR(stale(i));
          continue;
        }
        task = claimed->task;
        account = claimed->account_id;
      }
      out[i].accepted = true;
      tx.deltas.Move(f.queue, task, account, RunStatus::kRunning, f.status);
      const int64_t stored_before = tx.runs_stored;
      TASKMILL_RETURN_IF_ERROR(ApplyStaged(tx, f));
      TASKMILL_RETURN_IF_ERROR(ApplyFinishFollowUps(tx, finishes, i, true, shared, out));
      out[i].may_have_stored_runs = tx.runs_stored > stored_before;
    }
    return TellParentsOver(tx, finishes, out);
  };
}

Status SqliteStorage::TellParentsOver(Tx& tx, const std::vector<RunFinish>& finishes,
                                      std::vector<RunFinishResult>& out) {
  // Read after every finish of the batch: a step's children end many per batch, and
  // only the batch that ends the last finds the step over. Once per step.
  std::unordered_map<std::string, bool> over;
  for (size_t i = 0; i < finishes.size(); ++i) {
    const Run* run = finishes[i].claimed;
    // A child (its parent is not the flow's root, a step's parent), as claimed.
    if (!out[i].accepted || run == nullptr || run->parent_id.empty() ||
        run->parent_id == run->flow_id) {
      continue;
    }
    auto [it, first] = over.try_emplace(run->parent_id, false);
    if (first) {
      auto parent_over = ParentOver(tx.db, run->parent_id);
      if (!parent_over.ok()) return parent_over.status();
      it->second = *parent_over;
    }
    out[i].parent_over = it->second;
  }
  return Status::Ok();
}

Result<std::vector<Run>> SqliteStorage::RunListExpired(TimePoint now, int limit) {
  auto dead = WithReader([&](Connection& db) { return DeadRunners(db); });
  if (!dead.ok()) return dead.status();
  return Query(Sql("SELECT ",
                   " FROM runs INDEXED BY runs_running_lease "
                   "WHERE status = 'running' AND started = 1 AND (lease_until < ?1 "
                   "OR runner IN (SELECT value FROM json_each(?3))) "
                   "ORDER BY lease_until LIMIT ?2"),
               [&](Statement& s) {
                 s.Bind(1, Micros(now));
                 s.Bind(2, limit);
                 s.Bind(3, *dead);
               });
}

// A claim that never started goes back to pending uncharged (RunReleaseUnstarted,
// RunHandBack): the claim added one to its attempt, and max_attempts follows it;
// started_at goes back to the start of the previous attempt (none: NULL).
constexpr const char* kHandBack =
    "status = 'pending', lease_until = NULL, runner = '', started = 1, "
    "max_attempts = max_attempts + 1, "
    "started_at = json_extract(attempts, '$[#-1].started_at') ";

Result<std::vector<Run>> SqliteStorage::RunReleaseUnstarted(TimePoint now, int limit) {
  std::vector<Run> out;
  Status st = Write(
      [&](Tx& tx) -> Status {
        out.clear();
        auto dead = DeadRunners(tx.db);
        if (!dead.ok()) return dead.status();
        auto stmt = tx.db.Prepare(
            Sql(std::string("UPDATE runs SET ") + kHandBack +
                "WHERE seq IN (SELECT seq FROM runs INDEXED BY runs_running_lease "
                "WHERE status = 'running' AND started <> 1 AND (lease_until < ?1 "
                "OR runner IN (SELECT value FROM json_each(?3))) LIMIT ?2) RETURNING "));
        if (!stmt.ok()) return stmt.status();
        Statement& s = **stmt;
        ScopedReset reset(s);
        s.Bind(1, Micros(now));
        s.Bind(2, limit);
        s.Bind(3, *dead);
        for (;;) {
          auto row = s.Step();
          if (!row.ok()) return row.status();
          if (!*row) break;
          out.push_back(ReadRun(s));
          tx.deltas.Move(out.back().queue, out.back().task, out.back().account_id,
                         RunStatus::kRunning, RunStatus::kPending);
        }
        return Status::Ok();
      },
      /*durable=*/false);  // undone by a power loss: released again at the next sweep
  if (!st.ok()) return st;
  return out;
}

Status SqliteStorage::RunStartBatch(const std::vector<RunStart>& starts) {
  if (starts.empty()) return Status::Ok();
  // Not waited for: the runner's next finish batch, queued right after, shares the
  // commit, so the finisher pays no round trip of its own to the writer for starts.
  WriteDetached([starts](Tx& tx) -> Status {
    auto stmt = tx.db.Prepare(
        "UPDATE runs SET started = 1 WHERE id = ?1 AND queue = ?2 AND attempt = ?3 "
        "AND status = 'running' AND started <> 1");
    if (!stmt.ok()) return stmt.status();
    for (const RunStart& start : starts) {
      Statement& s = **stmt;
      ScopedReset reset(s);
      s.BindView(1, start.id);
      s.BindView(2, start.queue);
      s.Bind(3, start.attempt);
      TASKMILL_RETURN_IF_ERROR(s.Exec());
    }
    return Status::Ok();
  });
  return Status::Ok();
}

Status SqliteStorage::RunHandBack(const std::vector<RunStart>& claims) {
  if (claims.empty()) return Status::Ok();
  return Write(
      [&claims](Tx& tx) -> Status {
        static const std::string kSql = std::string("UPDATE runs SET ") + kHandBack +
                                        "WHERE id = ?1 AND queue = ?2 AND attempt = ?3 "
                                        "AND status = 'running' AND started <> 1 "
                                        "RETURNING task, account_id";
        auto stmt = tx.db.Prepare(kSql);
        if (!stmt.ok()) return stmt.status();
        for (const RunStart& claim : claims) {
          Statement& s = **stmt;
          ScopedReset reset(s);
          s.BindView(1, claim.id);
          s.BindView(2, claim.queue);
          s.Bind(3, claim.attempt);
          auto row = s.Step();
          if (!row.ok()) return row.status();
          if (!*row) continue;  // no longer current, or started
          tx.deltas.Move(claim.queue, s.Text(0), s.Text(1), RunStatus::kRunning,
                         RunStatus::kPending);
        }
        return Status::Ok();
      },
      /*durable=*/false);  // undone by a power loss: released by the sweep then
}

// The runners of running runs whose process is known to have ended, as a JSON array.
Result<std::string> SqliteStorage::DeadRunners(Connection& db) {
  auto stmt = db.Prepare(
      "SELECT DISTINCT runner FROM runs INDEXED BY runs_running_lease WHERE status = 'running'");
  if (!stmt.ok()) return stmt.status();
  ScopedReset reset(**stmt);
  json::array dead;
  for (;;) {
    auto row = (*stmt)->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    std::string runner((*stmt)->Text(0));
    if (holders_.IsDead(runner)) dead.emplace_back(runner);
  }
  return json::serialize(dead);
}

// The queues a claim reads: those it names, or every queue with pending runs (none
// named); with prefixes (RunTakeParams::queue_prefixes), also the queues with pending
// runs whose names start with one. Those are found by seeks of the pending index, one
// per queue found, from the prefix up to prefix||x'ff' (a byte no UTF-8 text holds),
// each past the queue found before: no backlog is walked, of these queues or others.
Status SqliteStorage::ClaimQueues(Tx& tx, const RunTakeParams& p,
                                  std::vector<std::string>& queues) {
  if (p.queues.empty()) return QueuesWithPendingRuns(tx, queues);
  queues = p.queues;
  if (p.queue_prefixes.empty()) return Status::Ok();
  // The first queue of the range, then each one after the last found.
  auto from = tx.db.Prepare(
      "SELECT queue FROM runs INDEXED BY runs_queue_pending WHERE status = 'pending' "
      "AND queue >= ?1 AND queue < ?2 ORDER BY queue LIMIT 1");
  if (!from.ok()) return from.status();
  auto after = tx.db.Prepare(
      "SELECT queue FROM runs INDEXED BY runs_queue_pending WHERE status = 'pending' "
      "AND queue > ?1 AND queue < ?2 ORDER BY queue LIMIT 1");
  if (!after.ok()) return after.status();
  for (const std::string& prefix : p.queue_prefixes) {
    const std::string end = prefix + '\xff';
    std::string last = prefix;
    for (Statement* s = *from;; s = *after) {
      ScopedReset reset(*s);
      s->Bind(1, last);
      s->Bind(2, end);
      auto row = s->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      last = std::string(s->Text(0));
      queues.push_back(last);  // a queue also named is read once (TakeFromQueues)
    }
  }
  return Status::Ok();
}

}  // namespace taskmill::sqlite
