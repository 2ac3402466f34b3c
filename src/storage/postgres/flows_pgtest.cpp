// flows_pgtest.cpp — a finish's follow-ups and settle (RunFollowUp, RunSettle) when
// finishes of one flow commit at the same moment from two nodes: the conformance suite
// finishes one at a time, and the race it cannot show is the one PostgreSQL's
// concurrent commits open (each finish reading the other's run as still live).
#include <gtest/gtest.h>

#include <barrier>
#include <chrono>
#include <thread>

#include "storage/postgres/postgres_storage.h"
#include "storage/postgres/testing/pg_test_server.h"

namespace taskmill::postgres {
namespace {

using testing::PgTestServer;

constexpr TimePoint kT0{std::chrono::sys_days{std::chrono::year{2026} / 1 / 1}};
constexpr int kRounds = 100;

std::string FreshUrl() {
  auto server = PgTestServer::Shared();
  if (!server.ok()) throw std::runtime_error(server.status().ToString());
  static const Status database = (*server)->CreateDatabase("taskmill_flows").status();
  if (!database.ok()) throw std::runtime_error(database.ToString());
  auto url = (*server)->CreateSchema("taskmill_flows", PgTestServer::UniqueName("flows"));
  if (!url.ok()) throw std::runtime_error(url.status().ToString());
  return *url;
}

std::unique_ptr<Storage> Open(const std::string& url) {
  auto storage = OpenStorage(StorageOptions{url});
  if (!storage.ok()) throw std::runtime_error(storage.status().ToString());
  return std::move(*storage);
}

Run Member(const std::string& id, const std::string& flow, RunStatus status) {
  Run run;
  run.id = id;
  run.queue = flow;  // a queue per flow: a round claims only its own steps
  run.function = id == flow ? "flow.run" : "test.echo";
  run.status = status;
  run.flow_id = flow;
  run.parent_id = id == flow ? "" : flow;
  run.created_at = kT0;
  run.run_at = kT0;
  if (status == RunStatus::kRunning) run.started_at = kT0;
  return run;
}

// Puts a flow's root and two steps, and has each of two nodes claim one step.
std::pair<ClaimedRun, ClaimedRun> TwoStepsClaimed(Storage& one, Storage& two,
                                                  const std::string& flow) {
  RunPutParams put;
  put.runs = {Member(flow, flow, RunStatus::kRunning),
              Member(flow + ":a", flow, RunStatus::kPending),
              Member(flow + ":b", flow, RunStatus::kPending)};
  if (auto st = one.RunPut(std::move(put)); !st.ok())
    throw std::runtime_error(st.status().ToString());
  auto a = one.RunTake(RunTakeParams{.runner = "one", .queues = {flow}, .max = 1, .now = kT0});
  auto b = two.RunTake(RunTakeParams{.runner = "two", .queues = {flow}, .max = 1, .now = kT0});
  if (!a.ok() || !b.ok() || a->size() != 1 || b->size() != 1) {
    throw std::runtime_error("the two steps were not claimed one by each node");
  }
  return {a->at(0), b->at(0)};
}

// Finishes `run` with `f`'s follow-ups and settle on `storage`, once every node is ready.
void FinishTogether(Storage& storage, const ClaimedRun& run, RunFinish f, std::barrier<>& ready) {
  f.queue = run.queue;
  f.id = run.id;
  f.attempt = run.attempt;
  f.status = RunStatus::kCompleted;
  f.finished_at = kT0 + std::chrono::seconds(5);
  ready.arrive_and_wait();
  auto done = storage.RunFinishBatch({f});
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  ASSERT_TRUE(done->at(0).accepted);
}

// Two parents of a join finish at once on two nodes: whichever commits second sees
// the other final, so the join is stored in every round (and once).
TEST(PostgresFlows, JoinOfTwoParentsFinishedAtOnceOnTwoNodesIsStored) {
  const std::string url = FreshUrl();
  auto one = Open(url);
  auto two = Open(url);
  for (int i = 0; i < kRounds; ++i) {
    const std::string flow = "f" + std::to_string(i);
    auto [a, b] = TwoStepsClaimed(*one, *two, flow);
    RunFinish f;
    RunFollowUp join;
    join.run = Member(flow + ":c", flow, RunStatus::kPending);
    join.after = {flow + ":a", flow + ":b"};
    join.while_live = flow;
    f.follow_ups = {join};
    std::barrier<> ready(2);
    std::thread other([&, b = b] { FinishTogether(*two, b, f, ready); });
    FinishTogether(*one, a, f, ready);
    other.join();
    auto c = one->RunGet(flow + ":c");
    ASSERT_TRUE(c.ok()) << "round " << i << ": the join was not stored";
    EXPECT_EQ(c->status, RunStatus::kPending);
    EXPECT_EQ(one->RunGet(flow)->status, RunStatus::kRunning) << "round " << i;
  }
}

// The last two steps of a flow finish at once on two nodes, each with the flow's
// settle: whichever commits second finds nothing live and ends the root.
TEST(PostgresFlows, LastTwoStepsFinishedAtOnceOnTwoNodesSettleTheFlow) {
  const std::string url = FreshUrl();
  auto one = Open(url);
  auto two = Open(url);
  for (int i = 0; i < kRounds; ++i) {
    const std::string flow = "g" + std::to_string(i);
    auto [a, b] = TwoStepsClaimed(*one, *two, flow);
    RunFinish f;
    RunSettle settle;
    settle.queue = flow;
    settle.id = flow;
    settle.status = RunStatus::kCompleted;
    f.settle = settle;
    std::barrier<> ready(2);
    std::thread other([&, b = b] { FinishTogether(*two, b, f, ready); });
    FinishTogether(*one, a, f, ready);
    other.join();
    auto root = one->RunGet(flow);
    ASSERT_TRUE(root.ok());
    EXPECT_EQ(root->status, RunStatus::kCompleted) << "round " << i << ": the flow never ended";
  }
}

}  // namespace
}  // namespace taskmill::postgres
