#include "storage/conformance/storage_conformance.h"

#include <gmock/gmock.h>
#include <stdlib.h>

#include <algorithm>
#include <boost/json.hpp>
#include <map>
#include <mutex>
#include <set>
#include <thread>

namespace taskmill::conformance {
namespace {
namespace json = boost::json;
using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

std::vector<std::string> Ids(const std::vector<Run>& runs) {
  std::vector<std::string> ids;
  ids.reserve(runs.size());
  for (const auto& r : runs) ids.push_back(r.id);
  return ids;
}

// Runs and task definitions are compared through their JSON form, which holds every
// field losslessly (model_test.cpp checks that field by field) and prints readably.
// (The defaulted Run::operator== is unusable while RetryPolicy has no operator==.)
std::string Json(const Run& run) { return json::serialize(ToJson(run)); }
std::string Json(const Attempt& attempt) { return json::serialize(ToJson(attempt)); }
std::string Json(const TaskDef& task) { return json::serialize(ToJson(task)); }
std::string Time(TimePoint t) { return FormatTime(t); }
std::string Time(const std::optional<TimePoint>& t) { return t ? FormatTime(*t) : "null"; }

#define EXPECT_RUN_EQ(a, b) EXPECT_EQ(Json(a), Json(b))

// The end of attempt `attempt` of run `id` in queue "default".
RunFinish FinishOf(std::string id, int attempt, RunStatus status, TimePoint finished_at) {
  RunFinish finish;
  finish.queue = "default";
  finish.id = std::move(id);
  finish.attempt = attempt;
  finish.status = status;
  finish.finished_at = finished_at;
  return finish;
}

int64_t CountOf(const StorageStats& stats, RunStatus status) {
  auto it = stats.by_status.find(status);
  return it == stats.by_status.end() ? -1 : it->second;
}

// A run with every field set to a value other than its default, as a runner would
// leave it after a first failed attempt and a second successful one.
Run FullCompletedRun(std::string id) {
  Run r;
  r.id = std::move(id);
  r.queue = "imports";
  r.function = "numbers.import";
  r.task = "nightly-import";
  r.status = RunStatus::kCompleted;
  r.args = json::array{1, "two", json::object{{"three", 3.5}}, nullptr, true};
  r.data = json::object{{"customer", "acme"}, {"nested", json::array{1, 2}}};
  r.priority = -3;
  r.account_id = "account-7";
  r.auth_account_id = "admin-1";
  r.created_at = kT0 + 1us;
  r.run_at = At(5) + 250us;
  r.scheduled_at = At(5);
  r.started_at = At(20) + 7us;
  r.finished_at = At(25) + 999'999us;
  r.attempt = 2;
  r.retry = RetryPolicy{3, 1500ms, 2.5, 90s};
  r.timeout = 45s;
  r.time_to_resolve = 2min + 1us;
  r.result = json::object{{"rows", 12}, {"ok", true}};
  r.error = "";
  r.error_kind = "";
  r.progress = {12, 10, 2};
  r.parent_id = "flow-step-1";
  r.flow_id = "flow-1";
  r.input_file = "file-in-1";
  r.output_file = "file-out-1";
  r.attempts = {
      Attempt{1, "runner-a", At(6), At(8), "failed", "exit status 3", "line 1\nline 2"},
      Attempt{2, "runner-b", At(20) + 7us, At(25) + 999'999us, "completed", "", "done \"ok\""},
  };
  return r;
}

// A run in the middle of its second attempt (the launch after FullCompletedRun's).
Run FullRunningRun(std::string id) {
  Run r = FullCompletedRun(std::move(id));
  r.scheduled_at = At(65);
  r.status = RunStatus::kRunning;
  r.finished_at.reset();
  r.result = nullptr;
  r.error = "last attempt: exit status 3";
  r.error_kind = "user";
  r.lease_until = At(80);
  r.runner = "runner-b";
  r.attempts.pop_back();
  return r;
}

TaskDef FullTask(std::string name) {
  TaskDef t;
  t.name = std::move(name);
  t.kind = TaskKind::kPeriodical;
  t.function = "task." + t.name;
  t.command = {"/usr/bin/env", "python3", "-c", "print('hi there')"};
  t.shell = true;
  t.working_dir = "/var/lib/taskmill/work";
  t.env = {{"LANG", "C.UTF-8"}, {"MODE", "fast"}};
  t.args = json::array{"--verbose", json::object{{"limit", 10}}};
  t.schedule = "*/15 * * * * *";
  t.timezone = "Europe/Berlin";
  t.misfire = "run_all";
  t.misfire_max = 3;
  t.overlap = "allow";
  t.pause = 90s;
  t.time_to_resolve = 5min;
  t.timeout = 250ms;
  t.retry = RetryPolicy{5, 2s, 3.0, 1h};
  t.queue = "reports";
  t.priority = 4;
  t.enabled = false;
  return t;
}

}  // namespace

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

namespace {

// ---- RunPut ---------------------------------------------------------------------------

TEST_P(StorageConformance, RunPutStoresEveryFieldAndReturnsRunsAsStored) {
  std::vector<Run> runs = {FullCompletedRun("full-completed"), FullRunningRun("full-running"),
                           NewRun("plain")};
  std::vector<Run> stored = Put(runs);
  ASSERT_EQ(stored.size(), runs.size());
  for (size_t i = 0; i < runs.size(); ++i) {
    EXPECT_RUN_EQ(stored[i], runs[i]);
    EXPECT_RUN_EQ(Get(runs[i].id, runs[i].queue), runs[i]);
  }
}

TEST_P(StorageConformance, RunPutEmptyBatchStoresNothing) {
  EXPECT_TRUE(Put({}).empty());
  EXPECT_EQ(Unwrap(storage().RunStats()).total, 0);
}

TEST_P(StorageConformance, RunPutConflictErrorRejectsTheWholeBatch) {
  Run original = NewRun("dup-run");
  original.args = json::array{"original"};
  Put({original});

  Run duplicate = NewRun("dup-run");
  duplicate.args = json::array{"duplicate"};
  RunPutParams params;
  params.runs = {NewRun("before-dup"), duplicate, NewRun("after-dup")};
  params.conflict = ConflictMode::kError;
  auto result = storage().RunPut(params);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kConflict) << result.status().ToString();
  EXPECT_THAT(result.status().message(), HasSubstr("dup-run"));

  EXPECT_EQ(storage().RunGet("before-dup").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(storage().RunGet("after-dup").status().code(), StatusCode::kNotFound);
  EXPECT_RUN_EQ(Get("dup-run"), original);
  StorageStats stats = Unwrap(storage().RunStats());
  EXPECT_EQ(stats.total, 1);
  EXPECT_EQ(CountOf(stats, RunStatus::kPending), 1);
  ExpectStatsMatchListing();
}

TEST_P(StorageConformance, RunPutConflictErrorRejectsDuplicatesInsideOneBatch) {
  RunPutParams params;
  params.runs = {NewRun("first"), NewRun("twice"), NewRun("twice")};
  auto result = storage().RunPut(params);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kConflict);
  EXPECT_EQ(storage().RunGet("first").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(storage().RunGet("twice").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Unwrap(storage().RunStats()).total, 0);
}

// Batches of many runs: a backend may insert them several per statement.
TEST_P(StorageConformance, RunPutOfHundredsStoresEveryFieldOfEachRun) {
  std::vector<Run> runs;
  for (int i = 0; i < 100; ++i) {
    std::string id = "bulk-put-" + std::to_string(i);
    Run r = i % 3 == 0 ? FullCompletedRun(id) : i % 3 == 1 ? FullRunningRun(id) : NewRun(id);
    r.priority = i;
    r.args = json::array{i};
    if (r.scheduled_at) r.scheduled_at = At(1000 + i);  // one launch per instant
    runs.push_back(std::move(r));
  }
  std::vector<Run> stored = Put(runs);
  ASSERT_EQ(stored.size(), runs.size());
  for (size_t i = 0; i < runs.size(); ++i) {
    SCOPED_TRACE(runs[i].id);
    EXPECT_RUN_EQ(stored[i], runs[i]);
    EXPECT_RUN_EQ(Get(runs[i].id, runs[i].queue), runs[i]);
  }
  ExpectStatsMatchListing();
}

TEST_P(StorageConformance, RunPutOfHundredsOfNewRunsStoresEachAsGiven) {
  // Runs as most are enqueued (no task, account, attempt or file), which a backend may
  // store with fewer values, every field they do set varying.
  std::vector<Run> runs;
  for (int i = 0; i < 100; ++i) {
    Run r = NewRun("new-run-" + std::to_string(i), i % 2 ? "default" : "other");
    r.priority = i % 7 - 3;
    r.args = json::array{i, "a\"b"};
    r.data = i % 3 ? json::value(json::object{{"i", i}}) : json::value(json::object{});
    r.run_at = At(i);
    r.created_at = At(-i);
    if (i % 4 == 0) r.retry = RetryPolicy{5, 2s, 1.5, 1min};
    if (i % 5 == 0) r.timeout = 30s;
    r.time_to_resolve = std::chrono::seconds(10 + i);
    runs.push_back(std::move(r));
  }
  std::vector<Run> stored = Put(runs);
  ASSERT_EQ(stored.size(), runs.size());
  for (size_t i = 0; i < runs.size(); ++i) {
    SCOPED_TRACE(runs[i].id);
    EXPECT_RUN_EQ(Get(runs[i].id, runs[i].queue), runs[i]);
  }
  ExpectStatsMatchListing();
}

TEST_P(StorageConformance, RunPutOfHundredsWithAConflictStoresNoneAndNamesIt) {
  Put({NewRun("stored-before")});
  auto batch = [&](const std::string& prefix) {
    std::vector<Run> runs;
    for (int i = 0; i < 100; ++i) runs.push_back(NewRun(prefix + std::to_string(i)));
    return runs;
  };
  RunPutParams taken;
  taken.runs = batch("taken-");
  taken.runs[50].id = "stored-before";
  auto result = storage().RunPut(taken);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kConflict) << result.status().ToString();
  EXPECT_THAT(result.status().message(), HasSubstr("stored-before"));

