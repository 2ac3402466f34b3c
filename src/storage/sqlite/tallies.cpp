#include "storage/sqlite/storage_impl.h"

namespace taskmill::sqlite {

Status SqliteStorage::ApplyTallies(Connection& db, const TallyDeltas& d) {
  auto add = db.Prepare(
      "INSERT INTO run_tallies(queue, task, status, account_id, n) VALUES (?1, ?2, ?3, ?4, ?5) "
      "ON CONFLICT DO UPDATE SET n = n + excluded.n");
  if (!add.ok()) return add.status();
  auto drop = db.Prepare(
      "DELETE FROM run_tallies WHERE queue = ?1 AND task = ?2 AND status = ?3 "
      "AND account_id = ?4 AND n = 0");
  if (!drop.ok()) return drop.status();
  for (const auto& e : d.entries()) {
    if (e.n == 0) continue;
    {
      ScopedReset reset(**add);
      (*add)->Bind(1, e.queue);
      (*add)->Bind(2, e.task);
      (*add)->Bind(3, ToString(e.status));
      (*add)->Bind(4, e.account);
      (*add)->Bind(5, e.n);
      TASKMILL_RETURN_IF_ERROR((*add)->Exec());
    }
    if (e.n > 0) continue;
    ScopedReset reset(**drop);
    (*drop)->Bind(1, e.queue);
    (*drop)->Bind(2, e.task);
    (*drop)->Bind(3, ToString(e.status));
    (*drop)->Bind(4, e.account);
    TASKMILL_RETURN_IF_ERROR((*drop)->Exec());
  }
  return Status::Ok();
}

Result<StorageStats> SqliteStorage::RunStats(const std::optional<std::string>& account) {
  StorageStats stats;
  for (auto s : kAllRunStatuses) stats.by_status[s] = 0;
  Status st = WithReader([&](Connection& db) -> Status {
    auto stmt =
        db.Prepare(account ? "SELECT task, status, sum(n) FROM run_tallies WHERE account_id = ?1 "
                             "GROUP BY task, status"
                           : "SELECT task, status, sum(n) FROM run_tallies GROUP BY task, status");
    if (!stmt.ok()) return stmt.status();
    ScopedReset reset(**stmt);
    if (account) (*stmt)->Bind(1, *account);
    for (;;) {
      auto row = (*stmt)->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      auto s = ParseRunStatus((*stmt)->Text(1));
      int64_t n = (*stmt)->Int(2);
      if (!s || n == 0) continue;
      stats.by_status[*s] += n;
      stats.by_task[std::string((*stmt)->Text(0))][*s] = n;
      stats.total += n;
    }
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return stats;
}

// The split of pending runs (the API's derived states), over at most `limit` of them:
// each is read through a pending index, so the cost is bounded by the limit however
// many runs are stored.
Result<PendingSplit> SqliteStorage::RunPendingSplit(const std::optional<std::string>& account,
                                                    TimePoint now, int64_t limit) {
  PendingSplit split;
  Status st = WithReader([&](Connection& db) -> Status {
    const char* from = !account ? "FROM runs INDEXED BY runs_queue_pending WHERE status = 'pending'"
                       : account->empty()
                           ? "FROM runs INDEXED BY runs_queue_pending WHERE status = 'pending' "
                             "AND account_id = ?3"
                           : "FROM runs INDEXED BY runs_account_pending WHERE status = 'pending' "
                             "AND account_id <> '' AND account_id = ?3";
    auto stmt = db.Prepare(std::string("SELECT coalesce(sum(run_at <= ?1), 0), "
                                       "coalesce(sum(run_at > ?1 AND attempt = 0), 0), "
                                       "coalesce(sum(run_at > ?1 AND attempt > 0), 0), count(*) "
                                       "FROM (SELECT run_at, attempt ") +
                           from + " LIMIT ?2)");
    if (!stmt.ok()) return stmt.status();
    ScopedReset reset(**stmt);
    (*stmt)->Bind(1, Micros(now));
    (*stmt)->Bind(2, std::max<int64_t>(limit, 0));
    if (account) (*stmt)->Bind(3, *account);
    auto row = (*stmt)->Step();
    if (!row.ok()) return row.status();
    split = {(*stmt)->Int(0), (*stmt)->Int(1), (*stmt)->Int(2), (*stmt)->Int(3)};
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return split;
}

Result<int64_t> SqliteStorage::RunCountLive(const std::string& task) {
  int64_t n = 0;
  Status st = WithReader([&](Connection& db) -> Status {
    auto stmt = db.Prepare(
        "SELECT coalesce(sum(n), 0) FROM run_tallies "
        "WHERE task = ?1 AND status IN ('pending', 'running')");
    if (!stmt.ok()) return stmt.status();
    ScopedReset reset(**stmt);
    (*stmt)->Bind(1, task);
    auto row = (*stmt)->Step();
    if (!row.ok()) return row.status();
    n = (*stmt)->Int(0);
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return n;
}

// The pending and running counts of each queue, from the tallies: of one account, or
// of every account when `account` is null.
Status SqliteStorage::ReadLiveTallies(Connection& db, const std::string* account,
                                      std::map<std::string, QueueStats>& by_name) {
  auto stmt = db.Prepare(account ? "SELECT queue, status, sum(n) FROM run_tallies "
                                   "WHERE account_id = ?1 AND status IN ('pending', 'running') "
                                   "GROUP BY queue, status"
                                 : "SELECT queue, status, sum(n) FROM run_tallies "
                                   "WHERE status IN ('pending', 'running') GROUP BY queue, status");
  if (!stmt.ok()) return stmt.status();
  ScopedReset reset(**stmt);
  if (account) (*stmt)->Bind(1, *account);
  for (;;) {
    auto row = (*stmt)->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    auto& q = by_name[std::string((*stmt)->Text(0))];
    q.queue = (*stmt)->Text(0);
    ((*stmt)->Text(1) == "pending" ? q.pending : q.running) = (*stmt)->Int(2);
  }
  return Status::Ok();
}

// Pending runs of one queue, or of every queue (queue empty), by the tallies.
Result<int64_t> SqliteStorage::PendingTally(Connection& db, const std::string& queue) {
  constexpr const char* kAll =
      "SELECT coalesce(sum(n), 0) FROM run_tallies WHERE status = 'pending'";
  constexpr const char* kOne =
      "SELECT coalesce(sum(n), 0) FROM run_tallies WHERE queue = ?1 AND status = 'pending'";
  auto stmt = db.Prepare(queue.empty() ? kAll : kOne);
  if (!stmt.ok()) return stmt.status();
  ScopedReset reset(**stmt);
  if (!queue.empty()) (*stmt)->Bind(1, queue);
  auto row = (*stmt)->Step();
  if (!row.ok()) return row.status();
  return *row ? (*stmt)->Int(0) : 0;
}

// The queues with pending runs by the tallies, and by the changes of the earlier
// writes of this transaction (applied to the tallies only at its commit). A queue
// may come up whose pending runs are all claimed meanwhile: its index range is
// simply empty.
Status SqliteStorage::QueuesWithPendingRuns(Tx& tx, std::vector<std::string>& queues) {
  auto stmt =
      tx.db.Prepare("SELECT DISTINCT queue FROM run_tallies WHERE status = 'pending' AND n > 0");
  if (!stmt.ok()) return stmt.status();
  ScopedReset reset(**stmt);
  for (;;) {
    auto row = (*stmt)->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    queues.emplace_back((*stmt)->Text(0));
  }
  if (!tx.earlier) return Status::Ok();
  for (const TallyDeltas::Entry& e : tx.earlier->entries()) {
    if (e.status == RunStatus::kPending && e.n > 0) queues.push_back(e.queue);
  }
  return Status::Ok();
}

}  // namespace taskmill::sqlite
