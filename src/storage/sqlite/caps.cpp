// Concurrency caps of claims: a queue's cap (stored next to its pause flag) and a
// task's (stored beside its definition) bound the runs running at once across every
// process that shares the database. The running counts come from the tallies, so a
// claim counts no rows; a claim with no cap in sight reads nothing more than the
// queue row it already reads and one seek into the empty index of capped tasks.
#include <algorithm>

#include "storage/sqlite/storage_impl.h"

namespace taskmill::sqlite {

Status SqliteStorage::QueueSetConcurrency(const std::string& queue, int limit) {
  if (limit < 0) {
    return Status::InvalidArgument("queue '" + queue +
                                   "': max_concurrency must be at least 1 (or 0 for no cap)");
  }
  return Write([&](Tx& tx) -> Status {
    TASKMILL_RETURN_IF_ERROR(
        Exec(tx.db,
             "INSERT INTO queues(name, max_running) VALUES (?1, ?2) "
             "ON CONFLICT(name) DO UPDATE SET max_running = excluded.max_running",
             queue, limit));
    // A queue left with no setting keeps no row (taskmill/storage.h).
    return Exec(tx.db, "DELETE FROM queues WHERE name = ?1 AND paused = 0 AND max_running = 0",
                queue);
  });
}

Status SqliteStorage::TaskRooms(Tx& tx, std::vector<std::pair<std::string, int64_t>>& rooms) {
  auto stmt = tx.db.Prepare(
      "SELECT name, max_running FROM tasks INDEXED BY tasks_capped WHERE max_running > 0");
  if (!stmt.ok()) return stmt.status();
  {
    ScopedReset reset(**stmt);
    for (;;) {
      auto row = (*stmt)->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      rooms.emplace_back(std::string((*stmt)->Text(0)), (*stmt)->Int(1));
    }
  }
  for (auto& [task, room] : rooms) {
    auto running = RunningNow(tx, /*by_queue=*/false, task);
    if (!running.ok()) return running.status();
    room -= *running;
  }
  return Status::Ok();
}

Result<int64_t> SqliteStorage::RunningNow(Tx& tx, bool by_queue, const std::string& name) {
  auto stmt = tx.db.Prepare(by_queue ? "SELECT coalesce(sum(n), 0) FROM run_tallies "
                                       "WHERE queue = ?1 AND status = 'running'"
                                     : "SELECT coalesce(sum(n), 0) FROM run_tallies "
                                       "WHERE task = ?1 AND status = 'running'");
  if (!stmt.ok()) return stmt.status();
  ScopedReset reset(**stmt);
  (*stmt)->Bind(1, name);
  auto row = (*stmt)->Step();
  if (!row.ok()) return row.status();
  int64_t n = *row ? (*stmt)->Int(0) : 0;
  // The earlier writes of this transaction (claims and finishes of other callers)
  // reach the tallies only at its commit.
  if (tx.earlier) {
    for (const TallyDeltas::Entry& e : tx.earlier->entries()) {
      if (e.status == RunStatus::kRunning && (by_queue ? e.queue : e.task) == name) n += e.n;
    }
  }
  return n;
}

}  // namespace taskmill::sqlite
