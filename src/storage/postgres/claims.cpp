// claims.cpp — claims, heartbeats, starts and expiry. A claim is one statement: the due
// runs are picked in claim order with FOR UPDATE SKIP LOCKED (runners never wait for
// the rows another runner is claiming) and updated with RETURNING, N at a time. With
// concurrency caps in the database, claims take the capped path (caps.cpp).
#include <algorithm>

#include "storage/postgres/storage_impl.h"

namespace taskmill::postgres {
// The claim's changes, given ordered(seq, ord): $1 runner, $2 now, $3 how many start.
// The runs are reached by seq through = ANY(ARRAY(...)), an index scan of each
// generation's seq index, and nothing is joined: a join with `ordered` let the planner,
// misled by a small estimate, probe the index once per run with the whole array as a
// second condition, sorted again at every probe (150 ms for a claim of 1,000). The runs
// that start are found the same way, in a filter; the claim order is restored here.
const std::string kClaimUpdate =
    "UPDATE runs r SET status = 'running', attempt = r.attempt + 1, runner = $1, "
    "started_at = $2, lease_until = $2 + r.ttr_us, "
    "started = (r.seq = ANY(ARRAY(SELECT seq FROM ordered WHERE ord <= $3))) "
    "WHERE r.seq = ANY(ARRAY(SELECT seq FROM ordered)) RETURNING " +
    RunColumns("r");

std::vector<ClaimedRun> InClaimOrder(const Rows& rows) {
  struct Claimed {
    int64_t seq;
    Run run;
  };
  std::vector<Claimed> claimed;
  claimed.reserve(static_cast<size_t>(rows.size()));
  for (int i = 0; i < rows.size(); ++i) {
    Claimed c;
    c.run = ReadRun(rows, i, &c.seq);
    claimed.push_back(std::move(c));
  }
  // Claim order: priority (highest first), run_at, seq, as the pick reads them.
  std::sort(claimed.begin(), claimed.end(), [](const Claimed& a, const Claimed& b) {
    if (a.run.priority != b.run.priority) return a.run.priority > b.run.priority;
    if (a.run.run_at != b.run.run_at) return a.run.run_at < b.run.run_at;
    return a.seq < b.seq;
  });
  std::vector<ClaimedRun> out;
  out.reserve(claimed.size());
  for (auto& c : claimed) out.push_back(std::move(c.run));
  return out;
}

std::string ClaimQueueFilter(const RunTakeParams& p, Params& params) {
  if (p.queues.empty()) return "";
  ArrayLiteral queues;
  for (const auto& q : p.queues) queues.Add(q);
  params.Add(queues.Take());
  std::string filter = " AND (queue = ANY($" + std::to_string(params.size()) + "::text[])";
  if (!p.queue_prefixes.empty()) {
    ArrayLiteral prefixes;
    for (const auto& prefix : p.queue_prefixes) prefixes.Add(prefix);
    params.Add(prefixes.Take());
    // ^@ is starts_with: by the bytes, whatever the collation.
    filter += " OR queue ^@ ANY($" + std::to_string(params.size()) + "::text[])";
  }
  return filter + ")";
}

Result<std::vector<ClaimedRun>> PgStorage::RunTake(const RunTakeParams& p) {
  if (p.max <= 0) return std::vector<ClaimedRun>{};
  MaybeRotateHotTable();
  std::vector<ClaimedRun> out;
  Status st = pool_.Transaction(
      [&](Connection& c) -> Status {
        Params params;
        params.Add(p.runner).Add(Micros(p.now)).Add(static_cast<int64_t>(std::max(0, p.start)));
        params.Add(static_cast<int64_t>(p.max));
        const std::string queue_filter = ClaimQueueFilter(p, params);
        // Without caps anywhere (checked once per statement), the best due runs of the
        // unpaused queues. With caps, nothing here: the capped path decides.
        auto rows = c.Exec(
            // MATERIALIZED: the pick runs exactly once. Inlined, a nested loop could run
            // it again for each row it joins, each time locking (and claiming) new rows.
            "WITH picked AS MATERIALIZED (SELECT seq, priority, run_at FROM runs "
            "WHERE status = 'pending' "
            "AND run_at <= $2" +
                queue_filter +
                " AND NOT EXISTS (SELECT 1 FROM queues q WHERE q.name = runs.queue AND q.paused) "
                "AND NOT EXISTS (SELECT 1 FROM queues WHERE max_running > 0) "
                "AND NOT EXISTS (SELECT 1 FROM tasks WHERE max_running > 0) "
                "ORDER BY priority DESC, run_at, seq LIMIT $4 FOR UPDATE SKIP LOCKED), "
                "ordered AS MATERIALIZED (SELECT seq, row_number() OVER (ORDER BY priority DESC, "
                "run_at, seq) "
                "AS ord FROM picked) " +
                kClaimUpdate,
            params);
        if (!rows.ok()) return rows.status();
        out = InClaimOrder(*rows);
        if (out.empty()) {
          auto capped = c.Exec(
              "SELECT EXISTS (SELECT 1 FROM queues WHERE max_running > 0) OR "
              "EXISTS (SELECT 1 FROM tasks WHERE max_running > 0)");
          if (!capped.ok()) return capped.status();
          if (capped->Bool(0, 0)) TASKMILL_RETURN_IF_ERROR(TakeCapped(c, p, out));
        }
        if (p.next_run_at && static_cast<int>(out.size()) < p.max) {
          Params next;
          next.Add(Micros(p.now));
          const std::string filter = ClaimQueueFilter(p, next);
          auto earliest = c.Exec(
              "SELECT min(run_at) FROM runs WHERE status = 'pending' AND run_at > $1" + filter +
                  " AND NOT EXISTS (SELECT 1 FROM queues q WHERE q.name = runs.queue AND q.paused)",
              next);
          if (!earliest.ok()) return earliest.status();
          *p.next_run_at =
              earliest->IsNull(0, 0) ? TimePoint::max() : FromMicros(earliest->Int(0, 0));
        }
        return Status::Ok();
      },
      /*durable=*/false);  // a claim lost to a crash only lets the run be claimed again
  if (!st.ok()) return st;
  return out;
}

// The statements of heartbeats and starts, named so that the tests read their plans.
// One index lookup per run (LATERAL ... LIMIT 1 cannot be flattened, so the lookup is
// driven by the batch whatever the statistics say), then the rows by seq.
const std::string& HeartbeatSql() {
  static const std::string kSql =
      "WITH hit AS MATERIALIZED (SELECT DISTINCT ON (x.seq) u.ord, u.lease, x.seq "
      "FROM unnest($1::text[], "
      "$2::text[], $3::int4[], $4::int8[]) WITH ORDINALITY AS u(id, queue, attempt, lease, "
      "ord) "
      "CROSS JOIN LATERAL (SELECT r.seq, r.status FROM runs r WHERE r.id = u.id "
      "AND r.queue = u.queue AND r.attempt = u.attempt LIMIT 1 FOR UPDATE) x "
      "WHERE x.status = 'running' ORDER BY x.seq, u.ord) "
      "UPDATE runs r SET lease_until = h.lease FROM hit h "
      "WHERE r.seq = ANY(ARRAY(SELECT seq FROM hit)) AND r.seq = h.seq RETURNING h.ord";
  return kSql;
}

const std::string& StartSql() {
  static const std::string kSql =
      "UPDATE runs r SET started = true WHERE r.seq = ANY(ARRAY(SELECT x.seq FROM "
      "unnest($1::text[], $2::text[], $3::int4[]) AS u(id, queue, attempt) CROSS JOIN "
      "LATERAL (SELECT r2.seq, r2.status, r2.started FROM runs r2 WHERE r2.id = u.id "
      "AND r2.queue = u.queue AND r2.attempt = u.attempt LIMIT 1 FOR UPDATE) x "
      "WHERE x.status = 'running' AND NOT x.started)) AND r.status || '' = 'running' "
      "AND NOT r.started";
  return kSql;
}

Result<std::vector<bool>> PgStorage::RunHeartbeatBatch(const std::vector<RunHeartbeat>& beats) {
  std::vector<bool> out(beats.size(), false);
  if (beats.empty()) return out;
  ArrayLiteral ids, queues, attempts, leases;
  for (const auto& b : beats) {
    ids.Add(b.id);
    queues.Add(b.queue);
    attempts.Add(static_cast<int64_t>(b.attempt));
    leases.Add(Micros(b.lease_until));
  }
  Status st = pool_.Transaction(
      [&](Connection& c) -> Status {
        TASKMILL_RETURN_IF_ERROR(c.ExecScript(kSeekByKey));
        auto rows = c.Exec(
            HeartbeatSql(),
            Params().Add(ids.Take()).Add(queues.Take()).Add(attempts.Take()).Add(leases.Take()));
        if (!rows.ok()) return rows.status();
        for (int i = 0; i < rows->size(); ++i) out[static_cast<size_t>(rows->Int(i, 0) - 1)] = true;
        return Status::Ok();
      },
      /*durable=*/false);
  if (!st.ok()) return st;
  return out;
}

Status PgStorage::RunStartBatch(const std::vector<RunStart>& starts) {
  if (starts.empty()) return Status::Ok();
  ArrayLiteral ids, queues, attempts;
  for (const auto& s : starts) {
    ids.Add(s.id);
    queues.Add(s.queue);
    attempts.Add(static_cast<int64_t>(s.attempt));
  }
  return pool_.Transaction(
      [&](Connection& c) -> Status {
        TASKMILL_RETURN_IF_ERROR(c.ExecScript(kSeekByKey));
        return c.Exec(StartSql(), Params().Add(ids.Take()).Add(queues.Take()).Add(attempts.Take()))
            .status();
      },
      /*durable=*/false);
}

Result<std::vector<Run>> PgStorage::RunListExpired(TimePoint now, int limit) {
  std::vector<Run> out;
  Status st = pool_.Transaction([&](Connection& c) -> Status {
    auto rows = c.Exec("SELECT " + std::string(kRunColumns) +
                           " FROM runs WHERE status = 'running' AND started AND lease_until < $1 "
                           "ORDER BY lease_until LIMIT $2",
                       Params().Add(Micros(now)).Add(static_cast<int64_t>(std::max(limit, 0))));
    if (!rows.ok()) return rows.status();
    out = ReadRuns(*rows);
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return out;
}

Result<std::vector<Run>> PgStorage::RunReleaseUnstarted(TimePoint now, int limit) {
  std::vector<Run> out;
  Status st = pool_.Transaction(
      [&](Connection& c) -> Status {
        // Conditional on the claim still being the one read (the row lock): safe from any
        // node. ARRAY(...): the locking pick runs once (an InitPlan). started_at goes back to the
        // start of the previous attempt (none: NULL).
        auto rows = c.Exec(
            "UPDATE runs r SET status = 'pending', lease_until = NULL, runner = '', started = "
            "true, "
            "max_attempts = r.max_attempts + 1, started_at = (r.attempts -> -1 ->> "
            "'started_at')::int8 "
            "WHERE r.seq = ANY(ARRAY(SELECT seq FROM runs WHERE status = 'running' AND NOT started "
            "AND lease_until < $1 ORDER BY lease_until LIMIT $2 FOR UPDATE SKIP LOCKED)) "
            "RETURNING " +
                RunColumns("r"),
            Params().Add(Micros(now)).Add(static_cast<int64_t>(std::max(limit, 0))));
        if (!rows.ok()) return rows.status();
        out = ReadRuns(*rows);
        if (!out.empty()) TASKMILL_RETURN_IF_ERROR(c.Exec(kNotifySql));
        return Status::Ok();
      },
      /*durable=*/false);  // undone by a crash: released again at the next sweep
  if (!st.ok()) return st;
  return out;
}

}  // namespace taskmill::postgres
