// The conformance suite's fixture: how each test gets its storage, and the calls the
// tests share (taskmill/testing/storage_conformance.h).
#include <stdlib.h>

#include <map>
#include <set>

#include "storage/conformance/helpers.h"

namespace taskmill::conformance {

// The link table (helpers.h): refers to every subject's file, so that a binary which
// links this file links every test of the suite.
extern const int* const kEverySubject[];
const int* const kEverySubject[] = {
    &kRunsPutGetSubject, &kListSubject,       &kTakeSubject,         &kFinishSubject,
    &kTalliesSubject,    &kCatalogSubject,    &kReopenSubject,       &kFilesSubject,
    &kAccountsSubject,   &kClaimsSubject,     &kPendingSplitSubject, &kCapsSubject,
    &kLeaderTermSubject, &kRunnersSubject,    &kFlowsSubject,        &kFlowReopenSubject,
    &kRetentionSubject,  &kStagedRunsSubject,
};

// ---- fixture plumbing ---------------------------------------------------------------

std::string StorageFactoryName(const ::testing::TestParamInfo<StorageFactory>& info) {
  return info.param.name;
}

void PrintTo(const StorageFactory& factory, std::ostream* os) { *os << factory.name; }

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "taskmill-test-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error("cannot create a temporary directory from " + pattern);
  }
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string Where(const char* file, int line) {
  return std::string(file) + ":" + std::to_string(line);
}

void Unwrap(const Status& status, const char* file, int line) {
  if (!status.ok()) throw UnexpectedStatus(Where(file, line) + ": " + status.ToString());
}

void StorageConformance::SetUp() {
  auto fixture = GetParam().create();
  ASSERT_TRUE(fixture.ok()) << "cannot create a " << GetParam().name
                            << " storage: " << fixture.status().ToString();
  fixture_ = std::move(fixture).value();
}

void StorageConformance::TearDown() { fixture_.reset(); }

void StorageConformance::Reopen() { Unwrap(fixture_->Reopen()); }

Run StorageConformance::NewRun(std::string id, std::string queue) {
  Run run;
  run.id = std::move(id);
  run.queue = std::move(queue);
  run.function = "test.echo";
  run.created_at = kT0;
  run.run_at = kT0;
  return run;
}

Run StorageConformance::NewTaskRun(std::string id, std::string task) {
  Run run = NewRun(std::move(id));
  run.function = "task." + task;
  run.task = std::move(task);
  return run;
}

std::vector<Run> StorageConformance::Put(std::vector<Run> runs) {
  RunPutParams params;
  params.runs = std::move(runs);
  return Unwrap(storage().RunPut(std::move(params)));
}

bool StorageConformance::PutScheduled(const Run& run) {
  auto lease = Unwrap(storage().LeaderGet("scheduler"));
  if (!lease) {
    Unwrap(storage().LeaderAttemptElect("scheduler", "conformance", kT0, std::chrono::hours(24)));
    lease = Unwrap(storage().LeaderGet("scheduler"));
  }
  LeaderFence fence{"scheduler", lease ? lease->term : 0};
  return !Unwrap(storage().RunPutScheduled({run}, fence)).empty();
}

Run StorageConformance::Get(const std::string& id, const std::string& queue) {
  return Unwrap(storage().RunGet(id, queue));
}

std::vector<ClaimedRun> StorageConformance::Take(const std::string& runner, int max, TimePoint now,
                                                 std::vector<std::string> queues) {
  RunTakeParams params;
  params.runner = runner;
  params.queues = std::move(queues);
  params.max = max;
  params.now = now;
  return Unwrap(storage().RunTake(params));
}

bool StorageConformance::Finish(const Run& claimed, RunStatus status, TimePoint finished_at) {
  RunFinish finish;
  finish.queue = claimed.queue;
  finish.id = claimed.id;
  finish.attempt = claimed.attempt;
  finish.status = status;
  finish.finished_at = finished_at;
  auto results = Unwrap(storage().RunFinishBatch({finish}));
  if (results.size() != 1) throw UnexpectedStatus("RunFinishBatch: expected one result");
  return results[0].accepted;
}

std::vector<Run> StorageConformance::ListAll(RunFilter filter) {
  std::vector<Run> all;
  std::set<std::string> cursors;
  for (;;) {
    RunPage page = Unwrap(storage().RunList(filter));
    all.insert(all.end(), page.runs.begin(), page.runs.end());
    if (page.next_cursor.empty()) break;
    if (!cursors.insert(page.next_cursor).second) {
      ADD_FAILURE() << "RunList returned the cursor '" << page.next_cursor << "' twice";
      break;
    }
    filter.cursor = page.next_cursor;
  }
  return all;
}

void StorageConformance::ExpectStatsMatchListing() {
  StorageStats stats = Unwrap(storage().RunStats());
  EXPECT_EQ(stats.by_status.size(), std::size(kAllRunStatuses));
  int64_t sum = 0;
  for (RunStatus status : kAllRunStatuses) {
    RunFilter filter;
    filter.status = status;
    filter.limit = 1000;
    int64_t listed = static_cast<int64_t>(ListAll(filter).size());
    EXPECT_EQ(CountOf(stats, status), listed) << "status " << ToString(status);
    sum += CountOf(stats, status);
  }
  EXPECT_EQ(stats.total, sum);
  RunFilter all;
  all.limit = 1000;
  std::vector<Run> runs = ListAll(all);
  EXPECT_EQ(stats.total, static_cast<int64_t>(runs.size()));

  // The breakdowns by task and by queue agree with the runs themselves.
  std::map<std::string, std::map<RunStatus, int64_t>> by_task;
  std::map<std::string, QueueStats> by_queue;
  for (const Run& run : runs) {
    ++by_task[run.task][run.status];
    if (run.status != RunStatus::kPending && run.status != RunStatus::kRunning) continue;
    QueueStats& q = by_queue[run.queue];
    if (run.status == RunStatus::kRunning) {
      ++q.running;
      continue;
    }
    ++q.pending;
    if (!q.oldest_pending_run_at || run.run_at < *q.oldest_pending_run_at) {
      q.oldest_pending_run_at = run.run_at;
    }
  }
  EXPECT_EQ(stats.by_task, by_task);
  for (const QueueStats& q : Unwrap(storage().QueueList(kT0))) {
    const QueueStats& expected = by_queue[q.queue];
    EXPECT_EQ(q.pending, expected.pending) << "queue " << q.queue;
    EXPECT_EQ(q.running, expected.running) << "queue " << q.queue;
    EXPECT_EQ(Time(q.oldest_pending_run_at), Time(expected.oldest_pending_run_at))
        << "queue " << q.queue;
    by_queue.erase(q.queue);
  }
  for (const auto& [name, q] : by_queue) {
    EXPECT_TRUE(q.pending == 0 && q.running == 0) << "queue " << name << " missing from QueueList";
  }
}
// A binary may link the suite without instantiating it (for a backend it does not build).
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(StorageConformance);

}  // namespace taskmill::conformance
