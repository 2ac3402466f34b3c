// postgres_storage_pgtest.cpp — what the PostgreSQL backend does beyond the conformance
// suite: its URL, migrations raced by processes started together, commit
// notifications and their polling fallback, and a server restart under load.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <mutex>
#include <regex>
#include <set>
#include <thread>

#include "storage/postgres/pg_conn.h"
#include "storage/postgres/postgres_storage.h"
#include "storage/postgres/storage_impl.h"
#include "storage/postgres/testing/pg_test_server.h"

namespace taskmill::postgres {

namespace {

using testing::PgTestServer;

constexpr TimePoint kT0{std::chrono::sys_days{std::chrono::year{2026} / 1 / 1}};

Run NewRun(const std::string& id) {
  Run run;
  run.id = id;
  run.function = "test.echo";
  run.created_at = kT0;
  run.run_at = kT0;
  return run;
}

// A URL of a fresh schema on the shared test server.
std::string FreshUrl(const std::string& query = "") {
  auto server = PgTestServer::Shared();
  if (!server.ok()) throw std::runtime_error(server.status().ToString());
  static const Status database = (*server)->CreateDatabase("taskmill_backend").status();
  if (!database.ok()) throw std::runtime_error(database.ToString());
  auto url = (*server)->CreateSchema("taskmill_backend", PgTestServer::UniqueName("backend"));
  if (!url.ok()) throw std::runtime_error(url.status().ToString());
  return *url + (query.empty() ? "" : "&" + query);
}

std::unique_ptr<Storage> Open(const std::string& url) {
  auto storage = OpenStorage(StorageOptions{url});
  if (!storage.ok()) throw std::runtime_error(storage.status().ToString());
  return std::move(*storage);
}

// Waits up to `seconds` for `done`.
template <typename Fn>
bool WaitFor(double seconds, Fn done) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

TEST(PostgresUrl, KnowsItsParametersAndPassesLibpqsOn) {
  auto options = PostgresOptionsFromUrl(
      "postgresql://u@db.example:5433/jobs?pool=8&statement_timeout=5000&listen=false&"
      "sslmode=require");
  ASSERT_TRUE(options.ok()) << options.status().ToString();
  EXPECT_EQ(options->pool_size, 8);
  EXPECT_EQ(options->statement_timeout_ms, 5000);
  EXPECT_FALSE(options->listen);
  EXPECT_EQ(options->conninfo, "postgresql://u@db.example:5433/jobs?sslmode=require");
}

TEST(PostgresUrl, RefusesAnUnknownParameterNamingTheUrl) {
  const std::string url = "postgres://u@db.example/jobs?pool_size=3";
  auto options = OpenStorage(StorageOptions{url});
  ASSERT_FALSE(options.ok());
  EXPECT_EQ(options.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(options.status().message().find("'pool_size'"), std::string::npos);
  EXPECT_NE(options.status().message().find(url), std::string::npos);
  EXPECT_FALSE(PostgresOptionsFromUrl("postgresql://h/db?pool=0").ok());
  EXPECT_FALSE(PostgresOptionsFromUrl("postgresql://h/db?listen=maybe").ok());
}

TEST(PostgresMigrations, NodesStartedTogetherMigrateOnce) {
  const std::string url = FreshUrl();
  constexpr int kNodes = 4;
  std::vector<std::unique_ptr<Storage>> opened(kNodes);
  std::vector<std::string> errors(kNodes);
  std::vector<std::thread> threads;
  for (int i = 0; i < kNodes; ++i) {
    threads.emplace_back([&, i] {
      auto storage = OpenStorage(StorageOptions{url});
      if (storage.ok()) {
        opened[i] = std::move(*storage);
      } else {
        errors[i] = storage.status().ToString();
      }
    });
  }
  for (auto& t : threads) t.join();
  int applied_schema = 0;
  for (int i = 0; i < kNodes; ++i) {
    ASSERT_TRUE(opened[i]) << errors[i];
    auto migration = opened[i]->Migrate();
    ASSERT_TRUE(migration.ok()) << migration.status().ToString();
    EXPECT_GT(migration->after, 0);
    if (migration->before == 0) {
      ++applied_schema;
      EXPECT_FALSE(migration->applied.empty());
    } else {
      EXPECT_TRUE(migration->applied.empty()) << "node " << i << " found the schema done";
    }
  }
  EXPECT_EQ(applied_schema, 1) << "exactly one node applies the migrations";
  // Every node works on the one schema.
  RunPutParams put;
  put.runs = {NewRun("after-migration")};
  ASSERT_TRUE(opened[0]->RunPut(put).ok());
  EXPECT_TRUE(opened[kNodes - 1]->RunGet("after-migration").ok());
}

TEST(PostgresCommitWatch, AnotherNodesPutWakesTheWatch) {
  const std::string url = FreshUrl();
  auto watcher = Open(url);
  auto writer = Open(url);
  EXPECT_TRUE(watcher->Capabilities().commit_notifications);
  EXPECT_FALSE(watcher->Capabilities().holder_liveness);
  std::atomic<int> calls{0};
  auto watch = watcher->WatchCommits([&] { ++calls; });
  ASSERT_TRUE(watch);
  // The watch calls once when it starts listening (commits made before it).
  ASSERT_TRUE(WaitFor(10, [&] { return calls.load() > 0; }));
  const int before = calls.load();
  RunPutParams put;
  put.runs = {NewRun("wakes")};
  ASSERT_TRUE(writer->RunPut(put).ok());
  EXPECT_TRUE(WaitFor(10, [&] { return calls.load() > before; })) << "no notification";
}

TEST(PostgresCommitWatch, ListenFalseLeavesRunnersToPoll) {
  const std::string url = FreshUrl("listen=false");
  auto a = Open(url);
  auto b = Open(url);
  EXPECT_FALSE(a->Capabilities().commit_notifications);
  EXPECT_EQ(a->WatchCommits([] {}), nullptr);
  RunPutParams put;
  put.runs = {NewRun("polled")};
  ASSERT_TRUE(a->RunPut(put).ok());
  RunTakeParams take;
  take.runner = "r1";
  take.max = 10;
  take.now = kT0;
  auto claimed = b->RunTake(take);
  ASSERT_TRUE(claimed.ok()) << claimed.status().ToString();
  ASSERT_EQ(claimed->size(), 1u);
  EXPECT_EQ((*claimed)[0].id, "polled");
}

// A claim of N from a backlog claims N: with hash joins off, an inlined pick of the
// claim was run again for each row it joined, each time locking and claiming new rows
// (150,000 runs claimed by claims of 128).
TEST(PostgresClaims, AClaimFromABigBacklogTakesNoMoreThanAsked) {
  auto storage = Open(FreshUrl());
  RunPutParams put;
  for (int i = 0; i < 5000; ++i) put.runs.push_back(NewRun("backlog-" + std::to_string(i)));
  ASSERT_TRUE(storage->RunPut(put).ok());
  RunTakeParams take;
  take.runner = "r1";
  take.max = 64;
  take.start = 16;
  take.now = kT0;
  auto claimed = storage->RunTake(take);
  ASSERT_TRUE(claimed.ok()) << claimed.status().ToString();
  EXPECT_EQ(claimed->size(), 64u);
  RunFilter running;
  running.status = RunStatus::kRunning;
  running.limit = 1000;
  auto page = storage->RunList(running);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->runs.size(), 64u) << "runs set running beyond the claim";
  // Released claims ahead come back as they were: only the 48 not started.
  auto released = storage->RunReleaseUnstarted(kT0 + std::chrono::hours(1), 1000);
  ASSERT_TRUE(released.ok()) << released.status().ToString();
  EXPECT_EQ(released->size(), 48u);
}

// Every scan of `runs` in an EXPLAIN (FORMAT JSON) plan, as "node type on index".
void RunsScans(const boost::json::value& node, std::vector<std::string>& out) {
  if (!node.is_object()) return;
  const auto& o = node.as_object();
  const auto* rel = o.if_contains("Relation Name");
  // The generations of the hot table (runs_g0, ...) are `runs`; their copies of an index
  // of `runs` are named runs_gN_<columns>_idx, read as runs_<columns>.
  static const std::regex kGeneration("runs_g[0-9]+"), kIndex("runs_g[0-9]+_(.*)_idx");
  if (rel && std::regex_match(std::string(rel->as_string()), kGeneration) &&
      o.at("Node Type") != "ModifyTable") {
    const auto* index = o.if_contains("Index Name");
    std::smatch m;
    std::string name = index ? std::string(index->as_string()) : std::string("(table)");
    if (std::regex_match(name, m, kIndex)) name = "runs_" + m[1].str();
    out.push_back(std::string(o.at("Node Type").as_string()) + " on " + name);
  }
  if (const auto* plans = o.if_contains("Plans")) {
    for (const auto& child : plans->as_array()) RunsScans(child, out);
  }
}

// An array literal of `field` of the first `n` runs.
template <typename Field>
std::string ArrayOf(const std::vector<taskmill::Run>& runs, size_t n, Field field) {
  ArrayLiteral array;
  for (size_t i = 0; i < n; ++i) array.Add(field(runs[i]));
  return array.Take();
}

// Statistics taken while the table held only pending runs (a backlog enqueued, analyzed,
// then claimed before autoanalyze comes back) make the partial index of running runs
// look empty: a batch of finishes, heartbeats or starts must still reach each run by its
// (id, queue) key, not loop over every running run for each row. The plan is read, not
// timed.
TEST(PostgresFinishes, StaleStatisticsStillReachEachRunByItsKey) {
  const std::string url = FreshUrl();
  auto storage = Open(url);
  constexpr int kRuns = 6000;
  RunPutParams put;
  for (int i = 0; i < kRuns; ++i) put.runs.push_back(NewRun("stale-" + std::to_string(i)));
  ASSERT_TRUE(storage->RunPut(put).ok());
  auto conn = Connection::Open(url);
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  ASSERT_TRUE((*conn)->ExecScript("ANALYZE runs").ok());
  RunTakeParams take;
  take.runner = "r1";
  take.max = kRuns;
  take.now = kT0;
  auto claimed = storage->RunTake(take);
  ASSERT_TRUE(claimed.ok()) << claimed.status().ToString();
  ASSERT_EQ(claimed->size(), static_cast<size_t>(kRuns));

  // One chunk of 2,000 finishes (the backend's chunk), half of them retries.
  ArrayLiteral ids, queues, attempts, statuses, finished, run_ats, results, errors, kinds, outcomes,
      outputs, totals, succeeded, failed;
  for (int i = 0; i < 2000; ++i) {
    const taskmill::Run& run = (*claimed)[static_cast<size_t>(i)];
    const bool retry = i % 2 == 1;
    ids.Add(run.id);
    queues.Add(run.queue);
    attempts.Add(static_cast<int64_t>(run.attempt));
    statuses.Add(retry ? "pending" : "completed");
    finished.Add(int64_t{1});
    if (retry) {
      run_ats.Add(int64_t{2});
    } else {
      run_ats.AddNull();
    }
    results.AddNull();
    errors.Add("");
    kinds.Add("");
    outcomes.Add(retry ? "failed" : "completed");
    outputs.Add("");
    totals.AddNull();
    succeeded.AddNull();
    failed.AddNull();
  }
  Params params;
  params.Add(ids.Take()).Add(queues.Take()).Add(attempts.Take()).Add(statuses.Take());
  params.Add(finished.Take()).Add(run_ats.Take()).Add(results.Take()).Add(errors.Take());
  params.Add(kinds.Take()).Add(outcomes.Take()).Add(outputs.Take()).Add(totals.Take());
  params.Add(succeeded.Take()).Add(failed.Take());
  // The settings of the backend's transactions (pg_conn.h), and of its batches by key.
  ASSERT_TRUE((*conn)
                  ->ExecScript("BEGIN; SET LOCAL enable_hashjoin = off; "
                               "SET LOCAL enable_mergejoin = off; " +
                               std::string(kSeekByKey))
                  .ok());
  // How each statement reads `runs`: its scans, by index.
  auto scans_of = [&](const std::string& sql, const Params& p) {
    std::vector<std::string> scans;
    auto plan = (*conn)->Exec("EXPLAIN (FORMAT JSON) " + sql, p);
    if (!plan.ok()) return std::vector<std::string>{plan.status().ToString()};
    RunsScans(boost::json::parse(plan->Text(0, 0)).as_array().at(0).at("Plan"), scans);
    return scans;
  };
  // Each run is looked up by its (id, queue) key, then reached by its seq: no other
  // read of `runs` (no partial index, no scan of the table).
  auto by_key_then_seq = [](const std::vector<std::string>& scans) {
    bool keyed = false;
    for (const std::string& scan : scans) {
      if (scan == "Index Scan on runs_id_queue") {
        keyed = true;
      } else if (scan != "Index Scan on runs_seq") {
        return false;
      }
    }
    return keyed;
  };
  // The final finishes' delete and the retries' update.
  EXPECT_PRED1(by_key_then_seq, scans_of(FinishSql(), params));
  // The same runs' heartbeats and starts (their first columns are the finishes').
  Params beats;
  beats.Add(ArrayOf(*claimed, 2000, [](const taskmill::Run& r) { return r.id; }))
      .Add(ArrayOf(*claimed, 2000, [](const taskmill::Run& r) { return r.queue; }))
      .Add(
          ArrayOf(*claimed, 2000, [](const taskmill::Run& r) { return std::to_string(r.attempt); }))
      .Add(ArrayOf(*claimed, 2000, [](const taskmill::Run&) { return std::string("3"); }));
  EXPECT_PRED1(by_key_then_seq, scans_of(HeartbeatSql(), beats));
  Params starts;
  starts.Add(ArrayOf(*claimed, 2000, [](const taskmill::Run& r) { return r.id; }))
      .Add(ArrayOf(*claimed, 2000, [](const taskmill::Run& r) { return r.queue; }))
      .Add(ArrayOf(*claimed, 2000,
                   [](const taskmill::Run& r) { return std::to_string(r.attempt); }));
  EXPECT_PRED1(by_key_then_seq, scans_of(StartSql(), starts));
  ASSERT_TRUE((*conn)->ExecScript("ROLLBACK").ok());

  // And the finishes are stored, the fence holding: a second finish of the same attempt
  // is refused.
  std::vector<RunFinish> finishes;
  for (const taskmill::Run& run : *claimed) {
    RunFinish f;
    f.id = run.id;
    f.queue = run.queue;
    f.attempt = run.attempt;
    f.finished_at = kT0 + std::chrono::seconds(1);
    finishes.push_back(f);
  }
  auto stored = storage->RunFinishBatch(finishes);
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  for (const auto& r : *stored) ASSERT_TRUE(r.accepted);
  auto again = storage->RunFinishBatch({finishes.front()});
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_FALSE(again->front().accepted);
}

// The server stops (fast shutdown) while runs are being stored: a put either answers
// an error or its runs are found after the restart, by the same Storage object, which
// reconnects on its own.
TEST(PostgresRestart, NoAcknowledgedRunIsLostAndTheStorageResumes) {
  auto server = PgTestServer::Start();
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  if (server->external())
    GTEST_SKIP() << "an external server (TASKMILL_TEST_POSTGRES_URL) is not restarted";
  auto url = server->CreateDatabase("restart");
  ASSERT_TRUE(url.ok()) << url.status().ToString();
  auto storage = Open(*url + "?statement_timeout=5000");
  std::mutex mu;
  std::vector<std::string> acknowledged;
  std::atomic<int> failures{0};
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int batch = 0; !stop; ++batch) {
      RunPutParams put;
      for (int i = 0; i < 10; ++i) {
        put.runs.push_back(NewRun("b" + std::to_string(batch) + "-" + std::to_string(i)));
      }
      auto stored = storage->RunPut(put);
      if (stored.ok()) {
        std::lock_guard lock(mu);
        for (const taskmill::Run& run : *stored) acknowledged.push_back(run.id);
      } else {
        ++failures;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
  });
  auto acknowledged_count = [&] {
    std::lock_guard lock(mu);
    return acknowledged.size();
  };
  ASSERT_TRUE(WaitFor(30, [&] { return acknowledged_count() >= 200; }));
  ASSERT_TRUE(server->StopFast().ok());
  ASSERT_TRUE(WaitFor(30, [&] { return failures.load() > 0; })) << "puts failed while it was down";
  ASSERT_TRUE(server->StartAgain().ok());
  const size_t before_restart = acknowledged_count();
  EXPECT_TRUE(WaitFor(30, [&] { return acknowledged_count() >= before_restart + 200; }))
      << "the storage resumes storing without being reopened";
  stop = true;
  writer.join();
  std::lock_guard lock(mu);
  RunFilter filter;
  filter.limit = 1000;
  std::set<std::string> found;
  for (;;) {
    auto page = storage->RunList(filter);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    for (const taskmill::Run& run : page->runs) found.insert(run.id);
    if (page->next_cursor.empty()) break;
    filter.cursor = page->next_cursor;
  }
  for (const std::string& id : acknowledged) {
    ASSERT_TRUE(found.contains(id)) << "acknowledged run " << id << " was lost";
  }
}

}  // namespace
}  // namespace taskmill::postgres
