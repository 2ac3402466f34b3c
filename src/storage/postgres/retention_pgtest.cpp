// retention_pgtest.cpp — retention by age on PostgreSQL: a month of history older than
// the cutoff goes as a whole partition (dropped, not emptied row by row), the months
// ahead are made in advance, and runs of a month that has no partition (a process that
// still believes a dropped month exists) land in the default partition and are pruned
// from there, or move into their month's partition when it is made.
#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <string>

#include "storage/postgres/pg_conn.h"
#include "storage/postgres/postgres_storage.h"
#include "storage/postgres/testing/pg_test_server.h"

namespace taskmill::postgres {
namespace {

using testing::PgTestServer;
using namespace std::chrono_literals;

constexpr TimePoint kT0{std::chrono::sys_days{std::chrono::year{2026} / 1 / 1}};
constexpr auto kDay = std::chrono::hours(24);

std::string FreshUrl() {
  auto server = PgTestServer::Shared();
  if (!server.ok()) throw std::runtime_error(server.status().ToString());
  static const Status database = (*server)->CreateDatabase("taskmill_retention").status();
  if (!database.ok()) throw std::runtime_error(database.ToString());
  auto url = (*server)->CreateSchema("taskmill_retention", PgTestServer::UniqueName("retention"));
  if (!url.ok()) throw std::runtime_error(url.status().ToString());
  return *url;
}

std::unique_ptr<Storage> Open(const std::string& url) {
  auto storage = OpenStorage(StorageOptions{url});
  if (!storage.ok()) throw std::runtime_error(storage.status().ToString());
  return std::move(*storage);
}

// A run stored completed, finished at `finished`.
Run Finished(const std::string& id, TimePoint finished, const std::string& account = "") {
  Run run;
  run.id = id;
  run.function = "test.echo";
  run.task = "nightly";
  run.status = RunStatus::kCompleted;
  run.created_at = run.run_at = finished - 1h;
  run.finished_at = finished;
  run.account_id = account;
  return run;
}

class Retention : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = FreshUrl();
    storage_ = Open(url_);
    auto conn = Connection::Open(PostgresOptionsFromUrl(url_)->conninfo);
    ASSERT_TRUE(conn.ok()) << conn.status().ToString();
    sql_ = std::move(*conn);
  }

  void Put(Storage& storage, std::vector<taskmill::Run> runs) {
    RunPutParams params;
    params.runs = std::move(runs);
    auto stored = storage.RunPut(std::move(params));
    ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  }

