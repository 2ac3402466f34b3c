// `taskmill bench` measures the engine in-process, on a fresh embedded database file:
//   1. enqueue:  N no-op runs stored in batches of --batch by --producers threads
//                (one producer: one commit per batch; several: group commit merges
//                the batches that arrive together, as for concurrent API clients);
//   2. drain:    the runner executes all of them (take and finish batched); with
//                --processes N, N runner processes of their own do (bench_processes.h);
//   3. trickle:  runs enqueued one at a time, each waited for, to measure the latency
//                from the enqueue call to the start of the function (p50/p99);
// and reports peak RSS. Figures and how to rerun them: docs/BENCHMARKS.md.
#include "cli/bench_command.h"

#include <fmt/core.h>
#include <sys/resource.h>
#include <taskmill/engine.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <thread>

#include "cli/bench_flow.h"
#include "cli/bench_lateness.h"
#include "cli/bench_processes.h"
#include "cli/bench_steady.h"
#include "cli/global_options.h"

namespace taskmill::cli {
namespace {
namespace json = boost::json;

struct BenchOptions {
  int64_t runs = 200000;
  int capacity = 64;
  int batch = 1000;
  int producers = 1;
  int processes = 0;  // runner processes for the drain; 0: the bench's own runner
  int trickle = 2000;
  std::string sync = "full";
  std::string dir;
  // A storage URL instead of a fresh embedded database (e.g. postgresql://...): it
  // should hold no pending runs, since the drain waits for every run it finishes.
  std::string storage;
  bool json = false;
};

double Seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

int64_t PeakRssKb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  return v[i];
}

int RunBench(const BenchOptions& o) {
  namespace fs = std::filesystem;
  fs::path dir = o.dir.empty()
                     ? fs::temp_directory_path() / ("taskmill-bench-" + std::to_string(getpid()))
                     : fs::path(o.dir);
  fs::remove_all(dir);
  fs::create_directories(dir);

  // The no-op function records when it started, for the trickle phase.
  std::mutex started_mu;
  std::condition_variable started_cv;
  std::atomic<int64_t> finished{0};
  std::chrono::steady_clock::time_point started_at{};
  bool started = false;
  auto registry = std::make_shared<FunctionRegistry>();
  (void)registry->Register(kBenchFunction, [&](RunContext& ctx) {
    if (ctx.data().as_object().contains("trickle")) {
      std::lock_guard lock(started_mu);
      started_at = std::chrono::steady_clock::now();
      started = true;
      started_cv.notify_all();
    }
  });

  std::string url = o.storage;
  if (url.empty()) url = (dir / "bench.db").string() + "?synchronous=" + o.sync;
  auto engine_or = OpenBenchEngine(url, o.capacity, registry, finished);
  if (!engine_or.ok()) return 2;
  auto& engine = **engine_or;

  // Phase 1: enqueue in batches, runner not started. Producers take batches from a
  // shared count until all runs are stored.
  auto t0 = std::chrono::steady_clock::now();
  std::atomic<int64_t> claimed{0};
  std::atomic<bool> failed{false};
  auto produce = [&] {
    for (;;) {
      int64_t first = claimed.fetch_add(o.batch);
      if (first >= o.runs || failed.load()) return;
      int64_t n = std::min<int64_t>(o.batch, o.runs - first);
      std::vector<EnqueueRequest> batch(static_cast<size_t>(n));
      for (auto& r : batch) r.function = kBenchFunction;
      auto stored = engine.EnqueueBatch(batch);
      if (!stored.ok()) {
        if (!failed.exchange(true)) {
          std::cerr << "error: enqueue failed: " << stored.status().ToString() << "\n";
        }
        return;
      }
    }
  };
  {
    std::vector<std::thread> producers;
    for (int i = 1; i < std::max(1, o.producers); ++i) producers.emplace_back(produce);
    produce();
    for (auto& t : producers) t.join();
  }
  if (failed) return 3;
  auto t1 = std::chrono::steady_clock::now();
  double enqueue_rate = static_cast<double>(o.runs) / Seconds(t1 - t0);
  if (!o.json) std::cerr << fmt::format("enqueue: {:.0f} runs/s\n", enqueue_rate);

  // Phase 2: drain.
  double drain_secs = 0;
  if (o.processes > 0) {
    auto secs = DrainWithProcesses(url, o.processes, o.capacity, o.runs);
    if (!secs.ok()) {
      std::cerr << "error: " << secs.status().ToString() << "\n";
      return 3;
    }
    drain_secs = *secs;
    (void)engine.Start();  // for the trickle phase
  } else {
    auto t2 = std::chrono::steady_clock::now();
    (void)engine.Start();
    std::mutex mu;
    std::unique_lock lock(mu);
    std::condition_variable cv;
    // Finishes are counted by an event listener; poll the counter at 1 ms.
    while (finished.load() < o.runs) cv.wait_for(lock, std::chrono::milliseconds(1));
    drain_secs = Seconds(std::chrono::steady_clock::now() - t2);
  }
  double drain_rate = static_cast<double>(o.runs) / drain_secs;
  if (!o.json) std::cerr << fmt::format("drain: {:.0f} runs/s\n", drain_rate);

  // Phase 3: trickle, one run at a time.
  std::vector<double> latencies_ms;
  latencies_ms.reserve(static_cast<size_t>(o.trickle));
  for (int i = 0; i < o.trickle; ++i) {
    EnqueueRequest r;
    r.function = kBenchFunction;
    r.data = json::object{{"trickle", true}};
    {
      std::lock_guard lock(started_mu);
      started = false;
    }
    auto before = std::chrono::steady_clock::now();
    auto run = engine.Enqueue(r);
    if (!run.ok()) return 3;
    std::unique_lock lock(started_mu);
    started_cv.wait_for(lock, std::chrono::seconds(10), [&] { return started; });
    if (!started) {
      std::cerr << "error: a trickle run did not start within 10 s\n";
      return 3;
    }
    latencies_ms.push_back(std::chrono::duration<double, std::milli>(started_at - before).count());
  }
  double p50 = Percentile(latencies_ms, 0.50), p99 = Percentile(latencies_ms, 0.99);
  engine.Stop();
  int64_t rss_kb = PeakRssKb();
  fs::remove_all(dir);

  json::object out{{"runs", o.runs},
                   {"capacity", o.capacity},
                   {"batch", o.batch},
                   {"producers", o.producers},
                   {"processes", o.processes},
                   {"synchronous", o.sync},
                   {"storage", o.storage.empty() ? std::string("sqlite") : o.storage},
                   {"enqueue_runs_per_sec", enqueue_rate},
                   {"drain_runs_per_sec", drain_rate},
                   {"latency_p50_ms", p50},
                   {"latency_p99_ms", p99},
                   {"trickle_runs", o.trickle},
                   {"peak_rss_mb", static_cast<double>(rss_kb) / 1024.0}};
  if (o.json) {
    std::cout << json::serialize(out) << "\n";
  } else {
    std::cout << fmt::format(
        "runs {}  capacity {}  synchronous {}  storage {}\n"
        "enqueue   {:>10.0f} runs/s (batches of {}, {} producer(s))\n"
        "drain     {:>10.0f} runs/s\n"
        "latency   p50 {:.3f} ms  p99 {:.3f} ms  (enqueue -> start, {} runs)\n"
        "peak RSS  {:.1f} MB\n",
        o.runs, o.capacity, o.sync, o.storage.empty() ? std::string("sqlite") : o.storage,
        enqueue_rate, o.batch, o.producers, drain_rate, p50, p99, o.trickle,
        static_cast<double>(rss_kb) / 1024.0);
  }
  return 0;
}
}  // namespace

