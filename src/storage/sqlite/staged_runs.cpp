// Staged runs (Storage::RunStage): a flow's step stages its children in batches while
// it runs, which no claim, listing or tally reads. A child is a narrow row of
// staged_children (migration 15: its id, args and times, keyed by the staging
// attempt and the order staged) naming its template, a whole run in
// staged_templates that it shares every other column with: one per batch of
// children that share them, so one per batch for a step's children. The finish of
// the attempt that staged them releases them into runs, kReleasedPerCommit in its own
// commit and the others in commits of as many that the writer makes right after it,
// before any other write (ReleaseTheRest, migration 16); a failed or stopped
// attempt's are never released. Either way the rows are deleted after that
// commit, a thousand per commit, not in it (schema.h, migration 11): after the
// finish, the cancel or the flow's stop that ended the attempt (Tx::stopped), or at
// open for an attempt lost to a crash (sqlite_storage.cpp). The next step pages its
// predecessors' children in the order they were stored (RunListChildOutcomes).
#include <algorithm>
#include <cstdlib>

#include "storage/child_key.h"
#include "storage/seq_cursor.h"
#include "storage/sqlite/storage_impl.h"

namespace taskmill::sqlite {
namespace {

// The columns a run is inserted with (InsertRunsSql), for a template's INSERT:
// staged_templates has the same ones.
const std::string& InsertedColumns() {
  static const std::string columns = [] {
    std::string sql = InsertRunsSql(1);
    const size_t open = sql.find('(');
    const size_t close = sql.find(')', open);
    return sql.substr(open + 1, close - open - 1);
  }();
  return columns;
}

}  // namespace

Status SqliteStorage::RunStage(const std::string& parent_queue, const std::string& parent_id,
                               int attempt, const std::vector<Run>& runs) {
  for (const Run& r : runs) {
    if (r.parent_id != parent_id) {
      return Status::InvalidArgument("run '" + r.id + "' has parent_id '" + r.parent_id +
                                     "', not '" + parent_id + "': it cannot be staged under it");
    }
  }
  // The runs that are stored whole as a template: the first, and each that differs
  // from the last template in more than a child's columns. Decided here, on the
  // caller's thread rather than the writer's.
  std::vector<char> templates(runs.size(), 0);
  for (size_t i = 0, last = 0; i < runs.size(); ++i) {
    if (i == 0 || !SameButChildColumns(runs[i], runs[last])) {
      templates[i] = 1;
      last = i;
    }
  }
  static const std::string kInsertTemplate = "INSERT INTO staged_templates (" + InsertedColumns() +
                                             ", parent_attempt, seq) VALUES (" +
                                             Placeholders(1, RunParams(false) + 2) + ")";
  static const std::string kInsertChild =
      "INSERT INTO staged_children (parent_id, parent_attempt, seq, template, id, args, "
      "created_at, run_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
  // Not made durable before it returns: the parent's finish, which alone releases
  // them, is a later commit of the same log, and its sync covers these rows too. A
  // crash before it loses the attempt, whose staged rows then matter to no one.
  return Write(
      [&](Tx& tx) -> Status {
        auto current =
            Select(tx.db, "SELECT status, attempt FROM runs WHERE id = ?1 AND queue = ?2",
                   parent_id, parent_queue);
        if (!current.ok()) return current.status();
        auto row = current->Next();
        if (!row.ok()) return row.status();
        if (!*row || current->row().Text(0) != "running" || current->row().Int(1) != attempt) {
          return Status::FailedPrecondition("attempt " + std::to_string(attempt) + " of run '" +
                                            parent_id + "' is no longer current");
        }
        // The batch goes after the attempt's earlier ones: the order of the key.
        auto last = Select(tx.db,
                           "SELECT seq FROM staged_children WHERE parent_id = ?1 AND "
                           "parent_attempt = ?2 ORDER BY seq DESC LIMIT 1",
                           parent_id, attempt);
        if (!last.ok()) return last.status();
        auto last_row = last->Next();
        if (!last_row.ok()) return last_row.status();
        int64_t seq = *last_row ? last->row().Int(0) : 0;
        auto insert_template = tx.db.Prepare(kInsertTemplate);
        if (!insert_template.ok()) return insert_template.status();
        auto insert_child = tx.db.Prepare(kInsertChild);
        if (!insert_child.ok()) return insert_child.status();
        int64_t template_seq = 0;
        for (size_t i = 0; i < runs.size(); ++i) {
          const Run& r = runs[i];
          ++seq;
          if (templates[i]) {
            Statement& t = **insert_template;
            ScopedReset reset(t);
            BindRun(t, r);
            t.Bind(RunParams(false) + 1, attempt);
            t.Bind(RunParams(false) + 2, seq);
            TASKMILL_RETURN_IF_ERROR(t.Exec());
            template_seq = seq;
          }
          Statement& c = **insert_child;
          ScopedReset reset(c);
          c.BindView(1, parent_id);
          c.Bind(2, attempt);
          c.Bind(3, seq);
          c.Bind(4, template_seq);
          c.BindView(5, r.id);
          BindJson(c, 6, r.args);
          c.Bind(7, Micros(r.created_at));
          c.Bind(8, Micros(r.run_at));
          TASKMILL_RETURN_IF_ERROR(c.Exec());
        }
        return Status::Ok();
      },
      /*durable=*/false);
}

Status SqliteStorage::ApplyStaged(Tx& tx, const RunFinish& f) {
  if (f.staged == StagedRuns::kKeep) return Status::Ok();
  if (f.staged == StagedRuns::kRelease) {
    auto more = ReleaseStaged(tx, f.id, f.attempt, 0);
    if (!more.ok()) return more.status();
    if (*more) {
      // The others after this commit (ReleaseTheRest), from this mark.
      auto flow = Select(tx.db,
                         "SELECT flow_id FROM staged_templates WHERE parent_id = ?1 AND "
                         "parent_attempt = ?2 LIMIT 1",
                         f.id, f.attempt);
      if (!flow.ok()) return flow.status();
      auto row = flow->Next();
      if (!row.ok()) return row.status();
      const std::string flow_id = *row ? std::string(flow->row().Text(0)) : std::string();
      TASKMILL_RETURN_IF_ERROR(Exec(tx.db,
                                    "INSERT INTO staged_releases (parent_id, parent_attempt, "
                                    "flow_id, released_through) VALUES (?1, ?2, ?3, ?4)",
                                    f.id, f.attempt, flow_id, kReleasedPerCommit));
      tx.releasing.emplace_back(f.id, f.attempt);
      return Status::Ok();
    }
  }
  SweepStaged(f.id, f.attempt);
  return Status::Ok();
}

Result<bool> SqliteStorage::ReleaseStaged(Tx& tx, const std::string& parent_id, int64_t attempt,
                                          int64_t after) {
  const int64_t through = after + kReleasedPerCommit;
  // One INSERT ... SELECT per (queue, task, account, status) of the templates (one
  // for a step's children), so that the tallies move by what it inserted. Each
  // reads the children along their key, whose order is the order staged, and finds
  // each one's template by its key: no sort holds a million rows in memory.
  struct Group {
    std::string queue, task, account, status;
  };
  std::vector<Group> groups;
  {
    auto rows = Select(tx.db,
                       "SELECT DISTINCT queue, task, account_id, status FROM staged_templates "
                       "WHERE parent_id = ?1 AND parent_attempt = ?2",
                       parent_id, attempt);
    if (!rows.ok()) return rows.status();
    for (;;) {
      auto row = rows->Next();
      if (!row.ok()) return row.status();
      if (!*row) break;
      const Statement& r = rows->row();
      groups.push_back({std::string(r.Text(0)), std::string(r.Text(1)), std::string(r.Text(2)),
                        std::string(r.Text(3))});
    }
  }
  // CROSS JOIN: the children drive the loop (SQLite keeps the order of the tables).
  static const std::string kRelease =
      "INSERT INTO runs (" + InsertedColumns() + ") SELECT " + StagedColumns("c", "t") +
      " FROM staged_children AS c CROSS JOIN staged_templates AS t WHERE c.parent_id = ?1 "
      "AND c.parent_attempt = ?2 AND c.seq > ?7 AND c.seq <= ?8 AND t.parent_id = c.parent_id "
      "AND t.parent_attempt = c.parent_attempt AND t.seq = c.template AND t.queue = ?3 AND "
      "t.task = ?4 AND t.account_id = ?5 AND t.status = ?6 ORDER BY c.seq ON CONFLICT DO NOTHING";
  for (const Group& g : groups) {
    TASKMILL_RETURN_IF_ERROR(Exec(tx.db, kRelease, parent_id, attempt, g.queue, g.task, g.account,
                                  g.status, after, through));
    const int64_t n = tx.db.Changes();
    tx.runs_stored += n;
    if (n > 0) {
      tx.deltas.Add(g.queue, g.task, g.account,
                    ParseRunStatus(g.status).value_or(RunStatus::kPending), n);
    }
  }
  auto more = Select(tx.db,
                     "SELECT 1 FROM staged_children WHERE parent_id = ?1 AND parent_attempt = ?2 "
                     "AND seq > ?3 LIMIT 1",
                     parent_id, attempt, through);
  if (!more.ok()) return more.status();
  return more->Next();
}

Result<bool> SqliteStorage::ReleaseMore(Tx& tx, const std::string& parent_id, int64_t attempt) {
  auto mark = Select(tx.db,
                     "SELECT released_through FROM staged_releases WHERE parent_id = ?1 AND "
                     "parent_attempt = ?2",
                     parent_id, attempt);
  if (!mark.ok()) return mark.status();
  auto row = mark->Next();
  if (!row.ok()) return row.status();
  if (!*row) return false;  // released already (a flow's stop, the open)
  const int64_t after = mark->row().Int(0);
  auto more = ReleaseStaged(tx, parent_id, attempt, after);
  if (!more.ok()) return more.status();
  if (*more) {
    TASKMILL_RETURN_IF_ERROR(Exec(tx.db,
                                  "UPDATE staged_releases SET released_through = ?3 WHERE "
                                  "parent_id = ?1 AND parent_attempt = ?2",
                                  parent_id, attempt, after + kReleasedPerCommit));
    return true;
  }
  TASKMILL_RETURN_IF_ERROR(
      Exec(tx.db, "DELETE FROM staged_releases WHERE parent_id = ?1 AND parent_attempt = ?2",
           parent_id, attempt));
  SweepStaged(parent_id, attempt);
  return false;
}

Status SqliteStorage::ReleaseAllOf(Tx& tx, const std::string& flow_id) {
  std::vector<std::pair<std::string, int64_t>> under_way;
  {
    auto rows = Select(tx.db,
                       "SELECT parent_id, parent_attempt FROM staged_releases WHERE flow_id = ?1 "
                       "OR ?1 = ''",
                       flow_id);
    if (!rows.ok()) return rows.status();
    for (;;) {
      auto row = rows->Next();
      if (!row.ok()) return row.status();
      if (!*row) break;
      under_way.emplace_back(std::string(rows->row().Text(0)), rows->row().Int(1));
    }
  }
  for (const auto& [parent_id, attempt] : under_way) {
    for (;;) {
      auto more = ReleaseMore(tx, parent_id, attempt);
      if (!more.ok()) return more.status();
      if (!*more) break;
    }
  }
  return Status::Ok();
}

// Waits for a quiet writer (WriteWhenQuiet), so later writes may come first: the
// bound on the attempt keeps out the rows a later attempt of the parent stages
// meanwhile. The templates go with the last of their children.
void SqliteStorage::SweepStaged(const std::string& parent_id, int64_t up_to_attempt,
                                std::chrono::steady_clock::time_point since) {
  WriteWhenQuiet(
      [this, parent_id, up_to_attempt, since](Tx& tx) -> Status {
        TASKMILL_RETURN_IF_ERROR(
            Exec(tx.db,
                 "DELETE FROM staged_children WHERE (parent_id, parent_attempt, "
                 "seq) IN (SELECT parent_id, parent_attempt, seq FROM "
                 "staged_children WHERE parent_id = ?1 AND parent_attempt <= ?2 "
                 "LIMIT 1000)",
                 parent_id, up_to_attempt));
        if (tx.db.Changes() == 1000) {
          SweepStaged(parent_id, up_to_attempt, since);
          return Status::Ok();
        }
        return Exec(tx.db,
                    "DELETE FROM staged_templates WHERE parent_id = ?1 AND parent_attempt <= ?2",
                    parent_id, up_to_attempt);
      },
      since);
}

Result<ChildOutcomePage> SqliteStorage::RunListChildOutcomes(const std::string& parent_id,
                                                             const std::string& cursor, int limit) {
  limit = std::clamp(limit, 1, 1000);
  Result<int64_t> parsed = storage::ParseSeqCursor(cursor);
  if (!parsed.ok()) return parsed.status();
  const int64_t after = *parsed;
  // Only what the next step reads. The child_id is taken from the args here, parsed
  // without the heap, which costs less than `args -> '$.child_id'` in SQL: measured
  // on SQLite 3.40, a child's whole read took about 5,800 instructions against 7,400
  // with a flow's usual small args, and 12,000 against 12,500 with args of 270 bytes.
  static const std::string kPage =
      "SELECT seq, id, status, args, result FROM runs INDEXED BY runs_parent_seq WHERE "
      "parent_id = ?1 AND parent_id <> '' AND seq > ?2 ORDER BY seq LIMIT ?3";
  ChildOutcomePage page;
  Status st = WithReader([&](Connection& db) -> Status {
    auto rows = Select(db, kPage, parent_id, after, limit + 1);
    if (!rows.ok()) return rows.status();
    int64_t last = 0;
    for (;;) {
      auto row = rows->Next();
      if (!row.ok()) return row.status();
      if (!*row) break;
      if (static_cast<int>(page.children.size()) == limit) {
        page.next_cursor = std::to_string(last);
        break;
      }
      const Statement& r = rows->row();
      last = r.Int(0);
      ChildOutcome& child = page.children.emplace_back();
      child.id = r.Text(1);
      child.status = ParseRunStatus(r.Text(2)).value_or(RunStatus::kPending);
      child.child_key = storage::ChildKeyFromArgsText(r.Text(3), child.id);
      if (!r.IsNull(4)) child.result = ParseJsonOr(r.Text(4), nullptr);
    }
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return page;
}

}  // namespace taskmill::sqlite
