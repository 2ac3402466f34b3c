// generations_pgtest.cpp — the hot table's generations (generations.cpp): while another
// transaction holds the xmin horizon back, rotations keep the dead row versions of the
// hot table bounded, and the runs that stay live across rotations (pending far ahead,
// retrying, running) are moved, neither lost nor doubled, their fence intact. Counts are
// read exactly (pgstattuple), not timed. A database of the plain hot table migrates.
#include <gtest/gtest.h>

#include <chrono>

#include "storage/postgres/pg_conn.h"
#include "storage/postgres/postgres_storage.h"
#include "storage/postgres/schema.h"
#include "storage/postgres/storage_impl.h"
#include "storage/postgres/testing/pg_test_server.h"

namespace taskmill::postgres {
namespace {

using testing::PgTestServer;

constexpr TimePoint kT0{std::chrono::sys_days{std::chrono::year{2026} / 1 / 1}};

taskmill::Run NewRun(const std::string& id, TimePoint run_at = kT0) {
  taskmill::Run run;
  run.id = id;
  run.function = "test.echo";
  run.created_at = kT0;
  run.run_at = run_at;
  run.retry.max_attempts = 3;
  return run;
}

RunFinish Finish(const taskmill::Run& run, RunStatus status, TimePoint run_at = kT0) {
  RunFinish f;
  f.id = run.id;
  f.queue = run.queue;
  f.attempt = run.attempt;
  f.status = status;
  f.finished_at = kT0 + std::chrono::seconds(1);
  f.run_at = run_at;
  return f;
}

TEST(PostgresGenerations, RotationsBoundDeadRowsUnderAHeldHorizonAndKeepLiveRuns) {
  auto server = PgTestServer::Shared();
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  ASSERT_TRUE((*server)->CreateDatabase("taskmill_generations").ok());
  auto url = (*server)->CreateSchema("taskmill_generations", PgTestServer::UniqueName("gens"));
  ASSERT_TRUE(url.ok()) << url.status().ToString();
  auto opened = OpenStorage(StorageOptions{*url});
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  auto* storage = dynamic_cast<PgStorage*>(opened->get());
  ASSERT_NE(storage, nullptr);
  auto probe = Connection::Open(*url);
  ASSERT_TRUE(probe.ok()) << probe.status().ToString();
  Connection& sql = **probe;
  ASSERT_TRUE(sql.ExecScript("CREATE EXTENSION IF NOT EXISTS pgstattuple SCHEMA public").ok());
  // Exact counts of the hot table's dead row versions, and of rows per id.
  auto dead_rows = [&] {
    auto rows = sql.Exec(
        "SELECT sum((public.pgstattuple(i.inhrelid)).dead_tuple_count)::int8 FROM pg_inherits i "
        "WHERE i.inhparent = 'runs'::regclass");
    return rows.ok() ? rows->Int(0, 0) : -1;
  };
  auto copies_of = [&](const std::string& id) {
    auto rows = sql.Exec("SELECT count(*) FROM runs WHERE id = $1", Params().Add(id));
    return rows.ok() ? rows->Int(0, 0) : -1;
  };

  // Live across every rotation: a run due in a year, a running one, and a retry waiting
  // a year for its second attempt.
  RunPutParams put;
  put.runs = {NewRun("far-ahead", kT0 + std::chrono::hours(24 * 365)), NewRun("running"),
              NewRun("retrying")};
  ASSERT_TRUE(storage->RunPut(put).ok());
  RunTakeParams take;
  take.runner = "r1";
  take.max = 2;
  take.now = kT0;
  auto live = storage->RunTake(take);
  ASSERT_TRUE(live.ok()) << live.status().ToString();
  ASSERT_EQ(live->size(), 2u);
  const taskmill::Run running = (*live)[0].id == "running" ? (*live)[0] : (*live)[1];
  const taskmill::Run retrying = (*live)[0].id == "running" ? (*live)[1] : (*live)[0];
  auto retried = storage->RunFinishBatch(
      {Finish(retrying, RunStatus::kPending, kT0 + std::chrono::hours(24 * 365))});
  ASSERT_TRUE(retried.ok() && retried->at(0).accepted);

  // The horizon held: no dead row version from here on can be vacuumed or pruned.
  auto holder = Connection::Open(*url);
  ASSERT_TRUE(holder.ok()) << holder.status().ToString();
  ASSERT_TRUE((*holder)->ExecScript("BEGIN; SELECT txid_current()").ok());

  // Rounds of 1,000 runs put, claimed and finished (2 dead versions each: the claim's
  // old one and the finish's delete), one rotation after each. Without rotations the
  // dead versions would reach 2 x 1,000 x rounds; with them, at most what the three
  // generations hold: 2 x 1,000 x 3.
  constexpr int kRuns = 1000, kRounds = 9;
  int rotations = 0;
  int64_t most_dead = 0;
  for (int round = 0; round < kRounds; ++round) {
    RunPutParams batch;
    for (int i = 0; i < kRuns; ++i) {
      batch.runs.push_back(NewRun("r" + std::to_string(round) + "-" + std::to_string(i)));
    }
    ASSERT_TRUE(storage->RunPut(batch).ok());
    take.max = kRuns;
    auto claimed = storage->RunTake(take);
    ASSERT_TRUE(claimed.ok()) << claimed.status().ToString();
    ASSERT_EQ(claimed->size(), static_cast<size_t>(kRuns));
    std::vector<RunFinish> finishes;
    for (const taskmill::Run& run : *claimed)
      finishes.push_back(Finish(run, RunStatus::kCompleted));
    auto stored = storage->RunFinishBatch(finishes);
    ASSERT_TRUE(stored.ok()) << stored.status().ToString();
    for (const auto& r : *stored) ASSERT_TRUE(r.accepted);
    auto rotation = storage->RotateHotTable(/*force=*/true);
    ASSERT_TRUE(rotation.ok()) << rotation.status().ToString();
    ASSERT_TRUE(rotation->rotated);
    ++rotations;
    const int64_t dead = dead_rows();
    ASSERT_GE(dead, 0);
    most_dead = std::max(most_dead, dead);
    EXPECT_LE(dead, 2 * kRuns * 3) << "after round " << round;
  }
  EXPECT_GT(most_dead, 0) << "the held horizon keeps dead versions between rotations";
  ASSERT_TRUE((*holder)->ExecScript("ROLLBACK").ok());

  // The live runs went round the ring three times: each is there once, as it was.
  EXPECT_EQ(rotations, kRounds);
  for (const char* id : {"far-ahead", "running", "retrying"}) {
    EXPECT_EQ(copies_of(id), 1) << id;
  }
  auto far = storage->RunGet("far-ahead", "");
  ASSERT_TRUE(far.ok());
  EXPECT_EQ(far->status, RunStatus::kPending);
  EXPECT_EQ(far->attempt, 0);
  auto waiting = storage->RunGet("retrying", "");
  ASSERT_TRUE(waiting.ok());
  EXPECT_EQ(waiting->status, RunStatus::kPending);
  EXPECT_EQ(waiting->attempt, 1);
  EXPECT_EQ(waiting->attempts.size(), 1u);
  // The running attempt's fence holds in its new generation: its finish is accepted,
  // and a second finish of the same attempt is refused.
  auto done = storage->RunFinishBatch({Finish(running, RunStatus::kCompleted)});
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_TRUE(done->at(0).accepted);
  auto again = storage->RunFinishBatch({Finish(running, RunStatus::kCompleted)});
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->at(0).accepted);
  auto finished = storage->RunGet("running", "");
  ASSERT_TRUE(finished.ok());
  EXPECT_EQ(finished->status, RunStatus::kCompleted);
  // Every run stored is counted once.
  auto stats = storage->RunStats(std::nullopt);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->total, 3 + kRuns * kRounds);
  EXPECT_EQ(stats->by_status[RunStatus::kPending], 2);
}

