// schema.h — numbered migrations of the SQLite backend. A migration is applied once,
// in order, inside a transaction, and recorded in schema_migrations. Never edit a
// released migration: add the next number.
#pragma once

namespace taskmill::sqlite {

struct Migration {
  int version;
  const char* sql;
};

// Timestamps are INTEGER microseconds since the Unix epoch (UTC); durations are
// INTEGER microseconds. JSON values are TEXT. Statuses are the lower-case names of
// RunStatus (see docs/concepts.md).
inline constexpr Migration kMigrations[] = {
    {1, R"sql(
CREATE TABLE runs (
  seq INTEGER PRIMARY KEY,              -- insertion order; keyset cursor of listings
  id TEXT NOT NULL,
  queue TEXT NOT NULL,
  function TEXT NOT NULL,
  task TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL,
  args TEXT NOT NULL,
  data TEXT NOT NULL,
  priority INTEGER NOT NULL DEFAULT 0,
  account_id TEXT NOT NULL DEFAULT '',
  auth_account_id TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  run_at INTEGER NOT NULL,
  scheduled_at INTEGER,
  started_at INTEGER,
  finished_at INTEGER,
  lease_until INTEGER,
  runner TEXT NOT NULL DEFAULT '',
  attempt INTEGER NOT NULL DEFAULT 0,
  max_attempts INTEGER NOT NULL DEFAULT 1,
  delay_us INTEGER NOT NULL DEFAULT 0,
  delay_factor REAL NOT NULL DEFAULT 1,
  max_delay_us INTEGER,
  timeout_us INTEGER,
  ttr_us INTEGER NOT NULL,
  result TEXT,
  error TEXT NOT NULL DEFAULT '',
  error_kind TEXT NOT NULL DEFAULT '',
  progress_total INTEGER NOT NULL DEFAULT 0,
  progress_succeeded INTEGER NOT NULL DEFAULT 0,
  progress_failed INTEGER NOT NULL DEFAULT 0,
  parent_id TEXT NOT NULL DEFAULT '',
  flow_id TEXT NOT NULL DEFAULT '',
  input_file TEXT NOT NULL DEFAULT '',
  output_file TEXT NOT NULL DEFAULT '',
  attempts TEXT NOT NULL DEFAULT '[]'   -- JSON array; times as integer microseconds
);
-- (id, queue) rather than (queue, id): the same uniqueness, and a lookup by id alone
-- uses the index prefix.
CREATE UNIQUE INDEX runs_id_queue ON runs(id, queue);
CREATE INDEX runs_pending ON runs(priority DESC, run_at) WHERE status = 'pending';
CREATE INDEX runs_running_lease ON runs(lease_until) WHERE status = 'running';
CREATE INDEX runs_status_seq ON runs(status, seq);
CREATE INDEX runs_task_seq ON runs(task, seq);
CREATE UNIQUE INDEX runs_task_scheduled ON runs(task, scheduled_at) WHERE scheduled_at IS NOT NULL;

-- Counters by status, maintained by the writer thread in the same transaction as the
-- change, so statistics never count rows.
CREATE TABLE run_counts (status TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO run_counts(status, n) VALUES
  ('pending',0),('running',0),('completed',0),('partial',0),('failed',0),
  ('lost',0),('stopped',0),('did_not_start',0),('unknown_task',0);

CREATE TABLE queues (name TEXT PRIMARY KEY, paused INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
CREATE TABLE tasks (name TEXT PRIMARY KEY, definition TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, until INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
)sql"},
    // Files (bulk inputs and outputs) in chunks, and bulk checkpoints. Chunks live in
    // a rowid table: WITHOUT ROWID suits small rows, and a chunk is up to 256 KiB.
    // Owned files and checkpoints go with their run, whoever deletes it (RunRemove,
    // RunPrune, an overwrite), so the triggers do it rather than every caller.
    {2, R"sql(
CREATE TABLE files (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL DEFAULT '',
  content_type TEXT NOT NULL DEFAULT 'text/csv',
  size INTEGER NOT NULL DEFAULT 0,
  chunks INTEGER NOT NULL DEFAULT 0,
  run_id TEXT NOT NULL DEFAULT '',      -- owner; '' while staged
  run_queue TEXT NOT NULL DEFAULT '',
  meta TEXT NOT NULL DEFAULT '{}',
  created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX files_owner ON files(run_id, run_queue);
CREATE INDEX files_staged ON files(created_at) WHERE run_id = '';

CREATE TABLE file_chunks (
  file_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  data BLOB NOT NULL
);
CREATE UNIQUE INDEX file_chunks_file_seq ON file_chunks(file_id, seq);

CREATE TABLE run_checkpoints (
  run_id TEXT NOT NULL,
  queue TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  state TEXT NOT NULL,
  saved_at INTEGER NOT NULL,
  PRIMARY KEY (run_id, queue)
) WITHOUT ROWID;

CREATE TRIGGER files_delete_chunks AFTER DELETE ON files BEGIN
  DELETE FROM file_chunks WHERE file_id = OLD.id;
END;
CREATE TRIGGER runs_delete_files AFTER DELETE ON runs BEGIN
  DELETE FROM files WHERE run_id = OLD.id AND run_queue = OLD.queue;
  DELETE FROM run_checkpoints WHERE run_id = OLD.id AND queue = OLD.queue;
END;
)sql"},
    {3, R"sql(
CREATE TABLE api_tokens (
  name TEXT PRIMARY KEY,
  account_id TEXT NOT NULL,
  admin INTEGER NOT NULL,
  hash TEXT NOT NULL UNIQUE,   -- hex SHA-256 of the secret; the secret is never stored
  created_at INTEGER NOT NULL
);
)sql"},
    // Run tallies by (queue, task, status) replace the counts by status: the queue
    // overview, the dashboard and the per-task metrics then read a table of a few
    // rows instead of counting runs (431 ms for 800,000 pending runs before). The
    // writer thread keeps them in the same transaction as every change; a tally that
    // reaches zero is deleted, so an emptied queue leaves the overview as it did when
    // it was counted. The partial index of pending runs by queue serves runners that
    // serve some queues (claims in priority order, without walking past the backlogs
    // of other queues) and finds a queue's oldest pending run with one seek per
    // priority in use.
    {4, R"sql(
CREATE TABLE run_tallies (
  queue TEXT NOT NULL,
  task TEXT NOT NULL,
  status TEXT NOT NULL,
  n INTEGER NOT NULL,
  PRIMARY KEY (queue, task, status)
) WITHOUT ROWID;
INSERT INTO run_tallies(queue, task, status, n)
  SELECT queue, task, status, count(*) FROM runs GROUP BY queue, task, status;
DROP TABLE run_counts;
CREATE INDEX runs_queue_pending ON runs(queue, priority DESC, run_at) WHERE status = 'pending';
-- Runs of no task are never listed by task: leaving them out of the task index saves
-- a B-tree insert for each of them (queries add "task <> ''" to use it).
DROP INDEX runs_task_seq;
CREATE INDEX runs_task_seq ON runs(task, seq) WHERE task <> '';
)sql"},
    // Fewer B-tree operations per run on the hot path: a put made five B-tree
    // inserts, a claim five index operations and a finish three; now three, two and
    // two. The global pending index goes: a runner serving every queue finds the queues
    // with pending runs in run_tallies and claims through runs_queue_pending. The
    // status index keeps only finished runs, which a put and a claim never touch and a
    // finish only inserts; pending runs are listed through runs_queue_pending or a scan
    // by seq, running runs (few) through runs_running_lease. Queries add "status NOT IN
    // ('pending', 'running')" to use runs_final_seq: SQLite's partial-index rule matches
    // terms and does not know that status = 'failed' implies it.
    {5, R"sql(
DROP INDEX runs_pending;
DROP INDEX runs_status_seq;
CREATE INDEX runs_final_seq ON runs(status, seq) WHERE status NOT IN ('pending', 'running');
)sql"},
    // Accounts see only their own runs (docs/api.md), statistics included: the tallies
    // are kept per account as well, so an account's counts are a read of its few
    // tally rows, as the global ones are. Runs of no account (most, and every run of a
    // server without account tokens) keep one row per (queue, task, status) as before.
    // Two partial indexes serve an account's view of a task (its latest run) and of a
    // queue (its oldest pending run); runs of no account are not in them, so they cost
    // the runs of no account nothing.
    {6, R"sql(
CREATE TABLE run_tallies_next (
  queue TEXT NOT NULL,
  task TEXT NOT NULL,
  status TEXT NOT NULL,
  account_id TEXT NOT NULL DEFAULT '',
  n INTEGER NOT NULL,
  PRIMARY KEY (queue, task, status, account_id)
) WITHOUT ROWID;
INSERT INTO run_tallies_next(queue, task, status, account_id, n)
  SELECT queue, task, status, account_id, count(*) FROM runs
  GROUP BY queue, task, status, account_id;
DROP TABLE run_tallies;
ALTER TABLE run_tallies_next RENAME TO run_tallies;
CREATE INDEX runs_account_task_seq ON runs(account_id, task, seq)
  WHERE account_id <> '' AND task <> '';
CREATE INDEX runs_account_pending ON runs(account_id, queue, run_at)
  WHERE status = 'pending' AND account_id <> '';
)sql"},
    // A claim is either started (a free slot took it) or claimed ahead, waiting in the
    // runner for a slot (RunTakeParams::start). A claim that never started goes back to
    // pending with no attempt used when its runner dies or its lease ends; only a
    // started one can be lost. Runs stored before this migration count as started.
    {7, R"sql(
ALTER TABLE runs ADD COLUMN started INTEGER NOT NULL DEFAULT 1;
)sql"},
    // Concurrency caps (RunTake): a queue's next to its pause flag, read by the same
    // lookup a claim already makes; a task's beside its definition, with a partial
    // index of the capped tasks only, so that a claim finds none with one seek into an
    // empty index. 0: no cap.
    {8, R"sql(
ALTER TABLE queues ADD COLUMN max_running INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN max_running INTEGER NOT NULL DEFAULT 0;
CREATE INDEX tasks_capped ON tasks(name, max_running) WHERE max_running > 0;
)sql"},
    // Leader leases carry a term (LeaderLease::term), which a leader's writes are
    // fenced with; a resignation clears the holder and keeps the row, so that the
    // next holder's term follows on instead of starting again. Runners beat into
    // `runners` (RunnerBeat) so that any API node lists every runner of the cluster.
    {9, R"sql(
ALTER TABLE leases ADD COLUMN term INTEGER NOT NULL DEFAULT 0;
UPDATE leases SET term = 1;
CREATE TABLE runners (
  id TEXT PRIMARY KEY,
  info TEXT NOT NULL,          -- JSON of RunnerInfo but last_seen
  last_seen INTEGER NOT NULL
) WITHOUT ROWID;
)sql"},
    // Flows (src/flows/): a finish asks, in its commit, whether a step's children are
    // all over and whether anything of a flow is left running; these partial indexes
    // hold only the live runs of flows, so runs of no flow pay nothing. The graph of a
    // flow run lists its steps and children by flow and by parent.
    {10, R"sql(
CREATE INDEX runs_parent_live ON runs(parent_id) WHERE parent_id <> '' AND status IN ('pending', 'running');
CREATE INDEX runs_flow_live ON runs(flow_id) WHERE flow_id <> '' AND status IN ('pending', 'running');
CREATE INDEX runs_parent_seq ON runs(parent_id, seq) WHERE parent_id <> '';
CREATE INDEX runs_flow_seq ON runs(flow_id, seq) WHERE flow_id <> '';
)sql"},
    // A flow's step stages its children while it runs (Storage::RunStage): rows that no
    // claim, listing or tally sees, each with the attempt of its parent that staged it.
    // The finish of that attempt releases them into runs (one INSERT ... SELECT, which
    // skips an id already stored: a step run again adds nothing twice) and changes no
    // row of this table in its commit: a write's savepoint keeps every page it changes
    // in memory, a million of them for a million children. The rows of a finished or
    // stopped attempt are deleted afterwards, a thousand per commit (staged_runs.cpp).
    {11, R"sql(
CREATE TABLE staged_runs (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL,
  queue TEXT NOT NULL,
  function TEXT NOT NULL,
  task TEXT NOT NULL,
  status TEXT NOT NULL,
  args TEXT NOT NULL,
  data TEXT NOT NULL,
  priority INTEGER NOT NULL,
  account_id TEXT NOT NULL,
  auth_account_id TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  run_at INTEGER NOT NULL,
  scheduled_at INTEGER,
  started_at INTEGER,
  finished_at INTEGER,
  lease_until INTEGER,
  runner TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  max_attempts INTEGER NOT NULL,
  delay_us INTEGER NOT NULL,
  delay_factor REAL NOT NULL,
  max_delay_us INTEGER,
  timeout_us INTEGER,
  ttr_us INTEGER NOT NULL,
  result TEXT,
  error TEXT NOT NULL,
  error_kind TEXT NOT NULL,
  progress_total INTEGER NOT NULL,
  progress_succeeded INTEGER NOT NULL,
  progress_failed INTEGER NOT NULL,
  parent_id TEXT NOT NULL,
  flow_id TEXT NOT NULL,
  input_file TEXT NOT NULL,
  output_file TEXT NOT NULL,
  attempts TEXT NOT NULL,
  parent_attempt INTEGER NOT NULL
);
CREATE UNIQUE INDEX staged_runs_id_queue ON staged_runs(id, queue, parent_attempt);
CREATE INDEX staged_runs_parent ON staged_runs(parent_id, parent_attempt, seq);
)sql"},
    // Staged runs in one B-tree instead of three: keyed by the attempt that staged
    // them and their order, which is how a release reads them and a sweep deletes
    // them. A stage wrote a row and two index entries per child, and its sweep
    // deleted all three; a child id staged twice by one attempt is now stored twice
    // and released once (the release skips an id already stored, and goes in order).
    {12, R"sql(
CREATE TABLE staged_runs_next (
  seq INTEGER NOT NULL,
  id TEXT NOT NULL,
  queue TEXT NOT NULL,
  function TEXT NOT NULL,
  task TEXT NOT NULL,
  status TEXT NOT NULL,
  args TEXT NOT NULL,
  data TEXT NOT NULL,
  priority INTEGER NOT NULL,
  account_id TEXT NOT NULL,
  auth_account_id TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  run_at INTEGER NOT NULL,
  scheduled_at INTEGER,
  started_at INTEGER,
  finished_at INTEGER,
  lease_until INTEGER,
  runner TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  max_attempts INTEGER NOT NULL,
  delay_us INTEGER NOT NULL,
  delay_factor REAL NOT NULL,
  max_delay_us INTEGER,
  timeout_us INTEGER,
  ttr_us INTEGER NOT NULL,
  result TEXT,
  error TEXT NOT NULL,
  error_kind TEXT NOT NULL,
  progress_total INTEGER NOT NULL,
  progress_succeeded INTEGER NOT NULL,
  progress_failed INTEGER NOT NULL,
  parent_id TEXT NOT NULL,
  flow_id TEXT NOT NULL,
  input_file TEXT NOT NULL,
  output_file TEXT NOT NULL,
  attempts TEXT NOT NULL,
  parent_attempt INTEGER NOT NULL,
  PRIMARY KEY (parent_id, parent_attempt, seq)
) WITHOUT ROWID;
INSERT INTO staged_runs_next SELECT * FROM staged_runs;
DROP TABLE staged_runs;
ALTER TABLE staged_runs_next RENAME TO staged_runs;
)sql"},
    // A queue's cap counts its started runs only (CapClaim in taskmill/storage.h): a
    // run claimed ahead past its queue's cap is stored with started = 2 (0: claimed
    // ahead holding a slot, 1: started), and this index holds only those, so that a
    // claim counts a capped queue's with one short range read. Every other run
    // leaves it untouched: an update that changes status evaluates its terms, and no
    // B-tree is written.
    {13, R"sql(
CREATE INDEX runs_past_cap ON runs(queue) WHERE status = 'running' AND started = 2;
)sql"},
    // The live runs of a flow by flow are its steps alone (their parent is the root,
    // whose id is the flow's): a step's children are found live through their step
    // (runs_parent_live), which the flow's steps lead to. A child paid four B-tree
    // operations for this index, an insert when stored, a delete and an insert when
    // claimed (a claim changes the status its terms read) and a delete at its finish,
    // for a question its step answers (follow_ups.cpp).
    {14, R"sql(
DROP INDEX runs_flow_live;
CREATE INDEX runs_flow_live ON runs(flow_id) WHERE flow_id <> '' AND parent_id = flow_id AND status IN ('pending', 'running');
)sql"},
    // A step's children share all but their id, args and times (kStagedChildColumns,
    // rows.h): a staged child is a narrow row of those and the seq of the template it
    // shares the rest with, a whole staged run stored once per batch of children that
    // share it (staged_runs.cpp). A child staged as a whole run wrote about 600 bytes
    // and bound 37 values; its sweep deleted as much. The rows staged before this
    // migration each become their own template.
    {15, R"sql(
ALTER TABLE staged_runs RENAME TO staged_templates;
CREATE TABLE staged_children (
  parent_id TEXT NOT NULL,
  parent_attempt INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  template INTEGER NOT NULL,  -- the seq of its template in staged_templates
  id TEXT NOT NULL,
  args TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  run_at INTEGER NOT NULL,
  PRIMARY KEY (parent_id, parent_attempt, seq)
) WITHOUT ROWID;
INSERT INTO staged_children
  SELECT parent_id, parent_attempt, seq, seq, id, args, created_at, run_at FROM staged_templates;
)sql"},
    // A step's staged children are released a batch per commit (staged_runs.cpp): the
    // finish of the step commits the first, and the writer the others, one commit
    // after the other before any other write. A row here says that a step's release
    // is under way, and up to which staged seq it has come: its step counts as live
    // meanwhile, and a crash leaves the rest for the next open to release.
    {16, R"sql(
CREATE TABLE staged_releases (
  parent_id TEXT NOT NULL,
  parent_attempt INTEGER NOT NULL,
  flow_id TEXT NOT NULL,
  released_through INTEGER NOT NULL,  -- the last seq of staged_children released
  PRIMARY KEY (parent_id, parent_attempt)
) WITHOUT ROWID;
)sql"},
};

}  // namespace taskmill::sqlite
