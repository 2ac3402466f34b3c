// tallies.cpp — counts of runs. Runs in the hot table (pending and running: the
// backlog) are counted there; finished runs are read from run_tallies, which the
// triggers of runs_history keep in the commit that moves runs in or out.
#include <map>

#include "storage/postgres/storage_impl.h"

namespace taskmill::postgres {

Result<StorageStats> PgStorage::RunStats(const std::optional<std::string>& account) {
  StorageStats stats;
  for (RunStatus s : kAllRunStatuses) stats.by_status[s] = 0;
  Params params;
  std::string where_hot, where_tally = " WHERE n <> 0";
  if (account) {
    params.Add(*account);
    where_hot = " WHERE account_id = $1";
    where_tally += " AND account_id = $1";
  }
  Status st = pool_.Transaction([&](Connection& c) -> Status {
    auto rows = c.Exec("SELECT task, status, count(*) FROM runs" + where_hot +
                           " GROUP BY task, status UNION ALL SELECT task, status, sum(n) FROM "
                           "run_tallies" +
                           where_tally + " GROUP BY task, status",
                       params);
    if (!rows.ok()) return rows.status();
    for (int i = 0; i < rows->size(); ++i) {
      auto status = ParseRunStatus(rows->Text(i, 1));
      const int64_t n = rows->Int(i, 2);
      if (!status || n == 0) continue;
      stats.by_status[*status] += n;
      stats.by_task[std::string(rows->Text(i, 0))][*status] += n;
      stats.total += n;
    }
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return stats;
}

Result<int64_t> PgStorage::RunCountLive(const std::string& task) {
  int64_t n = 0;
  Status st = pool_.Transaction([&](Connection& c) -> Status {
    auto rows = c.Exec("SELECT count(*) FROM runs WHERE task = $1", Params().Add(task));
    if (!rows.ok()) return rows.status();
    n = rows->Int(0, 0);
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return n;
}

Result<PendingSplit> PgStorage::RunPendingSplit(const std::optional<std::string>& account,
                                                TimePoint now, int64_t limit) {
  PendingSplit split;
  Params params;
  params.Add(Micros(now)).Add(std::max<int64_t>(limit, 0));
  std::string where;
  if (account) {
    params.Add(*account);
    where = " AND account_id = $3";
  }
  Status st = pool_.Transaction([&](Connection& c) -> Status {
    auto rows = c.Exec(
        "SELECT count(*) FILTER (WHERE run_at <= $1), "
        "count(*) FILTER (WHERE run_at > $1 AND attempt = 0), "
        "count(*) FILTER (WHERE run_at > $1 AND attempt > 0), count(*) "
        "FROM (SELECT run_at, attempt FROM runs WHERE status = 'pending'" +
            where + " LIMIT $2) p",
        params);
    if (!rows.ok()) return rows.status();
    split.due = rows->Int(0, 0);
    split.scheduled = rows->Int(0, 1);
    split.retrying = rows->Int(0, 2);
    split.counted = rows->Int(0, 3);
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return split;
}

Result<std::vector<QueueStats>> PgStorage::QueueList(TimePoint now,
                                                     const std::optional<std::string>& account) {
  (void)now;
  std::map<std::string, QueueStats> by_name;
  Params params;
  std::string where;
  if (account) {
    params.Add(*account);
    where = " WHERE account_id = $1";
  }
  Status st = pool_.Transaction([&](Connection& c) -> Status {
    by_name.clear();
    auto rows = c.Exec(
        "SELECT queue, count(*) FILTER (WHERE status = 'pending'), "
        "count(*) FILTER (WHERE status = 'running'), "
        "min(run_at) FILTER (WHERE status = 'pending') FROM runs" +
            where + " GROUP BY queue",
        params);
    if (!rows.ok()) return rows.status();
    for (int i = 0; i < rows->size(); ++i) {
      QueueStats& q = by_name[std::string(rows->Text(i, 0))];
      q.queue = rows->Text(i, 0);
      q.pending = rows->Int(i, 1);
      q.running = rows->Int(i, 2);
      if (!rows->IsNull(i, 3)) q.oldest_pending_run_at = FromMicros(rows->Int(i, 3));
    }
    auto queues = c.Exec("SELECT name, paused, max_running FROM queues");
    if (!queues.ok()) return queues.status();
    for (int i = 0; i < queues->size(); ++i) {
      const std::string name(queues->Text(i, 0));
      // An account sees a queue only while it has runs there (its names stay its own).
      if (account && !by_name.contains(name)) continue;
      QueueStats& q = by_name[name];
      q.queue = name;
      q.paused = queues->Bool(i, 1);
      if (!account) q.max_concurrency = static_cast<int>(queues->Int(i, 2));
    }
    return Status::Ok();
  });
  if (!st.ok()) return st;
  std::vector<QueueStats> out;
  for (auto& [name, q] : by_name) out.push_back(std::move(q));
  return out;
}

}  // namespace taskmill::postgres
