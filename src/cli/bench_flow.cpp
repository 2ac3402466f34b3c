// `taskmill bench flow` measures flows in-process, on a fresh embedded database file
// (or the empty database at --storage):
//   1. children: a flow whose step `split` adds --children no-op children, run at most
//      --max-concurrency at once, and whose step `collect` reads their results; the
//      rate is children per second of the whole flow, from its start to its end;
//   2. chain: a flow of --chain no-op steps, one after the other; a transition is the
//      time from a step's finish to its successor's start, read from the runs' stored
//      times (p50/p99);
// and reports the peak RSS of the process. Figures and how to rerun: docs/BENCHMARKS.md.
#include "cli/bench_flow.h"

#include <fmt/core.h>
#include <sys/resource.h>
#include <taskmill/engine.h>
#include <taskmill/flow.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <map>

#include "cli/global_options.h"
#include "storage/run_pages.h"

namespace taskmill::cli {
namespace {
namespace json = boost::json;

struct FlowBenchOptions {
  int64_t children = 100000;
  int max_concurrency = 64;
  int chain = 1000;
  int capacity = 64;
  std::string sync = "full";
  std::string storage;
  std::string dir;
  bool json = false;
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  return v[i];
}

double Ms(Duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// Every run of a flow.
Result<std::vector<Run>> FlowRuns(Storage& storage, const std::string& root_id) {
  RunFilter filter;
  filter.flow_id = root_id;
  filter.parent_id = root_id;
  return ListAllRuns(storage, std::move(filter));
}

std::string StepName(int i) { return fmt::format("s{:05}", i); }

int RunFlowBench(const FlowBenchOptions& o) {
  namespace fs = std::filesystem;
  fs::path dir = o.dir.empty() ? fs::temp_directory_path() /
                                     ("taskmill-bench-flow-" + std::to_string(getpid()))
                               : fs::path(o.dir);
  fs::remove_all(dir);
  fs::create_directories(dir);

  auto functions = std::make_shared<FunctionRegistry>();
  std::atomic<int64_t> collected{0};
  (void)functions->Register("bench.flow_split", [&o](RunContext& ctx) {
    for (int64_t k = 0; k < o.children; ++k) flow::AddChild(ctx, std::to_string(k), k);
  });
  (void)functions->Register("bench.flow_child", [](RunContext&) {});
  (void)functions->Register("bench.flow_collect", [&collected](RunContext& ctx) {
    int64_t n = 0;
    for (const auto& kv : flow::ChildResults(ctx, "split")) {
      (void)kv;
      ++n;
    }
    collected = n;
  });
  (void)functions->Register("bench.flow_step", [](RunContext&) {});

  auto flows = std::make_shared<FlowRegistry>();
  {
    FlowBuilder f("bench-children");
    auto split =
        f.Step("split", "bench.flow_split").Children("bench.flow_child", o.max_concurrency);
    auto collect = f.Step("collect", "bench.flow_collect");
    split.Precede(collect);
    auto def = f.Build();
    Status st = def.ok() ? flows->Register(*def) : def.status();
    if (!st.ok()) {
      std::cerr << "error: " << st.ToString() << "\n";
      return 2;
    }
  }
  if (o.chain > 0) {
    FlowBuilder f("bench-chain");
    std::optional<FlowBuilder::StepRef> prev;
    for (int i = 0; i < o.chain; ++i) {
      auto s = f.Step(StepName(i), "bench.flow_step");
      if (prev) prev->Precede(s);
      prev = s;
    }
    auto def = f.Build();
    Status st = def.ok() ? flows->Register(*def) : def.status();
    if (!st.ok()) {
      std::cerr << "error: " << st.ToString() << "\n";
      return 2;
    }
  }

  EngineOptions options;
  options.storage.url =
      o.storage.empty() ? (dir / "bench.db").string() + "?synchronous=" + o.sync : o.storage;
  options.scheduler = false;
  options.runner_options.capacity = o.capacity;
  options.flows = flows;
  auto opened = Engine::Open(options, functions);
  if (!opened.ok()) {
    std::cerr << "error: " << opened.status().ToString() << "\n";
    return 2;
  }
  Engine& engine = **opened;
  if (Status st = engine.Start(); !st.ok()) {
    std::cerr << "error: " << st.ToString() << "\n";
    return 2;
  }
  auto run_flow = [&](const std::string& name, double* secs) -> Result<Run> {
    FlowStartRequest request;
    request.flow = name;
    auto t0 = std::chrono::steady_clock::now();
    auto root = StartFlow(engine, request);
    if (!root.ok()) return root.status();
    auto done = engine.WaitFinished(root->id, root->queue, std::chrono::hours(1));
    *secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!done.ok()) return done.status();
    if (done->status != RunStatus::kCompleted) {
      return Status::Internal("flow " + name + " ended " + std::string(ToString(done->status)) +
                              ": " + done->error);
    }
    return done;
  };

  // Phase 1: children.
  double children_secs = 0;
  auto root = run_flow("bench-children", &children_secs);
  if (!root.ok()) {
    std::cerr << "error: " << root.status().ToString() << "\n";
    return 3;
  }
  double children_rate = static_cast<double>(o.children) / children_secs;
  // Where the time went, from the steps' stored times: the split step (adding the
  // children), the children themselves, the collect step (reading their results).
  double split_secs = 0, run_secs = 0, collect_secs = 0;
  {
    auto split = engine.storage().RunGet(root->id + ":split");
    auto collect = engine.storage().RunGet(root->id + ":collect");
    if (split.ok() && collect.ok() && split->started_at && split->finished_at &&
        collect->started_at && collect->finished_at) {
      auto secs = [](Duration d) { return std::chrono::duration<double>(d).count(); };
      split_secs = secs(*split->finished_at - *split->started_at);
      run_secs = secs(*collect->started_at - *split->finished_at);
      collect_secs = secs(*collect->finished_at - *collect->started_at);
    }
  }
  if (!o.json) std::cerr << fmt::format("children: {:.0f} children/s\n", children_rate);
  if (collected.load() != o.children) {
    std::cerr << fmt::format("error: the collect step saw {} children of {}\n", collected.load(),
                             o.children);
    return 3;
  }

  // Phase 2: chain.
  double chain_secs = 0, p50 = 0, p99 = 0, max = 0;
  if (o.chain > 0) {
    auto chain = run_flow("bench-chain", &chain_secs);
    if (!chain.ok()) {
      std::cerr << "error: " << chain.status().ToString() << "\n";
      return 3;
    }
    auto runs = FlowRuns(engine.storage(), chain->id);
    if (!runs.ok()) return 3;
    std::map<std::string, const Run*> by_step;
    for (const Run& r : *runs) by_step[r.id.substr(chain->id.size() + 1)] = &r;
    std::vector<double> transitions;
    for (int i = 0; i + 1 < o.chain; ++i) {
      const Run* a = by_step[StepName(i)];
      const Run* b = by_step[StepName(i + 1)];
      if (a == nullptr || b == nullptr || !a->finished_at || !b->started_at) {
        std::cerr << "error: step " << StepName(i) << " or its successor has no stored times\n";
        return 3;
      }
      transitions.push_back(Ms(*b->started_at - *a->finished_at));
    }
    p50 = Percentile(transitions, 0.50);
    p99 = Percentile(transitions, 0.99);
    max = Percentile(transitions, 1.0);
  }
  engine.Stop();
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  double rss_mb = static_cast<double>(usage.ru_maxrss) / 1024.0;
  if (o.dir.empty()) fs::remove_all(dir);

  std::string storage = o.storage.empty() ? std::string("sqlite") : o.storage;
  if (o.json) {
    json::object out{{"children", o.children},
                     {"max_concurrency", o.max_concurrency},
                     {"capacity", o.capacity},
                     {"synchronous", o.sync},
                     {"storage", storage},
                     {"children_seconds", children_secs},
                     {"children_per_sec", children_rate},
                     {"split_seconds", split_secs},
                     {"children_run_seconds", run_secs},
                     {"collect_seconds", collect_secs},
                     {"chain", o.chain},
                     {"chain_seconds", chain_secs},
                     {"transition_p50_ms", p50},
                     {"transition_p99_ms", p99},
                     {"transition_max_ms", max},
                     {"peak_rss_mb", rss_mb}};
    std::cout << json::serialize(out) << "\n";
  } else {
    std::cout << fmt::format(
        "children {}  max_concurrency {}  capacity {}  synchronous {}  storage {}\n"
        "children    {:>10.0f} children/s ({:.2f} s from the flow's start to its end: adding "
        "{:.2f} s, running {:.2f} s, collecting {:.2f} s)\n"
        "transition  p50 {:.3f} ms  p99 {:.3f} ms  max {:.3f} ms  (step finish -> next start, "
        "chain of {}, {:.2f} s)\n"
        "peak RSS    {:.1f} MB\n",
        o.children, o.max_concurrency, o.capacity, o.sync, storage, children_rate, children_secs,
        split_secs, run_secs, collect_secs, p50, p99, max, o.chain, chain_secs, rss_mb);
  }
  return 0;
}

}  // namespace

CLI::App* AddBenchFlowCommand(CLI::App& bench) {
  auto opts = std::make_shared<FlowBenchOptions>();
  auto* cmd = bench.add_subcommand(
      "flow", "Measure a flow's children per second, step transitions and peak RSS");
  cmd->add_option("--children", opts->children, "No-op children the flow's step adds")
      ->check(CLI::Range(int64_t{1}, int64_t{100000000}))
      ->capture_default_str();
  cmd->add_option("--max-concurrency", opts->max_concurrency,
                  "Children running at once (0: no cap)")
      ->check(CLI::Range(0, 100000))
      ->capture_default_str();
  cmd->add_option("--chain", opts->chain, "Steps of the chain flow (0: no chain)")
      ->check(CLI::Range(0, 100000))
      ->capture_default_str();
  cmd->add_option("--capacity", opts->capacity, "Runner slots")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  cmd->add_option("--sync", opts->sync, "durability of the embedded store: full | normal")
      ->check(CLI::IsMember({"full", "normal"}))
      ->capture_default_str();
  cmd->add_option("--dir", opts->dir, "Directory for the database (default: a temp dir)");
  cmd->add_option("--storage", opts->storage,
                  "Storage URL to measure instead of a fresh embedded database (an empty one)");
  cmd->callback([opts] {
    opts->json = JsonRequested();
    throw CLI::RuntimeError(RunFlowBench(*opts));
  });
  return cmd;
}

}  // namespace taskmill::cli
