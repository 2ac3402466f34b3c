// catalog.cpp — queues (pause and caps), task definitions, the leader lease, key/value
// state and API tokens.
#include <boost/json.hpp>

#include "storage/postgres/storage_impl.h"

namespace taskmill::postgres {
namespace json = boost::json;

Status PgStorage::QueueSetPaused(const std::string& queue, bool paused) {
  return pool_.Transaction([&](Connection& c) -> Status {
    TASKMILL_RETURN_IF_ERROR(
        c.Exec("INSERT INTO queues(name, paused) VALUES ($1, $2) "
               "ON CONFLICT (name) DO UPDATE SET paused = excluded.paused",
               Params().Add(queue).Add(paused)));
    // A resumed queue may have due runs for runners that wait.
    return paused ? Status::Ok() : c.Exec(kNotifySql).status();
  });
}

namespace {
Result<TaskDef> ParseTask(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return Status::Internal("stored task definition is not JSON");
  return TaskDefFromJson(v);
}

Status PutTask(Connection& c, const TaskDef& task) {
  return c
      .Exec(
          "INSERT INTO tasks(name, definition, max_running) VALUES ($1, $2, $3) "
          "ON CONFLICT (name) DO UPDATE SET definition = excluded.definition, "
          "max_running = excluded.max_running",
          Params()
              .Add(task.name)
              .Add(json::serialize(ToJson(task)))
              .Add(std::max(task.max_concurrency, 0)))
      .status();
}

Result<TaskDef> GetTask(Connection& c, const std::string& name, bool for_update) {
  auto rows = c.Exec(std::string("SELECT definition FROM tasks WHERE name = $1") +
                         (for_update ? " FOR UPDATE" : ""),
                     Params().Add(name));
  if (!rows.ok()) return rows.status();
  if (rows->size() == 0) return Status::NotFound("no task named '" + name + "'");
  return ParseTask(rows->Text(0, 0));
}
}  // namespace

Status PgStorage::TaskUpsert(const TaskDef& task) {
  return pool_.Transaction([&](Connection& c) { return PutTask(c, task); });
}

Result<std::vector<TaskDef>> PgStorage::TaskList() {
  std::vector<TaskDef> out;
  Status st = pool_.Transaction([&](Connection& c) -> Status {
    out.clear();
    auto rows = c.Exec("SELECT definition FROM tasks ORDER BY name");
    if (!rows.ok()) return rows.status();
    for (int i = 0; i < rows->size(); ++i) {
      auto task = ParseTask(rows->Text(i, 0));
      if (!task.ok()) return task.status();
      out.push_back(std::move(*task));
    }
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return out;
}

Result<TaskDef> PgStorage::TaskGet(const std::string& name) {
  Result<TaskDef> out = Status::NotFound("no task named '" + name + "'");
  Status st = pool_.Transaction([&](Connection& c) -> Status {
    out = GetTask(c, name, false);
    return out.ok() ? Status::Ok() : out.status();
  });
  if (!st.ok()) return st;
  return out;
}

Status PgStorage::TaskSetEnabled(const std::string& name, bool enabled) {
  return pool_.Transaction([&](Connection& c) -> Status {
    auto task = GetTask(c, name, true);
    if (!task.ok()) return task.status();
    task->enabled = enabled;
    return PutTask(c, *task);
  });
}

Status PgStorage::TaskRemove(const std::string& name) {
  return pool_.Transaction([&](Connection& c) -> Status {
    auto rows = c.Exec("DELETE FROM tasks WHERE name = $1", Params().Add(name));
    if (!rows.ok()) return rows.status();
    if (rows->Affected() == 0) return Status::NotFound("no task named '" + name + "'");
    return Status::Ok();
  });
}

// The lease row is never deleted: resigning empties its holder, so that `term` keeps
// growing with every change of holder (a resigned lease taken again is a new term).
Result<bool> PgStorage::LeaderAttemptElect(const std::string& name, const std::string& holder,
                                           TimePoint now, Duration ttl) {
  bool leader = false;
  Status st = pool_.Transaction([&](Connection& c) -> Status {
    auto rows = c.Exec(
        "INSERT INTO leases(name, holder, until, term) VALUES ($1, $2, $3, 1) "
        "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until, "
        "term = leases.term + CASE WHEN leases.holder = excluded.holder THEN 0 ELSE 1 END "
        "WHERE leases.holder = excluded.holder OR leases.until < $4 OR leases.holder = '' "
        "RETURNING holder",
        Params().Add(name).Add(holder).Add(Micros(now + ttl)).Add(Micros(now)));
    if (!rows.ok()) return rows.status();
    leader = rows->size() == 1 && rows->Text(0, 0) == holder;
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return leader;
}

Status PgStorage::LeaderResign(const std::string& name, const std::string& holder) {
  return pool_.Transaction([&](Connection& c) -> Status {
    return c
        .Exec(
            "UPDATE leases SET holder = '', until = 0 WHERE name = $1 AND holder = $2 "
            "AND holder <> ''",
            Params().Add(name).Add(holder))
        .status();
  });
}

Result<std::optional<LeaderLease>> PgStorage::LeaderGet(const std::string& name) {
  std::optional<LeaderLease> lease;
  Status st = pool_.Transaction([&](Connection& c) -> Status {
    auto rows = c.Exec("SELECT holder, until, term FROM leases WHERE name = $1 AND holder <> ''",
                       Params().Add(name));
    if (!rows.ok()) return rows.status();
    if (rows->size() > 0) {
      lease =
          LeaderLease{std::string(rows->Text(0, 0)), FromMicros(rows->Int(0, 1)), rows->Int(0, 2)};
    }
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return lease;
}

Result<std::optional<std::string>> PgStorage::StateGet(const std::string& key) {
  std::optional<std::string> value;
  Status st = pool_.Transaction([&](Connection& c) -> Status {
    auto rows = c.Exec("SELECT value FROM state WHERE key = $1", Params().Add(key),
                       /*binary_results=*/true);
    if (!rows.ok()) return rows.status();
    if (rows->size() > 0) value = std::string(rows->Text(0, 0));
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return value;
}

Status PgStorage::StatePut(const std::string& key, const std::string& value) {
  return pool_.Transaction([&](Connection& c) -> Status {
    return c
        .Exec(
            "INSERT INTO state(key, value) VALUES ($1, $2) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            Params().Add(key).AddBytes(value))
        .status();
  });
}

Status PgStorage::TokenCreate(const ApiToken& token) {
  if (token.name.empty() || token.hash.empty()) {
    return Status::InvalidArgument("a token needs a name and a hash");
  }
  Status st = pool_.Transaction([&](Connection& c) -> Status {
    return c
        .Exec(
            "INSERT INTO api_tokens(name, account_id, admin, hash, created_at) "
            "VALUES ($1, $2, $3, $4, $5)",
            Params()
                .Add(token.name)
                .Add(token.account_id)
                .Add(token.admin)
                .Add(token.hash)
                .Add(Micros(token.created_at)))
        .status();
  });
  if (st.IsConflict()) return Status::Conflict("a token named '" + token.name + "' exists");
  return st;
}

Result<std::vector<ApiToken>> PgStorage::TokenList() {
  std::vector<ApiToken> out;
  Status st = pool_.Transaction([&](Connection& c) -> Status {
    out.clear();
    auto rows =
        c.Exec("SELECT name, account_id, admin, hash, created_at FROM api_tokens ORDER BY name");
    if (!rows.ok()) return rows.status();
    for (int i = 0; i < rows->size(); ++i) {
      out.push_back(ApiToken{std::string(rows->Text(i, 0)), std::string(rows->Text(i, 1)),
                             rows->Bool(i, 2), std::string(rows->Text(i, 3)),
                             FromMicros(rows->Int(i, 4))});
    }
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return out;
}

Status PgStorage::TokenRemove(const std::string& name) {
  return pool_.Transaction([&](Connection& c) -> Status {
    auto rows = c.Exec("DELETE FROM api_tokens WHERE name = $1", Params().Add(name));
    if (!rows.ok()) return rows.status();
    if (rows->Affected() == 0) return Status::NotFound("no token named '" + name + "'");
    return Status::Ok();
  });
}

}  // namespace taskmill::postgres
