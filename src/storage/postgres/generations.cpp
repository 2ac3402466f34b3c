// generations.cpp — the rotation of the hot table's generations (migration 4,
// docs/storage.md). `runs` is LIST-partitioned by `gen` over kGenerations plain tables;
// new runs go into the current one (runs_gen.cur). A claim, a heartbeat, a finish each
// leave a dead row version behind, which vacuum cannot remove while any transaction of
// the server holds the xmin horizon back; a TRUNCATE frees a whole table whatever the
// horizon. So, every kRotatePeriodUs or kRotateRuns new runs, the oldest generation
// (the next after the current, round the ring) is emptied: its few rows still live
// (runs scheduled far ahead, retries waiting, long runs) are moved, unchanged, into
// the current generation, the table is truncated, and it becomes the current one.
// The dead row versions are thus bounded by what kGenerations rotation periods leave.
//
// Safety: the move and the TRUNCATE hold the oldest table's ACCESS EXCLUSIVE lock, so
// no statement has it open: every statement that reads or locks its rows either ended
// before (its transaction too, if it locked or wrote rows there) or waits, then takes
// its snapshot after the commit and finds the rows in their new table. A writer with a
// stale `cur` inserts into a generation that is either live or, if it waited on this
// lock, the new current one: nothing is ever truncated unmoved. lock_timeout keeps the
// wait (during which new statements queue behind it) to kLockTimeout; a rotation that
// cannot get its lock tries again at the next check.
#include <chrono>

#include "storage/postgres/storage_impl.h"