  RunPutParams twice;
  twice.runs = batch("twice-");
  twice.runs[41].id = twice.runs[40].id;
  result = storage().RunPut(twice);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kConflict) << result.status().ToString();
  EXPECT_THAT(result.status().message(), HasSubstr("twice-40"));

  EXPECT_EQ(storage().RunGet("taken-0").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(storage().RunGet("twice-99").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Unwrap(storage().RunStats()).total, 1);
  ExpectStatsMatchListing();
}

TEST_P(StorageConformance, RunPutConflictIgnoreReturnsTheStoredRun) {
  Run original = NewRun("same");
  original.args = json::array{"original"};
  original.priority = 1;
  Put({original});

  Run again = NewRun("same");
  again.args = json::array{"again"};
  again.priority = 9;
  RunPutParams params;
  params.runs = {again, NewRun("fresh")};
  params.conflict = ConflictMode::kIgnore;
  std::vector<Run> stored = Unwrap(storage().RunPut(params));
  ASSERT_EQ(stored.size(), 2u);
  EXPECT_RUN_EQ(stored[0], original);
  EXPECT_RUN_EQ(stored[1], NewRun("fresh"));
  EXPECT_RUN_EQ(Get("same"), original);
  StorageStats stats = Unwrap(storage().RunStats());
  EXPECT_EQ(CountOf(stats, RunStatus::kPending), 2);
  EXPECT_EQ(stats.total, 2);
}

TEST_P(StorageConformance, RunPutConflictOverwriteReplacesTheRun) {
  Run original = NewRun("replace-me");
  original.account_id = "account-7";  // FullCompletedRun's: a put replaces its own account's run
  Put({original});
  Run replacement = FullCompletedRun("replace-me");
  replacement.queue = "default";
  RunPutParams params;
  params.runs = {replacement};
  params.conflict = ConflictMode::kOverwrite;
  std::vector<Run> stored = Unwrap(storage().RunPut(params));
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_RUN_EQ(stored[0], replacement);
  EXPECT_RUN_EQ(Get("replace-me"), replacement);

  StorageStats stats = Unwrap(storage().RunStats());
  EXPECT_EQ(CountOf(stats, RunStatus::kPending), 0);
  EXPECT_EQ(CountOf(stats, RunStatus::kCompleted), 1);
  EXPECT_EQ(stats.total, 1);
  ExpectStatsMatchListing();
}

TEST_P(StorageConformance, RunPutConflictOverwriteIsRefusedWhileRunning) {
  Put({NewRun("busy")});
  std::vector<ClaimedRun> claimed = Take("runner-1", 1, kT0);
  ASSERT_EQ(claimed.size(), 1u);

  Run replacement = NewRun("busy");
  replacement.function = "other.function";
  RunPutParams params;
  params.runs = {NewRun("innocent"), replacement};
  params.conflict = ConflictMode::kOverwrite;
  auto result = storage().RunPut(params);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kConflict) << result.status().ToString();
  EXPECT_THAT(result.status().message(), HasSubstr("busy"));

  EXPECT_EQ(storage().RunGet("innocent").status().code(), StatusCode::kNotFound);
  EXPECT_RUN_EQ(Get("busy"), claimed[0]);
  auto beats = Unwrap(storage().RunHeartbeatBatch({{"default", "busy", 1, At(100)}}));
  EXPECT_THAT(beats, ElementsAre(true));
  ExpectStatsMatchListing();
}

TEST_P(StorageConformance, RunPutAllowsTheSameIdInTwoQueues) {
  Run first = NewRun("shared-id", "queue-1");
  first.function = "first.fn";
  Run second = NewRun("shared-id", "queue-2");
  second.function = "second.fn";
  Put({first});
  Put({second});

  EXPECT_RUN_EQ(Get("shared-id", "queue-1"), first);
  EXPECT_RUN_EQ(Get("shared-id", "queue-2"), second);
  Run any = Get("shared-id");
  EXPECT_THAT(any.queue, ::testing::AnyOf("queue-1", "queue-2"));
  EXPECT_EQ(storage().RunGet("shared-id", "queue-3").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Unwrap(storage().RunStats()).total, 2);
}

// ---- RunGet ---------------------------------------------------------------------------

TEST_P(StorageConformance, RunGetFindsByIdWithAndWithoutQueue) {
  Run run = NewRun("lookup", "special");
  Put({run});
  EXPECT_RUN_EQ(Get("lookup"), run);
  EXPECT_RUN_EQ(Get("lookup", "special"), run);

  auto wrong_queue = storage().RunGet("lookup", "default");
  EXPECT_EQ(wrong_queue.status().code(), StatusCode::kNotFound);
  auto missing = storage().RunGet("no-such-run");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("no-such-run"));
}

// ---- RunList --------------------------------------------------------------------------

// Six runs that differ in every filtered field, each created a second after the previous.
std::vector<Run> RunsToFilter() {
  std::vector<Run> runs;
  auto add = [&](std::string id, std::string task, std::string function, std::string queue,
                 std::string account, std::string parent, RunStatus status) {
    Run r;
    r.id = std::move(id);
    r.task = std::move(task);
    r.function = std::move(function);
    r.queue = std::move(queue);
    r.account_id = std::move(account);
    r.parent_id = std::move(parent);
    r.status = status;
    r.created_at = At(static_cast<int64_t>(runs.size()));
    r.run_at = r.created_at;
    if (IsFinal(status)) r.finished_at = r.created_at + 1s;
    runs.push_back(std::move(r));
  };
  add("r1", "t1", "task.t1", "qa", "acc1", "", RunStatus::kPending);
  add("r2", "t1", "task.t1", "qb", "acc2", "p1", RunStatus::kPending);
  add("r3", "", "fn.x", "qa", "acc1", "p1", RunStatus::kCompleted);
  add("r4", "t2", "task.t2", "qa", "acc2", "", RunStatus::kFailed);
  add("r5", "", "fn.y", "qb", "acc1", "", RunStatus::kPending);
  add("r6", "t1", "task.t1", "qa", "acc1", "p2", RunStatus::kCompleted);
  return runs;
}

TEST_P(StorageConformance, RunListFiltersAndListsNewestFirst) {
  for (const Run& r : RunsToFilter()) Put({r});
  auto list = [&](RunFilter filter) { return Ids(ListAll(std::move(filter))); };

  EXPECT_THAT(list({}), ElementsAre("r6", "r5", "r4", "r3", "r2", "r1"));
  RunFilter f;
  f.status = RunStatus::kCompleted;
  EXPECT_THAT(list(f), ElementsAre("r6", "r3"));
  f = {};
  f.status = RunStatus::kRunning;
  EXPECT_THAT(list(f), ElementsAre());
  f = {};
  f.task = "t1";
  EXPECT_THAT(list(f), ElementsAre("r6", "r2", "r1"));
  f = {};
  f.function = "fn.x";
  EXPECT_THAT(list(f), ElementsAre("r3"));
  f = {};
  f.queue = "qb";
  EXPECT_THAT(list(f), ElementsAre("r5", "r2"));
  f = {};
  f.account_id = "acc2";
  EXPECT_THAT(list(f), ElementsAre("r4", "r2"));
  f = {};
  f.parent_id = "p1";
  EXPECT_THAT(list(f), ElementsAre("r3", "r2"));
  // Filters combine with AND.
  f = {};
  f.queue = "qa";
  f.account_id = "acc1";
  f.status = RunStatus::kCompleted;
  EXPECT_THAT(list(f), ElementsAre("r6", "r3"));
  f = {};
  f.task = "t1";
  f.queue = "qb";
  f.status = RunStatus::kPending;
  EXPECT_THAT(list(f), ElementsAre("r2"));
  f = {};
  f.task = "no-such-task";
  EXPECT_THAT(list(f), ElementsAre());
}

TEST_P(StorageConformance, RunListReturnsRunsWithTheirAttempts) {
  Put({FullCompletedRun("with-attempts")});
  RunPage page = Unwrap(storage().RunList({}));
  ASSERT_EQ(page.runs.size(), 1u);
  EXPECT_RUN_EQ(page.runs[0], FullCompletedRun("with-attempts"));
}

