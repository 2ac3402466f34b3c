// The flow's lifecycle as a real engine on a real SQLite file runs it: the flow's
// callback function run once per event, flow.step_all_over for a step with children,
// and a failed flow reopened by retrying its failed step. Every wait is a deadline in
// seconds.
#include <gtest/gtest.h>
#include <taskmill/engine.h>
#include <taskmill/events.h>
#include <taskmill/flow.h>
#include <taskmill/testing/storage_conformance.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "flows/flow_test_harness.h"
#include "flows/reopen.h"
#include "runner/command_handler.h"

namespace taskmill {
namespace {
using namespace std::chrono_literals;
namespace json = boost::json;

// The flow harness, with a callback function `flow.told` that records what it saw.
struct Harness : flows::FlowHarness {
  // What the flow's callback function saw: "type step status", one per run of it.
  std::mutex mu;
  std::vector<std::string> told;

  void Open() {
    ASSERT_TRUE(functions
                    ->Register("flow.told",
                               [this](RunContext& ctx) {
                                 const json::object& a = ctx.args().as_object();
                                 std::lock_guard lock(mu);
                                 told.push_back(std::string(a.at("type").as_string()) + " " +
                                                std::string(a.at("step").as_string()) + " " +
                                                std::string(a.at("status").as_string()));
                               })
                    .ok());
    FlowHarness::Open();
  }
  // The callback runs of the flow of `root` (parent_id the root, no flow_id).
  std::vector<Run> Callbacks(const Run& root) {
    RunFilter filter;
    filter.parent_id = root.id;
    std::vector<Run> out;
    for (Run& r : List(filter)) {
      if (r.function == "flow.told") out.push_back(std::move(r));
    }
    return out;
  }
  // Once `count` callback runs ran, what they saw, sorted by kind.
  std::vector<std::string> Told(size_t count, Duration deadline = 30s) {
    auto until = std::chrono::steady_clock::now() + deadline;
    for (;;) {
      {
        std::lock_guard lock(mu);
        if (told.size() >= count || std::chrono::steady_clock::now() >= until) {
          std::vector<std::string> sorted = told;
          std::sort(sorted.begin(), sorted.end());
          return sorted;
        }
      }
      std::this_thread::sleep_for(10ms);
    }
  }
};

std::vector<std::string> Sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// a adds two children, then b runs.
void RegisterTwoSteps(Harness& h, bool child_fails) {
  ASSERT_TRUE(h.functions
                  ->Register("two.make",
                             [](RunContext& ctx) {
                               flow::AddChild(ctx, "x", 1);
                               flow::AddChild(ctx, "y", 2);
                             })
                  .ok());
  ASSERT_TRUE(h.functions
                  ->Register("two.child",
                             [child_fails](RunContext& ctx) {
                               if (child_fails && flow::ChildId(ctx) == "y") {
                                 throw std::runtime_error("child y fails");
                               }
                             })
                  .ok());
  ASSERT_TRUE(h.functions->Register("two.after", [](RunContext&) {}).ok());
  FlowBuilder f("two");
  auto a = f.Step("a", "two.make").Children("two.child");
  auto b = f.Step("b", "two.after");
  a.Precede(b);
  f.Callback("flow.told");
  ASSERT_TRUE(h.flows->Register(*f.Build()).ok());
}

TEST(FlowCallback, RunsOnceForEveryEventOfAFlowWithChildren) {
  // Declared before the engine, which publishes to them until it is closed.
  std::mutex mu;
  std::vector<std::string> published;
  Harness h;
  RegisterTwoSteps(h, /*child_fails=*/false);
  h.Open();
  OnFlowEvent(h.engine->events(), [&](const Event& e) {
    std::lock_guard lock(mu);
    published.push_back(EventName(e) + " " + e.step);
  });
  taskmill::Run root = h.Wait(h.Start("two"));
  ASSERT_EQ(root.status, RunStatus::kCompleted) << root.error;
  const std::vector<std::string> expected = Sorted({
      "flow.start  running",
      "flow.step_start a running",
      "flow.step_over a completed",
      "flow.step_all_over a completed",
      "flow.step_start b running",
      "flow.step_over b completed",
      "flow.step_all_over b completed",
      "flow.over  completed",
  });
  EXPECT_EQ(h.Told(expected.size()), expected);
  // Callback runs are not members: listed under the root, never with the flow's id.
  std::vector<taskmill::Run> callbacks = h.Callbacks(root);
  EXPECT_EQ(callbacks.size(), expected.size());
  for (const taskmill::Run& run : callbacks) {
    EXPECT_EQ(run.flow_id, "") << run.id;
    EXPECT_EQ(run.queue, root.queue);
  }
  // The step with children is all over exactly once, on the event stream too.
  auto until = std::chrono::steady_clock::now() + 10s;
  auto count = [&](const std::string& name) {
    std::lock_guard lock(mu);
    return std::count(published.begin(), published.end(), name);
  };
  while (count("flow.step_all_over a") == 0 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(count("flow.step_all_over a"), 1);
}

TEST(FlowCallback, AFailingFlowTellsItsExitTimeoutAndFailure) {
  Harness h;
  RegisterTwoSteps(h, /*child_fails=*/true);
  ASSERT_TRUE(h.functions->Register("slow.step", [](RunContext& ctx) { ctx.SleepFor(30s); }).ok());
  FlowBuilder f("slow");
  f.Step("wait", "slow.step").Timeout(200ms);
  f.Callback("flow.told");
  ASSERT_TRUE(h.flows->Register(*f.Build()).ok());
  h.Open();

  taskmill::Run two = h.Wait(h.Start("two"));
  ASSERT_EQ(two.status, RunStatus::kFailed);
  const std::vector<std::string> exited = Sorted({
      "flow.start  running",
      "flow.step_start a running",
      "flow.step_over a completed",
      "flow.step_exit a failed",
      "flow.over  failed",
  });
  EXPECT_EQ(h.Told(exited.size()), exited);
  EXPECT_EQ(h.Callbacks(two).size(), exited.size());
  {
    std::lock_guard lock(h.mu);
    h.told.clear();
  }
  taskmill::Run slow = h.Wait(h.Start("slow"));
  ASSERT_EQ(slow.status, RunStatus::kFailed);
  const std::vector<std::string> timed_out = Sorted({
      "flow.start  running",
      "flow.step_start wait running",
      "flow.step_timeout wait failed",
      "flow.step_failed wait failed",
      "flow.over  failed",
  });
  EXPECT_EQ(h.Told(timed_out.size()), timed_out);
}

TEST(FlowCallback, AFlowStoppedByAnOperatorTellsItsEndAndItsCallbacksAreNotStopped) {
  std::atomic<bool> started{false};
  Harness h;
  ASSERT_TRUE(h.functions
                  ->Register("block.step",
                             [&](RunContext& ctx) {
                               started = true;
                               ctx.cancellation().WaitFor(60s);
                             })
                  .ok());
  FlowBuilder f("blocked");
  f.Step("wait", "block.step");
  f.Callback("flow.told");
  ASSERT_TRUE(h.flows->Register(*f.Build()).ok());
  h.Open();
  taskmill::Run root = h.Start("blocked");
  auto until = std::chrono::steady_clock::now() + 30s;
  while (!started && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(10ms);
  ASSERT_TRUE(started.load());
  ASSERT_TRUE(h.engine->Cancel(root.id, root.queue).ok());
  EXPECT_EQ(h.Wait(root).status, RunStatus::kStopped);
  const std::vector<std::string> expected = Sorted({
      "flow.start  running",
      "flow.step_start wait running",
      "flow.over  stopped",
  });
  EXPECT_EQ(h.Told(expected.size()), expected);
  for (const taskmill::Run& run : h.Callbacks(root)) {
    EXPECT_NE(run.status, RunStatus::kStopped) << run.id << " was stopped with the flow";
  }
}

TEST(FlowReopen, RetryingTheFailedStepReopensTheFlowUntilAllOver) {
  std::atomic<bool> failing{true};
  std::atomic<int> fetches{0};
  Harness h;
  ASSERT_TRUE(h.functions
                  ->Register("web.fetch",
                             [&](RunContext&) {
                               ++fetches;
                               if (failing) throw std::runtime_error("connection refused");
                             })
                  .ok());
  std::atomic<int> stores{0};
  ASSERT_TRUE(h.functions->Register("db.write", [&](RunContext&) { ++stores; }).ok());
  FlowBuilder f("fetching");
  auto fetch = f.Step("fetch", "web.fetch").Attempts(2);
  auto store = f.Step("store", "db.write");
  fetch.Precede(store);
  ASSERT_TRUE(h.flows->Register(*f.Build()).ok());
  h.Open();
  taskmill::Run root = h.Wait(h.Start("fetching"));
  ASSERT_EQ(root.status, RunStatus::kFailed);
  EXPECT_EQ(fetches.load(), 2);

  // Only the step that failed the flow reopens it.
  EXPECT_EQ(flows::ReopenFlow(*h.engine, root, "store").status().code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(flows::ReopenFlow(*h.engine, root, "nope").status().code(), StatusCode::kNotFound);
  failing = false;
  auto reopened = flows::ReopenFlow(*h.engine, root, "fetch");
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  EXPECT_EQ(reopened->status, RunStatus::kRunning);
  EXPECT_TRUE(reopened->result.is_null());
  taskmill::Run done = h.Wait(root);
  EXPECT_EQ(done.status, RunStatus::kCompleted) << done.error;
  EXPECT_EQ(done.result.at("outcome"), "all_over");
  taskmill::Run step = h.Get(root.id + ":fetch");
  EXPECT_EQ(step.attempts.size(), 3u) << "the attempts are kept, one more added";
  EXPECT_EQ(stores.load(), 1);
  // A flow that is not failed does not reopen.
  EXPECT_EQ(flows::ReopenFlow(*h.engine, done, "fetch").status().code(),
            StatusCode::kFailedPrecondition);
}

TEST(FlowReopen, RetryingARunOfAFailedFlowRetriesItsStoppedChildrenAndNotTheCompletedOnes) {
  std::atomic<bool> failing{true};
  std::mutex mu;
  std::map<std::string, int> ran;  // child id -> attempts that ran
  Harness h;
  ASSERT_TRUE(h.functions
                  ->Register("kids.make",
                             [](RunContext& ctx) {
                               for (int i = 0; i < 6; ++i)
                                 flow::AddChild(ctx, std::to_string(i), i);
                             })
                  .ok());
  ASSERT_TRUE(h.functions
                  ->Register("kids.run",
                             [&](RunContext& ctx) {
                               int64_t n = flow::ChildDefinition(ctx).as_int64();
                               {
                                 std::lock_guard lock(mu);
                                 ++ran[flow::ChildId(ctx)];
                               }
                               if (n == 3 && failing) throw std::runtime_error("child 3 fails");
                               // Child 5 is still running when child 3 fails the flow
                               // (and is stopped by it), until the test retries.
                               while (n == 5 && failing) ctx.SleepFor(10ms);
                             })
                  .ok());
  std::atomic<int> afters{0};
  ASSERT_TRUE(h.functions->Register("kids.after", [&](RunContext&) { ++afters; }).ok());
  FlowBuilder f("kids");
  auto make = f.Step("make", "kids.make").Children("kids.run");
  auto after = f.Step("after", "kids.after");
  make.Precede(after);
  ASSERT_TRUE(h.flows->Register(*f.Build()).ok());
  h.Open();
  taskmill::Run root = h.Wait(h.Start("kids"));
  ASSERT_EQ(root.status, RunStatus::kFailed);
  ASSERT_EQ(h.Get(root.id + ":make:3").status, RunStatus::kFailed);
  ASSERT_EQ(h.Get(root.id + ":make:5").status, RunStatus::kStopped);
  std::map<std::string, int> before;
  {
    std::lock_guard lock(mu);
    before = ran;
  }
  std::map<std::string, RunStatus> was;  // each child's status when the flow failed
  for (int i = 0; i < 6; ++i)
    was[std::to_string(i)] = h.Get(root.id + ":make:" + std::to_string(i)).status;
  failing = false;
  // The run retry route's path: a child of the failed flow reopens the flow.
  auto retried = h.engine->Retry(root.id + ":make:3", root.queue);
  ASSERT_TRUE(retried.ok()) << retried.status().ToString();
  // Back to pending, and maybe claimed by the runner already.
  EXPECT_NE(retried->status, RunStatus::kFailed);
  taskmill::Run done = h.Wait(root);
  EXPECT_EQ(done.status, RunStatus::kCompleted) << done.error;
  EXPECT_EQ(afters.load(), 1);
  EXPECT_EQ(h.Get(root.id + ":make").attempts.size(), 1u) << "the step itself is not run again";
  std::lock_guard lock(mu);
  for (const auto& [id, status] : was) {
    EXPECT_EQ(h.Get(root.id + ":make:" + id).status, RunStatus::kCompleted) << id;
    if (status == RunStatus::kCompleted) {
      EXPECT_EQ(ran[id], before[id]) << "completed child " << id << " ran again";
    }
  }
  EXPECT_EQ(ran["3"], before["3"] + 1);
}

TEST(FlowCommandSteps, PrintTheirStateAndChildrenWhichReadTheirDefinitionOnStdin) {
  json::object seen;  // before the engine, whose step writes it
  Harness h;
  auto command = [&](const std::string& name, std::string script) {
    CommandSpec spec;
    spec.argv = {std::move(script)};
    spec.shell = true;
    FunctionInfo info;
    info.name = name;
    info.handler_kind = "command";
    ASSERT_TRUE(h.functions->Register(std::move(info), MakeCommandHandler(spec)).ok());
  };
  // The step prints as it goes; its last line is its result.
  command("cmd.split",
          "echo splitting; "
          "echo '{\"state\": {\"lines\": 2}, \"children\": [[\"a\", 3], [\"b\", 4]]}'");
  // A child reads the run, its definition included, as one JSON line on stdin.
  command("cmd.double",
          "python3 -c 'import json, sys; run = json.load(sys.stdin); "
          "print(json.dumps({\"double\": run[\"args\"][\"definition\"] * 2}))'");
  ASSERT_TRUE(h.functions
                  ->Register("cmd.collect",
                             [&](RunContext& ctx) {
                               seen["state"] = flow::State(ctx);
                               json::object children;
                               for (const auto& [id, result] : flow::ChildResults(ctx, "split")) {
                                 children[id] = result;
                               }
                               seen["children"] = std::move(children);
                             })
                  .ok());
  FlowBuilder f("cmd");
  auto split = f.Step("split", "cmd.split").Children("cmd.double");
  auto collect = f.Step("collect", "cmd.collect");
  split.Precede(collect);
  ASSERT_TRUE(h.flows->Register(*f.Build()).ok());
  h.Open();
  taskmill::Run root = h.Wait(h.Start("cmd"));
  ASSERT_EQ(root.status, RunStatus::kCompleted) << root.error;
  EXPECT_EQ(seen["state"].at("lines"), 2);
  EXPECT_EQ(seen["children"],
            (json::object{{"a", json::object{{"double", 6}}}, {"b", json::object{{"double", 8}}}}));
}

// The failure lifted the cap of the step's children (flows/caps.h); the children a
// reopen sends back to pending run under it again, never more at once.
TEST(FlowReopen, ReopenedChildrenRunUnderTheirStepsMaxConcurrency) {
  std::atomic<bool> failing{true};
  std::atomic<int> running{0};
  std::atomic<int> most{0};
  Harness h;
  ASSERT_TRUE(h.functions
                  ->Register("capped.make",
                             [](RunContext& ctx) {
                               for (int i = 0; i < 8; ++i)
                                 flow::AddChild(ctx, std::to_string(i), i);
                             })
                  .ok());
  ASSERT_TRUE(h.functions
                  ->Register("capped.run",
                             [&](RunContext& ctx) {
                               if (failing) {
                                 if (flow::ChildDefinition(ctx).as_int64() == 0)
                                   throw std::runtime_error("child 0 fails");
                                 while (failing) ctx.SleepFor(5ms);  // stopped by the failure
                                 return;
                               }
                               int now = ++running;
                               for (int seen = most; now > seen;)
                                 most.compare_exchange_weak(seen, now);
                               ctx.SleepFor(30ms);
                               --running;
                             })
                  .ok());
  FlowBuilder f("capped");
  f.Step("make", "capped.make").Children("capped.run", 2);
  ASSERT_TRUE(h.flows->Register(*f.Build()).ok());
  h.Open();
  taskmill::Run root = h.Wait(h.Start("capped"));
  ASSERT_EQ(root.status, RunStatus::kFailed);
  failing = false;
  auto reopened = flows::ReopenFlow(*h.engine, root, "make");
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  taskmill::Run done = h.Wait(root);
  EXPECT_EQ(done.status, RunStatus::kCompleted) << done.error;
  EXPECT_GT(most.load(), 0);
  EXPECT_LE(most.load(), 2) << "children ran past their step's max_concurrency after a reopen";
}

}  // namespace
}  // namespace taskmill
