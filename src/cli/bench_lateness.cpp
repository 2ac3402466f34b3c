// `taskmill bench lateness` measures start lateness on an idle node: for a run due at
// T, the time from T to the start of its function, p50/p99/max, for
//   delayed      runs enqueued with a delay (20-80 ms), one at a time;
//   retry        second attempts of runs whose first one failed (retry delay 20-80 ms);
//   continuous   successors of a continuous task (pause 30 ms);
//   process      delayed runs stored by this process and executed by a runner in a
//                process of its own on the same database file (a `serve --roles runner`
//                beside `serve --roles scheduler,api`), which learns of them from the
//                storage's commit watch;
//   process-now  runs due at once, the same way: how soon the other process learns
//                of a run at all.
// Each mode also reports the claim's lateness (the attempt's started_at), the part
// before a worker took the run. On a fresh database file in a temporary directory. Figures and how
// to rerun them: docs/BENCHMARKS.md, "Start lateness".
#include "cli/bench_lateness.h"

#include <fmt/core.h>
#include <sys/wait.h>
#include <taskmill/engine.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <condition_variable>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>
#include <utility>

#include "cli/global_options.h"
#include "core/lifecycle/run_events.h"

namespace taskmill::cli {
namespace {
namespace json = boost::json;
using namespace std::chrono_literals;

struct LatenessOptions {
  int runs = 300;  // per mode
  std::string sync = "full";
  std::string dir;
  bool json = false;
};

constexpr const char* kLocalQueue = "lateness";
constexpr const char* kRemoteQueue = "lateness-remote";

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  return v[i];
}

// The function every mode runs: it reports how late it started, in its result and to
// the in-process recorder, and fails its first attempt when asked to (retries).
struct Recorder {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<double> late_ms;
  std::vector<double> claim_late_ms;
};

std::shared_ptr<FunctionRegistry> Functions(Recorder* recorder) {
  auto registry = std::make_shared<FunctionRegistry>();
  (void)registry->Register("bench.late", [recorder](RunContext& ctx) {
    const TimePoint now = SystemClock::Instance().Now();
    const auto& data = ctx.data().as_object();
    if (data.contains("fail_first") && ctx.attempt() == 1) {
      throw std::runtime_error("first attempt fails, so that a retry falls due");
    }
    const double late = std::chrono::duration<double, std::milli>(now - ctx.run().run_at).count();
    // The claim's own lateness: the part of it before the worker took the run.
    const double claim_late = std::chrono::duration<double, std::milli>(
                                  ctx.run().started_at.value_or(now) - ctx.run().run_at)
                                  .count();
    ctx.SetResult(json::object{{"late_ms", late}, {"claim_late_ms", claim_late}});
    if (!recorder) return;
    std::lock_guard lock(recorder->mu);
    recorder->late_ms.push_back(late);
    recorder->claim_late_ms.push_back(claim_late);
    recorder->cv.notify_all();
  });
  return registry;
}

// The runner process: serves the remote queue until its parent closes `control`.
[[noreturn]] void RunnerProcess(const std::string& db, const std::string& sync, int control) {
  char go = 0;
  if (::read(control, &go, 1) != 1) ::_exit(1);  // the database exists now
  EngineOptions options;
  options.storage.url = db;
  options.storage.url += "?synchronous=" + sync;
  options.scheduler = false;
  options.runner_options.queues = {kRemoteQueue};
  auto engine = Engine::Open(options, Functions(nullptr));
  if (!engine.ok() || !(*engine)->Start().ok()) ::_exit(2);
  while (::read(control, &go, 1) > 0) {
  }
  (*engine)->Stop();
  ::_exit(0);
}

struct Mode {
  std::string name;
  std::vector<double> late_ms;
  std::vector<double> claim_late_ms;  // from run_at to the claim
};

int RunLateness(const LatenessOptions& o) {
  namespace fs = std::filesystem;
  const fs::path dir =
      o.dir.empty() ? fs::temp_directory_path() / ("taskmill-lateness-" + std::to_string(getpid()))
                    : fs::path(o.dir);
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string db = (dir / "bench.db").string();

  // Forked first, while this process has a single thread.
  int control[2];
  if (::pipe(control) != 0) return 2;
  const pid_t child = ::fork();
  if (child < 0) return 2;
  if (child == 0) {
    ::close(control[1]);
    RunnerProcess(db, o.sync, control[0]);
  }
  ::close(control[0]);
  auto stop_child = [&] {
    if (control[1] >= 0) ::close(control[1]);
    control[1] = -1;
    int status = 0;
    ::waitpid(child, &status, 0);
  };

  Recorder recorder;
  EngineOptions options;
  options.storage.url = db;
  options.storage.url += "?synchronous=" + o.sync;
  options.runner_options.queues = {kLocalQueue};
  auto engine_or = Engine::Open(options, Functions(&recorder));
  if (!engine_or.ok() || !(*engine_or)->Start().ok()) {
    std::cerr << "error: "
              << (engine_or.ok() ? "the engine did not start" : engine_or.status().ToString())
              << "\n";
    stop_child();
    return 2;
  }
  Engine& engine = **engine_or;
  if (::write(control[1], "g", 1) != 1) return 2;

  std::vector<double> claim_late;  // of the last mode taken
  std::mt19937 random(42);
  auto delay = [&] { return std::chrono::milliseconds(20 + random() % 61); };
  // Waits for `n` more starts recorded in this process.
  auto await = [&](size_t n) {
    std::unique_lock lock(recorder.mu);
    return recorder.cv.wait_for(lock, 30s, [&] { return recorder.late_ms.size() >= n; });
  };
  auto take = [&] {
    std::lock_guard lock(recorder.mu);
    claim_late = std::exchange(recorder.claim_late_ms, {});
    return std::exchange(recorder.late_ms, {});
  };
  std::vector<Mode> modes;
  int failed = 0;

  // Delayed runs, and runs whose first attempt fails, one at a time.
  for (const bool retry : {false, true}) {
    for (int i = 0; i < o.runs && !failed; ++i) {
      EnqueueRequest r;
      r.function = "bench.late";
      r.queue = kLocalQueue;
      if (retry) {
        r.data = json::object{{"fail_first", true}};
        r.retry = RetryPolicy{.max_attempts = 2, .delay = delay()};
      } else {
        r.delay = delay();
      }
      if (!engine.Enqueue(r).ok() || !await(static_cast<size_t>(i) + 1)) failed = 1;
    }
    auto late = take();
    modes.push_back({retry ? "retry" : "delayed", std::move(late), claim_late});
  }

  // Successors of a continuous task: each one is due 30 ms after the last one ended.
  if (!failed) {
    TaskDef task;
    task.name = "bench.lateness.continuous";
    task.kind = TaskKind::kContinuous;
    task.function = "bench.late";
    task.queue = kLocalQueue;
    task.pause = 30ms;
    if (!engine.storage().TaskUpsert(task).ok()) failed = 1;
    engine.events().Publish(RunEvent::TaskChanged(task.name));
    // The first run is due when launched, not after a pause: it is left out.
    if (!failed && !await(static_cast<size_t>(o.runs) + 1)) failed = 1;
    (void)engine.TaskSetEnabled(task.name, false);
    auto late = take();
    for (auto* v : {&late, &claim_late}) {
      if (!v->empty()) v->erase(v->begin());
      v->resize(std::min(v->size(), static_cast<size_t>(o.runs)));
    }
    modes.push_back({"continuous", std::move(late), claim_late});
  }

  // The runner of the other process: runs due later and at once, each waited for
  // (through storage: no event crosses processes).
  for (const bool now : {false, true}) {
    Mode mode{now ? "process-now" : "process", {}, {}};
    for (int i = 0; i < o.runs && !failed; ++i) {
      EnqueueRequest r;
      r.function = "bench.late";
      r.queue = kRemoteQueue;
      if (!now) r.delay = delay();
      auto run = engine.Enqueue(r);
      if (!run.ok()) {
        failed = 1;
        break;
      }
      const auto deadline = std::chrono::steady_clock::now() + 30s;
      for (;;) {
        auto stored = engine.storage().RunGet(run->id, run->queue);
        if (stored.ok() && IsFinal(stored->status)) {
          const auto& result = stored->result;
          if (stored->status == RunStatus::kCompleted && result.is_object() &&
              result.as_object().contains("late_ms")) {
            mode.late_ms.push_back(result.as_object().at("late_ms").to_number<double>());
            mode.claim_late_ms.push_back(
                result.as_object().at("claim_late_ms").to_number<double>());
          } else {
            failed = 1;
          }
          break;
        }
        if (std::chrono::steady_clock::now() > deadline) {
          failed = 1;
          break;
        }
        std::this_thread::sleep_for(1ms);
      }
    }
    modes.push_back(std::move(mode));
  }

  engine.Stop();
  stop_child();
  engine_or->reset();
  fs::remove_all(dir);
  if (failed) {
    std::cerr << "error: a run did not start within 30 s\n";
    return 3;
  }

  json::object out{{"runs_per_mode", o.runs}, {"synchronous", o.sync}};
  if (!o.json) {
    std::cout << fmt::format("start lateness (ms), {} runs per mode, synchronous {}\n", o.runs,
                             o.sync);
  }
  for (const Mode& m : modes) {
    const double p50 = Percentile(m.late_ms, 0.50), p99 = Percentile(m.late_ms, 0.99),
                 max = Percentile(m.late_ms, 1.0);
    const double claim_p50 = Percentile(m.claim_late_ms, 0.50),
                 claim_p99 = Percentile(m.claim_late_ms, 0.99);
    out[m.name] = json::object{{"p50_ms", p50},
                               {"p99_ms", p99},
                               {"max_ms", max},
                               {"claim_p50_ms", claim_p50},
                               {"claim_p99_ms", claim_p99},
                               {"runs", m.late_ms.size()}};
    if (!o.json) {
      std::cout << fmt::format(
          "{:<12} p50 {:>7.3f}  p99 {:>7.3f}  max {:>7.3f}   (claim p50 {:.3f}, p99 {:.3f})\n",
          m.name, p50, p99, max, claim_p50, claim_p99);
    }
  }
  if (o.json) std::cout << json::serialize(out) << "\n";
  return 0;
}

}  // namespace

CLI::App* AddBenchLatenessCommand(CLI::App& bench) {
  auto opts = std::make_shared<LatenessOptions>();
  auto* cmd = bench.add_subcommand(
      "lateness", "Measure how late due runs start (delayed, retries, continuous, other process)");
  cmd->add_option("--runs", opts->runs, "Runs measured per mode")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  cmd->add_option("--sync", opts->sync, "durability of the embedded store: full | normal")
      ->check(CLI::IsMember({"full", "normal"}))
      ->capture_default_str();
  cmd->add_option("--dir", opts->dir, "Directory for the database (default: a temp dir)");
  cmd->callback([opts] {
    opts->json = JsonRequested();  // --json: one JSON object
    throw CLI::RuntimeError(RunLateness(*opts));
  });
  return cmd;
}

}  // namespace taskmill::cli