TEST_P(StorageConformance, RunListCursorVisitsEveryRunExactlyOnce) {
  std::vector<Run> runs;
  for (int i = 0; i < 25; ++i) {
    Run r = NewTaskRun("page-" + std::to_string(100 + i), i % 2 ? "odd" : "even");
    r.created_at = At(i);
    runs.push_back(std::move(r));
  }
  Put(runs);
  std::vector<std::string> newest_first;
  for (auto it = runs.rbegin(); it != runs.rend(); ++it) newest_first.push_back(it->id);

  for (int limit : {1, 5, 7, 24, 25, 26, 1000}) {
    SCOPED_TRACE("limit " + std::to_string(limit));
    RunFilter filter;
    filter.limit = limit;
    std::vector<std::string> seen;
    size_t pages = 0;
    for (;;) {
      RunPage page = Unwrap(storage().RunList(filter));
      ++pages;
      ASSERT_LE(page.runs.size(), static_cast<size_t>(limit));
      for (const auto& r : page.runs) seen.push_back(r.id);
      if (page.next_cursor.empty()) break;
      ASSERT_EQ(page.runs.size(), static_cast<size_t>(limit)) << "a short page with a cursor";
      ASSERT_LE(pages, 30u) << "the cursor does not advance";
      filter.cursor = page.next_cursor;
    }
    EXPECT_EQ(seen, newest_first);
    // When the last page is full there must not be a cursor to an empty page.
    EXPECT_EQ(pages, (runs.size() + limit - 1) / limit);
  }

  // With a filter, pages hold only matching runs.
  RunFilter odd;
  odd.task = "odd";
  odd.limit = 4;
  std::vector<std::string> odd_ids = Ids(ListAll(odd));
  std::vector<std::string> expected_odd;
  for (const auto& id : newest_first) {
    if ((std::stoi(id.substr(5)) - 100) % 2) expected_odd.push_back(id);
  }
  EXPECT_EQ(odd_ids, expected_odd);
}

TEST_P(StorageConformance, RunListCursorIsStableWhenRunsArriveBetweenPages) {
  std::vector<Run> runs;
  for (int i = 0; i < 10; ++i) {
    Run r = NewRun("stable-" + std::to_string(i));
    r.created_at = At(i);
    runs.push_back(std::move(r));
  }
  Put(runs);
  RunFilter filter;
  filter.limit = 4;
  RunPage first = Unwrap(storage().RunList(filter));
  ASSERT_EQ(first.runs.size(), 4u);
  ASSERT_FALSE(first.next_cursor.empty());

  Run late = NewRun("late-arrival");
  late.created_at = At(100);
  Put({late});

  filter.cursor = first.next_cursor;
  std::vector<Run> rest = ListAll(filter);
  std::vector<std::string> seen = Ids(first.runs);
  for (const auto& id : Ids(rest)) seen.push_back(id);
  EXPECT_THAT(seen, ElementsAre("stable-9", "stable-8", "stable-7", "stable-6", "stable-5",
                                "stable-4", "stable-3", "stable-2", "stable-1", "stable-0"));
}

TEST_P(StorageConformance, RunListRejectsABadCursor) {
  Put({NewRun("one")});
  for (std::string cursor : {"not a cursor", "%%%", "-1"}) {
    RunFilter filter;
    filter.cursor = cursor;
    auto page = storage().RunList(filter);
    ASSERT_FALSE(page.ok()) << "cursor '" << cursor << "' was accepted";
    EXPECT_EQ(page.status().code(), StatusCode::kInvalidArgument) << page.status().ToString();
  }
}

// ---- RunTake --------------------------------------------------------------------------

TEST_P(StorageConformance, RunTakeClaimsOnlyDuePendingRuns) {
  Run now_due = NewRun("due-now");
  Run later = NewRun("due-later");
  later.run_at = At(10);
  Run finished = NewRun("finished");
  finished.status = RunStatus::kCompleted;
  finished.run_at = At(-100);
  finished.finished_at = At(-50);
  Put({now_due, later, finished});

  EXPECT_THAT(Ids(Take("runner-1", 10, At(-1))), ElementsAre());
  EXPECT_THAT(Ids(Take("runner-1", 10, kT0)), ElementsAre("due-now"));
  EXPECT_THAT(Ids(Take("runner-1", 10, At(9))), ElementsAre());
  // run_at == now is due.
  EXPECT_THAT(Ids(Take("runner-1", 10, At(10))), ElementsAre("due-later"));
  EXPECT_THAT(Ids(Take("runner-1", 10, At(1000))), ElementsAre());
  EXPECT_EQ(Get("finished").status, RunStatus::kCompleted);
}

TEST_P(StorageConformance, RunTakeOrdersByPriorityThenRunAt) {
  auto make = [&](std::string id, int priority, int64_t run_at) {
    Run r = NewRun(std::move(id));
    r.priority = priority;
    r.run_at = At(run_at);
    return r;
  };
  std::vector<Run> runs = {make("p0-early", 0, -30), make("p5-late", 5, -1),
                           make("p5-early", 5, -2),  make("p1", 1, 0),
                           make("p-neg", -4, -100),  make("p0-late", 0, -10)};
  Put(runs);
  EXPECT_THAT(Ids(Take("runner-1", 2, kT0)), ElementsAre("p5-early", "p5-late"));
  EXPECT_THAT(Ids(Take("runner-1", 1, kT0)), ElementsAre("p1"));
  EXPECT_THAT(Ids(Take("runner-1", 10, kT0)), ElementsAre("p0-early", "p0-late", "p-neg"));
}

TEST_P(StorageConformance, RunTakeOfHundredsKeepsClaimOrderAndClaimsEachOnce) {
  // More runs than a backend may claim per statement, stored out of claim order.
  std::vector<Run> runs;
  std::vector<std::string> expected;
  for (int i = 0; i < 300; ++i) {
    Run r = NewRun("many-" + std::to_string(1000 + i));
    r.priority = 2 - i % 3;  // 2, 1, 0, 2, 1, 0, ...
    r.run_at = At(-1000 + 300 - i);  // later runs are due earlier
    runs.push_back(std::move(r));
  }
  for (int priority = 2; priority >= 0; --priority) {
    for (int i = 299; i >= 0; --i) {
      if (runs[static_cast<size_t>(i)].priority == priority) {
        expected.push_back(runs[static_cast<size_t>(i)].id);
      }
    }
  }
  Put(runs);
  std::vector<ClaimedRun> first = Take("runner-1", 250, kT0);
  std::vector<ClaimedRun> rest = Take("runner-2", 250, kT0);
  ASSERT_EQ(first.size(), 250u);
  ASSERT_EQ(rest.size(), 50u);
  std::vector<std::string> ids = Ids(first);
  for (const std::string& id : Ids(rest)) ids.push_back(id);
  EXPECT_EQ(ids, expected);
  for (const ClaimedRun& run : first) {
    EXPECT_EQ(run.status, RunStatus::kRunning);
    EXPECT_EQ(run.attempt, 1);
    EXPECT_EQ(run.runner, "runner-1");
  }
  EXPECT_EQ(CountOf(Unwrap(storage().RunStats()), RunStatus::kRunning), 300);
}

TEST_P(StorageConformance, RunTakeSetsLeaseAttemptAndRunner) {
  Run fast = NewRun("fast");
  fast.time_to_resolve = 30s;
  Run slow = NewRun("slow");
  slow.time_to_resolve = 10min;
  slow.run_at = At(-5);
  Put({fast, slow});

  std::vector<ClaimedRun> claimed = Take("runner-7", 5, At(3));
  ASSERT_EQ(claimed.size(), 2u);
  for (const auto& run : claimed) {
    SCOPED_TRACE(run.id);
    EXPECT_EQ(run.status, RunStatus::kRunning);
    EXPECT_EQ(run.attempt, 1);
    EXPECT_EQ(run.runner, "runner-7");
    EXPECT_EQ(Time(run.started_at), Time(At(3)));
    EXPECT_EQ(Time(run.lease_until), Time(At(3) + run.time_to_resolve));
    EXPECT_RUN_EQ(Get(run.id), run);
  }
  EXPECT_EQ(claimed[0].id, "slow");
  EXPECT_EQ(Time(claimed[0].lease_until), Time(At(3) + 10min));
  EXPECT_EQ(Time(claimed[1].lease_until), Time(At(33)));

  // A claim changes nothing but the claim fields.
  Run expected = fast;
  expected.status = RunStatus::kRunning;
  expected.attempt = 1;
  expected.runner = "runner-7";
  expected.started_at = At(3);
  expected.lease_until = At(33);
  EXPECT_RUN_EQ(Get("fast"), expected);

  StorageStats stats = Unwrap(storage().RunStats());
  EXPECT_EQ(CountOf(stats, RunStatus::kRunning), 2);
  EXPECT_EQ(CountOf(stats, RunStatus::kPending), 0);
}

TEST_P(StorageConformance, RunTakeHonoursMax) {
  std::vector<Run> runs;
  for (int i = 0; i < 5; ++i) runs.push_back(NewRun("max-" + std::to_string(i)));
  Put(runs);
  EXPECT_EQ(Take("runner-1", 0, kT0).size(), 0u);
  EXPECT_EQ(Take("runner-1", 3, kT0).size(), 3u);
  EXPECT_EQ(Take("runner-1", 3, kT0).size(), 2u);
  EXPECT_EQ(Take("runner-1", 3, kT0).size(), 0u);
}

TEST_P(StorageConformance, RunTakeSkipsPausedQueuesUntilResumed) {
  Run paused = NewRun("in-paused", "paused-queue");
  paused.priority = 100;
  Put({paused, NewRun("in-default")});
  Unwrap(storage().QueueSetPaused("paused-queue", true));

  EXPECT_THAT(Ids(Take("runner-1", 10, kT0)), ElementsAre("in-default"));
  EXPECT_THAT(Ids(Take("runner-1", 10, kT0, {"paused-queue"})), ElementsAre());
  EXPECT_EQ(Get("in-paused").status, RunStatus::kPending);

  Unwrap(storage().QueueSetPaused("paused-queue", false));
  EXPECT_THAT(Ids(Take("runner-1", 10, kT0)), ElementsAre("in-paused"));
}

