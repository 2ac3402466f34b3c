// bulk/bulk_test_util.h — a fixture for bulk tests: an Engine on a fresh SQLite file
// and a ManualClock, with no runner or scheduler role, so that each test drives the
// attempts itself (claim, execute the handler, finish) on its own thread, with nothing
// depending on timing. Functions are registered before the engine opens.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <taskmill/bulk.h>
#include <taskmill/engine.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "csv/csv_reader.h"
#include "runner/runner.h"
#include "storage/conformance/storage_conformance.h"

namespace taskmill::bulk::testing {

using Table = std::vector<std::vector<std::string>>;

// Parses CSV text into rows of cell values (undefined cells as "").
inline Table ParseCsv(std::string_view text) {
  Table out;
  auto reader = csv::Reader::FromString(text);
  for (;;) {
    auto more = reader.Next();
    if (!more.ok()) {
      ADD_FAILURE() << more.status().ToString();
      return out;
    }
    if (!*more) return out;
    std::vector<std::string> row;
    for (const auto& f : reader.record().fields) row.emplace_back(f.value);
    out.push_back(std::move(row));
  }
}

class BulkFixture : public ::testing::Test {
 protected:
  using Run = ::taskmill::Run;

  BulkFixture() : clock_(conformance::kT0) {}

  // Registers functions; call before Open().
  FunctionRegistry& registry() { return *registry_; }
  std::shared_ptr<BulkRuntime> runtime() { return runtime_; }
  void SetOptions(BulkOptions options) { runtime_ = std::make_shared<BulkRuntime>(options); }

  void Open() {
    EngineOptions options;
    options.storage.url = (dir_.path() / "taskmill.db").string();
    options.storage.url += "?synchronous=normal";
    options.clock = &clock_;
    options.runner = false;
    options.scheduler = false;
    auto engine = Engine::Open(options, registry_);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    engine_ = std::move(*engine);
    runtime_->Attach(*engine_);
  }

  Engine& engine() { return *engine_; }
  Storage& storage() { return engine_->storage(); }
  ManualClock& clock() { return clock_; }

  Result<Run> Create(const std::string& function, std::string_view csv, std::string id = "") {
    BulkCreateRequest request;
    request.run.function = function;
    request.run.id = std::move(id);
    request.file_name = "numbers.csv";
    return CreateBulkRun(*engine_, std::move(request), csv);
  }

  // Stores a run of a function without input (or any function) through the engine.
  Run Enqueue(const std::string& function, int max_attempts = 1) {
    EnqueueRequest request;
    request.function = function;
    RetryPolicy retry;
    retry.max_attempts = max_attempts;
    request.retry = retry;
    auto run = engine_->Enqueue(request);
    EXPECT_TRUE(run.ok()) << run.status().ToString();
    return *run;
  }

  // Claims the next due run, as a runner would.
  Run Claim() {
    RunTakeParams params;
    params.runner = "test-runner";
    params.max = 1;
    params.now = clock_.Now();
    auto taken = storage().RunTake(params);
    EXPECT_TRUE(taken.ok()) << taken.status().ToString();
    if (!taken.ok() || taken->empty()) throw std::runtime_error("no run to claim");
    return taken->front();
  }

  // Runs the handler of a claimed run on this thread.
  HandlerOutcome Execute(const Run& claimed, std::shared_ptr<CancellationToken> token = nullptr) {
    if (!token) token = std::make_shared<CancellationToken>();
    const auto* entry = engine_->functions().Find(claimed.function);
    EXPECT_NE(entry, nullptr) << claimed.function;
    RunContext context(claimed, token);
    return entry->handler->Execute(context);
  }

  // Records the attempt's end as the runner would; returns whether it was accepted.
  bool FinishAttempt(const Run& claimed, const HandlerOutcome& outcome) {
    auto results = storage().RunFinishBatch({DecideFinish(claimed, outcome, clock_.Now())});
    EXPECT_TRUE(results.ok()) << results.status().ToString();
    return results.ok() && (*results)[0].accepted;
  }

  // Claim, execute, finish; returns the stored run.
  Run RunOnce() {
    Run claimed = Claim();
    last_outcome_ = Execute(claimed);
    FinishAttempt(claimed, last_outcome_);
    return Get(claimed.id);
  }

  Run Get(const std::string& id) {
    auto run = storage().RunGet(id);
    EXPECT_TRUE(run.ok()) << run.status().ToString();
    return run.ok() ? *run : Run{};
  }

  std::string ReadFile(const Run& run, BulkFileStream::Which which) {
    auto stream = BulkFileStream::Open(storage(), run, which);
    if (!stream.ok()) {
      ADD_FAILURE() << stream.status().ToString();
      return {};
    }
    std::string out;
    for (;;) {
      auto piece = (*stream)->Next();
      if (!piece.ok()) {
        ADD_FAILURE() << piece.status().ToString();
        return out;
      }
      if (piece->empty()) return out;
      out += *piece;
    }
  }
  Table Output(const Run& run) { return ParseCsv(ReadFile(run, BulkFileStream::Which::kOutput)); }

  // Every run and file stored, for "nothing stored" checks.
  int64_t RunCount() { return storage().RunStats()->total; }
  int64_t StagedFiles() {
    // Pruning everything staged before the far future counts them (and removes them).
    return *storage().FilePruneStaged(conformance::At(10'000'000));
  }

  HandlerOutcome last_outcome_;

 private:
  conformance::TempDir dir_;  // first: removed after the engine closed the database
  ManualClock clock_;
  std::shared_ptr<FunctionRegistry> registry_ = std::make_shared<FunctionRegistry>();
  std::shared_ptr<BulkRuntime> runtime_ = std::make_shared<BulkRuntime>();
  std::unique_ptr<Engine> engine_;
};

// Waits (on events, not on time) until a progress event shows `done` rows or more.
class ProgressWatch {
 public:
  explicit ProgressWatch(EventBus& bus) : bus_(bus) {
    id_ = bus_.Subscribe([this](const Event& e) {
      if (e.type != Event::Type::kRunProgress) return;
      std::lock_guard lock(mu_);
      done_ = std::max(done_, e.progress.succeeded + e.progress.failed);
      cv_.notify_all();
    });
  }
  ~ProgressWatch() { bus_.Unsubscribe(id_); }
  void WaitFor(int64_t done) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return done_ >= done; });
  }

 private:
  EventBus& bus_;
  uint64_t id_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  int64_t done_ = 0;
};

}  // namespace taskmill::bulk::testing