// A database of schema 3 (one plain hot table) migrates to the generations with its
// pending and running runs: each is found, claimed or finished as before, its fence
// intact.
TEST(PostgresGenerations, MigrationCarriesPendingAndRunningRunsOver) {
  auto server = PgTestServer::Shared();
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  ASSERT_TRUE((*server)->CreateDatabase("taskmill_generations").ok());
  auto url = (*server)->CreateSchema("taskmill_generations", PgTestServer::UniqueName("v3"));
  ASSERT_TRUE(url.ok()) << url.status().ToString();
  auto conn = Connection::Open(*url);
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  Connection& sql = **conn;
  // Schema 3 as a release before the generations left it, with a pending and a running
  // run in its hot table.
  ASSERT_TRUE(sql.ExecScript("CREATE TABLE taskmill_migrations (version integer PRIMARY KEY, "
                             "applied_at timestamptz NOT NULL DEFAULT now())")
                  .ok());
  for (const Migration& m : kMigrations) {
    if (m.version > 3) continue;
    ASSERT_TRUE(sql.ExecScript(m.sql).ok()) << m.version;
    ASSERT_TRUE(
        sql.Exec("INSERT INTO taskmill_migrations(version) VALUES ($1)", Params().Add(m.version))
            .ok());
  }
  const int64_t t0 =
      std::chrono::duration_cast<std::chrono::microseconds>(kT0.time_since_epoch()).count();
  ASSERT_TRUE(sql.Exec("INSERT INTO run_keys VALUES ('old-pending', 'default'), "
                       "('old-running', 'default')")
                  .ok());
  ASSERT_TRUE(sql.Exec("INSERT INTO runs(id, queue, function, status, args, data, created_at, "
                       "run_at, ttr_us, max_attempts) VALUES ('old-pending', 'default', "
                       "'test.echo', 'pending', '{}', '{}', $1, $1, 60000000, 1)",
                       Params().Add(t0))
                  .ok());
  ASSERT_TRUE(sql.Exec("INSERT INTO runs(id, queue, function, status, args, data, created_at, "
                       "run_at, ttr_us, max_attempts, attempt, runner, started_at, lease_until) "
                       "VALUES ('old-running', 'default', 'test.echo', 'running', '{}', '{}', "
                       "$1, $1, 60000000, 1, 1, 'r0', $1, $2)",
                       Params().Add(t0).Add(t0 + 60000000))
                  .ok());

  auto opened = OpenStorage(StorageOptions{*url});
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  auto migration = (*opened)->Migrate();
  ASSERT_TRUE(migration.ok());
  EXPECT_EQ(migration->after, kMigrations[std::size(kMigrations) - 1].version);
  auto partitioned = sql.Exec("SELECT relkind FROM pg_class WHERE oid = 'runs'::regclass");
  ASSERT_TRUE(partitioned.ok());
  EXPECT_EQ(partitioned->Text(0, 0), "p") << "runs is made of generations";
  auto pending = (*opened)->RunGet("old-pending", "default");
  ASSERT_TRUE(pending.ok()) << pending.status().ToString();
  EXPECT_EQ(pending->status, RunStatus::kPending);
  RunTakeParams take;
  take.runner = "r1";
  take.max = 10;
  take.now = kT0;
  auto claimed = (*opened)->RunTake(take);
  ASSERT_TRUE(claimed.ok()) << claimed.status().ToString();
  ASSERT_EQ(claimed->size(), 1u);
  EXPECT_EQ((*claimed)[0].id, "old-pending");
  auto running = (*opened)->RunGet("old-running", "default");
  ASSERT_TRUE(running.ok()) << running.status().ToString();
  EXPECT_EQ(running->status, RunStatus::kRunning);
  EXPECT_EQ(running->attempt, 1);
  auto done = (*opened)->RunFinishBatch({Finish(*running, RunStatus::kCompleted)});
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_TRUE(done->at(0).accepted);
  // A new run goes in beside them, its key still unique over both tables.
  RunPutParams put;
  put.runs = {NewRun("old-running")};
  EXPECT_EQ((*opened)->RunPut(put).status().code(), StatusCode::kConflict);
}

}  // namespace
}  // namespace taskmill::postgres