TEST_P(StorageConformance, RunTakeFiltersByQueue) {
  Put({NewRun("a1", "qa"), NewRun("b1", "qb"), NewRun("c1", "qc"), NewRun("b2", "qb")});
  EXPECT_THAT(Ids(Take("runner-1", 10, kT0, {"qb"})), UnorderedElementsAre("b1", "b2"));
  EXPECT_THAT(Ids(Take("runner-1", 10, kT0, {"qa", "qc"})), UnorderedElementsAre("a1", "c1"));
  EXPECT_THAT(Ids(Take("runner-1", 10, kT0, {"no-such-queue"})), ElementsAre());
}

TEST_P(StorageConformance, RunTakeFromSomeQueuesKeepsClaimOrderAcrossThem) {
  auto make = [&](std::string id, std::string queue, int priority, int64_t run_at) {
    Run r = NewRun(std::move(id), std::move(queue));
    r.priority = priority;
    r.run_at = At(run_at);
    return r;
  };
  Put({make("a-p0-early", "qa", 0, -30), make("b-p5", "qb", 5, -1), make("a-p5", "qa", 5, -2),
       make("b-p0-late", "qb", 0, -10), make("a-later", "qa", 9, 10),
       make("z-p9", "qz", 9, -50)});
  // A queue named twice is served once; qz is not served at all.
  std::vector<ClaimedRun> first = Take("runner-1", 3, kT0, {"qa", "qb", "qa"});
  EXPECT_THAT(Ids(first), ElementsAre("a-p5", "b-p5", "a-p0-early"));
  for (const ClaimedRun& run : first) {
    SCOPED_TRACE(run.id);
    EXPECT_EQ(run.status, RunStatus::kRunning);
    EXPECT_EQ(run.attempt, 1);
    EXPECT_RUN_EQ(Get(run.id), run);
  }
  ExpectStatsMatchListing();
  EXPECT_THAT(Ids(Take("runner-1", 10, kT0, {"qb", "qa"})), ElementsAre("b-p0-late"));
  EXPECT_THAT(Ids(Take("runner-1", 10, At(10), {"qa"})), ElementsAre("a-later"));
  EXPECT_EQ(Get("z-p9").status, RunStatus::kPending);
  ExpectStatsMatchListing();
}

