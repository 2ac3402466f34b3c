// Conformance tests of the catalog beside the runs: queues and their pause flag,
// task definitions, leader leases, key/value state and API tokens. Written against
// the Storage interface alone, so every backend that instantiates StorageConformance
// runs them.
#include <gmock/gmock.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "storage/conformance/helpers.h"

namespace taskmill::conformance {

// Named in fixture.cpp's link table, so that linking the suite links this file (helpers.h).
const int kCatalogSubject = 0;

namespace {
using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// ---- queues ---------------------------------------------------------------------------

TEST_P(StorageConformance, QueueListReportsPendingRunningOldestAndPaused) {
  Run q1_late = NewRun("q1-late", "q1");
  q1_late.run_at = At(50);
  Run q1_early = NewRun("q1-early", "q1");
  q1_early.run_at = At(-20);
  Run q1_running = NewRun("q1-running", "q1");
  q1_running.run_at = At(-30);
  q1_running.priority = 5;
  Run q2_pending = NewRun("q2-pending", "q2");
  q2_pending.run_at = At(7);
  Put({q1_late, q1_early, q1_running, q2_pending});
  ASSERT_THAT(Ids(Take("runner-1", 1, kT0)), ElementsAre("q1-running"));
  Unwrap(storage().QueueSetPaused("q3", true));

  auto queues = Unwrap(storage().QueueList(kT0));
  std::map<std::string, QueueStats> by_name;
  for (auto& q : queues) by_name[q.queue] = q;
  ASSERT_TRUE(by_name.count("q1"));
  ASSERT_TRUE(by_name.count("q2"));
  ASSERT_TRUE(by_name.count("q3"));
  EXPECT_EQ(by_name["q1"].pending, 2);
  EXPECT_EQ(by_name["q1"].running, 1);
  EXPECT_EQ(Time(by_name["q1"].oldest_pending_run_at), Time(At(-20)));
  EXPECT_FALSE(by_name["q1"].paused);
  EXPECT_EQ(by_name["q2"].pending, 1);
  EXPECT_EQ(by_name["q2"].running, 0);
  EXPECT_EQ(Time(by_name["q2"].oldest_pending_run_at), Time(At(7)));
  EXPECT_TRUE(by_name["q3"].paused);
  EXPECT_EQ(by_name["q3"].pending, 0);
  EXPECT_EQ(by_name["q3"].running, 0);
  EXPECT_EQ(Time(by_name["q3"].oldest_pending_run_at), Time(std::nullopt));

  Unwrap(storage().QueueSetPaused("q1", true));
  Unwrap(storage().QueueSetPaused("q3", false));
  Unwrap(storage().QueueSetPaused("q3", false));  // idempotent
  by_name.clear();
  for (auto& q : Unwrap(storage().QueueList(kT0))) by_name[q.queue] = q;
  EXPECT_TRUE(by_name["q1"].paused);
  EXPECT_EQ(by_name["q1"].pending, 2);
  EXPECT_FALSE(by_name["q2"].paused);
  EXPECT_FALSE(by_name["q3"].paused);
}

// ---- task definitions -----------------------------------------------------------------

TEST_P(StorageConformance, TaskDefinitionsRoundTripEveryField) {
  TaskDef full = FullTask("nightly");
  TaskDef plain;
  plain.name = "plain";
  plain.function = "numbers.import";
  Unwrap(storage().TaskUpsert(full));
  Unwrap(storage().TaskUpsert(plain));

  TaskDef got = Unwrap(storage().TaskGet("nightly"));
  EXPECT_EQ(Json(got), Json(full));
  EXPECT_EQ(Json(Unwrap(storage().TaskGet("plain"))), Json(plain));

  std::vector<TaskDef> listed = Unwrap(storage().TaskList());
  ASSERT_EQ(listed.size(), 2u);
  std::sort(listed.begin(), listed.end(),
            [](const TaskDef& a, const TaskDef& b) { return a.name < b.name; });
  EXPECT_EQ(Json(listed[0]), Json(full));
  EXPECT_EQ(Json(listed[1]), Json(plain));

  // Upsert replaces the definition.
  TaskDef changed = full;
  changed.schedule = "0 0 * * * *";
  changed.env.clear();
  changed.timeout.reset();
  changed.retry.max_delay.reset();
  Unwrap(storage().TaskUpsert(changed));
  EXPECT_EQ(Json(Unwrap(storage().TaskGet("nightly"))), Json(changed));
  EXPECT_EQ(Unwrap(storage().TaskList()).size(), 2u);

  Unwrap(storage().TaskSetEnabled("nightly", true));
  TaskDef enabled = changed;
  enabled.enabled = true;
  EXPECT_EQ(Json(Unwrap(storage().TaskGet("nightly"))), Json(enabled));
  Unwrap(storage().TaskSetEnabled("nightly", false));
  EXPECT_EQ(Json(Unwrap(storage().TaskGet("nightly"))), Json(changed));
  EXPECT_EQ(storage().TaskSetEnabled("no-such-task", true).code(), StatusCode::kNotFound);

  Unwrap(storage().TaskRemove("nightly"));
  auto missing = storage().TaskGet("nightly");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("nightly"));
  EXPECT_EQ(storage().TaskRemove("nightly").code(), StatusCode::kNotFound);
  ASSERT_EQ(Unwrap(storage().TaskList()).size(), 1u);
  EXPECT_EQ(Unwrap(storage().TaskList())[0].name, "plain");
}

// ---- leadership -----------------------------------------------------------------------

TEST_P(StorageConformance, LeaderElectionWithLeaseRenewalAndResignation) {
  const std::string lease = "scheduler";
  auto elect = [&](const std::string& holder, TimePoint now) {
    return Unwrap(storage().LeaderAttemptElect(lease, holder, now, 30s));
  };
  EXPECT_TRUE(elect("node-a", kT0)) << "the first holder wins";
  EXPECT_FALSE(elect("node-b", At(10))) << "the lease of node-a runs until t+30";
  EXPECT_TRUE(elect("node-a", At(20))) << "the holder renews: now until t+50";
  EXPECT_FALSE(elect("node-b", At(40))) << "renewed past t+30";
  EXPECT_FALSE(elect("node-b", At(49)));
  EXPECT_TRUE(elect("node-b", At(51))) << "expired: another node takes over";
  EXPECT_FALSE(elect("node-a", At(52))) << "the old leader lost the lease";

  // Other leases are independent.
  EXPECT_TRUE(Unwrap(storage().LeaderAttemptElect("sweeper", "node-a", At(52), 30s)));

  // Only the holder can resign.
  Unwrap(storage().LeaderResign(lease, "node-a"));
  EXPECT_FALSE(elect("node-a", At(53)));
  Unwrap(storage().LeaderResign(lease, "node-b"));
  EXPECT_TRUE(elect("node-a", At(53))) << "after resignation another node takes over at once";
  EXPECT_FALSE(elect("node-b", At(54)));
  Unwrap(storage().LeaderResign("never-held", "node-a"));
}

TEST_P(StorageConformance, LeaderGetReadsTheStoredLease) {
  EXPECT_EQ(Unwrap(storage().LeaderGet("scheduler")), std::nullopt) << "never taken";
  ASSERT_TRUE(Unwrap(storage().LeaderAttemptElect("scheduler", "node-a", kT0, 30s)));
  EXPECT_EQ(Unwrap(storage().LeaderGet("scheduler")), (LeaderLease{"node-a", At(30), 1}));
  ASSERT_TRUE(Unwrap(storage().LeaderAttemptElect("scheduler", "node-a", At(20), 30s)));
  EXPECT_EQ(Unwrap(storage().LeaderGet("scheduler")), (LeaderLease{"node-a", At(50), 1}))
      << "a renewal keeps the term";
  EXPECT_EQ(Unwrap(storage().LeaderGet("sweeper")), std::nullopt) << "leases are independent";
  Unwrap(storage().LeaderResign("scheduler", "node-a"));
  EXPECT_EQ(Unwrap(storage().LeaderGet("scheduler")), std::nullopt) << "resigned";
}

// ---- key/value state ------------------------------------------------------------------

TEST_P(StorageConformance, StateGetAndPut) {
  EXPECT_EQ(Unwrap(storage().StateGet("scheduler.last_fire")), std::nullopt);
  Unwrap(storage().StatePut("scheduler.last_fire", "2026-01-01T00:00:00Z"));
  Unwrap(storage().StatePut("empty", ""));
  EXPECT_EQ(Unwrap(storage().StateGet("scheduler.last_fire")), "2026-01-01T00:00:00Z");
  EXPECT_EQ(Unwrap(storage().StateGet("empty")), std::string());
  Unwrap(storage().StatePut("scheduler.last_fire", "2026-01-01T00:01:00Z"));
  EXPECT_EQ(Unwrap(storage().StateGet("scheduler.last_fire")), "2026-01-01T00:01:00Z");
  std::string binary("a\0b\xff", 4);
  Unwrap(storage().StatePut("binary", binary));
  EXPECT_EQ(Unwrap(storage().StateGet("binary")), binary);
  EXPECT_EQ(Unwrap(storage().StateGet("other")), std::nullopt);
}

TEST_P(StorageConformance, TokensAreCreatedListedAndRemovedByName) {
  EXPECT_TRUE(Unwrap(storage().TokenList()).empty());
  ApiToken acme{
      .name = "acme-1", .account_id = "acme", .hash = std::string(64, 'a'), .created_at = At(10)};
  ApiToken admin{.name = "ops", .admin = true, .hash = std::string(64, 'b'), .created_at = At(20)};
  Unwrap(storage().TokenCreate(admin));
  Unwrap(storage().TokenCreate(acme));
  EXPECT_EQ(Unwrap(storage().TokenList()), (std::vector<ApiToken>{acme, admin}));

  ApiToken same_name = acme;
  same_name.hash = std::string(64, 'c');
  EXPECT_EQ(storage().TokenCreate(same_name).code(), StatusCode::kConflict);
  ApiToken same_hash = acme;
  same_hash.name = "acme-2";
  EXPECT_EQ(storage().TokenCreate(same_hash).code(), StatusCode::kConflict);

  Unwrap(storage().TokenRemove("acme-1"));
  EXPECT_EQ(storage().TokenRemove("acme-1").code(), StatusCode::kNotFound);
  EXPECT_EQ(Unwrap(storage().TokenList()), (std::vector<ApiToken>{admin}));
}

}  // namespace
}  // namespace taskmill::conformance