namespace taskmill::postgres {
namespace {

constexpr int kGenerations = 3;
// A rotation is due after this many new runs, or after this long with any row of the
// hot table written (pg_stat's counters moved).
constexpr int64_t kRotateRuns = 100000;
constexpr int64_t kRotatePeriodUs = 5'000'000;
// At most this many live rows are moved while claims wait for the ACCESS EXCLUSIVE lock.
// An oldest generation with more (a backlog not yet drained, many runs scheduled far
// ahead) is emptied kMoveBatch rows per check under an EXCLUSIVE lock (plain reads go
// on), and only while the hot table's dead rows outnumber twice its live ones: a
// backlog being drained is not moved for nothing, and rows that stay live (which hold
// the rotation back, so that the current generation collects every new dead row) are
// moved once the dead rows they keep would cost more than their move.
constexpr int64_t kMaxMove = 5000;
constexpr int64_t kMoveBatch = 2000;
constexpr const char* kLockTimeout = "SELECT set_config('lock_timeout', '30ms', true)";
// How often a process checks whether a rotation is due (on its claims).
constexpr auto kCheckEvery = std::chrono::seconds(1);

constexpr const char* kColumns =
    "seq, id, queue, function, task, status, args, data, priority, account_id, auth_account_id, "
    "created_at, run_at, scheduled_at, started_at, finished_at, lease_until, runner, attempt, "
    "max_attempts, delay_us, delay_factor, max_delay_us, timeout_us, ttr_us, result, error, "
    "error_kind, progress_total, progress_succeeded, progress_failed, parent_id, flow_id, "
    "input_file, output_file, attempts, started";

std::string Table(int gen) { return "runs_g" + std::to_string(gen); }

// The rows of `from` (all, or those of `where`) into generation `to`, as they are.
std::string MoveSql(int from, int to, const std::string& where) {
  return "WITH moved AS (DELETE FROM " + Table(from) + where + " RETURNING " + kColumns +
         ") INSERT INTO runs(" + kColumns + ", gen) SELECT " + kColumns + ", " +
         std::to_string(to) + " FROM moved";
}

}  // namespace

Result<HotRotation> PgStorage::RotateHotTable(bool force) {
  HotRotation out;
  Status st = pool_.Transaction([&](Connection& c) -> Status {
    out = HotRotation{};
    TASKMILL_RETURN_IF_ERROR(c.Exec(kLockTimeout));
    // One rotation at a time over the cluster; a node that finds it taken skips.
    auto mine = c.Exec("SELECT pg_try_advisory_xact_lock(7220163)");
    if (!mine.ok()) return mine.status();
    if (!mine->Bool(0, 0)) return Status::Ok();
    auto state = c.Exec(
        "SELECT g.cur, g.since_seq, g.since, g.touched, (SELECT last_value FROM run_seq), "
        "(extract(epoch FROM clock_timestamp()) * 1000000)::int8, "
        "(SELECT coalesce(sum(pg_stat_get_tuples_inserted(i.inhrelid) + "
        "pg_stat_get_tuples_updated(i.inhrelid) + pg_stat_get_tuples_deleted(i.inhrelid)), 0)"
        "::int8 FROM pg_inherits i WHERE i.inhparent = 'runs'::regclass) "
        "FROM runs_gen g FOR UPDATE");
    if (!state.ok()) return state.status();
    const int cur = static_cast<int>(state->Int(0, 0));
    const int64_t since_seq = state->Int(0, 1), since = state->Int(0, 2);
    const int64_t touched = state->Int(0, 3), last_seq = state->Int(0, 4);
    const int64_t now = state->Int(0, 5), touched_now = state->Int(0, 6);
    const bool due = force || last_seq - since_seq >= kRotateRuns ||
                     (now - since >= kRotatePeriodUs && touched_now != touched);
    if (!due) return Status::Ok();
    const int old = (cur + 1) % kGenerations;
    const std::string table = Table(old);
    auto size =
        c.Exec("SELECT pg_relation_size('" + table + "'), (SELECT count(*) FROM (SELECT " +
               "1 FROM " + table + " LIMIT " + std::to_string(kMaxMove + 1) +
               ") x), (SELECT sum(pg_stat_get_dead_tuples(i.inhrelid))::int8 FROM pg_inherits i " +
               "WHERE i.inhparent = 'runs'::regclass), pg_stat_get_live_tuples('" + table +
               "'::regclass)");
    if (!size.ok()) return size.status();
    const int64_t pages = size->Int(0, 0), live = size->Int(0, 1),
                  dead = size->Int(0, 2);  // dead: all generations'
    const int64_t live_estimate = size->Int(0, 3);
    if (live > kMaxMove) {
      // A batch of the rows still live; the rotation itself comes once few are left.
      if (!force && dead < 2 * live_estimate) return Status::Ok();
      TASKMILL_RETURN_IF_ERROR(c.Exec("LOCK TABLE " + table + " IN EXCLUSIVE MODE"));
      auto moved = c.Exec(MoveSql(old, cur,
                                  " WHERE seq = ANY(ARRAY(SELECT seq FROM " + table + " LIMIT " +
                                      std::to_string(kMoveBatch) + "))"));
      if (!moved.ok()) return moved.status();
      out.moved = moved->Affected();
      return Status::Ok();
    }
    if (pages > 0) {
      TASKMILL_RETURN_IF_ERROR(c.Exec("LOCK TABLE " + table + " IN ACCESS EXCLUSIVE MODE"));
      auto moved = c.Exec(MoveSql(old, cur, ""));
      if (!moved.ok()) return moved.status();
      out.moved = moved->Affected();
      TASKMILL_RETURN_IF_ERROR(c.Exec("TRUNCATE " + table));
    }
    // An empty table (no page) needs no truncate: it just becomes the current one.
    TASKMILL_RETURN_IF_ERROR(
        c.Exec("UPDATE runs_gen SET cur = $1, since_seq = $2, since = $3, touched = $4",
               Params().Add(old).Add(last_seq).Add(now).Add(touched_now)));
    out.rotated = true;
    out.current = old;
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return out;
}

void PgStorage::MaybeRotateHotTable() {
  const int64_t now = std::chrono::steady_clock::now().time_since_epoch().count();
  int64_t next = next_rotation_check_.load(std::memory_order_relaxed);
  if (now < next) return;
  const int64_t after =
      now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(kCheckEvery).count();
  // One thread of the process checks; the others go on claiming.
  if (!next_rotation_check_.compare_exchange_strong(next, after)) return;
  // A rotation that fails (its lock not had in time, the server away) is only late:
  // it is tried again at the next check.
  (void)RotateHotTable(/*force=*/false);
  (void)AnalyzeGenerations();
}

Status PgStorage::AnalyzeGenerations() {
  return pool_.Transaction([&](Connection& c) -> Status {
    // Not behind a vacuum of the same table (ANALYZE would wait for it to end): the
    // claim that called waits at most this.
    TASKMILL_RETURN_IF_ERROR(c.Exec(kLockTimeout));
    auto mine = c.Exec("SELECT pg_try_advisory_xact_lock(7220164)");
    if (!mine.ok()) return mine.status();
    if (!mine->Bool(0, 0)) return Status::Ok();
    // A generation truncated has no statistics (reltuples -1); filled since, the
    // planner takes its pending runs for 0.5% of its rows (the default selectivity of
    // status = 'pending') and would rather read them all and sort them than walk the
    // partial index of pending runs in claim order: 80 ms a claim with 100,000
    // pending. Autovacuum analyzes it too, but only after up to a minute
    // (autovacuum_naptime). Here: as soon as it has 8 pages (its size is exact, where
    // pg_stat's counts of changes lag by a second or more), and again once the table
    // changed by twice its rows.
    auto stale = c.Exec(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'runs'::regclass AND ((c.reltuples < 0 AND "
        "pg_relation_size(c.oid) >= 8 * current_setting('block_size')::int8) OR "
        "pg_stat_get_mod_since_analyze(c.oid) >= greatest(5000, 2 * c.reltuples))");
    if (!stale.ok()) return stale.status();
    for (int i = 0; i < stale->size(); ++i) {
      TASKMILL_RETURN_IF_ERROR(c.Exec("ANALYZE " + std::string(stale->Text(i, 0))));
    }
    return Status::Ok();
  });
}

}  // namespace taskmill::postgres
