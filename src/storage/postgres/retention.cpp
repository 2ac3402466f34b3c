// retention.cpp — retention of finished runs by age (Storage::RunPruneOlderThan) and
// the monthly partitions of runs_history it works on (docs/storage.md, "Retention").
//
// A month of history older than the retention goes whole: the partition is detached
// (its tallies taken off in the same commit), the keys, files and checkpoints of its
// runs are deleted in batches, and the table is dropped. No run row is deleted one by
// one, so the history leaves no dead rows for vacuum, however large. Only the
// default partition (a safety net for runs of a month that has no partition) is
// pruned row by row.
//
// Each step is its own transaction under a transaction-level advisory lock, so that
// two processes pruning at once (the leader and a `taskmill prune`) take turns, and a
// crash between steps leaves a state the next call finishes: a detached table keeps
// the name taskmill_pruned_YYYYMM until it is dropped, and the batches record how far
// they got in `state`, in the commit of each batch.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>

#include "storage/postgres/storage_impl.h"

namespace taskmill::postgres {
namespace {

// The key of retention's advisory lock (next to the migrations' 7220160 and the
// partitions' 7220161).
constexpr const char* kRetentionLock = "SELECT pg_advisory_xact_lock(7220162)";
// Runs whose keys, files and checkpoints one transaction deletes, and row batches of
// the default partition per call.
constexpr int kBatch = 5000;
constexpr int kDefaultBatchesPerCall = 20;

// The first instant (µs) of the month after the one of a partition named
// <prefix>YYYYMM; nullopt for another name.
std::optional<int64_t> EndOfMonthNamed(std::string_view name, std::string_view prefix) {
  if (name.size() != prefix.size() + 6 || name.substr(0, prefix.size()) != prefix) {
    return std::nullopt;
  }
  int y = 0;
  unsigned m = 0;
  if (std::sscanf(std::string(name.substr(prefix.size())).c_str(), "%4d%2u", &y, &m) != 2 ||
      m < 1 || m > 12) {
    return std::nullopt;
  }
  using namespace std::chrono;
  sys_days next = sys_days(year(y) / month(m) / 1 + months(1));
  return duration_cast<microseconds>(next.time_since_epoch()).count();
}

// The statements that delete what the runs of a detached month own, a batch at a
// time, after the seq $1, recording the last seq done under the key $2 of `state` in
// the same commit, so that a batch never runs twice (a second run could delete the
// key of a run stored meanwhile under a freed id).
std::string BatchSql(const std::string& table) {
  return "WITH b AS (SELECT seq, id, queue, task, scheduled_at FROM " + table +
         " WHERE seq > $1 ORDER BY seq LIMIT " + std::to_string(kBatch) +
         "), "
         "k AS (DELETE FROM run_keys USING b WHERE run_keys.id = b.id "
         "AND run_keys.queue = b.queue), "
         "l AS (DELETE FROM launches USING b WHERE launches.task = b.task "
         "AND launches.scheduled_at = b.scheduled_at), "
         "f AS (DELETE FROM files USING b WHERE files.run_id = b.id AND files.run_queue = "
         "b.queue), "
         "cp AS (DELETE FROM run_checkpoints USING b WHERE run_checkpoints.run_id = b.id "
         "AND run_checkpoints.queue = b.queue), "
         "s AS (INSERT INTO state(key, value) SELECT $2, convert_to(max(seq)::text, 'UTF8') FROM b "
         "HAVING count(*) > 0 ON CONFLICT (key) DO UPDATE SET value = excluded.value) "
         "SELECT count(*), coalesce(max(seq), 0) FROM b";
}

}  // namespace

std::string CreateMonthSql(const std::string& name, int64_t from, int64_t to) {
  // Made in a transaction of its own under a transaction-level advisory lock, so that
  // two processes finishing the first runs of a month do not race on it; the lock and
  // the transaction end together (no session state). Runs of the month that went to
  // the default partition meanwhile (a process that believed the month dropped, or
  // there) move into the new partition, which a plain CREATE ... PARTITION OF would
  // refuse to make. They move between partitions directly, so the parent's triggers,
  // which keep the tallies, do not fire, and the runs stay counted as they were.
  std::string sql = R"sql(BEGIN; DO $$BEGIN
  PERFORM pg_advisory_xact_lock(7220161);
  IF to_regclass('@name') IS NOT NULL THEN RETURN; END IF;
  IF to_regclass('runs_history_default') IS NOT NULL AND EXISTS
      (SELECT 1 FROM runs_history_default WHERE part_at >= @from AND part_at < @to) THEN
    EXECUTE 'CREATE TABLE @name (LIKE runs_history INCLUDING DEFAULTS)';
    EXECUTE 'WITH m AS (DELETE FROM runs_history_default WHERE part_at >= @from AND '
            'part_at < @to RETURNING *) INSERT INTO @name SELECT * FROM m';
    EXECUTE 'ALTER TABLE runs_history ATTACH PARTITION @name FOR VALUES FROM (@from) TO (@to)';
  ELSE
    EXECUTE 'CREATE TABLE @name PARTITION OF runs_history FOR VALUES FROM (@from) TO (@to)';
  END IF;
END$$; COMMIT)sql";
  for (const auto& [key, value] : {std::pair<std::string_view, std::string>{"@name", name},
                                   {"@from", std::to_string(from)},
                                   {"@to", std::to_string(to)}}) {
    for (size_t at = sql.find(key); at != std::string::npos; at = sql.find(key, at)) {
      sql.replace(at, key.size(), value);
      at += value.size();
    }
  }
  return sql;
}

