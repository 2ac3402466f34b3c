#include <algorithm>
#include <cstdlib>
#include <limits>
#include <variant>

#include "storage/seq_cursor.h"
#include "storage/sqlite/storage_impl.h"

namespace taskmill::sqlite {

// Runs inserted per statement on the path of RunPut without conflicts (see there).
constexpr size_t kPutChunk = 32;

// ---- runs ------------------------------------------------------------------
Result<std::vector<Run>> SqliteStorage::RunPut(RunPutParams params) {
  std::vector<Run> out;
  out.reserve(params.runs.size());
  std::vector<bool> inserted;  // per run of params: stored by this call
  Status st = Write([&](Tx& tx) -> Status {
    out.clear();
    inserted.clear();
    static const std::string kInsertOne = InsertRunsSql(1);
    static const std::string kInsertChunk = InsertRunsSql(kPutChunk);
    static const std::string kInsertPlainChunk = InsertRunsSql(kPutChunk, /*plain=*/true);
    auto insert = tx.db.Prepare(kInsertOne);
    if (!insert.ok()) return insert.status();
    // Without a conflict mode to apply, kPutChunk runs go in one statement: a
    // statement per run made each run pay for opening a cursor on the table and every
    // index, and for halting and resetting. A conflict fails the whole statement,
    // which SQLite undoes; that chunk is then put one run at a time, which finds the
    // run to name.
    bool chunked = params.conflict == ConflictMode::kError && params.runs.size() >= kPutChunk;
    Statement* chunk_of[2] = {nullptr, nullptr};  // [plain]: prepared on first use
    size_t one_by_one_until = 0;
    for (size_t i = 0; i < params.runs.size(); ++i) {
      if (chunked && i >= one_by_one_until && params.runs.size() - i >= kPutChunk) {
        bool plain =
            std::all_of(params.runs.begin() + static_cast<ptrdiff_t>(i),
                        params.runs.begin() + static_cast<ptrdiff_t>(i + kPutChunk), IsPlain);
        Statement*& chunk = chunk_of[plain];
        if (!chunk) {
          auto prepared = tx.db.Prepare(plain ? kInsertPlainChunk : kInsertChunk);
          if (!prepared.ok()) return prepared.status();
          chunk = *prepared;
        }
        ScopedReset reset(*chunk);
        const int params_per_run = RunParams(plain);
        for (size_t k = 0; k < kPutChunk; ++k) {
          BindRun(*chunk, params.runs[i + k], static_cast<int>(k) * params_per_run, plain);
        }
        Status ins = chunk->Exec();
        if (ins.ok()) {
          for (size_t k = 0; k < kPutChunk; ++k) {
            Run& run = params.runs[i + k];
            tx.deltas.Add(run.queue, run.task, run.account_id, run.status, 1);
            out.push_back(std::move(run));
            inserted.push_back(true);
          }
          i += kPutChunk - 1;
          continue;
        }
        if (!ins.IsConflict()) return ins;
        one_by_one_until = i + kPutChunk;
      }
      Run& run = params.runs[i];
      if (params.conflict == ConflictMode::kOverwrite) {
        auto existing = FindKey(tx.db, run.id, run.queue);
        if (!existing.ok() && !existing.status().IsNotFound()) return existing.status();
        if (existing.ok()) {
          // Another account's run is never replaced (RunPut in storage.h).
          if (existing->account_id != run.account_id) return TakenId(run);
          if (existing->status == RunStatus::kRunning) {
            return Status::Conflict("run '" + run.id + "' in queue '" + run.queue +
                                    "' is running and cannot be overwritten");
          }
          TASKMILL_RETURN_IF_ERROR(DeleteRun(tx, run.id, *existing));
        }
      }
      Statement& s = **insert;
      ScopedReset reset(s);
      BindRun(s, run);
      Status ins = s.Exec();
      if (ins.IsConflict()) {
        // Either (queue, id) is taken, or the (task, scheduled_at) of a periodical
        // launch is: only the former is a duplicate run.
        auto duplicate = FindKey(tx.db, run.id, run.queue);
        if (!duplicate.ok() && !duplicate.status().IsNotFound()) return duplicate.status();
        if (!duplicate.ok()) {
          if (run.scheduled_at) {
            return Status::Conflict("task '" + run.task + "' already has a launch scheduled at " +
                                    FormatTime(*run.scheduled_at));
          }
          return Status::Conflict("run '" + run.id + "' in queue '" + run.queue +
                                  "' conflicts with a stored run: " + ins.message());
        }
        // Another account's run is never answered (RunPut in storage.h).
        if (params.conflict == ConflictMode::kIgnore && duplicate->account_id == run.account_id) {
          auto stored = GetOn(tx.db, run.id, run.queue);
          if (!stored.ok()) return stored.status();
          out.push_back(std::move(*stored));
          inserted.push_back(false);
          continue;
        }
        return TakenId(run);
      }
      TASKMILL_RETURN_IF_ERROR(ins);
      tx.deltas.Add(run.queue, run.task, run.account_id, run.status, 1);
      out.push_back(std::move(run));  // params is ours; the write runs exactly once
      inserted.push_back(true);
    }
    return CommitFiles(tx.db, params.runs, out, inserted, params.commit_files);
  });
  if (!st.ok()) return st;
  return out;
}

Result<Run> SqliteStorage::RunGet(const std::string& id, const std::string& queue) {
  return WithReader([&](Connection& db) { return GetOn(db, id, queue); });
}

namespace {

// More (queue, priority) pairs than this among pending runs, and a listing of the runs
// due later does not seek them pair by pair (FewDueLater).
constexpr size_t kMaxSeeks = 64;

std::string SqlText(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

// Whether the pending runs (of `queue`; of every queue when empty) due after `after`
// (Unix microseconds) are at most `cap`: the scheduled and retrying tabs ask for them,
// and they are often few among a million due runs, which a scan newest first would
// read through. The pending index is ordered by queue, priority, then run_at: the runs
// due later are one range per (queue, priority), counted from the index alone after
// one seek per pair. On true, `seek` is the terms that let a listing read those ranges
// through runs_queue_pending.
Result<bool> FewDueLater(Connection& db, const std::string& queue, int64_t after, int64_t cap,
                         std::string* seek) {
  std::vector<std::string> queues;
  if (!queue.empty()) {
    queues.push_back(queue);
  } else {
    auto listed =
        db.Prepare("SELECT DISTINCT queue FROM run_tallies WHERE status = 'pending' AND n > 0");
    if (!listed.ok()) return listed.status();
    ScopedReset reset(**listed);
    for (;;) {
      auto row = (*listed)->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      if (queues.size() == kMaxSeeks) return false;
      queues.emplace_back((*listed)->Text(0));
    }
  }
  auto next = db.Prepare(
      "SELECT priority FROM runs INDEXED BY runs_queue_pending WHERE status = 'pending' "
      "AND queue = ?1 AND priority < ?2 ORDER BY priority DESC LIMIT 1");
  if (!next.ok()) return next.status();
  std::vector<int64_t> priorities;
  size_t seeks = 0;
  for (const std::string& q : queues) {
    int64_t below = std::numeric_limits<int64_t>::max();
    for (;;) {
      ScopedReset reset(**next);
      (*next)->Bind(1, q);
      (*next)->Bind(2, below);
      auto row = (*next)->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      if (++seeks > kMaxSeeks) return false;
      below = (*next)->Int(0);
      if (std::find(priorities.begin(), priorities.end(), below) == priorities.end()) {
        priorities.push_back(below);
      }
    }
  }
  if (priorities.empty()) return false;  // no pending run: any listing is quick
  // Written inline: the planner needs the lists to seek each range.
  std::string terms = " AND queue IN (";
  for (size_t i = 0; i < queues.size(); ++i) terms += (i ? ", " : "") + SqlText(queues[i]);
  terms += ") AND priority IN (";
  for (size_t i = 0; i < priorities.size(); ++i) {
    terms += (i ? ", " : "") + std::to_string(priorities[i]);
  }
  terms += ")";
  auto count = db.Prepare(
      "SELECT count(*) FROM (SELECT 1 FROM runs INDEXED BY runs_queue_pending WHERE status = "
      "'pending'" +
      terms + " AND run_at > ?1 LIMIT ?2)");
  if (!count.ok()) return count.status();
  ScopedReset reset(**count);
  (*count)->Bind(1, after);
  (*count)->Bind(2, cap + 1);
  auto row = (*count)->Step();
  if (!row.ok()) return row.status();
  if (!*row || (*count)->Int(0) > cap) return false;
  *seek = terms;
  return true;
}

}  // namespace

Result<RunPage> SqliteStorage::RunList(const RunFilter& f) {
  int limit = std::clamp(f.limit, 1, 1000);
  Result<int64_t> parsed = storage::ParseSeqCursor(f.cursor);
  if (!parsed.ok()) return parsed.status();
  const int64_t cursor = *parsed;
  RunPage page;
  Status st = WithReader([&](Connection& db) -> Status {
    // No index orders pending or running runs by seq (each would cost every put,
    // claim and finish a B-tree operation), so a listing by those statuses reads
    // them through a partial index and sorts their seqs, or scans the table newest
    // first. Running runs are few: always through their lease index. Pending runs
    // of a task go through the task index, as any listing by task does.
    std::string access;  // INDEXED BY or NOT INDEXED; empty: the planner's choice
    bool sort_seqs = false;
    std::string where;
    if (f.status) {
      // The status is written inline, not bound: SQLite matches a partial index's
      // WHERE against the query's terms when it prepares the statement (a bound
      // value there makes every call prepare it again).
      where = " AND status = '" + std::string(ToString(*f.status)) + "'";
      if (*f.status == RunStatus::kRunning) {
        access = " INDEXED BY runs_running_lease";
        sort_seqs = true;
      } else if (*f.status == RunStatus::kPending && !f.task.empty()) {
        access = " INDEXED BY runs_task_seq";  // not a walk through every pending run
      } else if (*f.status == RunStatus::kPending) {
        std::string seek;
        bool few_later = false;
        if (f.run_at_after) {
          auto few = FewDueLater(db, f.queue, Micros(*f.run_at_after),
                                 options_.list_pending_sorted_max, &seek);
          if (!few.ok()) return few.status();
          few_later = *few;
        }
        if (few_later) {
          sort_seqs = true;
          access = " INDEXED BY runs_queue_pending";
          where += seek;
        } else {
          auto pending = PendingTally(db, f.queue);
          if (!pending.ok()) return pending.status();
          sort_seqs = *pending <= options_.list_pending_sorted_max;
          // Above the threshold, pending runs are so many that they are dense.
          access = sort_seqs ? " INDEXED BY runs_queue_pending" : " NOT INDEXED";
        }
      } else if (f.task.empty()) {
        // The redundant term lets the planner use the partial index runs_final_seq
        // (a listing by task keeps the task index).
        where += " AND status NOT IN ('pending', 'running')";
      }
    }
    // A parent's runs are never more than its flow's, and runs_flow_seq holds every
    // child of the flow: without statistics the planner may take it for the steps of
    // a flow (parent_id = flow_id) and walk past all their children.
    if (access.empty() && !f.parent_id.empty()) access = " INDEXED BY runs_parent_seq";
    std::vector<std::variant<std::string, int64_t>> binds;
    auto add = [&](const char* clause, std::variant<std::string, int64_t> value) {
      where += clause;
      where += std::to_string(binds.size() + 1);
      binds.push_back(std::move(value));
    };
    // "task <> ''" lets the planner use the partial index runs_task_seq.
    if (!f.id.empty()) add(" AND id = ?", f.id);
    if (!f.task.empty()) add(" AND task <> '' AND task = ?", f.task);
    if (!f.function.empty()) add(" AND function = ?", f.function);
    if (!f.queue.empty()) add(" AND queue = ?", f.queue);
    if (!f.account_id.empty()) add(" AND account_id = ?", f.account_id);
    // The "<> ''" terms let SQLite use the partial indexes of flows (migration 10).
    if (!f.parent_id.empty()) add(" AND parent_id <> '' AND parent_id = ?", f.parent_id);
    if (!f.flow_id.empty()) add(" AND flow_id <> '' AND flow_id = ?", f.flow_id);
    // Bound rather than written inline, so that the statement cache of a reader
    // holds one statement per shape of listing, not one per page.
    if (f.created_after) add(" AND created_at >= ?", Micros(*f.created_after));
    if (f.created_before) add(" AND created_at < ?", Micros(*f.created_before));
    // The derived states of pending runs (scheduled, retrying, pending_due).
    if (f.run_at_after) add(" AND run_at > ?", Micros(*f.run_at_after));
    if (f.run_at_not_after) add(" AND run_at <= ?", Micros(*f.run_at_not_after));
    if (f.attempted) where += *f.attempted ? " AND attempt > 0" : " AND attempt = 0";
    if (!f.text.empty()) {
      // A range of seq (the rowid) bounds the rows read; % and _ are matched as such.
      std::string pattern = "%";
      for (char c : f.text) {
        if (c == '%' || c == '_' || c == '\\') pattern += '\\';
        pattern += c;
      }
      pattern += '%';
      add(" AND seq > (SELECT coalesce(max(seq), 0) FROM runs) - ?", f.text_window);
      add(" AND (args LIKE ?", pattern);
      const std::string n = std::to_string(binds.size());
      where +=
          " ESCAPE '\\' OR data LIKE ?" + n + " ESCAPE '\\' OR error LIKE ?" + n + " ESCAPE '\\')";
    }
    if (cursor > 0) add(" AND seq < ?", cursor);
    const std::string order = " ORDER BY seq DESC LIMIT " + std::to_string(limit + 1);
    const std::string from = " FROM runs" + access;
    std::string sql;
    if (sort_seqs) {
      // Only the seqs are sorted (read from the index alone when no other filter
      // needs the row); the rows are read for the page alone.
      sql = Sql("SELECT ", " FROM runs WHERE seq IN (SELECT seq" + from + " WHERE 1=1" + where +
                               order + ") ORDER BY seq DESC");
    } else {
      sql = Sql("SELECT ", from + " WHERE 1=1" + where + order);
    }
    auto stmt = db.Prepare(sql);
    if (!stmt.ok()) return stmt.status();
    Statement& s = **stmt;
    ScopedReset reset(s);
    for (size_t i = 0; i < binds.size(); ++i) {
      std::visit([&](const auto& v) { s.Bind(static_cast<int>(i + 1), v); }, binds[i]);
    }
    int64_t last_seq = 0;
    for (;;) {
      auto row = s.Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      if (static_cast<int>(page.runs.size()) == limit) {
        page.next_cursor = std::to_string(last_seq);
        break;
      }
      page.runs.push_back(ReadRun(s, &last_seq));
    }
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return page;
}

Status SqliteStorage::RunRemove(const std::string& id, const std::string& queue) {
  return Write([&](Tx& tx) -> Status {
    auto found = FindKey(tx.db, id, queue);
    if (!found.ok()) return found.status();
    if (found->status == RunStatus::kRunning) {
      return Status::FailedPrecondition("run '" + id + "' is running; cancel it first");
    }
    return DeleteRun(tx, id, *found);
  });
}

Result<Run> SqliteStorage::RunCancel(const std::string& id, const std::string& queue,
                                     TimePoint now) {
  return Transition(
      id, queue, now, RunStatus::kStopped,
      [&](RunStatus status) {
        return IsFinal(status) ? Status::FailedPrecondition("run '" + id + "' is already " +
                                                            std::string(ToString(status)))
                               : Status::Ok();
      },
      "UPDATE runs SET status = 'stopped', finished_at = ?1, lease_until = NULL, runner = '', "
      "error = 'stopped by an operator', error_kind = 'stopped', "
      "attempts = coalesce(?4, attempts) WHERE id = ?2 AND queue = ?3",
      /*end_attempt=*/true);
}

Result<Run> SqliteStorage::RunMakeDue(const std::string& id, const std::string& queue,
                                      TimePoint now) {
  return Transition(
      id, queue, now, RunStatus::kPending,
      [&](RunStatus status) {
        return status == RunStatus::kPending
                   ? Status::Ok()
                   : Status::FailedPrecondition("run '" + id + "' is " +
                                                std::string(ToString(status)) +
                                                "; only a pending run can be made due");
      },
      "UPDATE runs SET run_at = min(run_at, ?1) WHERE id = ?2 AND queue = ?3");
}

Result<Run> SqliteStorage::RunRetry(const std::string& id, const std::string& queue,
                                    TimePoint now) {
  return Transition(
      id, queue, now, RunStatus::kPending,
      [&](RunStatus status) {
        return IsFinal(status) ? Status::Ok()
                               : Status::FailedPrecondition("run '" + id + "' is " +
                                                            std::string(ToString(status)) +
                                                            "; only a finished run can be retried");
      },
      "UPDATE runs SET status = 'pending', run_at = ?1, finished_at = NULL, error = '', "
      "error_kind = '', result = NULL, max_attempts = max(max_attempts, attempt + 1) "
      "WHERE id = ?2 AND queue = ?3");
}

// An operator's change of one run: finds it, lets `check` refuse the change for its
// current status, applies `update_sql` (?1 now, ?2 id, ?3 queue) and answers the run
// as stored afterwards. With `end_attempt`, a running run's current attempt is ended
// as stopped by an operator: ?4 is the stored attempts with it appended (AppendAttempt,
// the one writer of that format), NULL when the run was not running.
Result<Run> SqliteStorage::Transition(const std::string& id, const std::string& queue,
                                      TimePoint now, RunStatus to,
                                      const std::function<Status(RunStatus)>& check,
                                      const char* update_sql, bool end_attempt) {
  Run result;
  Status st = Write([&](Tx& tx) -> Status {
    auto found = FindKey(tx.db, id, queue);
    if (!found.ok()) return found.status();
    TASKMILL_RETURN_IF_ERROR(check(found->status));
    std::optional<std::string> attempts;
    if (end_attempt && found->status == RunStatus::kRunning) {
      auto rows = Select(tx.db,
                         "SELECT attempt, runner, started_at, attempts FROM runs "
                         "WHERE id = ?1 AND queue = ?2",
                         id, found->queue);
      if (!rows.ok()) return rows.status();
      auto row = rows->Next();
      if (!row.ok()) return row.status();
      if (*row) {
        const Statement& r = rows->row();
        std::optional<int64_t> started_at;
        if (!r.IsNull(2)) started_at = r.Int(2);
        attempts = std::string(r.Text(3));
        AppendAttempt(*attempts, static_cast<int>(r.Int(0)), r.Text(1), started_at, Micros(now),
                      "stopped", "stopped by an operator", "");
        // A stopped attempt never finishes: the runs it staged go (staged_runs.cpp).
        tx.stopped.emplace_back(id, r.Int(0));
      }
    }
    TASKMILL_RETURN_IF_ERROR(end_attempt
                                 ? Exec(tx.db, update_sql, Micros(now), id, found->queue, attempts)
                                 : Exec(tx.db, update_sql, Micros(now), id, found->queue));
    tx.deltas.Move(found->queue, found->task, found->account_id, found->status, to);
    auto r = GetOn(tx.db, id, found->queue);
    if (!r.ok()) return r.status();
    result = std::move(*r);
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return result;
}

Status SqliteStorage::RunProgress(const std::string& id, const std::string& queue, int attempt,
                                  const Progress& p) {
  return Write([&](Tx& tx) -> Status {
    TASKMILL_RETURN_IF_ERROR(
        Exec(tx.db,
             "UPDATE runs SET progress_total = ?1, progress_succeeded = ?2, progress_failed = ?3 "
             "WHERE id = ?4 AND queue = ?5 AND attempt = ?6 AND status = 'running'",
             p.total, p.succeeded, p.failed, id, queue, attempt));
    if (tx.db.Changes() != 1) {
      return Status::FailedPrecondition("attempt " + std::to_string(attempt) + " of run '" + id +
                                        "' is no longer current");
    }
    return Status::Ok();
  });
}

Result<int64_t> DeleteReturningRuns(Tx& tx, Statement& stmt) {
  int64_t deleted = 0;
  for (;;) {
    auto row = stmt.Step();
    if (!row.ok()) return row.status();
    if (!*row) return deleted;
    if (auto s = ParseRunStatus(stmt.Text(2))) {
      tx.deltas.Add(stmt.Text(0), stmt.Text(1), stmt.Text(3), *s, -1);
    }
    ++deleted;
  }
}

Result<int64_t> SqliteStorage::RunPrune(int keep) {
  int64_t removed = 0;
  Status st = Write([&](Tx& tx) -> Status {
    removed = 0;
    // Only runs of tasks are capped (Tarantool's task_log_max_size); anonymous runs
    // are the caller's to remove. At most 10,000 rows go per call so one prune
    // never holds the writer for long.
    auto stmt = tx.db.Prepare(
        "DELETE FROM runs WHERE seq IN (SELECT seq FROM (SELECT seq, row_number() OVER ("
        "PARTITION BY task ORDER BY finished_at DESC, seq DESC) AS rn FROM runs "
        "WHERE task <> '' AND status NOT IN ('pending', 'running')) "
        "WHERE rn > ?1 LIMIT 10000) RETURNING queue, task, status, account_id");
    if (!stmt.ok()) return stmt.status();
    ScopedReset reset(**stmt);
    (*stmt)->Bind(1, keep);
    auto deleted = DeleteReturningRuns(tx, **stmt);
    if (!deleted.ok()) return deleted.status();
    removed = *deleted;
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return removed;
}

Result<std::optional<Run>> SqliteStorage::RunLatestOfTask(
    const std::string& task, const std::optional<std::string>& account) {
  // An account's latest through runs_account_task_seq, a seek: walking the task's
  // runs newest first until one of the account's would read every run of the others.
  // Runs of no account are not in that index; the account '' is read by a walk.
  auto runs =
      account && !account->empty()
          ? Query(Sql("SELECT ",
                      " FROM runs INDEXED BY runs_account_task_seq "
                      "WHERE account_id <> '' AND task <> '' AND account_id = ?2 "
                      "AND task = ?1 ORDER BY seq DESC LIMIT 1"),
                  [&](Statement& s) {
                    s.Bind(1, task);
                    s.Bind(2, *account);
                  })
      : account ? Query(Sql("SELECT ",
                            " FROM runs WHERE task <> '' AND task = ?1 "
                            "AND account_id = '' ORDER BY seq DESC LIMIT 1"),
                        [&](Statement& s) { s.Bind(1, task); })
                : Query(Sql("SELECT ",
                            " FROM runs WHERE task <> '' AND task = ?1 ORDER BY seq DESC LIMIT 1"),
                        [&](Statement& s) { s.Bind(1, task); });
  if (!runs.ok()) return runs.status();
  if (runs->empty()) return std::optional<Run>();
  return std::optional<Run>(std::move(runs->front()));
}

Result<std::vector<Run>> SqliteStorage::RunPutScheduled(std::vector<Run> runs,
                                                        const LeaderFence& fence) {
  std::vector<Run> stored;
  Status st = Write([&](Tx& tx) -> Status {
    stored.clear();
    // The fence is read in the transaction that writes: the writer thread is SQLite's
    // only writer, so no election can commit between this read and the inserts.
    {
      auto lease = tx.db.Prepare("SELECT term FROM leases WHERE name = ?1 AND holder <> ''");
      if (!lease.ok()) return lease.status();
      ScopedReset reset(**lease);
      (*lease)->Bind(1, fence.lease);
      auto row = (*lease)->Step();
      if (!row.ok()) return row.status();
      int64_t term = *row ? (*lease)->Int(0) : 0;
      if (!*row || term != fence.term) {
        return Status::FailedPrecondition(
            "lease '" + fence.lease + "' is at term " + std::to_string(term) + ", not " +
            std::to_string(fence.term) + ": a stale leader's launches are refused");
      }
    }
    // The unique index runs_task_scheduled, not a read before the write, keeps an
    // instant single.
    static const std::string kInsertOrSkip = InsertRunsSql(1) + " ON CONFLICT DO NOTHING";
    auto stmt = tx.db.Prepare(kInsertOrSkip);
    if (!stmt.ok()) return stmt.status();
    for (const Run& run : runs) {
      ScopedReset reset(**stmt);
      BindRun(**stmt, run);
      TASKMILL_RETURN_IF_ERROR((*stmt)->Exec());
      if (tx.db.Changes() != 1) continue;
      tx.deltas.Add(run.queue, run.task, run.account_id, run.status, 1);
      stored.push_back(run);
    }
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return stored;
}

// ---- helpers on a given connection ----------------------------------------------
Result<Run> SqliteStorage::GetOn(Connection& db, const std::string& id, const std::string& queue) {
  // Built once: the HTTP API reads runs by id more than anything else.
  static const std::string kSql =
      Sql("SELECT ", " FROM runs WHERE id = ?1 AND (?2 = '' OR queue = ?2) LIMIT 1");
  auto stmt = db.Prepare(kSql);
  if (!stmt.ok()) return stmt.status();
  ScopedReset reset(**stmt);
  (*stmt)->Bind(1, id);
  (*stmt)->Bind(2, queue);
  auto row = (*stmt)->Step();
  if (!row.ok()) return row.status();
  if (!*row) return Status::NotFound("no run with id '" + id + "'");
  return ReadRun(**stmt);
}

// The answer to a run put whose (queue, id) is taken and may not be reused: the same
// words whoever owns the stored run, so that they tell nothing about it.
Status SqliteStorage::TakenId(const Run& run) {
  return Status::Conflict("run '" + run.id + "' already exists in queue '" + run.queue + "'");
}

// The queue, task, status and account of a run found by id (and queue when given).
Result<RunKey> SqliteStorage::FindKey(Connection& db, const std::string& id,
                                      const std::string& queue) {
  auto stmt = db.Prepare(
      "SELECT queue, task, status, account_id FROM runs WHERE id = ?1 AND (?2 = '' OR queue = ?2) "
      "LIMIT 1");
  if (!stmt.ok()) return stmt.status();
  ScopedReset reset(**stmt);
  (*stmt)->Bind(1, id);
  (*stmt)->Bind(2, queue);
  auto row = (*stmt)->Step();
  if (!row.ok()) return row.status();
  if (!*row) return Status::NotFound("no run with id '" + id + "'");
  return RunKey{std::string((*stmt)->Text(0)), std::string((*stmt)->Text(1)),
                ParseRunStatus((*stmt)->Text(2)).value_or(RunStatus::kPending),
                std::string((*stmt)->Text(3))};
}

// Deletes a run found by FindKey (its files and checkpoints go with it, by trigger).
Status SqliteStorage::DeleteRun(Tx& tx, const std::string& id, const RunKey& key) {
  TASKMILL_RETURN_IF_ERROR(
      Exec(tx.db, "DELETE FROM runs WHERE id = ?1 AND queue = ?2", id, key.queue));
  tx.deltas.Add(key.queue, key.task, key.account_id, key.status, -1);
  return Status::Ok();
}

}  // namespace taskmill::sqlite
