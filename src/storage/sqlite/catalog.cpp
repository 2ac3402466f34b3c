#include <spdlog/spdlog.h>

#include <chrono>
#include <limits>
#include <map>

#include "storage/sqlite/storage_impl.h"

namespace taskmill::sqlite {

Status SqliteStorage::HolderAttach(const std::string& holder) {
  // Files of holders that died long ago: their runs and leases are resolved by then.
  holders_.PruneOlderThan(std::chrono::hours(24));
  Status st = holders_.Attach(holder);
  if (!st.ok()) spdlog::warn("storage: {}; its leases alone tell whether it lives", st.message());
  return st;
}

void SqliteStorage::HolderDetach(const std::string& holder) { holders_.Detach(holder); }

// ---- queues -------------------------------------------------------------------
Status SqliteStorage::QueueSetPaused(const std::string& queue, bool paused) {
  return Write([&](Tx& tx) -> Status {
    return Exec(tx.db,
                "INSERT INTO queues(name, paused) VALUES (?1, ?2) "
                "ON CONFLICT(name) DO UPDATE SET paused = excluded.paused",
                queue, paused ? 1 : 0);
  });
}

Result<std::vector<QueueStats>> SqliteStorage::QueueList(
    TimePoint now, const std::optional<std::string>& account) {
  if (account) return AccountQueueList(*account);
  std::map<std::string, QueueStats> by_name;
  Status st = WithReader([&](Connection& db) -> Status {
    TASKMILL_RETURN_IF_ERROR(ReadLiveTallies(db, nullptr, by_name));
    // The index orders a queue's pending runs by priority, then run_at: the first
    // entry below each priority is that priority's oldest, so a few seeks (one per
    // priority in use) find the queue's oldest without reading its backlog.
    auto oldest = db.Prepare(
        "SELECT priority, run_at FROM runs INDEXED BY runs_queue_pending "
        "WHERE status = 'pending' AND queue = ?1 AND priority < ?2 "
        "ORDER BY priority DESC, run_at LIMIT 1");
    if (!oldest.ok()) return oldest.status();
    for (auto& [name, q] : by_name) {
      if (q.pending == 0) continue;
      int64_t below = std::numeric_limits<int64_t>::max();
      for (;;) {
        ScopedReset reset(**oldest);
        (*oldest)->Bind(1, name);
        (*oldest)->Bind(2, below);
        auto row = (*oldest)->Step();
        if (!row.ok()) return row.status();
        if (!*row) break;
        below = (*oldest)->Int(0);
        TimePoint run_at = FromMicros((*oldest)->Int(1));
        if (!q.oldest_pending_run_at || run_at < *q.oldest_pending_run_at) {
          q.oldest_pending_run_at = run_at;
        }
      }
    }
    auto paused = db.Prepare("SELECT name, paused, max_running FROM queues");
    if (!paused.ok()) return paused.status();
    ScopedReset reset(**paused);
    for (;;) {
      auto row = (*paused)->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      auto& q = by_name[std::string((*paused)->Text(0))];
      q.queue = (*paused)->Text(0);
      q.paused = (*paused)->Int(1) != 0;
      q.max_concurrency = static_cast<int>((*paused)->Int(2));
    }
    return Status::Ok();
  });
  if (!st.ok()) return st;
  std::vector<QueueStats> out;
  for (auto& [name, q] : by_name) out.push_back(std::move(q));
  return out;
}

// QueueList of one account: its tallies, and its oldest pending run of each queue by
// one seek of runs_account_pending (runs of no account, not in that index, by a walk
// of the queue's pending runs).
Result<std::vector<QueueStats>> SqliteStorage::AccountQueueList(const std::string& account) {
  std::map<std::string, QueueStats> by_name;
  Status st = WithReader([&](Connection& db) -> Status {
    TASKMILL_RETURN_IF_ERROR(ReadLiveTallies(db, &account, by_name));
    auto oldest = db.Prepare(
        account.empty()
            ? "SELECT min(run_at) FROM runs INDEXED BY runs_queue_pending "
              "WHERE status = 'pending' AND queue = ?2 AND account_id = ?1"
            : "SELECT min(run_at) FROM runs INDEXED BY runs_account_pending "
              "WHERE status = 'pending' AND account_id <> '' AND account_id = ?1 AND queue = ?2");
    if (!oldest.ok()) return oldest.status();
    auto paused = db.Prepare("SELECT paused FROM queues WHERE name = ?1");
    if (!paused.ok()) return paused.status();
    for (auto& [name, q] : by_name) {
      if (q.pending > 0) {
        ScopedReset reset(**oldest);
        (*oldest)->Bind(1, account);
        (*oldest)->Bind(2, name);
        auto row = (*oldest)->Step();
        if (!row.ok()) return row.status();
        if (*row && !(*oldest)->IsNull(0)) q.oldest_pending_run_at = FromMicros((*oldest)->Int(0));
      }
      ScopedReset reset(**paused);
      (*paused)->Bind(1, name);
      auto row = (*paused)->Step();
      if (!row.ok()) return row.status();
      q.paused = *row && (*paused)->Int(0) != 0;
    }
    return Status::Ok();
  });
  if (!st.ok()) return st;
  std::vector<QueueStats> out;
  for (auto& [name, q] : by_name) out.push_back(std::move(q));
  return out;
}

// ---- tasks ----------------------------------------------------------------------
Status SqliteStorage::TaskUpsert(const TaskDef& task) {
  return Write([&](Tx& tx) { return PutTask(tx.db, task); });
}

Result<std::vector<TaskDef>> SqliteStorage::TaskList() {
  std::vector<TaskDef> out;
  Status st = WithReader([&](Connection& db) -> Status {
    auto stmt = db.Prepare("SELECT definition FROM tasks ORDER BY name");
    if (!stmt.ok()) return stmt.status();
    ScopedReset reset(**stmt);
    for (;;) {
      auto row = (*stmt)->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      auto t = ParseTask((*stmt)->Text(0));
      if (!t.ok()) return t.status();
      out.push_back(std::move(*t));
    }
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return out;
}

Result<TaskDef> SqliteStorage::TaskGet(const std::string& name) {
  return WithReader([&](Connection& db) { return GetTask(db, name); });
}

Status SqliteStorage::TaskSetEnabled(const std::string& name, bool enabled) {
  return Write([&](Tx& tx) -> Status {
    auto t = GetTask(tx.db, name);
    if (!t.ok()) return t.status();
    t->enabled = enabled;
    return PutTask(tx.db, *t);
  });
}

Status SqliteStorage::TaskRemove(const std::string& name) {
  return Write([&](Tx& tx) -> Status {
    TASKMILL_RETURN_IF_ERROR(Exec(tx.db, "DELETE FROM tasks WHERE name = ?1", name));
    if (tx.db.Changes() == 0) return Status::NotFound("no task named '" + name + "'");
    return Status::Ok();
  });
}

Result<TaskDef> SqliteStorage::ParseTask(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return Status::Internal("stored task definition is not JSON");
  return TaskDefFromJson(v);
}

Result<TaskDef> SqliteStorage::GetTask(Connection& db, const std::string& name) {
  auto stmt = db.Prepare("SELECT definition FROM tasks WHERE name = ?1");
  if (!stmt.ok()) return stmt.status();
  ScopedReset reset(**stmt);
  (*stmt)->Bind(1, name);
  auto row = (*stmt)->Step();
  if (!row.ok()) return row.status();
  if (!*row) return Status::NotFound("no task named '" + name + "'");
  return ParseTask((*stmt)->Text(0));
}

Status SqliteStorage::PutTask(Connection& db, const TaskDef& task) {
  return Exec(db,
              "INSERT INTO tasks(name, definition, max_running) VALUES (?1, ?2, ?3) "
              "ON CONFLICT(name) DO UPDATE SET definition = excluded.definition, "
              "max_running = excluded.max_running",
              task.name, json::serialize(ToJson(task)), std::max(task.max_concurrency, 0));
}

// ---- leadership and state -----------------------------------------------------
Result<bool> SqliteStorage::LeaderAttemptElect(const std::string& name, const std::string& holder,
                                               TimePoint now, Duration ttl) {
  bool leader = false;
  Status st = Write([&](Tx& tx) -> Status {
    // A live lease whose holder is known dead (HolderLocks) is taken like an expired one.
    std::optional<std::string> dead_holder;
    {
      auto current = tx.db.Prepare("SELECT holder, until FROM leases WHERE name = ?1");
      if (!current.ok()) return current.status();
      ScopedReset reset(**current);
      (*current)->Bind(1, name);
      auto row = (*current)->Step();
      if (!row.ok()) return row.status();
      if (*row && (*current)->Text(0) != holder && (*current)->Int(1) >= Micros(now) &&
          holders_.IsDead(std::string((*current)->Text(0)))) {
        dead_holder = std::string((*current)->Text(0));
      }
    }
    auto stmt = tx.db.Prepare(
        "INSERT INTO leases(name, holder, until, term) VALUES (?1, ?2, ?3, 1) "
        "ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, until = excluded.until, "
        "term = leases.term + (leases.holder <> excluded.holder) "
        "WHERE leases.holder = excluded.holder OR leases.until < ?4 OR leases.holder = ?5 "
        "RETURNING holder");
    if (!stmt.ok()) return stmt.status();
    ScopedReset reset(**stmt);
    if (dead_holder)
      (*stmt)->Bind(5, *dead_holder);
    else
      (*stmt)->BindNull(5);
    (*stmt)->Bind(1, name);
    (*stmt)->Bind(2, holder);
    (*stmt)->Bind(3, Micros(now + ttl));
    (*stmt)->Bind(4, Micros(now));
    auto row = (*stmt)->Step();
    if (!row.ok()) return row.status();
    leader = *row && (*stmt)->Text(0) == holder;
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return leader;
}

Status SqliteStorage::LeaderResign(const std::string& name, const std::string& holder) {
  return Write([&](Tx& tx) -> Status {
    // The row stays, holder cleared, so that the next holder's term follows on.
    return Exec(tx.db, "UPDATE leases SET holder = '', until = 0 WHERE name = ?1 AND holder = ?2",
                name, holder);
  });
}

Result<std::optional<LeaderLease>> SqliteStorage::LeaderGet(const std::string& name) {
  std::optional<LeaderLease> lease;
  Status st = WithReader([&](Connection& db) -> Status {
    auto stmt =
        db.Prepare("SELECT holder, until, term FROM leases WHERE name = ?1 AND holder <> ''");
    if (!stmt.ok()) return stmt.status();
    ScopedReset reset(**stmt);
    (*stmt)->Bind(1, name);
    auto row = (*stmt)->Step();
    if (!row.ok()) return row.status();
    if (*row) {
      lease =
          LeaderLease{std::string((*stmt)->Text(0)), FromMicros((*stmt)->Int(1)), (*stmt)->Int(2)};
    }
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return lease;
}

Result<std::optional<std::string>> SqliteStorage::StateGet(const std::string& key) {
  std::optional<std::string> value;
  Status st = WithReader([&](Connection& db) -> Status {
    auto stmt = db.Prepare("SELECT value FROM state WHERE key = ?1");
    if (!stmt.ok()) return stmt.status();
    ScopedReset reset(**stmt);
    (*stmt)->Bind(1, key);
    auto row = (*stmt)->Step();
    if (!row.ok()) return row.status();
    if (*row) value = std::string((*stmt)->Text(0));
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return value;
}

Status SqliteStorage::StatePut(const std::string& key, const std::string& value) {
  return Write([&](Tx& tx) -> Status {
    return Exec(tx.db,
                "INSERT INTO state(key, value) VALUES (?1, ?2) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                key, value);
  });
}

// ---- API tokens ---------------------------------------------------------------
Status SqliteStorage::TokenCreate(const ApiToken& token) {
  if (token.name.empty() || token.hash.empty()) {
    return Status::InvalidArgument("a token needs a name and a hash");
  }
  return Write([&](Tx& tx) -> Status {
    Status st = Exec(tx.db,
                     "INSERT INTO api_tokens(name, account_id, admin, hash, created_at) "
                     "VALUES (?1, ?2, ?3, ?4, ?5)",
                     token.name, token.account_id, token.admin ? 1 : 0, token.hash,
                     Micros(token.created_at));
    if (st.IsConflict()) return Status::Conflict("a token named '" + token.name + "' exists");
    return st;
  });
}

Result<std::vector<ApiToken>> SqliteStorage::TokenList() {
  std::vector<ApiToken> out;
  Status st = WithReader([&](Connection& db) -> Status {
    auto stmt = db.Prepare(
        "SELECT name, account_id, admin, hash, created_at FROM api_tokens ORDER BY name");
    if (!stmt.ok()) return stmt.status();
    ScopedReset reset(**stmt);
    for (;;) {
      auto row = (*stmt)->Step();
      if (!row.ok()) return row.status();
      if (!*row) return Status::Ok();
      out.push_back({.name = std::string((*stmt)->Text(0)),
                     .account_id = std::string((*stmt)->Text(1)),
                     .admin = (*stmt)->Int(2) != 0,
                     .hash = std::string((*stmt)->Text(3)),
                     .created_at = FromMicros((*stmt)->Int(4))});
    }
  });
  if (!st.ok()) return st;
  return out;
}

Status SqliteStorage::TokenRemove(const std::string& name) {
  return Write([&](Tx& tx) -> Status {
    TASKMILL_RETURN_IF_ERROR(Exec(tx.db, "DELETE FROM api_tokens WHERE name = ?1", name));
    if (tx.db.Changes() == 0) {
      return Status::NotFound("no token named '" + name + "'");
    }
    return Status::Ok();
  });
}

}  // namespace taskmill::sqlite