Result<HistoryPruned> PgStorage::RunPruneOlderThan(TimePoint before, TimePoint now) {
  if (before > now) {
    return Status::InvalidArgument("retention: the cutoff is after now: nothing can be that old");
  }
  // The partitions of this month and the next two, made ahead, so that the first
  // finishes of a month do not make one on their way (made on demand otherwise).
  const int64_t this_month = MonthOf(Micros(now)).first;
  const int64_t next_month = MonthOf(this_month).second;
  TASKMILL_RETURN_IF_ERROR(EnsureMonths({this_month, next_month, MonthOf(next_month).second}));

  // 1. The months that ended at or before `before`: attached partitions, and tables
  // detached by an earlier call that did not finish.
  std::vector<std::string> attached, detached;
  Status st = pool_.Transaction([&](Connection& c) -> Status {
    auto rows = c.Exec(
        "SELECT c.relname::text, i.inhrelid IS NOT NULL FROM pg_class c "
        "LEFT JOIN pg_inherits i ON i.inhrelid = c.oid AND i.inhparent = 'runs_history'::regclass "
        "WHERE c.relnamespace = (SELECT relnamespace FROM pg_class "
        "WHERE oid = 'runs_history'::regclass) AND c.relkind = 'r' "
        "AND (c.relname ~ '^runs_history_[0-9]{6}$' OR c.relname ~ '^taskmill_pruned_[0-9]{6}$') "
        "ORDER BY c.relname");
    if (!rows.ok()) return rows.status();
    for (int i = 0; i < rows->size(); ++i) {
      std::string name(rows->Text(i, 0));
      if (!rows->Bool(i, 1)) {
        if (EndOfMonthNamed(name, "taskmill_pruned_")) detached.push_back(name);
        continue;
      }
      auto end = EndOfMonthNamed(name, "runs_history_");
      if (end && *end <= Micros(before)) attached.push_back(name);
    }
    return Status::Ok();
  });
  if (!st.ok()) return st;

  // 2. Detach each: its runs leave the tallies in the same commit, while the table is
  // locked against writes (a retry or a removal of one of its runs waits).
  for (const std::string& name : attached) {
    const std::string pruned = "taskmill_pruned_" + name.substr(std::strlen("runs_history_"));
    st = pool_.Transaction([&](Connection& c) -> Status {
      if (auto locked = c.Exec(kRetentionLock); !locked.ok()) return locked.status();
      auto still = c.Exec(
          "SELECT 1 FROM pg_inherits WHERE inhparent = 'runs_history'::regclass "
          "AND inhrelid = to_regclass($1)",
          Params().Add(name));
      if (!still.ok()) return still.status();
      if (still->size() == 0) return Status::Ok();  // another process got there first
      return c.ExecScript(
          "LOCK TABLE " + name +
          " IN SHARE ROW EXCLUSIVE MODE; "
          "INSERT INTO run_tallies AS t(queue, task, status, account_id, shard, n) "
          "SELECT queue, task, status, account_id, pg_backend_pid() % 8, -count(*) FROM " +
          name +
          " GROUP BY queue, task, status, account_id "
          "ON CONFLICT (queue, task, status, account_id, shard) DO UPDATE SET n = t.n + "
          "excluded.n; "
          "ALTER TABLE runs_history DETACH PARTITION " +
          name + "; ALTER TABLE " + name + " RENAME TO " + pruned);
    });
    if (!st.ok()) return st;
    detached.push_back(pruned);
    // This process makes the month again if a run of it ever comes (EnsureMonths).
    std::lock_guard lock(months_mu_);
    months_.erase(MonthOf(*EndOfMonthNamed(name, "runs_history_") - 1).first);
  }

  // 3. For each detached month: what its runs own goes in batches, then the table.
  HistoryPruned out;
  for (const std::string& table : detached) {
    const std::string key = "retention:" + table;
    int64_t runs = 0;
    for (bool done = false; !done;) {
      st = pool_.Transaction([&](Connection& c) -> Status {
        if (auto locked = c.Exec(kRetentionLock); !locked.ok()) return locked.status();
        auto exists = c.Exec("SELECT to_regclass($1) IS NOT NULL", Params().Add(table));
        if (!exists.ok()) return exists.status();
        if (!exists->Bool(0, 0)) {  // another process dropped it
          done = true;
          return Status::Ok();
        }
        auto cursor = c.Exec("SELECT convert_from(value, 'UTF8')::bigint FROM state WHERE key = $1",
                             Params().Add(key));
        if (!cursor.ok()) return cursor.status();
        const int64_t after = cursor->size() > 0 ? cursor->Int(0, 0) : INT64_MIN;
        auto batch = c.Exec(BatchSql(table), Params().Add(after).Add(key));
        if (!batch.ok()) return batch.status();
        runs += batch->Int(0, 0);
        if (batch->Int(0, 0) > 0) return Status::Ok();
        done = true;
        auto forgotten = c.Exec("DELETE FROM state WHERE key = $1", Params().Add(key));
        if (!forgotten.ok()) return forgotten.status();
        return c.ExecScript("DROP TABLE " + table);
      });
      if (!st.ok()) return st;
    }
    out.runs += runs;
    out.dropped.emplace_back("runs_history_" + table.substr(std::strlen("taskmill_pruned_")), runs);
  }

  // 4. The default partition, row by row: its runs are few (a safety net), and the
  // parent's triggers keep the tallies as for any deletion.
  for (int batch = 0; batch < kDefaultBatchesPerCall; ++batch) {
    int64_t removed = 0;
    st = pool_.Transaction([&](Connection& c) -> Status {
      auto has = c.Exec("SELECT to_regclass('runs_history_default') IS NOT NULL");
      if (!has.ok()) return has.status();
      if (!has->Bool(0, 0)) return Status::Ok();
      auto rows =
          c.Exec("WITH doomed AS (SELECT seq FROM runs_history_default WHERE part_at < $1 LIMIT " +
                     std::to_string(kBatch) +
                     "), "
                     "del AS (DELETE FROM runs_history h USING doomed d WHERE h.seq = d.seq "
                     "AND h.part_at < $1 RETURNING h.id, h.queue, h.task, h.scheduled_at), " +
                     kWithWhatGoesWithDeletedRuns,
                 Params().Add(Micros(before)));
      if (!rows.ok()) return rows.status();
      removed = rows->Int(0, 0);
      return Status::Ok();
    });
    if (!st.ok()) return st;
    out.runs += removed;
    if (removed < kBatch) return out;
  }
  out.more = true;
  return out;
}

}  // namespace taskmill::postgres
