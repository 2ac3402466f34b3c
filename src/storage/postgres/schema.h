// schema.h — numbered migrations of the PostgreSQL backend. Each is applied once, in
// order, in the one transaction that Migrate holds under a transaction-level advisory
// lock (migrate.cpp), and recorded in taskmill_migrations. Never edit a released
// migration: add the next number. docs/storage.md explains the tables.
#pragma once

namespace taskmill::postgres {

struct Migration {
  int version;
  const char* sql;
};

// Times are bigint microseconds since the Unix epoch (UTC), durations bigint
// microseconds, as in the SQLite backend. JSON values are text, stored as the writer
// serialized them, except attempts (jsonb: a finish appends to it in SQL).
inline constexpr Migration kMigrations[] = {
    {1, R"sql(
CREATE SEQUENCE run_seq;

-- The hot table: pending and running runs only. A run leaves it in the commit that
-- finishes it (for runs_history), so the table stays as small as the backlog, claims
-- and finishes touch few pages, and vacuum has little to do. fillfactor 70 leaves room
-- on each page for the new versions a claim, a heartbeat and a retry write; the
-- autovacuum settings vacuum it after a fixed number of dead rows rather than a
-- fraction of a table whose size swings from empty to millions (docs/storage.md).
CREATE TABLE runs (
  seq bigint PRIMARY KEY DEFAULT nextval('run_seq'),
  id text NOT NULL,
  queue text NOT NULL,
  function text NOT NULL,
  task text NOT NULL DEFAULT '',
  status text NOT NULL,
  args text NOT NULL,
  data text NOT NULL,
  priority integer NOT NULL DEFAULT 0,
  account_id text NOT NULL DEFAULT '',
  auth_account_id text NOT NULL DEFAULT '',
  created_at bigint NOT NULL,
  run_at bigint NOT NULL,
  scheduled_at bigint,
  started_at bigint,
  finished_at bigint,
  lease_until bigint,
  runner text NOT NULL DEFAULT '',
  attempt integer NOT NULL DEFAULT 0,
  max_attempts integer NOT NULL DEFAULT 1,
  delay_us bigint NOT NULL DEFAULT 0,
  delay_factor double precision NOT NULL DEFAULT 1,
  max_delay_us bigint,
  timeout_us bigint,
  ttr_us bigint NOT NULL,
  result text,
  error text NOT NULL DEFAULT '',
  error_kind text NOT NULL DEFAULT '',
  progress_total bigint NOT NULL DEFAULT 0,
  progress_succeeded bigint NOT NULL DEFAULT 0,
  progress_failed bigint NOT NULL DEFAULT 0,
  parent_id text NOT NULL DEFAULT '',
  flow_id text NOT NULL DEFAULT '',
  input_file text NOT NULL DEFAULT '',
  output_file text NOT NULL DEFAULT '',
  attempts jsonb NOT NULL DEFAULT '[]',
  started boolean NOT NULL DEFAULT true
) WITH (fillfactor = 70,
        autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 2000,
        autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = 20000,
        autovacuum_analyze_scale_factor = 0, autovacuum_analyze_threshold = 5000,
        autovacuum_vacuum_cost_delay = 0);
CREATE UNIQUE INDEX runs_id_queue ON runs(id, queue);
-- Claim order of due runs; the runs of paused or capped queues are filtered.
CREATE INDEX runs_pending ON runs(priority DESC, run_at, seq) WHERE status = 'pending';
CREATE INDEX runs_running_lease ON runs(lease_until) WHERE status = 'running';
CREATE INDEX runs_task ON runs(task) WHERE task <> '';

-- Finished runs, partitioned by month of part_at (the finish instant, or the creation
-- of a run stored finished), so that retention drops whole partitions rather than
-- deleting rows. Partitions are made on demand (EnsurePartitions).
CREATE TABLE runs_history (LIKE runs INCLUDING DEFAULTS, part_at bigint NOT NULL)
  PARTITION BY RANGE (part_at);
ALTER TABLE runs_history ALTER COLUMN seq DROP DEFAULT;
CREATE INDEX runs_history_seq ON runs_history(seq);
CREATE INDEX runs_history_id ON runs_history(id, queue);
CREATE INDEX runs_history_task ON runs_history(task, finished_at) WHERE task <> '';
CREATE INDEX runs_history_status ON runs_history(status, seq);

-- (queue, id) is unique over both tables, and so is the (task, scheduled_at) of a
-- periodical launch: a partitioned table cannot hold a unique index without its
-- partition key, so these small tables hold the keys of every stored run.
CREATE TABLE run_keys (id text NOT NULL, queue text NOT NULL, PRIMARY KEY (id, queue));
CREATE TABLE launches (task text NOT NULL, scheduled_at bigint NOT NULL,
                       PRIMARY KEY (task, scheduled_at));

-- Counts of finished runs by (queue, task, status, account), kept by the triggers of
-- runs_history in the commit that moves runs in or out; runs in the hot table are
-- counted there. `shard` spreads the rows that concurrent commits add to, so that two
-- runners' finishes do not wait for each other's commit on one tally row.
CREATE TABLE run_tallies (
  queue text NOT NULL, task text NOT NULL, status text NOT NULL, account_id text NOT NULL,
  shard integer NOT NULL, n bigint NOT NULL,
  PRIMARY KEY (queue, task, status, account_id, shard));
CREATE FUNCTION taskmill_tally_in() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO run_tallies AS t(queue, task, status, account_id, shard, n)
    SELECT queue, task, status, account_id, pg_backend_pid() % 8, count(*) FROM moved
    GROUP BY queue, task, status, account_id
  ON CONFLICT (queue, task, status, account_id, shard) DO UPDATE SET n = t.n + excluded.n;
  RETURN NULL;
END $$;
CREATE FUNCTION taskmill_tally_out() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO run_tallies AS t(queue, task, status, account_id, shard, n)
    SELECT queue, task, status, account_id, pg_backend_pid() % 8, -count(*) FROM moved
    GROUP BY queue, task, status, account_id
  ON CONFLICT (queue, task, status, account_id, shard) DO UPDATE SET n = t.n + excluded.n;
  RETURN NULL;
END $$;
CREATE TRIGGER runs_history_in AFTER INSERT ON runs_history REFERENCING NEW TABLE AS moved
  FOR EACH STATEMENT EXECUTE FUNCTION taskmill_tally_in();
CREATE TRIGGER runs_history_out AFTER DELETE ON runs_history REFERENCING OLD TABLE AS moved
  FOR EACH STATEMENT EXECUTE FUNCTION taskmill_tally_out();

CREATE TABLE queues (name text PRIMARY KEY, paused boolean NOT NULL DEFAULT false,
                     max_running integer NOT NULL DEFAULT 0);
CREATE TABLE tasks (name text PRIMARY KEY, definition text NOT NULL,
                    max_running integer NOT NULL DEFAULT 0);
-- Leader leases. `term` grows whenever the holder changes, so a write stamped with an
-- older term can be refused.
CREATE TABLE leases (name text PRIMARY KEY, holder text NOT NULL, until bigint NOT NULL,
                     term bigint NOT NULL DEFAULT 1);
CREATE TABLE state (key text PRIMARY KEY, value bytea NOT NULL);
CREATE TABLE api_tokens (name text PRIMARY KEY, account_id text NOT NULL, admin boolean NOT NULL,
                         hash text NOT NULL UNIQUE, created_at bigint NOT NULL);

-- Files (bulk inputs, outputs) in chunks, and bulk checkpoints: stored here so that
-- any node serves them.
CREATE TABLE files (
  id text PRIMARY KEY,
  name text NOT NULL DEFAULT '',
  content_type text NOT NULL DEFAULT 'text/csv',
  size bigint NOT NULL DEFAULT 0,
  chunks bigint NOT NULL DEFAULT 0,
  run_id text NOT NULL DEFAULT '',
  run_queue text NOT NULL DEFAULT '',
  meta text NOT NULL DEFAULT '{}',
  created_at bigint NOT NULL);
CREATE INDEX files_owner ON files(run_id, run_queue) WHERE run_id <> '';
CREATE INDEX files_staged ON files(created_at) WHERE run_id = '';
CREATE TABLE file_chunks (file_id text NOT NULL REFERENCES files(id) ON DELETE CASCADE,
                          seq bigint NOT NULL, data bytea NOT NULL,
                          PRIMARY KEY (file_id, seq));
ALTER TABLE file_chunks ALTER COLUMN data SET STORAGE EXTERNAL;  -- CSV compresses little
CREATE TABLE run_checkpoints (run_id text NOT NULL, queue text NOT NULL, attempt integer NOT NULL,
                              state text NOT NULL, saved_at bigint NOT NULL,
                              PRIMARY KEY (run_id, queue));
)sql"},
    // Runners beat into `runners` (RunnerBeat) so that any API node lists every runner
    // of the cluster: one row per runner, upserted every few seconds.
    {2, R"sql(
CREATE TABLE runners (
  id text PRIMARY KEY,
  kind text NOT NULL,
  host text NOT NULL,
  pid bigint NOT NULL,
  queues text NOT NULL,         -- JSON array of names; [] serves every queue
  capacity integer NOT NULL,
  running integer NOT NULL,
  last_seen bigint NOT NULL);
)sql"},
    {3, R"sql(
-- Flows (follow_ups.cpp): the live children of a run and the live runs of a flow, read
-- in the commit of each finish of a flow (is every parent over? is the flow idle?),
-- and the runs of a flow or of a parent as listings and the flow's view read them.
CREATE INDEX runs_parent_live ON runs(parent_id) WHERE parent_id <> '';
CREATE INDEX runs_flow_live ON runs(flow_id) WHERE flow_id <> '';
CREATE INDEX runs_history_parent ON runs_history(parent_id, seq) WHERE parent_id <> '';
CREATE INDEX runs_history_flow ON runs_history(flow_id, seq) WHERE flow_id <> '';
)sql"},
    // The hot table in generations (docs/storage.md, generations.cpp): `runs` becomes a
    // table LIST-partitioned by `gen` over three plain tables. New runs go into the
    // current one; a rotation moves the few rows still live in the oldest into the
    // current one and TRUNCATEs it, which frees its dead row versions whatever
    // transaction holds the xmin horizon back (vacuum cannot). The keys that must be
    // unique stay unique through run_keys and launches, so the partitioned table needs
    // no unique index (one would have to include gen). Pending and running runs are
    // carried over into generation 0.
    {4, R"sql(
ALTER TABLE runs DROP CONSTRAINT runs_pkey;
DROP INDEX runs_id_queue, runs_pending, runs_running_lease, runs_task, runs_parent_live,
           runs_flow_live;
ALTER TABLE runs RENAME TO runs_v3;

-- The rotation's state, one row: the generation new runs go into, and when it became
-- current (the last seq of run_seq then, the server's clock in microseconds, the
-- partitions' row counters of pg_stat) so that a rotation is due after enough new
-- runs, or after a while with any change at all.
CREATE TABLE runs_gen (one boolean PRIMARY KEY DEFAULT true CHECK (one),
                       cur smallint NOT NULL, since_seq bigint NOT NULL, since bigint NOT NULL,
                       touched bigint NOT NULL DEFAULT 0);
INSERT INTO runs_gen(cur, since_seq, since) SELECT 0, last_value, 0 FROM run_seq;
-- The default of gen for a writer that does not name it (InsertRuns does: one read per
-- statement rather than per row). Any generation is correct for a new row, a stale one
-- too: a rotation moves what it finds before it truncates (generations.cpp).
CREATE FUNCTION taskmill_run_gen() RETURNS smallint LANGUAGE sql STABLE
  AS 'SELECT cur FROM runs_gen';

CREATE TABLE runs (LIKE runs_v3 INCLUDING DEFAULTS,
                   gen smallint NOT NULL DEFAULT taskmill_run_gen())
  PARTITION BY LIST (gen);
-- fillfactor 70: a claim's, heartbeat's or retry's new version finds room on its page;
-- autovacuum by a fixed count of dead rows, as before: it still works between
-- rotations whenever no transaction holds the horizon back.
CREATE TABLE runs_g0 PARTITION OF runs FOR VALUES IN (0) WITH (fillfactor = 70,
        autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 2000,
        autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = 20000,
        autovacuum_analyze_scale_factor = 0, autovacuum_analyze_threshold = 5000,
        autovacuum_vacuum_cost_delay = 0);
CREATE TABLE runs_g1 PARTITION OF runs FOR VALUES IN (1) WITH (fillfactor = 70,
        autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 2000,
        autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = 20000,
        autovacuum_analyze_scale_factor = 0, autovacuum_analyze_threshold = 5000,
        autovacuum_vacuum_cost_delay = 0);
CREATE TABLE runs_g2 PARTITION OF runs FOR VALUES IN (2) WITH (fillfactor = 70,
        autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 2000,
        autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = 20000,
        autovacuum_analyze_scale_factor = 0, autovacuum_analyze_threshold = 5000,
        autovacuum_vacuum_cost_delay = 0);
CREATE INDEX runs_seq ON runs(seq);
CREATE INDEX runs_id_queue ON runs(id, queue);
CREATE INDEX runs_pending ON runs(priority DESC, run_at, seq) WHERE status = 'pending';
CREATE INDEX runs_running_lease ON runs(lease_until) WHERE status = 'running';
CREATE INDEX runs_task ON runs(task) WHERE task <> '';
CREATE INDEX runs_parent_live ON runs(parent_id) WHERE parent_id <> '';
CREATE INDEX runs_flow_live ON runs(flow_id) WHERE flow_id <> '';

INSERT INTO runs SELECT *, 0 FROM runs_v3;
DROP TABLE runs_v3;
)sql"},
    // Retention drops whole months of runs_history (retention.cpp); a process that
    // still believes a dropped month exists, or a run of a month no one made yet,
    // must not fail its commit: such runs land here, and move into their month's
    // partition when it is made (CreateMonthSql).
    {5, R"sql(
CREATE TABLE runs_history_default PARTITION OF runs_history DEFAULT;
)sql"},
    // A flow's step stages its children while it runs (Storage::RunStage): rows that no
    // claim, listing or tally sees, each with the attempt of its parent that staged it
    // (the default reads the transaction's setting, which RunStage sets: InsertRuns
    // names a run's columns only). The finish of that attempt moves them into the hot
    // table (staged_runs.cpp).
    {6, R"sql(
CREATE TABLE staged_runs (LIKE runs INCLUDING DEFAULTS,
  parent_attempt integer NOT NULL
    DEFAULT current_setting('taskmill.parent_attempt')::integer);
CREATE UNIQUE INDEX staged_runs_key ON staged_runs(id, queue, parent_attempt);
CREATE INDEX staged_runs_parent ON staged_runs(parent_id, parent_attempt, seq);
)sql"},
};

}  // namespace taskmill::postgres
