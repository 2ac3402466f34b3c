// caps.cpp — claims under concurrency caps: a queue's cap (QueueSetConcurrency, stored
// next to its pause flag) and a task's (TaskDef::max_concurrency, beside its
// definition) bound the runs running at once across every process sharing the
// database. While any cap is set, claims take this path: one at a time (a transaction
// advisory lock, released by the commit), each counting in the hot table the running
// runs of each capped queue and task, which the claims before it changed. A flow's root
// (stored running, held by no runner: id = flow_id) holds no slot of its queue's cap.
#include <map>

#include "storage/postgres/storage_impl.h"

namespace taskmill::postgres {

Status PgStorage::QueueSetConcurrency(const std::string& queue, int limit) {
  if (limit < 0) {
    return Status::InvalidArgument("queue '" + queue +
                                   "': max_concurrency must be at least 1 (or 0 for no cap)");
  }
  return pool_.Transaction([&](Connection& c) -> Status {
    TASKMILL_RETURN_IF_ERROR(
        c.Exec("INSERT INTO queues(name, max_running) VALUES ($1, $2) "
               "ON CONFLICT (name) DO UPDATE SET max_running = excluded.max_running",
               Params().Add(queue).Add(limit)));
    // A queue left with no setting keeps no row (taskmill/storage.h).
    TASKMILL_RETURN_IF_ERROR(
        c.Exec("DELETE FROM queues WHERE name = $1 AND NOT paused AND max_running = 0",
               Params().Add(queue)));
    return c.Exec(kNotifySql).status();
  });
}

Status PgStorage::TakeCapped(Connection& c, const RunTakeParams& p, std::vector<ClaimedRun>& out) {
  TASKMILL_RETURN_IF_ERROR(c.Exec("SELECT pg_advisory_xact_lock(7220162)"));
  std::map<std::string, int64_t> queue_room, task_room;
  auto caps = c.Exec(
      "SELECT 'q', q.name, q.max_running - (SELECT count(*) FROM runs r WHERE r.queue = q.name "
      "AND r.status = 'running' AND r.id <> r.flow_id) FROM queues q WHERE q.max_running > 0 "
      "UNION ALL SELECT 't', t.name, t.max_running - (SELECT count(*) FROM runs r "
      "WHERE r.task = t.name AND r.status = 'running') FROM tasks t WHERE t.max_running > 0");
  if (!caps.ok()) return caps.status();
  for (int i = 0; i < caps->size(); ++i) {
    (caps->Text(i, 0) == "q" ? queue_room : task_room)[std::string(caps->Text(i, 1))] =
        caps->Int(i, 2);
  }
  Params params;
  params.Add(Micros(p.now));
  const std::string queue_filter = ClaimQueueFilter(p, params);
  // Candidates in claim order, a page at a time: a run held back by a cap does not
  // hold back the runs after it.
  constexpr int kPage = 500;
  std::vector<int64_t> chosen;
  int64_t after_priority = 0, after_run_at = 0, after_seq = 0;
  bool first_page = true;
  while (static_cast<int>(chosen.size()) < p.max) {
    Params page = params;
    std::string keyset;
    if (!first_page) {
      const int at = static_cast<int>(page.size());
      page.Add(after_priority).Add(after_run_at).Add(after_seq);
      keyset = " AND (priority < $" + std::to_string(at + 1) + " OR (priority = $" +
               std::to_string(at + 1) + " AND (run_at, seq) > ($" + std::to_string(at + 2) + ", $" +
               std::to_string(at + 3) + ")))";
    }
    auto rows = c.Exec(
        "SELECT seq, queue, task, priority, run_at FROM runs WHERE status = 'pending' "
        "AND run_at <= $1" +
            queue_filter + keyset +
            " AND NOT EXISTS (SELECT 1 FROM queues q WHERE q.name = runs.queue AND q.paused) "
            "ORDER BY priority DESC, run_at, seq LIMIT " +
            std::to_string(kPage) + " FOR UPDATE SKIP LOCKED",
        page);
    if (!rows.ok()) return rows.status();
    for (int i = 0; i < rows->size() && static_cast<int>(chosen.size()) < p.max; ++i) {
      std::string queue(rows->Text(i, 1));
      std::string task(rows->Text(i, 2));
      auto q = queue_room.find(queue);
      auto t = task.empty() ? task_room.end() : task_room.find(task);
      if ((q != queue_room.end() && q->second <= 0) || (t != task_room.end() && t->second <= 0)) {
        continue;
      }
      if (q != queue_room.end()) --q->second;
      if (t != task_room.end()) --t->second;
      chosen.push_back(rows->Int(i, 0));
    }
    if (rows->size() < kPage) break;
    const int last = rows->size() - 1;
    after_priority = rows->Int(last, 3);
    after_run_at = rows->Int(last, 4);
    after_seq = rows->Int(last, 0);
    first_page = false;
  }
  if (chosen.empty()) return Status::Ok();
  ArrayLiteral seqs;
  for (int64_t seq : chosen) seqs.Add(seq);
  auto rows = c.Exec(
      "WITH ordered AS MATERIALIZED (SELECT seq, ord FROM unnest($4::int8[]) WITH ORDINALITY AS "
      "u(seq, ord)) " +
          kClaimUpdate,
      Params()
          .Add(p.runner)
          .Add(Micros(p.now))
          .Add(static_cast<int64_t>(std::max(0, p.start)))
          .Add(seqs.Take()));
  if (!rows.ok()) return rows.status();
  out = InClaimOrder(*rows);
  return Status::Ok();
}

}  // namespace taskmill::postgres