TEST_P(StorageConformance, RunTakeFromConcurrentRunnersClaimsEachRunOnce) {
  constexpr int kRuns = 1000;
  constexpr int kThreads = 4;
  std::vector<Run> runs;
  for (int i = 0; i < kRuns; ++i) {
    Run r = NewRun("concurrent-" + std::to_string(i));
    r.priority = i % 3;
    r.run_at = At(-(i % 17));
    runs.push_back(std::move(r));
  }
  for (size_t i = 0; i < runs.size(); i += 250) {
    Put(std::vector<Run>(runs.begin() + i, runs.begin() + std::min(runs.size(), i + 250)));
  }

  std::mutex mu;
  std::map<std::string, std::vector<std::string>> claimed_by;  // run id -> runners
  std::vector<std::string> errors;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::string runner = "runner-" + std::to_string(t);
      for (;;) {
        RunTakeParams params;
        params.runner = runner;
        params.max = 1 + t * 3;  // 1, 4, 7, 10
        params.now = kT0;
        auto claimed = storage().RunTake(params);
        std::lock_guard lock(mu);
        if (!claimed.ok()) {
          errors.push_back(claimed.status().ToString());
          return;
        }
        if (claimed->empty()) return;
        for (const auto& run : *claimed) {
          claimed_by[run.id].push_back(runner);
          if (run.runner != runner || run.attempt != 1) {
            errors.push_back(run.id + " claimed with runner " + run.runner + " attempt " +
                             std::to_string(run.attempt));
          }
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();

  EXPECT_THAT(errors, ElementsAre());
  EXPECT_EQ(claimed_by.size(), static_cast<size_t>(kRuns));
  for (const auto& [id, runners] : claimed_by) {
    EXPECT_EQ(runners.size(), 1u) << id << " was claimed " << runners.size() << " times";
    if (!runners.empty()) {
      EXPECT_EQ(Get(id).runner, runners[0]) << id;
    }
  }
  StorageStats stats = Unwrap(storage().RunStats());
  EXPECT_EQ(CountOf(stats, RunStatus::kRunning), kRuns);
  EXPECT_EQ(CountOf(stats, RunStatus::kPending), 0);
}

// ---- RunHeartbeatBatch ----------------------------------------------------------------

TEST_P(StorageConformance, RunHeartbeatExtendsTheLeaseOfTheCurrentAttempt) {
  Run run = NewRun("beating");
  run.time_to_resolve = 30s;
  Put({run});
  ClaimedRun claimed = Take("runner-1", 1, kT0).at(0);
  ASSERT_EQ(claimed.lease_until, At(30));

  auto beats = Unwrap(storage().RunHeartbeatBatch({{"default", "beating", 1, At(75)}}));
  EXPECT_THAT(beats, ElementsAre(true));
  EXPECT_EQ(Time(Get("beating").lease_until), Time(At(75)));
  EXPECT_THAT(Ids(Unwrap(storage().RunListExpired(At(60), 10))), ElementsAre());
}

TEST_P(StorageConformance, RunHeartbeatRejectsStaleCancelledAndUnknownRuns) {
  Run retried = NewRun("retried");
  retried.retry.max_attempts = 2;
  Put({retried, NewRun("current"), NewRun("cancelled")});
  std::vector<ClaimedRun> claimed = Take("runner-1", 3, kT0);
  ASSERT_EQ(claimed.size(), 3u);
  // "retried" fails its first attempt and is claimed again: attempt 2 is current.
  RunFinish retry;
  retry.queue = "default";
  retry.id = "retried";
  retry.attempt = 1;
  retry.status = RunStatus::kPending;
  retry.finished_at = At(1);
  retry.run_at = At(2);
  ASSERT_TRUE(Unwrap(storage().RunFinishBatch({retry})).at(0).accepted);
  ASSERT_EQ(Take("runner-2", 1, At(2)).at(0).attempt, 2);
  Unwrap(storage().RunCancel("cancelled", "default", At(3)));
  Run cancelled_before = Get("cancelled");
  Run retried_before = Get("retried");

  auto beats = Unwrap(storage().RunHeartbeatBatch({
      {"default", "current", 1, At(500)},
      {"default", "retried", 1, At(500)},  // stale attempt
      {"default", "retried", 3, At(500)},  // an attempt that never started
      {"default", "cancelled", 1, At(500)},
      {"default", "no-such-run", 1, At(500)},
      {"other-queue", "current", 1, At(500)},
      {"default", "retried", 2, At(400)},  // current
  }));
  EXPECT_THAT(beats, ElementsAre(true, false, false, false, false, false, true));
  EXPECT_EQ(Time(Get("current").lease_until), Time(At(500)));
  Run retried_after = Get("retried");
  EXPECT_EQ(Time(retried_after.lease_until), Time(At(400)));
  retried_after.lease_until = retried_before.lease_until;
  EXPECT_RUN_EQ(retried_after, retried_before);
  EXPECT_RUN_EQ(Get("cancelled"), cancelled_before);
  EXPECT_THAT(Unwrap(storage().RunHeartbeatBatch({})), ElementsAre());
}

// ---- RunFinishBatch -------------------------------------------------------------------

TEST_P(StorageConformance, RunFinishCompletesAndRecordsTheAttempt) {
  Run run = NewRun("finishing");
  run.run_at = At(-5);
  Put({run});
  ClaimedRun claimed = Take("runner-1", 1, At(10)).at(0);

  RunFinish finish;
  finish.queue = "default";
  finish.id = "finishing";
  finish.attempt = claimed.attempt;
  finish.status = RunStatus::kCompleted;
  finish.finished_at = At(12) + 345us;
  finish.result = json::object{{"rows", 3}, {"message", "fine"}};
  finish.outcome = "completed";
  // Characters JSON must escape, and some it need not.
  finish.output = "hello\nworld\n \"quoted\" back\\slash \t\x01 caf\u00e9 \u2713";
  finish.progress = Progress{3, 3, 0};
  auto results = Unwrap(storage().RunFinishBatch({finish}));
  ASSERT_EQ(results.size(), 1u);
  EXPECT_TRUE(results[0].accepted);

  Run stored = Get("finishing");
  EXPECT_EQ(stored.status, RunStatus::kCompleted);
  EXPECT_EQ(Time(stored.finished_at), Time(At(12) + 345us));
  EXPECT_EQ(stored.result, finish.result);
  EXPECT_EQ(stored.error, "");
  EXPECT_EQ(stored.progress, (Progress{3, 3, 0}));
  EXPECT_EQ(Time(stored.lease_until), Time(std::nullopt));
  EXPECT_EQ(stored.runner, "");
  EXPECT_EQ(stored.attempt, 1);
  EXPECT_EQ(Time(stored.started_at), Time(At(10)));
  EXPECT_EQ(Time(stored.run_at), Time(At(-5))) << "a finish must not move run_at";
  ASSERT_EQ(stored.attempts.size(), 1u);
  Attempt expected{1, "runner-1", At(10), At(12) + 345us, "completed", "", finish.output};
  EXPECT_EQ(Json(stored.attempts[0]), Json(expected));
  EXPECT_TRUE(stored.attempts[0] == expected);

  // The run is over: a second finish of the same attempt is rejected.
  finish.status = RunStatus::kFailed;
  EXPECT_FALSE(Unwrap(storage().RunFinishBatch({finish})).at(0).accepted);
  EXPECT_RUN_EQ(Get("finishing"), stored);
  ExpectStatsMatchListing();
}

TEST_P(StorageConformance, RunFinishRecordsErrors) {
  Put({NewRun("failing")});
  ClaimedRun claimed = Take("runner-9", 1, kT0).at(0);
  RunFinish finish;
  finish.queue = claimed.queue;
  finish.id = claimed.id;
  finish.attempt = claimed.attempt;
  finish.status = RunStatus::kFailed;
  finish.finished_at = At(4);
  finish.error = "division by zero";
  finish.error_kind = "user";
  finish.outcome = "failed";
  ASSERT_TRUE(Unwrap(storage().RunFinishBatch({finish})).at(0).accepted);

  Run stored = Get("failing");
  EXPECT_EQ(stored.status, RunStatus::kFailed);
  EXPECT_EQ(stored.error, "division by zero");
  EXPECT_EQ(stored.error_kind, "user");
  EXPECT_EQ(stored.result, json::value(nullptr));
  ASSERT_EQ(stored.attempts.size(), 1u);
  EXPECT_EQ(stored.attempts[0].outcome, "failed");
  EXPECT_EQ(stored.attempts[0].error, "division by zero");
  EXPECT_EQ(stored.attempts[0].runner, "runner-9");
  EXPECT_EQ(Time(stored.attempts[0].finished_at), Time(At(4)));
}

TEST_P(StorageConformance, RunFinishRetryThenStaleFinishIsRejected) {
  Run run = NewRun("flaky");
  run.retry = RetryPolicy{3, 30s, 2.0, std::nullopt};
  Put({run});
  ClaimedRun first = Take("runner-1", 1, kT0).at(0);
  ASSERT_EQ(first.attempt, 1);

  RunFinish retry;
  retry.queue = "default";
  retry.id = "flaky";
  retry.attempt = 1;
  retry.status = RunStatus::kPending;
  retry.finished_at = At(5);
  retry.run_at = At(35);
  retry.error = "connection refused";
  retry.error_kind = "user";
  retry.outcome = "failed";
  ASSERT_TRUE(Unwrap(storage().RunFinishBatch({retry})).at(0).accepted);

  Run pending = Get("flaky");
  EXPECT_EQ(pending.status, RunStatus::kPending);
  EXPECT_EQ(Time(pending.run_at), Time(At(35)));
  EXPECT_EQ(Time(pending.finished_at), Time(std::nullopt))
      << "a run waiting for a retry is not finished";
  EXPECT_EQ(Time(pending.lease_until), Time(std::nullopt));
  EXPECT_EQ(pending.attempt, 1);
  ASSERT_EQ(pending.attempts.size(), 1u);
  EXPECT_EQ(pending.attempts[0].number, 1);
  EXPECT_EQ(pending.attempts[0].outcome, "failed");
  EXPECT_EQ(pending.attempts[0].error, "connection refused");
  EXPECT_EQ(Time(pending.attempts[0].finished_at), Time(At(5)));

  EXPECT_THAT(Ids(Take("runner-2", 1, At(34))), ElementsAre()) << "not due before run_at";
  ClaimedRun second = Take("runner-2", 1, At(35)).at(0);
  EXPECT_EQ(second.attempt, 2);
  EXPECT_EQ(second.runner, "runner-2");
  EXPECT_EQ(Time(second.started_at), Time(At(35)));
  Run before_stale = Get("flaky");

  // The first runner wakes up and reports success for attempt 1: rejected.
  RunFinish stale;
  stale.queue = "default";
  stale.id = "flaky";
  stale.attempt = 1;
  stale.status = RunStatus::kCompleted;
  stale.finished_at = At(40);
  stale.result = json::object{{"stale", true}};
  stale.progress = Progress{9, 9, 0};
  auto results = Unwrap(storage().RunFinishBatch({stale}));
  EXPECT_FALSE(results.at(0).accepted);
  EXPECT_RUN_EQ(Get("flaky"), before_stale);
  Status stale_progress = storage().RunProgress("flaky", "default", 1, {5, 5, 0});
  EXPECT_EQ(stale_progress.code(), StatusCode::kFailedPrecondition) << stale_progress.ToString();
  EXPECT_RUN_EQ(Get("flaky"), before_stale);

  RunFinish done;
  done.queue = "default";
  done.id = "flaky";
  done.attempt = 2;
  done.status = RunStatus::kCompleted;
  done.finished_at = At(50);
  done.outcome = "completed";
  ASSERT_TRUE(Unwrap(storage().RunFinishBatch({done})).at(0).accepted);
  Run finished = Get("flaky");
  EXPECT_EQ(finished.status, RunStatus::kCompleted);
  EXPECT_EQ(finished.error, "") << "the error of an earlier attempt is not the run's error";
  ASSERT_EQ(finished.attempts.size(), 2u);
  EXPECT_EQ(finished.attempts[0].number, 1);
  EXPECT_EQ(finished.attempts[0].runner, "runner-1");
  EXPECT_EQ(finished.attempts[1].number, 2);
  EXPECT_EQ(finished.attempts[1].runner, "runner-2");
  EXPECT_EQ(Time(finished.attempts[1].started_at), Time(At(35)));
  EXPECT_EQ(Time(finished.attempts[1].finished_at), Time(At(50)));
  EXPECT_EQ(finished.attempts[1].outcome, "completed");
  ExpectStatsMatchListing();
}

// A finish may carry the run its claim returned (the runner's do), so that the
// storage need not read the run back. It stores what the same finish without it
// stores, earlier attempts included, and the fence still rejects it once stale.
TEST_P(StorageConformance, RunFinishCarryingItsClaimStoresTheSameAsOneWithout) {
  for (const char* id : {"carried", "plain"}) {
    Run run = NewRun(id);
    run.retry = RetryPolicy{3, 30s, 2.0, std::nullopt};
    Put({run});
  }
  // Attempt 1 fails and is retried, attempt 2 completes, each on another runner.
  std::vector<ClaimedRun> last;
  for (int attempt = 1; attempt <= 2; ++attempt) {
    const TimePoint at = At(100 * attempt);
    last = Take("runner-" + std::to_string(attempt), 2, at);
    ASSERT_EQ(Ids(last), (std::vector<std::string>{"carried", "plain"}));
    std::vector<RunFinish> finishes;
    for (const ClaimedRun& claimed : last) {
      RunFinish f = FinishOf(claimed.id, attempt,
                             attempt == 1 ? RunStatus::kPending : RunStatus::kCompleted, at + 5s);
      f.run_at = At(150);
      f.outcome = attempt == 1 ? "failed" : "completed";
      f.error = attempt == 1 ? "connection \"refused\"" : "";
      f.output = "line 1\nline 2";
      f.result = attempt == 1 ? json::value(nullptr) : json::value(json::object{{"rows", 2}});
      if (claimed.id == "carried") f.claimed = &claimed;
      finishes.push_back(std::move(f));
    }
    auto results = Unwrap(storage().RunFinishBatch(finishes));
    EXPECT_TRUE(results.at(0).accepted) << "attempt " << attempt;
    EXPECT_TRUE(results.at(1).accepted) << "attempt " << attempt;
  }
  Run carried = Get("carried");
  Run plain = Get("plain");
  ASSERT_EQ(carried.attempts.size(), 2u);
  EXPECT_EQ(carried.attempts[0].runner, "runner-1");
  EXPECT_EQ(carried.attempts[1].runner, "runner-2");
  plain.id = carried.id;
  EXPECT_RUN_EQ(carried, plain);

  // Attempt 2 is over: carrying its claim does not get it past the fence.
  RunFinish again = FinishOf("carried", 2, RunStatus::kFailed, At(300));
  again.claimed = &last.at(0);
  EXPECT_FALSE(Unwrap(storage().RunFinishBatch({again})).at(0).accepted);
  // Nor does a claimed run of another attempt stand for this one's.
  Put({NewRun("mismatched")});
  ClaimedRun current = Take("runner-3", 1, At(400)).at(0);
  ClaimedRun other = current;
  other.attempt = 7;
  other.runner = "runner-elsewhere";
  RunFinish finish = FinishOf("mismatched", current.attempt, RunStatus::kCompleted, At(401));
  finish.claimed = &other;
  EXPECT_TRUE(Unwrap(storage().RunFinishBatch({finish})).at(0).accepted);
  Run stored = Get("mismatched");
  ASSERT_EQ(stored.attempts.size(), 1u);
  EXPECT_EQ(stored.attempts[0].runner, "runner-3");
  EXPECT_RUN_EQ(Get("carried"), carried);
  ExpectStatsMatchListing();
}

TEST_P(StorageConformance, RunFinishBatchAnswersEachFinishInOrder) {
  Put({NewRun("one"), NewRun("two"), NewRun("pending-only")});
  std::vector<ClaimedRun> claimed = Take("runner-1", 2, kT0);
  ASSERT_EQ(claimed.size(), 2u);
  std::vector<RunFinish> finishes = {
      FinishOf("one", 1, RunStatus::kCompleted, At(1)),
      FinishOf("no-such-run", 1, RunStatus::kCompleted, At(1)),
      FinishOf("pending-only", 1, RunStatus::kCompleted, At(1)),
      FinishOf("two", 1, RunStatus::kPartial, At(2)),
      FinishOf("one", 1, RunStatus::kFailed, At(3)),
  };
  auto results = Unwrap(storage().RunFinishBatch(finishes));
  ASSERT_EQ(results.size(), 5u);
  EXPECT_TRUE(results[0].accepted);
  EXPECT_FALSE(results[1].accepted);
  EXPECT_FALSE(results[2].accepted) << "a pending run has no attempt to finish";
  EXPECT_TRUE(results[3].accepted);
  EXPECT_FALSE(results[4].accepted) << "the attempt was already finished";
  EXPECT_EQ(Get("one").status, RunStatus::kCompleted);
  EXPECT_EQ(Get("two").status, RunStatus::kPartial);
  EXPECT_EQ(Get("pending-only").status, RunStatus::kPending);
  EXPECT_EQ(Get("pending-only").attempts.size(), 0u);
  ExpectStatsMatchListing();
}

TEST_P(StorageConformance, RunProgressIsStoredAndKeptByAFinishWithoutProgress) {
  Put({NewRun("bulk")});
  ClaimedRun claimed = Take("runner-1", 1, kT0).at(0);
  Unwrap(storage().RunProgress("bulk", "default", claimed.attempt, {1000, 990, 10}));
  EXPECT_EQ(Get("bulk").progress, (Progress{1000, 990, 10}));
  Unwrap(storage().RunProgress("bulk", "default", claimed.attempt, {2000, 1980, 20}));
  EXPECT_EQ(Get("bulk").progress, (Progress{2000, 1980, 20}));

  ASSERT_TRUE(Finish(claimed, RunStatus::kPartial, At(9)));
  Run stored = Get("bulk");
  EXPECT_EQ(stored.status, RunStatus::kPartial);
  EXPECT_EQ(stored.progress, (Progress{2000, 1980, 20}));

  Status after_finish = storage().RunProgress("bulk", "default", claimed.attempt, {1, 1, 0});
  EXPECT_FALSE(after_finish.ok());
  EXPECT_EQ(Get("bulk").progress, (Progress{2000, 1980, 20}));
}

TEST_P(StorageConformance, RunFinishStoresProgress) {
  Put({NewRun("counted")});
  ClaimedRun claimed = Take("runner-1", 1, kT0).at(0);
  RunFinish finish;
  finish.queue = "default";
  finish.id = "counted";
  finish.attempt = claimed.attempt;
  finish.status = RunStatus::kCompleted;
  finish.finished_at = At(1);
  finish.progress = Progress{int64_t{1} << 40, (int64_t{1} << 40) - 1, 1};
  ASSERT_TRUE(Unwrap(storage().RunFinishBatch({finish})).at(0).accepted);
  EXPECT_EQ(Get("counted").progress, (Progress{int64_t{1} << 40, (int64_t{1} << 40) - 1, 1}));
}

// ---- RunCancel ------------------------------------------------------------------------

TEST_P(StorageConformance, RunCancelStopsAPendingRun) {
  Run run = NewRun("to-cancel");
  run.run_at = At(60);
  Put({run});
  Run cancelled = Unwrap(storage().RunCancel("to-cancel", "", At(5)));
  EXPECT_EQ(cancelled.status, RunStatus::kStopped);
  EXPECT_EQ(Time(cancelled.finished_at), Time(At(5)));
  EXPECT_EQ(cancelled.attempts.size(), 0u);
  EXPECT_RUN_EQ(Get("to-cancel"), cancelled);
  EXPECT_THAT(Ids(Take("runner-1", 10, At(1000))), ElementsAre());
  ExpectStatsMatchListing();
}

TEST_P(StorageConformance, RunCancelStopsARunningRunAndFencesItsAttempt) {
  Put({NewRun("running-cancel")});
  ClaimedRun claimed = Take("runner-1", 1, kT0).at(0);
  Run cancelled = Unwrap(storage().RunCancel("running-cancel", "default", At(7)));
  EXPECT_EQ(cancelled.status, RunStatus::kStopped);
  EXPECT_EQ(Time(cancelled.finished_at), Time(At(7)));
  EXPECT_EQ(Time(cancelled.lease_until), Time(std::nullopt));
  // The interrupted attempt stays in the launch log.
  ASSERT_EQ(cancelled.attempts.size(), 1u);
  EXPECT_EQ(cancelled.attempts[0].number, 1);
  EXPECT_EQ(cancelled.attempts[0].runner, "runner-1");
  EXPECT_EQ(Time(cancelled.attempts[0].started_at), Time(kT0));
  EXPECT_EQ(Time(cancelled.attempts[0].finished_at), Time(At(7)));
  EXPECT_RUN_EQ(Get("running-cancel"), cancelled);

  // The runner learns about it through its heartbeat, and its finish is rejected.
  EXPECT_THAT(Unwrap(storage().RunHeartbeatBatch({{"default", "running-cancel", 1, At(60)}})),
              ElementsAre(false));
  EXPECT_FALSE(Finish(claimed, RunStatus::kCompleted, At(8)));
  EXPECT_RUN_EQ(Get("running-cancel"), cancelled);
  EXPECT_THAT(Ids(Unwrap(storage().RunListExpired(At(10'000), 10))), ElementsAre());
  ExpectStatsMatchListing();
}

TEST_P(StorageConformance, RunCancelRefusesAFinalRun) {
  Run done = NewRun("done");
  done.status = RunStatus::kCompleted;
  done.finished_at = At(1);
  Put({done});
  auto result = storage().RunCancel("done", "", At(2));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kFailedPrecondition) << result.status().ToString();
  EXPECT_RUN_EQ(Get("done"), done);

  Put({NewRun("twice")});
  Unwrap(storage().RunCancel("twice", "", At(1)));
  EXPECT_EQ(storage().RunCancel("twice", "", At(2)).status().code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(Time(Get("twice").finished_at), Time(At(1)));
  EXPECT_EQ(storage().RunCancel("no-such-run", "", At(2)).status().code(), StatusCode::kNotFound);
  ExpectStatsMatchListing();
}

// ---- RunRetry -------------------------------------------------------------------------

TEST_P(StorageConformance, RunRetryPutsAFinalRunBackWithOneMoreAttempt) {
  Put({NewRun("exhausted")});  // max_attempts 1
  ClaimedRun claimed = Take("runner-1", 1, kT0).at(0);
  RunFinish fail;
  fail.queue = "default";
  fail.id = "exhausted";
  fail.attempt = claimed.attempt;
  fail.status = RunStatus::kFailed;
  fail.finished_at = At(1);
  fail.error = "out of memory";
  fail.error_kind = "user";
  fail.result = json::object{{"partial", true}};
  ASSERT_TRUE(Unwrap(storage().RunFinishBatch({fail})).at(0).accepted);

  Run retried = Unwrap(storage().RunRetry("exhausted", "default", At(100)));
  EXPECT_EQ(retried.status, RunStatus::kPending);
  EXPECT_EQ(Time(retried.run_at), Time(At(100)));
  EXPECT_EQ(Time(retried.finished_at), Time(std::nullopt));
  EXPECT_EQ(retried.error, "");
  EXPECT_EQ(retried.attempt, 1);
  EXPECT_GE(retried.retry.max_attempts, retried.attempt + 1) << "one more attempt is allowed";
  ASSERT_EQ(retried.attempts.size(), 1u) << "the launch log is kept";
  EXPECT_RUN_EQ(Get("exhausted"), retried);

  EXPECT_THAT(Ids(Take("runner-1", 1, At(99))), ElementsAre());
  ClaimedRun again = Take("runner-2", 1, At(100)).at(0);
  EXPECT_EQ(again.attempt, 2);
  ASSERT_TRUE(Finish(again, RunStatus::kCompleted, At(101)));
  Run done = Get("exhausted");
  EXPECT_EQ(done.status, RunStatus::kCompleted);
  EXPECT_EQ(done.attempts.size(), 2u);
  ExpectStatsMatchListing();
}

TEST_P(StorageConformance, RunRetryOfAStoppedRunThatNeverStarted) {
  Put({NewRun("stopped-early")});
  Unwrap(storage().RunCancel("stopped-early", "default", At(1)));
  Run retried = Unwrap(storage().RunRetry("stopped-early", "", At(2)));
  EXPECT_EQ(retried.status, RunStatus::kPending);
  EXPECT_GE(retried.retry.max_attempts, retried.attempt + 1);
  EXPECT_EQ(Take("runner-1", 1, At(2)).at(0).attempt, 1);
  ExpectStatsMatchListing();
}

TEST_P(StorageConformance, RunRetryRefusesPendingRunningAndUnknownRuns) {
  Run busy = NewRun("busy");
  busy.priority = 1;
  Put({NewRun("waiting"), busy});
  ASSERT_THAT(Ids(Take("runner-1", 1, kT0)), ElementsAre("busy"));
  for (const std::string id : {"waiting", "busy"}) {
    Run before = Get(id);
    auto result = storage().RunRetry(id, "default", At(5));
    ASSERT_FALSE(result.ok()) << id;
    EXPECT_EQ(result.status().code(), StatusCode::kFailedPrecondition)
        << result.status().ToString();
    EXPECT_RUN_EQ(Get(id), before);
  }
  EXPECT_EQ(storage().RunRetry("no-such-run", "", At(5)).status().code(), StatusCode::kNotFound);
  ExpectStatsMatchListing();
}

// ---- RunRemove ------------------------------------------------------------------------

TEST_P(StorageConformance, RunRemoveDeletesFinishedAndPendingRuns) {
  Put({NewRun("finished"), NewRun("pending")});
  ClaimedRun claimed = Take("runner-1", 1, kT0).at(0);
  ASSERT_TRUE(Finish(claimed, RunStatus::kCompleted, At(1)));
  std::string finished_id = claimed.id;
  std::string pending_id = finished_id == "finished" ? "pending" : "finished";

  Unwrap(storage().RunRemove(finished_id, "default"));
  EXPECT_EQ(storage().RunGet(finished_id).status().code(), StatusCode::kNotFound);
  Unwrap(storage().RunRemove(pending_id, ""));
  EXPECT_EQ(storage().RunGet(pending_id).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Unwrap(storage().RunStats()).total, 0);
  EXPECT_EQ(storage().RunRemove("finished", "").code(), StatusCode::kNotFound);
  ExpectStatsMatchListing();
}

TEST_P(StorageConformance, RunRemoveIsRefusedWhileRunning) {
  Put({NewRun("in-flight")});
  ClaimedRun claimed = Take("runner-1", 1, kT0).at(0);
  Status removed = storage().RunRemove("in-flight", "default");
  EXPECT_EQ(removed.code(), StatusCode::kFailedPrecondition) << removed.ToString();
  EXPECT_RUN_EQ(Get("in-flight"), claimed);
  ExpectStatsMatchListing();
}

TEST_P(StorageConformance, RunRemoveWithAQueueRemovesOnlyThatQueuesRun) {
  Put({NewRun("twin", "left")});
  Put({NewRun("twin", "right")});
  Unwrap(storage().RunRemove("twin", "left"));
  EXPECT_EQ(storage().RunGet("twin", "left").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Get("twin", "right").queue, "right");
  EXPECT_EQ(storage().RunRemove("twin", "left").code(), StatusCode::kNotFound);
  ExpectStatsMatchListing();
}

// ---- RunListExpired -------------------------------------------------------------------

TEST_P(StorageConformance, RunListExpiredReturnsRunningRunsWithAnExpiredLease) {
  Run long_lease = NewRun("long-lease");
  long_lease.time_to_resolve = 60s;
  Run short_lease = NewRun("short-lease");
  short_lease.time_to_resolve = 10s;
  Run waiting = NewRun("waiting");
  waiting.run_at = At(-1000);
  waiting.priority = -1;  // taken last, so it stays pending below
  Put({long_lease, short_lease});
  ASSERT_EQ(Take("runner-1", 2, kT0).size(), 2u);
  Put({waiting});
  Run done = NewRun("done");
  done.status = RunStatus::kCompleted;
  done.lease_until = At(-500);  // stale data on a final run must not matter
  done.finished_at = At(-400);
  Put({done});

  EXPECT_THAT(Ids(Unwrap(storage().RunListExpired(At(5), 10))), ElementsAre());
  EXPECT_THAT(Ids(Unwrap(storage().RunListExpired(At(30), 10))), ElementsAre("short-lease"));
  EXPECT_THAT(Ids(Unwrap(storage().RunListExpired(At(61), 10))),
              UnorderedElementsAre("short-lease", "long-lease"));
  EXPECT_EQ(Unwrap(storage().RunListExpired(At(61), 1)).size(), 1u);

  Run expired = Unwrap(storage().RunListExpired(At(30), 10)).at(0);
  EXPECT_EQ(expired.status, RunStatus::kRunning);
  EXPECT_EQ(expired.attempt, 1);
  EXPECT_EQ(expired.runner, "runner-1");

  // A heartbeat renews the lease.
  ASSERT_THAT(Unwrap(storage().RunHeartbeatBatch({{"default", "short-lease", 1, At(100)}})),
              ElementsAre(true));
  EXPECT_THAT(Ids(Unwrap(storage().RunListExpired(At(61), 10))), ElementsAre("long-lease"));
}

// ---- RunStats -------------------------------------------------------------------------

TEST_P(StorageConformance, RunStatsReportsEveryStatusOfAnEmptyStorage) {
  StorageStats stats = Unwrap(storage().RunStats());
  EXPECT_EQ(stats.total, 0);
  ASSERT_EQ(stats.by_status.size(), std::size(kAllRunStatuses));
  for (RunStatus status : kAllRunStatuses) {
    EXPECT_EQ(CountOf(stats, status), 0) << ToString(status);
  }
}

TEST_P(StorageConformance, RunStatsCountsStayExactThroughEveryKindOfChange) {
  // 12 pending runs of task "mix", one did_not_start and one unknown_task of "other".
  std::vector<Run> runs;
  for (int i = 0; i < 12; ++i) {
    Run r = NewTaskRun("a" + std::to_string(i), "mix");
    r.run_at = At(-100 + i);
    runs.push_back(std::move(r));
  }
  Run skipped = NewTaskRun("b0", "other");
  skipped.status = RunStatus::kDidNotStart;
  skipped.finished_at = At(-10);
  Run unknown = NewTaskRun("b1", "other");
  unknown.status = RunStatus::kUnknownTask;
  unknown.finished_at = At(-5);
  runs.push_back(skipped);
  runs.push_back(unknown);
  Put(runs);
  ExpectStatsMatchListing();

  std::vector<ClaimedRun> claimed = Take("runner-1", 8, kT0);  // a0..a7
  ASSERT_THAT(Ids(claimed), ElementsAre("a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7"));
  ASSERT_TRUE(Finish(claimed[0], RunStatus::kCompleted, At(1)));
  ASSERT_TRUE(Finish(claimed[1], RunStatus::kPartial, At(2)));
  ASSERT_TRUE(Finish(claimed[2], RunStatus::kFailed, At(3)));
  ASSERT_TRUE(Finish(claimed[3], RunStatus::kLost, At(4)));
  RunFinish retry = FinishOf("a4", 1, RunStatus::kPending, At(4));
  retry.run_at = At(100);
  ASSERT_TRUE(Unwrap(storage().RunFinishBatch({retry})).at(0).accepted);
  ExpectStatsMatchListing();

  Unwrap(storage().RunCancel("a5", "default", At(5)));  // running
  Unwrap(storage().RunCancel("a8", "default", At(6)));  // pending
  EXPECT_FALSE(Finish(claimed[4], RunStatus::kCompleted, At(7))) << "stale attempt";
  EXPECT_FALSE(Finish(claimed[5], RunStatus::kCompleted, At(7))) << "cancelled";
  Unwrap(storage().RunRetry("a2", "default", At(7)));  // failed -> pending
  Unwrap(storage().RunRemove("a0", "default"));        // completed, removed
  EXPECT_EQ(storage().RunRemove("a6", "default").code(), StatusCode::kFailedPrecondition);
  ExpectStatsMatchListing();

  RunPutParams overwrite;
  overwrite.runs = {NewTaskRun("a1", "mix")};  // partial -> pending
  overwrite.conflict = ConflictMode::kOverwrite;
  Unwrap(storage().RunPut(overwrite));
  RunPutParams ignore;
  ignore.runs = {NewTaskRun("a9", "mix")};
  ignore.conflict = ConflictMode::kIgnore;
  Unwrap(storage().RunPut(ignore));
  RunPutParams conflicting;
  conflicting.runs = {NewTaskRun("x", "mix"), NewTaskRun("a9", "mix")};
  EXPECT_FALSE(storage().RunPut(conflicting).ok());
  RunPutParams refused_overwrite;
  refused_overwrite.runs = {NewTaskRun("y", "mix"), NewTaskRun("a6", "mix")};
  refused_overwrite.conflict = ConflictMode::kOverwrite;
  EXPECT_FALSE(storage().RunPut(refused_overwrite).ok()) << "a6 is running";
  Run scheduled = NewTaskRun("s1", "cron");
  scheduled.scheduled_at = At(60);
  EXPECT_TRUE(Unwrap(storage().RunPutScheduled(scheduled)));
  scheduled.id = "s1-again";
  EXPECT_FALSE(Unwrap(storage().RunPutScheduled(scheduled)));
  ExpectStatsMatchListing();

  // Finished runs of "mix": a3 lost (t4), a5 stopped (t5), a8 stopped (t6); of "other":
  // b0 (t-10), b1 (t-5). Keeping one per task removes a3, a5 and b0.
  EXPECT_EQ(Unwrap(storage().RunPrune(1)), 3);
  ExpectStatsMatchListing();

  std::map<RunStatus, int64_t> expected = {
      {RunStatus::kPending, 7}, {RunStatus::kRunning, 2},     {RunStatus::kCompleted, 0},
      {RunStatus::kPartial, 0}, {RunStatus::kFailed, 0},      {RunStatus::kLost, 0},
      {RunStatus::kStopped, 1}, {RunStatus::kDidNotStart, 0}, {RunStatus::kUnknownTask, 1}};
  StorageStats stats = Unwrap(storage().RunStats());
  EXPECT_EQ(stats.by_status, expected);
  EXPECT_EQ(stats.total, 11);
  EXPECT_EQ(Unwrap(storage().RunCountLive("mix")), 8);

  Reopen();
  stats = Unwrap(storage().RunStats());
  EXPECT_EQ(stats.by_status, expected);
  EXPECT_EQ(stats.total, 11);
  ExpectStatsMatchListing();
}

// ---- RunPrune -------------------------------------------------------------------------

TEST_P(StorageConformance, RunPruneKeepsTheNewestFinishedRunsPerTaskAndNeverAnonymousRuns) {
  auto finished = [](Run r, RunStatus status, int64_t finished_at) {
    r.status = status;
    r.finished_at = At(finished_at);
    return r;
  };
  auto anonymous = [&](std::string id, std::string function) {
    Run r = NewRun(std::move(id));
    r.function = std::move(function);
    return r;
  };
  // Stored in this order; finish times deliberately differ from the storing order.
  Put({finished(NewTaskRun("t1-a", "t1"), RunStatus::kCompleted, 40),
       finished(NewTaskRun("t1-b", "t1"), RunStatus::kFailed, 10),
       finished(NewTaskRun("t1-c", "t1"), RunStatus::kCompleted, 30),
       finished(NewTaskRun("t1-d", "t1"), RunStatus::kStopped, 20), NewTaskRun("t1-pending", "t1"),
       finished(NewTaskRun("t2-a", "t2"), RunStatus::kFailed, 1),
       finished(NewTaskRun("t2-b", "t2"), RunStatus::kFailed, 2),
       finished(anonymous("f1-a", "fn.one"), RunStatus::kCompleted, 1),
       finished(anonymous("f1-b", "fn.one"), RunStatus::kCompleted, 2),
       finished(anonymous("f1-c", "fn.one"), RunStatus::kCompleted, 3),
       finished(anonymous("f2-a", "fn.two"), RunStatus::kLost, 1)});
  Run running = NewTaskRun("t1-running", "t1");
  running.priority = 10;
  Put({running});
  ASSERT_THAT(Ids(Take("runner-1", 1, kT0)), ElementsAre("t1-running"));

  EXPECT_EQ(Unwrap(storage().RunPrune(2)), 2);
  RunFilter all;
  all.limit = 1000;
  EXPECT_THAT(Ids(ListAll(all)),
              UnorderedElementsAre("t1-a", "t1-c", "t1-pending", "t1-running", "t2-a", "t2-b",
                                   "f1-a", "f1-b", "f1-c", "f2-a"));
  EXPECT_EQ(Unwrap(storage().RunPrune(2)), 0) << "nothing more to prune";
  ExpectStatsMatchListing();

  EXPECT_EQ(Unwrap(storage().RunPrune(0)), 4);
  EXPECT_THAT(Ids(ListAll(all)), UnorderedElementsAre("t1-pending", "t1-running", "f1-a", "f1-b",
                                                      "f1-c", "f2-a"));
  ExpectStatsMatchListing();
}

// ---- RunLatestOfTask, RunCountLive ----------------------------------------------------

TEST_P(StorageConformance, RunLatestOfTaskAndRunCountLive) {
  EXPECT_EQ(Unwrap(storage().RunLatestOfTask("report")), std::nullopt);
  EXPECT_EQ(Unwrap(storage().RunCountLive("report")), 0);

  Run first = NewTaskRun("report-1", "report");
  Put({first});
  Run second = NewTaskRun("report-2", "report");
  second.created_at = At(10);
  second.run_at = At(10);
  Put({second});
  Run other = NewTaskRun("other-1", "other");
  other.created_at = At(20);
  Put({other});
  Run anonymous = NewRun("anonymous-1");
  anonymous.created_at = At(30);
  Put({anonymous});

  auto latest = Unwrap(storage().RunLatestOfTask("report"));
  ASSERT_TRUE(latest.has_value());
  EXPECT_RUN_EQ(*latest, second);
  EXPECT_EQ(Unwrap(storage().RunCountLive("report")), 2);
  EXPECT_EQ(Unwrap(storage().RunCountLive("other")), 1);

  ClaimedRun claimed = Take("runner-1", 1, kT0, {}).at(0);
  ASSERT_EQ(claimed.id, "report-1");
  EXPECT_EQ(Unwrap(storage().RunCountLive("report")), 2) << "running runs are live";
  ASSERT_TRUE(Finish(claimed, RunStatus::kCompleted, At(1)));
  EXPECT_EQ(Unwrap(storage().RunCountLive("report")), 1);
  Unwrap(storage().RunCancel("report-2", "", At(2)));
  EXPECT_EQ(Unwrap(storage().RunCountLive("report")), 0);
  EXPECT_EQ(Unwrap(storage().RunLatestOfTask("report"))->id, "report-2");
}

// ---- RunPutScheduled ------------------------------------------------------------------

TEST_P(StorageConformance, RunPutScheduledStoresEachLaunchOnce) {
  Run launch = NewTaskRun("launch-1", "every-minute");
  launch.scheduled_at = At(60);
  launch.run_at = At(60);
  EXPECT_TRUE(Unwrap(storage().RunPutScheduled(launch)));
  EXPECT_RUN_EQ(Get("launch-1"), launch);

  // A second scheduler fires the same instant with a fresh id.
  Run duplicate = launch;
  duplicate.id = "launch-1-again";
  duplicate.args = json::array{"duplicate"};
  EXPECT_FALSE(Unwrap(storage().RunPutScheduled(duplicate)));
  EXPECT_EQ(storage().RunGet("launch-1-again").status().code(), StatusCode::kNotFound);
  EXPECT_RUN_EQ(Get("launch-1"), launch);
  EXPECT_EQ(Unwrap(storage().RunStats()).total, 1);

  // RunPut cannot store a second run of the same launch either, whatever the mode.
  for (ConflictMode mode : {ConflictMode::kError, ConflictMode::kIgnore}) {
    RunPutParams params;
    params.runs = {duplicate};
    params.conflict = mode;
    auto put = storage().RunPut(params);
    ASSERT_FALSE(put.ok()) << ToString(mode);
    EXPECT_EQ(put.status().code(), StatusCode::kConflict) << put.status().ToString();
    EXPECT_THAT(put.status().message(), HasSubstr("every-minute"));
  }
  EXPECT_EQ(storage().RunGet("launch-1-again").status().code(), StatusCode::kNotFound);

  // The same instant survives the run finishing.
  ClaimedRun claimed = Take("runner-1", 1, At(60)).at(0);
  ASSERT_TRUE(Finish(claimed, RunStatus::kCompleted, At(61)));
  EXPECT_FALSE(Unwrap(storage().RunPutScheduled(duplicate)));

  Run next = NewTaskRun("launch-2", "every-minute");
  next.scheduled_at = At(120);
  EXPECT_TRUE(Unwrap(storage().RunPutScheduled(next)));
  Run other_task = NewTaskRun("other-launch", "every-hour");
  other_task.scheduled_at = At(60);
  EXPECT_TRUE(Unwrap(storage().RunPutScheduled(other_task)));
  StorageStats stats = Unwrap(storage().RunStats());
  EXPECT_EQ(stats.total, 3);
  ExpectStatsMatchListing();
}

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
  EXPECT_EQ(Unwrap(storage().LeaderGet("scheduler")), (LeaderLease{"node-a", At(30)}));
  ASSERT_TRUE(Unwrap(storage().LeaderAttemptElect("scheduler", "node-a", At(20), 30s)));
  EXPECT_EQ(Unwrap(storage().LeaderGet("scheduler")), (LeaderLease{"node-a", At(50)}));
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
  ApiToken acme{.name = "acme-1", .account_id = "acme", .hash = std::string(64, 'a'),
                .created_at = At(10)};
  ApiToken admin{.name = "ops", .admin = true, .hash = std::string(64, 'b'),
                 .created_at = At(20)};
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

// ---- durability -----------------------------------------------------------------------

TEST_P(StorageConformance, EverythingSurvivesReopening) {
  Run failed = NewRun("failed");
  failed.priority = 1;
  Put({FullCompletedRun("full"), failed, NewRun("running")});
  std::vector<ClaimedRun> claimed_runs = Take("runner-1", 2, kT0);
  ASSERT_THAT(Ids(claimed_runs), ElementsAre("failed", "running"));
  ASSERT_TRUE(Finish(claimed_runs[0], RunStatus::kFailed, At(1)));
  ClaimedRun claimed = claimed_runs[1];
  Put({NewRun("pending")});
  Unwrap(storage().TaskUpsert(FullTask("nightly")));
  Unwrap(storage().StatePut("cursor", "42"));
  Unwrap(storage().QueueSetPaused("frozen", true));
  ASSERT_TRUE(Unwrap(storage().LeaderAttemptElect("scheduler", "node-a", kT0, 60s)));
  Run scheduled = NewTaskRun("scheduled", "cron");
  scheduled.scheduled_at = At(60);
  ASSERT_TRUE(Unwrap(storage().RunPutScheduled(scheduled)));

  RunFilter all;
  all.limit = 1000;
  std::vector<Run> runs_before = ListAll(all);
  StorageStats stats_before = Unwrap(storage().RunStats());

  Reopen();

  std::vector<Run> runs_after = ListAll(all);
  ASSERT_EQ(runs_after.size(), runs_before.size());
  for (size_t i = 0; i < runs_before.size(); ++i) EXPECT_RUN_EQ(runs_after[i], runs_before[i]);
  StorageStats stats_after = Unwrap(storage().RunStats());
  EXPECT_EQ(stats_after.by_status, stats_before.by_status);
  EXPECT_EQ(stats_after.total, stats_before.total);
  EXPECT_EQ(Json(Unwrap(storage().TaskGet("nightly"))), Json(FullTask("nightly")));
  EXPECT_EQ(Unwrap(storage().StateGet("cursor")), "42");
  bool frozen_paused = false;
  for (const auto& q : Unwrap(storage().QueueList(kT0))) {
    if (q.queue == "frozen") frozen_paused = q.paused;
  }
  EXPECT_TRUE(frozen_paused);
  EXPECT_FALSE(Unwrap(storage().LeaderAttemptElect("scheduler", "node-b", At(30), 60s)));
  EXPECT_TRUE(Unwrap(storage().LeaderAttemptElect("scheduler", "node-a", At(30), 60s)));
  scheduled.id = "scheduled-again";
  EXPECT_FALSE(Unwrap(storage().RunPutScheduled(scheduled)));

  // The claim and its fencing token survive: the runner can still finish its attempt.
  EXPECT_THAT(Unwrap(storage().RunHeartbeatBatch({{"default", "running", 1, At(90)}})),
              ElementsAre(true));
  EXPECT_TRUE(Finish(claimed, RunStatus::kCompleted, At(91)));
  EXPECT_EQ(Get("running").status, RunStatus::kCompleted);
  ExpectStatsMatchListing();
}

}  // namespace

GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(StorageConformance);

}  // namespace taskmill::conformance
