// runs.cpp — storing, reading, listing and removing runs. A run is in the hot table
// (`runs`) while pending or running and in `runs_history` once final; run_keys and
// launches hold the keys that must be unique over both.
#include <algorithm>
#include <map>
#include <set>

#include "storage/postgres/storage_impl.h"
#include "storage/seq_cursor.h"

namespace taskmill::postgres {
namespace {

std::string FormatInstant(TimePoint t) {
  auto v = TimeToJson(std::optional<TimePoint>(t));
  return v.is_string() ? std::string(v.get_string()) : std::to_string(Micros(t));
}

// The month-partition instant of a run stored final.
int64_t PartAt(const Run& run) { return Micros(run.finished_at.value_or(run.created_at)); }

// Marks the transaction's commit as one that may give a runner work: one NOTIFY per
// commit however many runs it stored (PostgreSQL also folds equal notifications of
// one transaction into one).
Status Notify(Connection& c) { return c.Exec(kNotifySql).status(); }

}  // namespace

Result<std::vector<Run>> PgStorage::RunPut(RunPutParams params) {
  std::vector<int64_t> finals;
  for (const Run& run : params.runs) {
    if (IsFinal(run.status)) finals.push_back(PartAt(run));
  }
  TASKMILL_RETURN_IF_ERROR(EnsureMonths(finals));
  // The common batch (new pending or running runs, no launches, no files): one
  // statement stores the keys and the runs, betting that every key is new. A key taken
  // already, or twice in the call, fails that statement with a unique violation; the
  // transaction then rolls back whole and the general path below decides each run as
  // ever (refused, ignored or replaced).
  const bool simple = finals.empty() && params.commit_files.empty() && !params.runs.empty() &&
                      std::none_of(params.runs.begin(), params.runs.end(),
                                   [](const Run& run) { return run.scheduled_at.has_value(); });
  if (simple) {
    std::vector<const Run*> hot;
    bool due = false;
    for (const Run& run : params.runs) {
      hot.push_back(&run);
      due = due || run.status == RunStatus::kPending;
    }
    // The NOTIFY rides in the COMMIT's message: one round trip less per batch.
    Status fast = pool_.Transaction(
        [&](Connection& c) -> Status {
          return InsertRuns(c, "runs", hot, nullptr, /*with_keys=*/true).status();
        },
        /*durable=*/true, due ? kNotifyBeforeCommit : "");
    if (fast.ok()) return std::move(params.runs);
    if (!fast.IsConflict()) return fast;
  }
  std::vector<Run> out;
  Status st = pool_.Transaction([&](Connection& c) -> Status {
    out.clear();
    const size_t n = params.runs.size();
    // Keys first: the ones taken already (or twice in this call) are not returned.
    ArrayLiteral ids, queues;
    for (const Run& run : params.runs) {
      ids.Add(run.id);
      queues.Add(run.queue);
    }
    auto fresh = c.Exec(
        "INSERT INTO run_keys(id, queue) SELECT * FROM unnest($1::text[], $2::text[]) "
        "ON CONFLICT DO NOTHING RETURNING id, queue",
        Params().Add(ids.Take()).Add(queues.Take()));
    if (!fresh.ok()) return fresh.status();
    std::set<std::pair<std::string, std::string>> inserted_keys;
    for (int i = 0; i < fresh->size(); ++i) {
      inserted_keys.emplace(std::string(fresh->Text(i, 0)), std::string(fresh->Text(i, 1)));
    }
    std::vector<const Run*> to_insert;
    std::vector<bool> inserted(n, false);
    std::map<std::pair<std::string, std::string>, size_t> seen;  // key -> index in out
    std::vector<int> dup_of(n, -1);  // twice in this call: the index of the first
    out.resize(n);
    for (size_t i = 0; i < n; ++i) {
      Run& run = params.runs[i];
      auto key = std::make_pair(run.id, run.queue);
      const bool is_new = inserted_keys.erase(key) > 0;
      if (!is_new) {
        if (params.conflict == ConflictMode::kError) return TakenId(run);
        if (auto earlier = seen.find(key); earlier != seen.end()) {
          // Twice in this call: the first one stands.
          if (params.runs[earlier->second].account_id != run.account_id) return TakenId(run);
          dup_of[i] = static_cast<int>(earlier->second);
          continue;
        }
        bool in_history = false;
        auto stored = GetOn(c, run.id, run.queue, /*for_update=*/true, &in_history);
        if (!stored.ok()) return stored.status();
        // Another account's run is never read or replaced (RunPut in storage.h).
        if (stored->account_id != run.account_id) return TakenId(run);
        if (params.conflict == ConflictMode::kIgnore) {
          out[i] = std::move(*stored);
          continue;
        }
        if (stored->status == RunStatus::kRunning) {
          return Status::Conflict("run '" + run.id + "' in queue '" + run.queue +
                                  "' is running and cannot be overwritten");
        }
        TASKMILL_RETURN_IF_ERROR(DeleteRun(c, *stored, in_history));
        TASKMILL_RETURN_IF_ERROR(c.Exec("INSERT INTO run_keys(id, queue) VALUES ($1, $2)",
                                        Params().Add(run.id).Add(run.queue)));
        if (IsFinal(run.status)) TASKMILL_RETURN_IF_ERROR(EnsureMonths({PartAt(run)}));
      }
      seen[key] = i;
      inserted[i] = true;
      to_insert.push_back(&run);
    }
    // Periodical launches: (task, scheduled_at) is unique.
    ArrayLiteral tasks, instants;
    int launches = 0;
    for (const Run* run : to_insert) {
      if (!run->scheduled_at) continue;
      tasks.Add(run->task);
      instants.Add(Micros(*run->scheduled_at));
      ++launches;
    }
    if (launches > 0) {
      auto stored = c.Exec(
          "INSERT INTO launches(task, scheduled_at) SELECT * FROM unnest($1::text[], $2::int8[]) "
          "ON CONFLICT DO NOTHING RETURNING task, scheduled_at",
          Params().Add(tasks.Take()).Add(instants.Take()));
      if (!stored.ok()) return stored.status();
      if (stored->size() != launches) {
        std::set<std::pair<std::string, int64_t>> fresh_launches;
        for (int i = 0; i < stored->size(); ++i) {
          fresh_launches.emplace(std::string(stored->Text(i, 0)), stored->Int(i, 1));
        }
        for (const Run* run : to_insert) {
          if (run->scheduled_at && !fresh_launches.erase({run->task, Micros(*run->scheduled_at)})) {
            return Status::Conflict("task '" + run->task + "' already has a launch scheduled at " +
                                    FormatInstant(*run->scheduled_at));
          }
        }
      }
    }
    std::vector<const Run*> hot, history;
    bool due = false;
    for (const Run* run : to_insert) {
      (IsFinal(run->status) ? history : hot).push_back(run);
      due = due || run->status == RunStatus::kPending;
    }
    TASKMILL_RETURN_IF_ERROR(InsertRuns(c, "runs", hot));
    TASKMILL_RETURN_IF_ERROR(InsertRuns(c, "runs_history", history));
    // Staged files the runs take over (RunPutParams::commit_files).
    for (const std::string& file : params.commit_files) {
      const Run* named = nullptr;
      bool taken = false;
      for (size_t i = 0; i < n && !named; ++i) {
        // As requested: a run not stored (kIgnore) still names its upload, which
        // then stays staged for the caller to remove.
        const Run& run = params.runs[i];
        if (run.input_file == file || run.output_file == file) {
          named = &run;
          taken = inserted[i];
        }
      }
      if (!named) {
        return Status::FailedPrecondition("file '" + file + "' is not named by any run stored");
      }
      if (!taken) continue;
      auto owned =
          c.Exec("UPDATE files SET run_id = $1, run_queue = $2 WHERE id = $3 AND run_id = ''",
                 Params().Add(named->id).Add(named->queue).Add(file));
      if (!owned.ok()) return owned.status();
      if (owned->Affected() != 1) {
        return Status::FailedPrecondition("file '" + file + "' is not a staged file");
      }
    }
    if (due) TASKMILL_RETURN_IF_ERROR(Notify(c));
    for (size_t i = 0; i < n; ++i) {
      if (inserted[i]) out[i] = params.runs[i];
    }
    for (size_t i = 0; i < n; ++i) {
      if (dup_of[i] >= 0) out[i] = out[static_cast<size_t>(dup_of[i])];
    }
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return out;
}

Result<Run> PgStorage::GetOn(Connection& c, const std::string& id, const std::string& queue,
                             bool for_update, bool* in_history) {
  Params params;
  params.Add(id).Add(queue);
  const std::string where = " WHERE id = $1 AND ($2 = '' OR queue = $2) LIMIT 1";
  if (!for_update) {
    // One statement, so one snapshot: a run that moves to history meanwhile is seen
    // in exactly one of the tables.
    auto rows =
        c.Exec("SELECT false, " + std::string(kRunColumns) + " FROM (SELECT " + kRunColumns +
                   " FROM runs" + where + ") h UNION ALL SELECT true, " + kRunColumns +
                   " FROM (SELECT " + kRunColumns + " FROM runs_history" + where + ") r LIMIT 1",
               params);
    if (!rows.ok()) return rows.status();
    if (rows->size() == 0) return Status::NotFound("no run with id '" + id + "'");
    if (in_history) *in_history = rows->Bool(0, 0);
    return ReadRun(*rows, 0, nullptr, 1);
  }
  for (const char* table : {"runs", "runs_history"}) {
    auto rows = c.Exec(
        "SELECT " + std::string(kRunColumns) + " FROM " + table + where + " FOR UPDATE", params);
    if (!rows.ok()) return rows.status();
    if (rows->size() > 0) {
      if (in_history) *in_history = std::string_view(table) == "runs_history";
      return ReadRun(*rows, 0);
    }
  }
  return Status::NotFound("no run with id '" + id + "'");
}

Status PgStorage::DeleteRun(Connection& c, const Run& run, bool in_history) {
  Params key;
  key.Add(run.id).Add(run.queue);
  TASKMILL_RETURN_IF_ERROR(c.Exec(std::string("DELETE FROM ") +
                                      (in_history ? "runs_history" : "runs") +
                                      " WHERE id = $1 AND queue = $2",
                                  key));
  TASKMILL_RETURN_IF_ERROR(c.Exec("DELETE FROM run_keys WHERE id = $1 AND queue = $2", key));
  TASKMILL_RETURN_IF_ERROR(
      c.Exec("DELETE FROM files WHERE run_id = $1 AND run_queue = $2 AND run_id <> ''", key));
  TASKMILL_RETURN_IF_ERROR(
      c.Exec("DELETE FROM run_checkpoints WHERE run_id = $1 AND queue = $2", key));
  if (run.scheduled_at) {
    TASKMILL_RETURN_IF_ERROR(c.Exec("DELETE FROM launches WHERE task = $1 AND scheduled_at = $2",
                                    Params().Add(run.task).Add(Micros(*run.scheduled_at))));
  }
  return Status::Ok();
}

Result<Run> PgStorage::RunGet(const std::string& id, const std::string& queue) {
  Result<Run> out = Status::NotFound("no run with id '" + id + "'");
  Status st = pool_.Transaction([&](Connection& c) -> Status {
    out = GetOn(c, id, queue);
    return out.ok() ? Status::Ok() : out.status();
  });
  if (!st.ok()) return st;
  return out;
}

Result<RunPage> PgStorage::RunList(const RunFilter& f) {
  const int limit = std::clamp(f.limit, 1, 1000);
  Result<int64_t> parsed = storage::ParseSeqCursor(f.cursor);
  if (!parsed.ok()) return parsed.status();
  const int64_t cursor = *parsed;
  Params params;
  std::string where = " WHERE true";
  auto add = [&](const char* clause, auto value) {
    params.Add(value);
    where += clause;
    where += std::to_string(params.size());
  };
  if (f.status) add(" AND status = $", std::string(ToString(*f.status)));
  if (!f.id.empty()) add(" AND id = $", f.id);
  if (!f.task.empty()) add(" AND task = $", f.task);
  if (!f.function.empty()) add(" AND function = $", f.function);
  if (!f.queue.empty()) add(" AND queue = $", f.queue);
  if (!f.account_id.empty()) add(" AND account_id = $", f.account_id);
  // `<> ''` as the partial indexes of flows (migration 3) are written, so a generic
  // plan of this statement can still use them.
  if (!f.parent_id.empty()) add(" AND parent_id <> '' AND parent_id = $", f.parent_id);
  if (!f.flow_id.empty()) add(" AND flow_id <> '' AND flow_id = $", f.flow_id);
  if (f.created_after) add(" AND created_at >= $", Micros(*f.created_after));
  if (f.created_before) add(" AND created_at < $", Micros(*f.created_before));
  if (f.run_at_after) add(" AND run_at > $", Micros(*f.run_at_after));
  if (f.run_at_not_after) add(" AND run_at <= $", Micros(*f.run_at_not_after));
  if (f.attempted) where += *f.attempted ? " AND attempt > 0" : " AND attempt = 0";
  if (!f.text.empty()) {
    // Among the text_window most recent runs (by seq) only; % and _ match themselves.
    std::string pattern = "%";
    for (char ch : f.text) {
      if (ch == '%' || ch == '_' || ch == '\\') pattern += '\\';
      pattern += ch;
    }
    pattern += '%';
    add(" AND seq > (SELECT last_value FROM run_seq) - $", f.text_window);
    add(" AND (args ILIKE $", pattern);
    const std::string n = std::to_string(params.size());
    where += " OR data ILIKE $" + n + " OR error ILIKE $" + n + ")";
  }
  if (cursor > 0) add(" AND seq < $", cursor);
  const std::string order = " ORDER BY seq DESC LIMIT " + std::to_string(limit + 1);
  const bool hot = !f.status || !IsFinal(*f.status);
  const bool history = !f.status || IsFinal(*f.status);
  std::string sql;
  if (hot && history) {
    sql = "SELECT * FROM ((SELECT " + std::string(kRunColumns) + " FROM runs" + where + order +
          ") UNION ALL (SELECT " + kRunColumns + " FROM runs_history" + where + order + ")) u" +
          order;
  } else {
    sql = "SELECT " + std::string(kRunColumns) + " FROM " + (hot ? "runs" : "runs_history") +
          where + order;
  }
  RunPage page;
  Status st = pool_.Transaction([&](Connection& c) -> Status {
    auto rows = c.Exec(sql, params);
    if (!rows.ok()) return rows.status();
    page = RunPage{};
    int64_t last_seq = 0;
    for (int i = 0; i < rows->size(); ++i) {
      if (i == limit) {
        page.next_cursor = std::to_string(last_seq);
        break;
      }
      page.runs.push_back(ReadRun(*rows, i, &last_seq));
    }
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return page;
}

Status PgStorage::RunRemove(const std::string& id, const std::string& queue) {
  return pool_.Transaction([&](Connection& c) -> Status {
    bool in_history = false;
    auto found = GetOn(c, id, queue, /*for_update=*/true, &in_history);
    if (!found.ok()) return found.status();
    if (found->status == RunStatus::kRunning) {
      return Status::FailedPrecondition("run '" + id + "' is running; cancel it first");
    }
    return DeleteRun(c, *found, in_history);
  });
}

Result<std::vector<Run>> PgStorage::RunPutScheduled(std::vector<Run> runs,
                                                    const LeaderFence& fence) {
  std::vector<int64_t> finals;
  for (const Run& run : runs) {
    if (IsFinal(run.status)) finals.push_back(PartAt(run));
  }
  TASKMILL_RETURN_IF_ERROR(EnsureMonths(finals));
  std::vector<Run> stored;
  Status st = pool_.Transaction([&](Connection& c) -> Status {
    stored.clear();
    // The fence is read in the transaction that writes, and FOR SHARE holds the lease
    // row until the commit: an election that would change the term waits for these
    // launches, and launches that follow it read the new term.
    auto lease = c.Exec("SELECT term FROM leases WHERE name = $1 AND holder <> '' FOR SHARE",
                        Params().Add(fence.lease));
    if (!lease.ok()) return lease.status();
    const int64_t term = lease->size() > 0 ? lease->Int(0, 0) : 0;
    if (lease->size() == 0 || term != fence.term) {
      return Status::FailedPrecondition(
          "lease '" + fence.lease + "' is at term " + std::to_string(term) + ", not " +
          std::to_string(fence.term) + ": a stale leader's launches are refused");
    }
    bool due = false;
    for (const Run& run : runs) {
      // The unique launch key, not a read before the write, keeps an instant single
      // even with two leaders at once.
      if (run.scheduled_at) {
        auto launch = c.Exec(
            "INSERT INTO launches(task, scheduled_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            Params().Add(run.task).Add(Micros(*run.scheduled_at)));
        if (!launch.ok()) return launch.status();
        if (launch->Affected() != 1) continue;  // fired before
      }
      auto key = c.Exec("INSERT INTO run_keys(id, queue) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                        Params().Add(run.id).Add(run.queue));
      if (!key.ok()) return key.status();
      if (key->Affected() != 1) {
        // (queue, id) taken: skipped, and its launch key given back.
        if (run.scheduled_at) {
          auto undo = c.Exec("DELETE FROM launches WHERE task = $1 AND scheduled_at = $2",
                             Params().Add(run.task).Add(Micros(*run.scheduled_at)));
          if (!undo.ok()) return undo.status();
        }
        continue;
      }
      TASKMILL_RETURN_IF_ERROR(
          InsertRuns(c, IsFinal(run.status) ? "runs_history" : "runs", {&run}));
      due = due || run.status == RunStatus::kPending;
      stored.push_back(run);
    }
    if (due) TASKMILL_RETURN_IF_ERROR(Notify(c));  // one per commit
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return stored;
}

Result<std::optional<Run>> PgStorage::RunLatestOfTask(const std::string& task,
                                                      const std::optional<std::string>& account) {
  Params params;
  params.Add(task);
  std::string where = " WHERE task = $1";
  if (account) {
    params.Add(*account);
    where += " AND account_id = $2";
  }
  const std::string sql = "SELECT * FROM ((SELECT " + std::string(kRunColumns) + " FROM runs" +
                          where + " ORDER BY seq DESC LIMIT 1) UNION ALL (SELECT " + kRunColumns +
                          " FROM runs_history" + where +
                          " ORDER BY seq DESC LIMIT 1)) u ORDER BY seq DESC LIMIT 1";
  std::optional<Run> out;
  Status st = pool_.Transaction([&](Connection& c) -> Status {
    auto rows = c.Exec(sql, params);
    if (!rows.ok()) return rows.status();
    if (rows->size() > 0) out = ReadRun(*rows, 0);
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return out;
}

Result<int64_t> PgStorage::RunPrune(int keep) {
  int64_t removed = 0;
  // Only runs of tasks are capped; at most 10,000 go per call, with their keys, files
  // and checkpoints. (Retention by age drops whole partitions of runs_history instead:
  // docs/storage.md.)
  Status st = pool_.Transaction([&](Connection& c) -> Status {
    auto rows = c.Exec(
        "WITH doomed AS (SELECT seq FROM (SELECT seq, row_number() OVER (PARTITION BY task "
        "ORDER BY finished_at DESC NULLS LAST, seq DESC) AS rn FROM runs_history "
        "WHERE task <> '') x WHERE rn > $1 LIMIT 10000), "
        "del AS (DELETE FROM runs_history h USING doomed d WHERE h.seq = d.seq "
        "RETURNING h.id, h.queue, h.task, h.scheduled_at), " +
            std::string(kWithWhatGoesWithDeletedRuns),
        Params().Add(std::max(keep, 0)));
    if (!rows.ok()) return rows.status();
    removed = rows->Int(0, 0);
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return removed;
}

}  // namespace taskmill::postgres
