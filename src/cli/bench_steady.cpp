// `taskmill bench steady` keeps a steady load on a storage: a producer enqueues no-op
// runs at a fixed rate (a batch every 10 ms) while the bench's runner drains them, for
// --seconds; every --every seconds it prints one JSON line: the seconds elapsed, runs
// enqueued and finished in the interval (per second) and the backlog. With a backlog
// that stays flat, the drain keeps up with the offered rate; a falling finish rate
// beside a growing backlog is a store that slows down (bench/pg/bloat.sh watches the
// hot table's dead tuples beside it, with a transaction held open).
#include "cli/bench_steady.h"

#include <fmt/core.h>
#include <taskmill/engine.h>

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <iostream>
#include <memory>
#include <thread>
#include <vector>

#include "cli/bench_processes.h"

namespace taskmill::cli {
namespace {
namespace json = boost::json;
using Clock = std::chrono::steady_clock;

struct SteadyOptions {
  std::string storage;
  int rate = 2000;  // runs per second offered
  int seconds = 300;
  int every = 10;
  int capacity = 64;
};

int RunSteady(const SteadyOptions& o) {
  std::atomic<int64_t> finished{0};
  auto registry = std::make_shared<FunctionRegistry>();
  (void)registry->Register(kBenchFunction, [](RunContext&) {});
  auto engine_or = OpenBenchEngine(o.storage, o.capacity, registry, finished);
  if (!engine_or.ok()) return 2;
  Engine& engine = **engine_or;
  if (Status st = engine.Start(); !st.ok()) {
    std::cerr << "error: " << st.ToString() << "\n";
    return 2;
  }

  // The producer: the runs due by now at the offered rate, every 10 ms, so that a slow
  // enqueue catches up instead of lowering the rate.
  std::atomic<int64_t> enqueued{0};
  std::atomic<bool> stop{false}, failed{false};
  const auto t0 = Clock::now();
  std::thread producer([&] {
    auto next = t0;
    while (!stop.load()) {
      next += std::chrono::milliseconds(10);
      std::this_thread::sleep_until(next);
      double due = std::chrono::duration<double>(Clock::now() - t0).count() * o.rate;
      int64_t n = static_cast<int64_t>(due) - enqueued.load();
      if (n <= 0) continue;
      std::vector<EnqueueRequest> batch(static_cast<size_t>(n));
      for (auto& r : batch) r.function = kBenchFunction;
      auto stored = engine.EnqueueBatch(batch);
      if (!stored.ok()) {
        std::cerr << "error: enqueue failed: " << stored.status().ToString() << "\n";
        failed = true;
        return;
      }
      enqueued.fetch_add(n);
    }
  });

  int64_t last_enq = 0, last_fin = 0;
  for (int t = o.every; t <= o.seconds && !failed; t += o.every) {
    std::this_thread::sleep_until(t0 + std::chrono::seconds(t));
    int64_t enq = enqueued.load(), fin = finished.load();
    json::object line{{"t", t},
                      {"enqueued_per_sec", static_cast<double>(enq - last_enq) / o.every},
                      {"finished_per_sec", static_cast<double>(fin - last_fin) / o.every},
                      {"backlog", enq - fin},
                      {"finished", fin}};
    std::cout << json::serialize(line) << std::endl;
    last_enq = enq;
    last_fin = fin;
  }
  stop = true;
  producer.join();
  engine.Stop();
  return failed ? 3 : 0;
}

}  // namespace

CLI::App* AddBenchSteadyCommand(CLI::App& bench) {
  auto opts = std::make_shared<SteadyOptions>();
  auto* cmd = bench.add_subcommand(
      "steady", "Enqueue no-op runs at a fixed rate while draining them; report every interval");
  cmd->add_option("--storage", opts->storage, "Storage URL, e.g. postgresql://user@host/db")
      ->required();
  cmd->add_option("--rate", opts->rate, "Runs per second offered")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  cmd->add_option("--seconds", opts->seconds, "Duration of the load")
      ->check(CLI::Range(1, 86400))
      ->capture_default_str();
  cmd->add_option("--every", opts->every, "Seconds between reports")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  cmd->add_option("--capacity", opts->capacity, "Runner slots")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  cmd->callback([opts] { throw CLI::RuntimeError(RunSteady(*opts)); });
  return cmd;
}

}  // namespace taskmill::cli