  // The partitions of runs_history, as pg_inherits lists them.
  std::set<std::string> Partitions() {
    auto rows = sql_->Exec(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'runs_history'::regclass");
    EXPECT_TRUE(rows.ok()) << rows.status().ToString();
    std::set<std::string> out;
    for (int i = 0; rows.ok() && i < rows->size(); ++i) out.emplace(rows->Text(i, 0));
    return out;
  }
  int64_t Count(const std::string& sql) {
    auto rows = sql_->Exec(sql);
    EXPECT_TRUE(rows.ok()) << sql << ": " << rows.status().ToString();
    return rows.ok() ? rows->Int(0, 0) : -1;
  }
  int64_t Completed(Storage& storage) {
    auto stats = storage.RunStats();
    EXPECT_TRUE(stats.ok());
    return stats.ok() ? stats->by_status[RunStatus::kCompleted] : -1;
  }

  std::string url_;
  std::unique_ptr<Storage> storage_;
  std::unique_ptr<Connection> sql_;
};

TEST_F(Retention, AMonthOlderThanTheCutoffIsDroppedAsAPartitionNotDeletedRowByRow) {
  // October (2 runs), November (1) and December 2025 (2).
  Put(*storage_, {Finished("oct-1", kT0 - 80 * kDay, "acme"), Finished("oct-2", kT0 - 70 * kDay),
                  Finished("nov-1", kT0 - 45 * kDay), Finished("dec-1", kT0 - 20 * kDay, "acme"),
                  Finished("dec-2", kT0 - 1 * kDay)});
  const std::set<std::string> before = Partitions();
  EXPECT_TRUE(before.contains("runs_history_202510"));
  EXPECT_TRUE(before.contains("runs_history_202511"));
  EXPECT_TRUE(before.contains("runs_history_default"));
  const int64_t dec_rows = Count("SELECT count(*) FROM runs_history_202512");
  ASSERT_EQ(dec_rows, 2);

  // Cutoff 2025-11-20: October ended before it and goes; November holds a run older
  // than the cutoff but has not ended, so it stays whole.
  auto pruned = storage_->RunPruneOlderThan(kT0 - 42 * kDay, kT0);
  ASSERT_TRUE(pruned.ok()) << pruned.status().ToString();
  EXPECT_EQ(pruned->runs, 2);
  ASSERT_EQ(pruned->dropped.size(), 1u);
  EXPECT_EQ(pruned->dropped[0].first, "runs_history_202510");
  EXPECT_EQ(pruned->dropped[0].second, 2);

  const std::set<std::string> after = Partitions();
  EXPECT_FALSE(after.contains("runs_history_202510"));
  EXPECT_TRUE(after.contains("runs_history_202511"));
  // Gone as a table, not emptied: neither the partition nor its detached table exists.
  EXPECT_EQ(Count("SELECT count(*) FROM pg_class WHERE relname IN ('runs_history_202510', "
                  "'taskmill_pruned_202510') AND relnamespace = "
                  "(SELECT relnamespace FROM pg_class WHERE oid = 'runs_history'::regclass)"),
            0);
  // No row of the partitions left was deleted.
  EXPECT_EQ(Count("SELECT coalesce(sum(n_tup_del), 0)::bigint FROM pg_stat_user_tables WHERE "
                  "relid IN (SELECT inhrelid FROM pg_inherits "
                  "WHERE inhparent = 'runs_history'::regclass)"),
            0);
  EXPECT_EQ(Count("SELECT count(*) FROM runs_history_202512"), dec_rows);
  // The months ahead of `now` are made in advance.
  for (const char* month : {"runs_history_202601", "runs_history_202602", "runs_history_202603"}) {
    EXPECT_TRUE(after.contains(month)) << month;
  }
  // Keys and tallies went with the month.
  EXPECT_EQ(Count("SELECT count(*) FROM run_keys WHERE id LIKE 'oct-%'"), 0);
  EXPECT_EQ(Completed(*storage_), 3);
  auto acme = storage_->RunStats(std::string("acme"));
  ASSERT_TRUE(acme.ok());
  EXPECT_EQ(acme->total, 1);
  EXPECT_EQ(storage_->RunGet("oct-1").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(storage_->RunGet("nov-1").ok());
}

TEST_F(Retention, RunsOfADroppedMonthLandInTheDefaultPartitionAndArePrunedOrMovedFromThere) {
  // Another process finished runs in October, so it believes October's partition exists.
  std::unique_ptr<Storage> other = Open(url_);
  Put(*other, {Finished("oct-1", kT0 - 80 * kDay)});
  auto pruned = storage_->RunPruneOlderThan(kT0 - 31 * kDay, kT0);
  ASSERT_TRUE(pruned.ok()) << pruned.status().ToString();
  ASSERT_EQ(pruned->dropped.size(), 1u);

  // Its next run of October does not fail: it lands in the default partition.
  Put(*other, {Finished("oct-2", kT0 - 75 * kDay)});
  EXPECT_EQ(Count("SELECT count(*) FROM runs_history_default"), 1);
  EXPECT_EQ(Completed(*storage_), 1);

  // A process that makes October again moves that run into the new partition.
  std::unique_ptr<Storage> fresh = Open(url_);
  Put(*fresh, {Finished("oct-3", kT0 - 70 * kDay)});
  EXPECT_TRUE(Partitions().contains("runs_history_202510"));
  EXPECT_EQ(Count("SELECT count(*) FROM runs_history_default"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM runs_history_202510"), 2);
  EXPECT_EQ(Completed(*storage_), 2);

  // A run in the default partition older than the cutoff is pruned from there.
  pruned = storage_->RunPruneOlderThan(kT0 - 31 * kDay, kT0);
  ASSERT_TRUE(pruned.ok()) << pruned.status().ToString();
  EXPECT_EQ(pruned->runs, 2);
  Put(*other, {Finished("oct-4", kT0 - 75 * kDay)});
  ASSERT_EQ(Count("SELECT count(*) FROM runs_history_default"), 1);
  pruned = storage_->RunPruneOlderThan(kT0 - 31 * kDay, kT0);
  ASSERT_TRUE(pruned.ok()) << pruned.status().ToString();
  EXPECT_EQ(pruned->runs, 1);
  EXPECT_TRUE(pruned->dropped.empty());
  EXPECT_EQ(Count("SELECT count(*) FROM runs_history_default"), 0);
  EXPECT_EQ(Completed(*storage_), 0);
  auto stats = storage_->RunStats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->total, 0);
}

}  // namespace
}  // namespace taskmill::postgres
