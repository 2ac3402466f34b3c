// retention.cpp — retention of finished runs by age (Storage::RunPruneOlderThan).
// SQLite has a single writer, so the runs go in small batches, each its own write:
// the claims and finishes queued meanwhile get the writer between two batches
// instead of waiting behind one long delete (docs/storage.md, "Retention").
#include "storage/sqlite/storage_impl.h"

namespace taskmill::sqlite {

namespace {
// Runs deleted per write, and writes per call: a batch holds the writer for a few
// milliseconds, and a call (the leader's, every prune interval) for a bounded time.
constexpr int kBatch = 1000;
constexpr int kBatchesPerCall = 50;
}  // namespace

Result<HistoryPruned> SqliteStorage::RunPruneOlderThan(TimePoint before, TimePoint now) {
  if (before > now) {
    return Status::InvalidArgument("retention: the cutoff is after now: nothing can be that old");
  }
  HistoryPruned out;
  for (int batch = 0; batch < kBatchesPerCall; ++batch) {
    int64_t removed = 0;
    Status st = Write([&](Tx& tx) -> Status {
      removed = 0;
      // runs_final_finished holds the finished runs by finish, so a batch reads only
      // the runs it deletes. It is made by the first call rather than by a migration:
      // every finish would pay one more B-tree insert for it, and only databases with
      // a retention need it (making it reads the finished runs once).
      TASKMILL_RETURN_IF_ERROR(tx.db.ExecScript(
          "CREATE INDEX IF NOT EXISTS runs_final_finished ON runs(coalesce(finished_at, "
          "created_at)) WHERE status NOT IN ('pending', 'running')"));
      // The triggers take the files and the checkpoint of each run; the writer's
      // deltas keep the tallies.
      auto stmt = tx.db.Prepare(
          "DELETE FROM runs WHERE seq IN (SELECT seq FROM runs INDEXED BY runs_final_finished "
          "WHERE status NOT IN ('pending', 'running') AND coalesce(finished_at, created_at) < ?1 "
          "LIMIT ?2) RETURNING queue, task, status, account_id");
      if (!stmt.ok()) return stmt.status();
      ScopedReset reset(**stmt);
      (*stmt)->Bind(1, Micros(before));
      (*stmt)->Bind(2, kBatch);
      auto deleted = DeleteReturningRuns(tx, **stmt);
      if (!deleted.ok()) return deleted.status();
      removed = *deleted;
      return Status::Ok();
    });
    if (!st.ok()) return st;
    out.runs += removed;
    if (removed < kBatch) return out;
  }
  out.more = true;
  return out;
}

}  // namespace taskmill::sqlite
