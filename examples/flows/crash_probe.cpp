// A flow for the kill -9 test (tests/integration/flow_crash_test.cpp), not an example to
// copy: step `first`, then step `make` adding 1,200 children (at most 4 at once), then
// step `last`. Each step and child appends "<phase> start <run id>" to MARKS when it
// starts, so the test can tell what ran in which process. In the first process `make`
// pauses after its 1,000th child, which stages the first batch of its children
// (src/flows/step_store.h), and marks "first staged <run id>".
//
//   taskmill_flow_crash_probe DB MARKS          start the flow and run until killed
//   taskmill_flow_crash_probe DB MARKS resume   first write "done <run id>" for every
//                                              run of the flow already finished, then
//                                              run the flow to its end; exit 0 when it
//                                              completed
#include <taskmill/engine.h>
#include <taskmill/flow.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>

using namespace taskmill;

namespace {
std::mutex marks_mu;
std::string marks_path;
std::string phase;

void Mark(const std::string& line) {
  std::lock_guard lock(marks_mu);
  std::ofstream out(marks_path, std::ios::app);
  out << line << "\n";
  out.flush();
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return 2;
  const std::string database = argv[1];
  marks_path = argv[2];
  const bool resume = argc > 3 && std::string(argv[3]) == "resume";
  phase = resume ? "resume" : "first";

  auto functions = std::make_shared<FunctionRegistry>();
  auto marking = [](std::chrono::milliseconds sleep) {
    return [sleep](RunContext& ctx) {
      Mark(phase + " start " + ctx.run().id);
      ctx.SleepFor(sleep);
    };
  };
  (void)functions->Register("probe.first", marking(std::chrono::milliseconds(10)));
  (void)functions->Register("probe.make", [](RunContext& ctx) {
    Mark(phase + " start " + ctx.run().id);
    for (int i = 0; i < 1200; ++i) {
      flow::AddChild(ctx, "c" + std::to_string(i), i);
      if (i == 999 && phase == "first") {
        Mark("first staged " + ctx.run().id);
        ctx.SleepFor(std::chrono::seconds(2));
      }
    }
  });
  (void)functions->Register("probe.child", marking(std::chrono::milliseconds(2)));
  (void)functions->Register("probe.last", marking(std::chrono::milliseconds(10)));
  FlowBuilder f("crashy");
  auto first = f.Step("first", "probe.first");
  auto make = f.Step("make", "probe.make").Children("probe.child", 4).Attempts(3);
  auto last = f.Step("last", "probe.last");
  first.Precede(make);
  make.Precede(last);
  auto flows = std::make_shared<FlowRegistry>();
  if (!flows->Register(*f.Build()).ok()) return 1;

  EngineOptions options;
  options.storage.url = database;
  options.flows = flows;
  options.scheduler_options.sweep_interval = std::chrono::milliseconds(200);
  options.runner_options.capacity = 8;
  auto engine = Engine::Open(options, functions);
  if (!engine.ok()) return 1;
  Storage& storage = (*engine)->storage();

  std::string root_id;
  if (resume) {
    RunFilter filter;
    filter.function = "flow.run";
    auto roots = storage.RunList(filter);
    if (!roots.ok() || roots->runs.empty()) return 1;
    root_id = roots->runs.front().id;
    RunFilter of_flow;
    of_flow.flow_id = root_id;
    of_flow.limit = 1000;
    for (;;) {
      auto page = storage.RunList(of_flow);
      if (!page.ok()) return 1;
      for (const Run& r : page->runs) {
        if (IsFinal(r.status) && r.id != root_id) Mark("done " + r.id);
      }
      if (page->next_cursor.empty()) break;
      of_flow.cursor = page->next_cursor;
    }
  }
  if (!(*engine)->Start().ok()) return 1;
  if (!resume) {
    auto root = StartFlow(**engine, {.flow = "crashy"});
    if (!root.ok()) return 1;
    Mark("root " + root->id);
    for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));  // until killed
  }
  // The runs of the killed process are lost; the sweep hands them back at once.
  auto done = (*engine)->WaitFinished(root_id, "", std::chrono::seconds(90));
  if (!done.ok()) return 1;
  std::cout << ToString(done->status) << "\n";
  return done->status == RunStatus::kCompleted ? 0 : 1;
}