void AddBenchCommand(CLI::App& app) {
  auto opts = std::make_shared<BenchOptions>();
  auto* cmd = app.add_subcommand("bench", "Measure enqueue and drain throughput and latency");
  cmd->add_option("--runs", opts->runs, "No-op runs to enqueue and drain")->capture_default_str();
  cmd->add_option("--capacity", opts->capacity, "Runner slots")->capture_default_str();
  cmd->add_option("--batch", opts->batch, "Runs per enqueue batch")->capture_default_str();
  cmd->add_option("--producers", opts->producers, "Threads enqueueing batches at once")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  cmd->add_option("--processes", opts->processes,
                  "Runner processes of their own for the drain (0: the bench's runner)")
      ->check(CLI::Range(0, 64))
      ->capture_default_str();
  cmd->add_option("--trickle", opts->trickle, "Runs in the latency phase")->capture_default_str();
  cmd->add_option("--sync", opts->sync, "durability of the embedded store: full | normal")
      ->check(CLI::IsMember({"full", "normal"}))
      ->capture_default_str();
  cmd->add_option("--dir", opts->dir, "Directory for the database (default: a temp dir)");
  cmd->add_option("--storage", opts->storage,
                  "Storage URL to measure instead of a fresh embedded database, e.g. "
                  "postgresql://user@host/db (an empty database)");
  CLI::App* lateness = AddBenchLatenessCommand(*cmd);
  CLI::App* runner = AddBenchRunnerCommand(*cmd);
  CLI::App* steady = AddBenchSteadyCommand(*cmd);
  CLI::App* flow = AddBenchFlowCommand(*cmd);
  cmd->callback([opts, lateness, runner, steady, flow] {
    // A subcommand ran instead.
    if (lateness->parsed() || runner->parsed() || steady->parsed() || flow->parsed()) return;
    opts->json = JsonRequested();  // --json: one JSON object
    throw CLI::RuntimeError(RunBench(*opts));
  });
}

}  // namespace taskmill::cli
