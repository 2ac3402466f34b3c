// Crash recovery of bulk runs: an attempt that dies is resumed by the next one from
// its last checkpoint; every input row ends up in the output exactly once (the
// function itself may see the rows after the checkpoint twice: at-least-once).
//
// A crash is simulated with a zombie: the first attempt blocks inside the function
// (a frozen process), its lease expires, the lost-run sweep retries the run, a second
// attempt runs it to the end; then the zombie is released and must be fenced out.
#include <boost/json.hpp>
#include <future>
#include <map>
#include <set>
#include <thread>

#include "bulk/bulk_test_util.h"

namespace taskmill::bulk {
namespace {
namespace json = boost::json;
using testing::BulkFixture;
using ::testing::ElementsAre;
using testing::ProgressWatch;
using testing::Table;
using Row = std::vector<std::string>;
using namespace std::chrono_literals;

// Opens once, like a one-shot std::latch that a test can also query.
class Gate {
 public:
  void Open() {
    {
      std::lock_guard lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }
  void Wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

class BulkResumeTest : public BulkFixture {
 protected:
  void SetUp() override {
    BulkFunction import;
    import.info.name = "test.import";
    import.info.input = "csv";
    import.info.mandatory = {"e164"};
    import.progress_every = 100;
    import.call = [this](const BulkCall& call) { { std::lock_guard lock(mu_);
    calls_[call.context.attempt()].push_back(call.row->number());
  }
  if (hook_) hook_(call);
  if (disk_full_ && disk_full_(call)) return BulkResult::Retry("disk full: cannot store the row");
  return BulkResult::Merge({{"attempt", std::to_string(call.context.attempt())}});
};
import.info.output_header = {"attempt"};
ASSERT_TRUE(RegisterBulkFunction(registry(), runtime(), import).ok());

BulkFunction list;
list.info.name = "test.list";
list.info.input = "none";
list.info.output_header = {"n"};
list.progress_every = 10;
list.call = [this](const BulkCall& call) {
  int64_t page = call.state.is_null() ? 0 : call.state.as_int64();
  {
    std::lock_guard lock(mu_);
    calls_[call.context.attempt()].push_back(page);
  }
  if (hook_) hook_(call);
  if (page == 20) return BulkResult::Stop();
  std::vector<std::vector<std::string>> rows;
  for (int i = 0; i < 10; ++i) rows.push_back({std::to_string(page * 10 + i)});
  return BulkResult::WriteRows(std::move(rows)).WithState(page + 1);
};
ASSERT_TRUE(RegisterBulkFunction(registry(), runtime(), list).ok());
Open();
}  // namespace

Run CreateNumbers(int rows, const std::string& id) {
  std::string csv = "e164\n";
  for (int i = 1; i <= rows; ++i) csv += "+1555" + std::to_string(1000000 + i) + "\n";
  BulkCreateRequest request;
  request.run.function = "test.import";
  request.run.id = id;
  request.run.retry = RetryPolicy{.max_attempts = 3};
  auto run = CreateBulkRun(engine(), request, csv);
  EXPECT_TRUE(run.ok()) << run.status().ToString();
  return *run;
}

// What the scheduler's lost-run sweep does once the lease of `claimed` expired.
void ExpireAndSweep(const Run& claimed) {
  clock().Advance(claimed.time_to_resolve + 1s);
  auto expired = storage().RunListExpired(clock().Now(), 10);
  ASSERT_TRUE(expired.ok());
  ASSERT_EQ(expired->size(), 1u);
  HandlerOutcome lost;
  lost.status = RunStatus::kLost;
  lost.error = "lease expired";
  lost.error_kind = "lost";
  RunFinish finish = DecideFinish(expired->front(), lost, clock().Now());
  finish.outcome = "lost";
  ASSERT_EQ(finish.status, RunStatus::kPending) << "an attempt is left: retried";
  auto results = storage().RunFinishBatch({finish});
  ASSERT_TRUE(results.ok() && (*results)[0].accepted);
}

std::vector<int64_t> CallsOf(int attempt) {
  std::lock_guard lock(mu_);
  return calls_[attempt];
}

std::mutex mu_;
std::map<int, std::vector<int64_t>> calls_;  // attempt → rows (or pages) it was called for
std::function<void(const BulkCall&)> hook_;
// True when the function finds its own storage full for this call.
std::function<bool(const BulkCall&)> disk_full_;
};  // namespace taskmill::bulk

TEST_F(BulkResumeTest, ACrashedAttemptIsResumedFromItsCheckpointAndEveryRowIsWrittenOnce) {
  CreateNumbers(1000, "crash");
  ProgressWatch watch(engine().events());
  Gate frozen;   // attempt 1 reached row 550
  Gate release;  // let the zombie go on
  hook_ = [&](const BulkCall& call) {
    if (call.context.attempt() == 1 && call.row->number() == 550) {
      frozen.Open();
      release.Wait();
    }
  };
  Run first = Claim();
  std::promise<HandlerOutcome> zombie_outcome;
  std::thread zombie([&] { zombie_outcome.set_value(Execute(first)); });
  frozen.Wait();
  watch.WaitFor(100);  // at least the checkpoint due at row 100 is saved

  ExpireAndSweep(first);
  Run second = Claim();
  ASSERT_EQ(second.attempt, 2);
  HandlerOutcome outcome = Execute(second);
  EXPECT_EQ(outcome.status, RunStatus::kCompleted) << outcome.error;
  ASSERT_TRUE(FinishAttempt(second, outcome));

  // The zombie wakes up: its next checkpoint is refused, and so is its finish.
  release.Open();
  zombie.join();
  HandlerOutcome late = zombie_outcome.get_future().get();
  EXPECT_EQ(late.status, RunStatus::kFailed);
  EXPECT_EQ(late.error_kind, "lost") << late.error;
  EXPECT_FALSE(FinishAttempt(first, late));

  Run run = Get("crash");
  EXPECT_EQ(run.status, RunStatus::kCompleted);
  EXPECT_EQ(run.attempt, 2);
  EXPECT_EQ(run.progress, (Progress{1000, 1000, 0}));

  // The second attempt started after the first one's last checkpoint, not at row 1.
  std::vector<int64_t> resumed = CallsOf(2);
  ASSERT_FALSE(resumed.empty());
  int64_t checkpoint = resumed.front() - 1;
  EXPECT_GE(checkpoint, 100);
  EXPECT_LT(checkpoint, 550);
  EXPECT_EQ(resumed.back(), 1000);
  EXPECT_EQ(static_cast<int64_t>(resumed.size()), 1000 - checkpoint);

  // Every input row is in the output exactly once, in order; rows up to the
  // checkpoint were written by attempt 1, the rest by attempt 2.
  Table output = Output(run);
  ASSERT_EQ(output.size(), 1001u);
  EXPECT_EQ(output[0], (Row{"e164", "attempt"}));
  for (int i = 1; i <= 1000; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(output[i][0], "+1555" + std::to_string(1000000 + i));
    EXPECT_EQ(output[i][1], i <= checkpoint ? "1" : "2");
  }
}

// Regression: rows that failed because the function's disk was full were counted as
// failed rows, and the run ended `failed` for good once space returned.
TEST_F(BulkResumeTest, ARowThatCouldNotBeStoredEndsTheAttemptAndTheRetryResumesAtIt) {
  CreateNumbers(1000, "full");
  disk_full_ = [](const BulkCall& call) {
    return call.context.attempt() == 1 && call.row->number() >= 250;
  };
  Run first = Claim();
  HandlerOutcome outcome = Execute(first);
  EXPECT_EQ(outcome.status, RunStatus::kFailed);
  EXPECT_EQ(outcome.error_kind, "internal") << "a storage failure is not a failed row";
  EXPECT_THAT(outcome.error, ::testing::HasSubstr("line 251: disk full"));
  ASSERT_TRUE(FinishAttempt(first, outcome));
  Run waiting = Get("full");
  EXPECT_EQ(waiting.status, RunStatus::kPending) << "retried: max_attempts is 3";
  EXPECT_EQ(waiting.progress.failed, 0);

  clock().Advance(1h);  // past the retry delay
  Run second = Claim();
  ASSERT_EQ(second.attempt, 2);
  outcome = Execute(second);
  EXPECT_EQ(outcome.status, RunStatus::kCompleted) << outcome.error;
  ASSERT_TRUE(FinishAttempt(second, outcome));
  Run run = Get("full");
  EXPECT_EQ(run.status, RunStatus::kCompleted);
  EXPECT_EQ(run.progress, (Progress{1000, 1000, 0}));
  // The retry started at the row that could not be stored, and every row is written
  // once: up to it by attempt 1, from it on by attempt 2.
  std::vector<int64_t> resumed = CallsOf(2);
  ASSERT_FALSE(resumed.empty());
  EXPECT_EQ(resumed.front(), 250);
  Table output = Output(run);
  ASSERT_EQ(output.size(), 1001u);
  for (int i = 1; i <= 1000; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(output[i][0], "+1555" + std::to_string(1000000 + i));
    EXPECT_EQ(output[i][1], i < 250 ? "1" : "2");
  }
}

TEST_F(BulkResumeTest, AFinishedAttemptWhoseFinishWasLostIsReportedNotRedone) {
  CreateNumbers(250, "lost-finish");
  Run first = Claim();
  HandlerOutcome done = Execute(first);
  ASSERT_EQ(done.status, RunStatus::kCompleted);
  // The process dies before the runner writes the finish.
  ExpireAndSweep(first);
  Run second = Claim();
  HandlerOutcome replayed = Execute(second);
  EXPECT_TRUE(CallsOf(2).empty()) << "no row was processed again";
  EXPECT_EQ(replayed.status, RunStatus::kCompleted);
  EXPECT_EQ(replayed.progress, done.progress);
  EXPECT_EQ(json::serialize(replayed.result), json::serialize(done.result));
  ASSERT_TRUE(FinishAttempt(second, replayed));
  Run run = Get("lost-finish");
  EXPECT_EQ(run.status, RunStatus::kCompleted);
  EXPECT_EQ(Output(run).size(), 251u);
}

TEST_F(BulkResumeTest, RetryingAFinishedRunStartsOverWithANewOutput) {
  CreateNumbers(150, "again");
  Run once = RunOnce();
  ASSERT_EQ(once.status, RunStatus::kCompleted);
  std::string first_output = once.output_file;

  ASSERT_TRUE(engine().Retry("again").ok());
  Run twice = RunOnce();
  EXPECT_EQ(twice.status, RunStatus::kCompleted);
  EXPECT_EQ(CallsOf(2).size(), 150u) << "every row again";
  EXPECT_NE(twice.output_file, first_output);
  EXPECT_EQ(storage().FileGet(first_output).status().code(), StatusCode::kNotFound)
      << "the previous output is replaced, not leaked";
  Table output = Output(twice);
  ASSERT_EQ(output.size(), 151u);
  EXPECT_EQ(output[150], (Row{"+15551000150", "2"}));
}

TEST_F(BulkResumeTest, RetryingAStoppedRunContinuesWhereItStopped) {
  CreateNumbers(300, "stop-then-go");
  Run first = Claim();
  auto token = std::make_shared<CancellationToken>();
  hook_ = [&](const BulkCall& call) {
    if (call.context.attempt() == 1 && call.row->number() == 123) {
      ASSERT_TRUE(engine().storage().RunCancel("stop-then-go", "", clock().Now()).ok());
      token->Cancel("stopped by an operator");
    }
  };
  Execute(first, token);
  Run stopped = Get("stop-then-go");
  ASSERT_EQ(stopped.status, RunStatus::kStopped);
  ASSERT_EQ(stopped.progress.succeeded, 123);
  ASSERT_EQ(Output(stopped).size(), 124u);

  ASSERT_TRUE(engine().Retry("stop-then-go").ok());
  Run run = RunOnce();
  EXPECT_EQ(run.status, RunStatus::kCompleted);
  std::vector<int64_t> resumed = CallsOf(2);
  ASSERT_FALSE(resumed.empty());
  EXPECT_EQ(resumed.front(), 124) << "the rows before the stop are not done again";
  Table output = Output(run);
  ASSERT_EQ(output.size(), 301u);
  for (int i = 1; i <= 300; ++i) EXPECT_EQ(output[i][0], "+1555" + std::to_string(1000000 + i));
}

TEST_F(BulkResumeTest, AnIteratorResumesFromItsCheckpointedState) {
  Run created = Enqueue("test.list", /*max_attempts=*/2);
  ProgressWatch watch(engine().events());
  Gate frozen;
  Gate release;
  hook_ = [&](const BulkCall& call) {
    if (call.context.attempt() == 1 && !call.state.is_null() && call.state.as_int64() == 7) {
      frozen.Open();
      release.Wait();
    }
  };
  Run first = Claim();
  std::thread zombie([&] { Execute(first); });
  frozen.Wait();
  watch.WaitFor(10);
  ExpireAndSweep(first);
  Run second = Claim();
  HandlerOutcome outcome = Execute(second);
  ASSERT_TRUE(FinishAttempt(second, outcome));
  release.Open();
  zombie.join();

  std::vector<int64_t> pages = CallsOf(2);
  ASSERT_FALSE(pages.empty());
  EXPECT_GE(pages.front(), 1) << "resumed with the saved state, not from init";
  EXPECT_LE(pages.front(), 7);
  Run run = Get(created.id);
  EXPECT_EQ(run.status, RunStatus::kCompleted);
  EXPECT_EQ(run.progress, (Progress{200, 200, 0}));
  Table output = Output(run);
  ASSERT_EQ(output.size(), 201u);
  for (int i = 0; i < 200; ++i) EXPECT_EQ(output[i + 1][0], std::to_string(i));
}

}  // namespace
}  // namespace taskmill::bulk
