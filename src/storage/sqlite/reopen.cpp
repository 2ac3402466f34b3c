// RunReopen (taskmill/storage.h): a failed flow's root back to running and the runs
// retried with it, in one transaction of the writer.
#include "storage/sqlite/storage_impl.h"

namespace taskmill::sqlite {

Result<Run> SqliteStorage::RunReopen(const std::string& id, const std::string& queue,
                                     const std::vector<std::string>& retry, TimePoint now) {
  Run result;
  Status st = Write([&](Tx& tx) -> Status {
    auto root = FindKey(tx.db, id, queue);
    if (!root.ok()) return root.status();
    auto final_or_refuse = [](const std::string& run_id, RunStatus status) {
      return IsFinal(status) ? Status::Ok()
                             : Status::FailedPrecondition("run '" + run_id + "' is " +
                                                          std::string(ToString(status)) +
                                                          "; only a finished run can be reopened");
    };
    TASKMILL_RETURN_IF_ERROR(final_or_refuse(id, root->status));
    TASKMILL_RETURN_IF_ERROR(Exec(tx.db,
                                  "UPDATE runs SET status = 'running', finished_at = NULL, "
                                  "result = NULL, error = '', error_kind = '', "
                                  "lease_until = NULL, runner = '' WHERE id = ?1 AND queue = ?2",
                                  id, root->queue));
    tx.deltas.Move(root->queue, root->task, root->account_id, root->status, RunStatus::kRunning);
    for (const std::string& other : retry) {
      auto key = FindKey(tx.db, other, "");
      if (!key.ok()) return key.status();
      // A failure rolls the whole transaction back, the root's change with it.
      TASKMILL_RETURN_IF_ERROR(final_or_refuse(other, key->status));
      TASKMILL_RETURN_IF_ERROR(
          Exec(tx.db,
               "UPDATE runs SET status = 'pending', run_at = ?1, finished_at = NULL, error = '', "
               "error_kind = '', result = NULL, max_attempts = max(max_attempts, attempt + 1) "
               "WHERE id = ?2 AND queue = ?3",
               Micros(now), other, key->queue));
      tx.deltas.Move(key->queue, key->task, key->account_id, key->status, RunStatus::kPending);
    }
    auto r = GetOn(tx.db, id, root->queue);
    if (!r.ok()) return r.status();
    result = std::move(*r);
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return result;
}

}  // namespace taskmill::sqlite
