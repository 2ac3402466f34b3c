// bench/micro/storage_bench.cpp — the storage operations the engine's hot path is made
// of, on a real SQLite file: store a batch of 1,000 runs, claim 1,000, finish 1,000.
// Items are runs, so items_per_second is runs per second for that operation alone (the
// engine's drain needs one claim and one finish per run). Run with:
//   taskmill_micro_bench --benchmark_filter=Storage --benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true
// `synchronous=normal`, so that the figures show the CPU cost of the operations rather
// than the disk's fsync latency (which group commit spreads over a batch anyway).
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "storage/sqlite/sqlite_storage.h"
#include "taskmill/model.h"

namespace taskmill {
namespace {

constexpr int kBatch = 1000;
// A fixed count (50,000 runs per benchmark), so that instruction counts taken with
// valgrind --tool=callgrind compare between builds; the work is done by the storage's
// writer thread, hence real time.
constexpr int kIterations = 50;

class BenchDb {
 public:
  BenchDb() {
    dir_ = std::filesystem::temp_directory_path() /
           ("taskmill-storage-bench-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    auto opened = sqlite::OpenSqliteStorage({(dir_ / "bench.db").string(), "normal"});
    if (!opened.ok()) throw std::runtime_error(opened.status().ToString());
    storage_ = std::move(*opened);
  }
  ~BenchDb() {
    storage_.reset();
    std::filesystem::remove_all(dir_);
  }
  Storage& storage() { return *storage_; }

 private:
  std::filesystem::path dir_;
  std::unique_ptr<Storage> storage_;
};

TimePoint Now() { return std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now()); }

std::vector<Run> NewRuns(int n) {
  std::vector<Run> runs(static_cast<size_t>(n));
  TimePoint now = Now();
  for (auto& run : runs) {
    run.id = NewRunId(now);
    run.function = "bench.noop";
    run.created_at = now;
    run.run_at = now;
  }
  return runs;
}

void Put(Storage& storage, std::vector<Run> runs) {
  RunPutParams params;
  params.runs = std::move(runs);
  if (!storage.RunPut(std::move(params)).ok()) throw std::runtime_error("put failed");
}

std::vector<ClaimedRun> Take(Storage& storage, int n) {
  auto taken = storage.RunTake({"bench-runner", {}, n, Now()});
  if (!taken.ok() || static_cast<int>(taken->size()) != n) throw std::runtime_error("take failed");
  return std::move(*taken);
}

// `carry_claimed`: each finish carries its claimed run, as the runner's do (the storage
// need not read the run back); without, as the scheduler's and remote runners' do.
std::vector<RunFinish> Finishes(const std::vector<ClaimedRun>& runs, bool carry_claimed) {
  std::vector<RunFinish> finishes;
  finishes.reserve(runs.size());
  TimePoint now = Now();
  for (const auto& run : runs) {
    RunFinish f;
    f.queue = run.queue;
    f.id = run.id;
    f.attempt = run.attempt;
    f.finished_at = now;
    f.outcome = "completed";
    if (carry_claimed) f.claimed = &run;
    finishes.push_back(std::move(f));
  }
  return finishes;
}

void BM_StoragePutBatch(benchmark::State& state) {
  BenchDb db;
  for (auto _ : state) {
    state.PauseTiming();
    std::vector<Run> runs = NewRuns(kBatch);
    state.ResumeTiming();
    Put(db.storage(), std::move(runs));
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_StoragePutBatch)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(kIterations);

void BM_StorageTakeBatch(benchmark::State& state) {
  BenchDb db;
  for (auto _ : state) {
    state.PauseTiming();
    Put(db.storage(), NewRuns(kBatch));
    state.ResumeTiming();
    benchmark::DoNotOptimize(Take(db.storage(), kBatch));
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_StorageTakeBatch)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(kIterations);

void BM_StorageFinishBatch(benchmark::State& state) {
  BenchDb db;
  for (auto _ : state) {
    state.PauseTiming();
    Put(db.storage(), NewRuns(kBatch));
    std::vector<ClaimedRun> taken = Take(db.storage(), kBatch);
    std::vector<RunFinish> finishes = Finishes(taken, state.range(0) != 0);
    state.ResumeTiming();
    auto results = db.storage().RunFinishBatch(finishes);
    if (!results.ok()) throw std::runtime_error("finish failed");
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_StorageFinishBatch)
    ->ArgName("claimed")
    ->Arg(1)
    ->Arg(0)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(kIterations);

}  // namespace
}  // namespace taskmill
