// `taskmill bench-scheduler --seconds N` runs an engine (scheduler and runner roles)
// on a fresh embedded database file with the real clock and a per-second periodical task whose
// function does nothing, and reports how late each launch was against its scheduled
// instant, at three points:
//   stored    the launch's commit (the run.created event after RunPut returned);
//   claimed   the runner's claim (the attempt's started_at, written by the claim);
//   called    the function's first instruction (read from the system clock there).
// p50 / p99 / max of each, the number of launches against the number of instants, and
// any did_not_start. Not a test: a figure to read on an idle machine (the target is
// p99 <= 20 ms late for "called").
#include "cli/scheduler_bench.h"

#include <fmt/core.h>
#include <taskmill/engine.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <filesystem>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "cli/global_options.h"
#include "scheduler/fire_times.h"

namespace taskmill::cli {
namespace {
namespace json = boost::json;

struct SchedulerBenchOptions {
  int seconds = 60;
  std::string schedule = "* * * * * *";
  std::string sync = "full";
  int launch_ahead_ms = 200;  // SchedulerOptions::launch_ahead
  std::string dir;
  bool json = false;
};

struct Series {
  std::vector<double> late_ms;

  double Percentile(double p) const {
    if (late_ms.empty()) return 0;
    std::vector<double> v = late_ms;
    std::sort(v.begin(), v.end());
    size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
    return v[i];
  }
  double Max() const {
    return late_ms.empty() ? 0 : *std::max_element(late_ms.begin(), late_ms.end());
  }
  json::object Json() const {
    return {{"p50_ms", Percentile(0.50)},
            {"p99_ms", Percentile(0.99)},
            {"max_ms", Max()},
            {"samples", late_ms.size()}};
  }
};

double MillisLate(TimePoint at, TimePoint scheduled) {
  return std::chrono::duration<double, std::milli>(at - scheduled).count();
}

int RunSchedulerBench(const SchedulerBenchOptions& o) {
  namespace fs = std::filesystem;
  if (o.seconds < 1) {
    std::cerr << "error: --seconds: must be at least 1\n";
    return 2;
  }
  if (o.launch_ahead_ms < 0) {
    std::cerr << "error: --launch-ahead-ms: must not be negative\n";
    return 2;
  }
  fs::path dir = o.dir.empty() ? fs::temp_directory_path() /
                                     ("taskmill-bench-scheduler-" + std::to_string(getpid()))
                               : fs::path(o.dir);
  fs::remove_all(dir);
  fs::create_directories(dir);

  Clock& clock = SystemClock::Instance();
  std::mutex mu;
  std::map<std::string, TimePoint> called;  // run id → first instruction; guarded by mu
  std::map<std::string, TimePoint> stored;  // run id → run.created seen; guarded by mu
  auto registry = std::make_shared<FunctionRegistry>();
  (void)registry->Register("bench.tick", [&](RunContext& ctx) {
    TimePoint now = clock.Now();
    std::lock_guard lock(mu);
    called.emplace(ctx.run().id, now);
  });

  EngineOptions options;
  options.storage.url = (dir / "bench.db").string();
  options.storage.url += "?synchronous=" + o.sync;
  options.runner_options.capacity = 4;
  options.scheduler_options.launch_ahead = std::chrono::milliseconds(o.launch_ahead_ms);
  // Every launch is read back at the end: keep them all.
  options.scheduler_options.task_log_max_size = std::numeric_limits<int>::max();
  auto engine_or = Engine::Open(options, registry);
  if (!engine_or.ok()) {
    std::cerr << "error: " << engine_or.status().ToString() << "\n";
    return 2;
  }
  Engine& engine = **engine_or;
  TaskDef task;
  task.name = "bench-tick";
  task.kind = TaskKind::kPeriodical;
  task.function = "bench.tick";
  task.schedule = o.schedule;
  if (Status s = engine.storage().TaskUpsert(task); !s.ok()) {
    std::cerr << "error: " << s.ToString() << "\n";
    return 2;
  }
  engine.events().Subscribe([&](const Event& e) {
    if (e.type != Event::Type::kRunCreated || e.task != task.name) return;
    TimePoint now = clock.Now();
    std::lock_guard lock(mu);
    stored.emplace(e.run_id, now);
  });

  TimePoint began = clock.Now();
  if (Status s = engine.Start(); !s.ok()) {
    std::cerr << "error: " << s.ToString() << "\n";
    return 2;
  }
  if (!o.json) {
    std::cerr << fmt::format(
        "running schedule '{}' for {} s (synchronous={}, launch ahead {} ms)...\n", o.schedule,
        o.seconds, o.sync, o.launch_ahead_ms);
  }
  std::this_thread::sleep_for(std::chrono::seconds(o.seconds));
  TimePoint ended = clock.Now();
  // Let the last launch finish before stopping.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  engine.Stop();

  Series stored_late, claimed_late, called_late;
  int launches = 0;
  int did_not_start = 0;
  RunFilter filter;
  filter.task = task.name;
  filter.limit = 1000;
  for (;;) {
    auto page = engine.storage().RunList(filter);
    if (!page.ok()) {
      std::cerr << "error: " << page.status().ToString() << "\n";
      return 3;
    }
    for (const Run& run : page->runs) {
      if (!run.scheduled_at || *run.scheduled_at > ended) continue;
      if (run.status == RunStatus::kDidNotStart) {
        ++did_not_start;
        continue;
      }
      ++launches;
      std::lock_guard lock(mu);
      if (auto it = stored.find(run.id); it != stored.end()) {
        stored_late.late_ms.push_back(MillisLate(it->second, *run.scheduled_at));
      }
      if (!run.attempts.empty()) {
        claimed_late.late_ms.push_back(
            MillisLate(run.attempts.front().started_at, *run.scheduled_at));
      }
      if (auto it = called.find(run.id); it != called.end()) {
        called_late.late_ms.push_back(MillisLate(it->second, *run.scheduled_at));
      }
    }
    if (page->next_cursor.empty()) break;
    filter.cursor = page->next_cursor;
  }
  // The instants the run covered (the scheduler starts its schedule at its first pass,
  // right after `began`).
  int instants = 0;
  if (auto compiled = CompileSchedule(task); compiled.ok()) {
    for (auto t = compiled->Next(began); t && *t <= ended; t = compiled->Next(*t)) ++instants;
  }
  fs::remove_all(dir);

  json::object out{{"schedule", o.schedule},         {"seconds", o.seconds},
                   {"synchronous", o.sync},          {"launch_ahead_ms", o.launch_ahead_ms},
                   {"instants", instants},           {"launches", launches},
                   {"did_not_start", did_not_start}, {"stored", stored_late.Json()},
                   {"claimed", claimed_late.Json()}, {"called", called_late.Json()},
                   {"began", FormatTime(began)}};
  if (o.json) {
    std::cout << json::serialize(out) << "\n";
    return 0;
  }
  auto line = [](const char* name, const Series& s) {
    return fmt::format("{:<8} p50 {:>7.3f} ms   p99 {:>7.3f} ms   max {:>7.3f} ms   ({} runs)\n",
                       name, s.Percentile(0.50), s.Percentile(0.99), s.Max(), s.late_ms.size());
  };
  std::cout << fmt::format("schedule '{}'  {} s  synchronous {}  launch ahead {} ms\n", o.schedule,
                           o.seconds, o.sync, o.launch_ahead_ms)
            << fmt::format("launches {}  did_not_start {}  (instants {})\n", launches,
                           did_not_start, instants)
            << "lateness against the scheduled instant:\n"
            << line("stored", stored_late) << line("claimed", claimed_late)
            << line("called", called_late);
  return 0;
}

}  // namespace

void AddSchedulerBenchCommand(CLI::App& app) {
  auto opts = std::make_shared<SchedulerBenchOptions>();
  auto* cmd = app.add_subcommand("bench-scheduler",
                                 "Soak: how late periodical launches start against their instants");
  cmd->add_option("--seconds", opts->seconds, "How long to run")->capture_default_str();
  cmd->add_option("--schedule", opts->schedule, "Cron expression of the task")
      ->capture_default_str();
  cmd->add_option("--sync", opts->sync, "durability of the embedded store: full | normal")
      ->check(CLI::IsMember({"full", "normal"}))
      ->capture_default_str();
  cmd->add_option("--launch-ahead-ms", opts->launch_ahead_ms,
                  "How long before its instant a launch is stored (0: at the instant)")
      ->capture_default_str();
  cmd->add_option("--dir", opts->dir, "Directory for the database (default: a temp dir)");
  cmd->callback([opts] {
    opts->json = JsonRequested();  // --json: one JSON object
    throw CLI::RuntimeError(RunSchedulerBench(*opts));
  });
}

}  // namespace taskmill::cli
