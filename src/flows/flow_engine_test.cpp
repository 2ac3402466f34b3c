// Flows run by a real engine on a real SQLite file: the seed's example (split into
// children that sum a line, the sums collected by the next step), max_concurrency held
// over 1,000 children, retries, timeouts that kill, both exit_on_failed modes, fan-in,
// and a cancelled flow. Every wait is a deadline in seconds.
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
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "flows/flow_test_harness.h"

namespace taskmill {
namespace {
using namespace std::chrono_literals;
namespace json = boost::json;

using Harness = flows::FlowHarness;

TEST(FlowEngine, TheSeedExampleSumsEachLineInChildrenAndCollectsTheSums) {
  // Declared before the engine, which publishes to them until it is closed.
  std::mutex events_mu;
  std::vector<std::string> events;
  Harness h;
  ASSERT_TRUE(h.functions
                  ->Register("flow1.split",
                             [](RunContext& ctx) {
                               std::stringstream lines("1,2,3\n4,5,6\n7,8,9");
                               std::string line;
                               for (int k = 0; std::getline(lines, line); ++k) {
                                 flow::AddChild(ctx, std::to_string(k), json::value(line));
                               }
                               flow::SetState(ctx, "lines", 3);
                             })
                  .ok());
  ASSERT_TRUE(h.functions
                  ->Register("flow1.sum_line",
                             [](RunContext& ctx) {
                               std::stringstream line(
                                   std::string(flow::ChildDefinition(ctx).as_string()));
                               std::string cell;
                               int64_t sum = 0;
                               while (std::getline(line, cell, ',')) sum += std::stoll(cell);
                               ctx.SetResult(sum);
                             })
                  .ok());
  ASSERT_TRUE(h.functions
                  ->Register("flow2.collect",
                             [](RunContext& ctx) {
                               int64_t total = 0;
                               json::array sums;
                               for (const auto& [id, sum] : flow::ChildResults(ctx, "flow1")) {
                                 sums.push_back(sum);
                                 total += sum.as_int64();
                               }
                               flow::SetState(ctx, "sums", sums);
                               flow::SetState(ctx, "total", total);
                               flow::SetState(ctx, "lines_seen", flow::State(ctx).at("lines"));
                             })
                  .ok());
  FlowBuilder f("example");
  auto flow1 = f.Step("flow1", "flow1.split").Children("flow1.sum_line", 10).Attempts(4);
  auto flow2 = f.Step("flow2", "flow2.collect");
  flow1.Precede(flow2);
  ASSERT_TRUE(h.flows->Register(*f.Build()).ok());
  h.Open();
  OnFlowEvent(h.engine->events(), [&](const Event& e) {
    std::lock_guard lock(events_mu);
    events.push_back(EventName(e) + " " + e.step);
  });

  taskmill::Run root = h.Wait(h.Start("example"));
  EXPECT_EQ(root.status, RunStatus::kCompleted) << root.error;
  EXPECT_EQ(root.result.at("outcome"), "all_over");
  taskmill::Run collect = h.Get(root.id + ":flow2");
  EXPECT_EQ(collect.result.at("state").at("total"), 45);
  EXPECT_EQ(collect.result.at("state").at("sums"), (json::array{6, 15, 24}));
  EXPECT_EQ(collect.result.at("state").at("lines_seen"), 3);
  {
    // The lifecycle, as C++ code registered for it sees it (the run.finished of the
    // root comes with flow.over: wait for it by deadline).
    auto deadline = std::chrono::steady_clock::now() + 10s;
    auto has = [&](const std::string& name) {
      std::lock_guard lock(events_mu);
      return std::find(events.begin(), events.end(), name) != events.end();
    };
    while (!has("flow.over ") && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(10ms);
    }
    for (const char* name :
         {"flow.start ", "flow.step_start flow1", "flow.step_over flow1", "flow.step_start flow2",
          "flow.step_over flow2", "flow.step_all_over flow2", "flow.over "}) {
      EXPECT_TRUE(has(name)) << name;
    }
  }
  std::vector<taskmill::Run> children = h.Children(root.id + ":flow1");
  ASSERT_EQ(children.size(), 3u);
  for (const taskmill::Run& child : children) {
    EXPECT_EQ(child.flow_id, root.id);
    EXPECT_EQ(child.parent_id, root.id + ":flow1");
    EXPECT_EQ(child.status, RunStatus::kCompleted);
  }
}

TEST(FlowEngine, MaxConcurrencyIsNeverExceededOverAThousandChildren) {
  std::mutex mu;
  std::vector<std::pair<std::chrono::steady_clock::time_point, int>> marks;  // +1 start, -1 end
  Harness h;
  ASSERT_TRUE(h.functions
                  ->Register("fan.out",
                             [](RunContext& ctx) {
                               for (int i = 0; i < 1000; ++i) {
                                 flow::AddChild(ctx, "c" + std::to_string(i), i);
                               }
                             })
                  .ok());
  ASSERT_TRUE(h.functions
                  ->Register("fan.child",
                             [&](RunContext&) {
                               {
                                 std::lock_guard lock(mu);
                                 marks.emplace_back(std::chrono::steady_clock::now(), +1);
                               }
                               std::this_thread::sleep_for(1ms);
                               std::lock_guard lock(mu);
                               marks.emplace_back(std::chrono::steady_clock::now(), -1);
                             })
                  .ok());
  FlowBuilder f("wide");
  f.Step("fan", "fan.out").Children("fan.child", 4);
  ASSERT_TRUE(h.flows->Register(*f.Build()).ok());
  h.Open(/*capacity=*/16);
  taskmill::Run root = h.Wait(h.Start("wide"), 120s);
  EXPECT_EQ(root.status, RunStatus::kCompleted) << root.error;
  // Each child recorded its start and its end; in order, at most 4 are ever open.
  std::lock_guard lock(mu);
  ASSERT_EQ(marks.size(), 2000u);
  std::stable_sort(marks.begin(), marks.end(), [](const auto& a, const auto& b) {
    return a.first < b.first || (a.first == b.first && a.second < b.second);
  });
  int open = 0, most = 0;
  for (const auto& [at, delta] : marks) {
    open += delta;
    most = std::max(most, open);
  }
  EXPECT_LE(most, 4);
  EXPECT_GE(most, 2) << "children ran one at a time";
}

TEST(FlowEngine, ShortChildrenClaimedPastTheirCapStillRunAtMostTheCapAtOnce) {
  // Children of microseconds: the runner claims runs past their step's cap, which
  // start only in the slot of a sibling that ended (runner/cap_slots.h).
  std::mutex mu;
  int open = 0, most = 0, ran = 0;
  Harness h;
  ASSERT_TRUE(h.functions
                  ->Register("fan.out",
                             [](RunContext& ctx) {
                               for (int i = 0; i < 3000; ++i) {
                                 flow::AddChild(ctx, "c" + std::to_string(i), i);
                               }
                             })
                  .ok());
  ASSERT_TRUE(h.functions
                  ->Register("fan.child",
                             [&](RunContext&) {
                               {
                                 std::lock_guard lock(mu);
                                 most = std::max(most, ++open);
                                 ++ran;
                               }
                               // A few microseconds of work (a sleep lasts far longer).
                               const auto until = std::chrono::steady_clock::now() + 5us;
                               while (std::chrono::steady_clock::now() < until) {
                               }
                               std::lock_guard lock(mu);
                               --open;
                             })
                  .ok());
  // A cap of one: the two workers awake while attempts are short (one per core) would
  // otherwise run two at once.
  FlowBuilder f("short");
  f.Step("fan", "fan.out").Children("fan.child", 1);
  ASSERT_TRUE(h.flows->Register(*f.Build()).ok());
  h.Open(/*capacity=*/16);
  taskmill::Run root = h.Wait(h.Start("short"), 120s);
  EXPECT_EQ(root.status, RunStatus::kCompleted) << root.error;
  std::lock_guard lock(mu);
  EXPECT_EQ(ran, 3000);
  EXPECT_EQ(most, 1) << "children ran past their step's max_concurrency";
  // Every child ran once, and none was charged an attempt it did not run.
  for (const taskmill::Run& child : h.Children(root.id + ":fan")) {
    ASSERT_EQ(child.status, RunStatus::kCompleted) << child.id;
    ASSERT_EQ(child.attempts.size(), 1u) << child.id;
  }
}

TEST(FlowEngine, ARunnerOfNamedQueuesRunsTheCappedChildrenOfItsFlows) {
  // The runner serves only the flow's queue; the capped children run in queues of
  // their own (flows/caps.h), which it claims too, never more than the cap at once.
  std::mutex mu;
  int open = 0, most = 0, ran = 0;
  Harness h;
  ASSERT_TRUE(h.functions
                  ->Register("fan.out",
                             [](RunContext& ctx) {
                               for (int i = 0; i < 40; ++i) {
                                 flow::AddChild(ctx, "c" + std::to_string(i), i);
                               }
                             })
                  .ok());
  ASSERT_TRUE(h.functions
                  ->Register("fan.child",
                             [&](RunContext&) {
                               {
                                 std::lock_guard lock(mu);
                                 most = std::max(most, ++open);
                                 ++ran;
                               }
                               std::this_thread::sleep_for(5ms);
                               std::lock_guard lock(mu);
                               --open;
                             })
                  .ok());
  FlowBuilder f("named");
  f.Queue("flows");
  f.Step("fan", "fan.out").Children("fan.child", 3);
  ASSERT_TRUE(h.flows->Register(*f.Build()).ok());
  h.Open(/*capacity=*/16, /*queues=*/{"flows"});
  taskmill::Run root = h.Wait(h.Start("named"), 60s);
  EXPECT_EQ(root.status, RunStatus::kCompleted) << root.error;
  std::vector<taskmill::Run> children = h.Children(root.id + ":fan");
  ASSERT_EQ(children.size(), 40u);
  EXPECT_EQ(children[0].queue, "flow:named:fan:" + root.id) << "a queue of their own";
  std::lock_guard lock(mu);
  EXPECT_EQ(ran, 40);
  EXPECT_LE(most, 3) << "children ran past their step's max_concurrency";
}

TEST(FlowEngine, MaxConcurrencyHoldsPerRunOfTheFlowNotAcrossRuns) {
  // Two runs of one flow at once: the children of each reach the cap of 3 together
  // (6 at once in all), and neither run ever has more than 3 running.
  std::mutex mu;
  std::map<std::string, std::vector<std::pair<std::chrono::steady_clock::time_point, int>>> marks;
  std::map<std::string, int> open_now;
  int both_at_cap = 0;  // times when both runs had 3 children running
  Harness h;
  ASSERT_TRUE(h.functions
                  ->Register("fan.out",
                             [](RunContext& ctx) {
                               for (int i = 0; i < 30; ++i) {
                                 flow::AddChild(ctx, "c" + std::to_string(i), i);
                               }
                             })
                  .ok());
  ASSERT_TRUE(h.functions
                  ->Register("fan.child",
                             [&](RunContext& ctx) {
                               const std::string& flow = ctx.run().flow_id;
                               {
                                 std::lock_guard lock(mu);
                                 marks[flow].emplace_back(std::chrono::steady_clock::now(), +1);
                                 ++open_now[flow];
                                 int at_cap = 0;
                                 for (const auto& [f, n] : open_now) at_cap += n == 3 ? 1 : 0;
                                 if (at_cap == 2) ++both_at_cap;
                               }
                               std::this_thread::sleep_for(20ms);
                               std::lock_guard lock(mu);
                               --open_now[flow];
                               marks[flow].emplace_back(std::chrono::steady_clock::now(), -1);
                             })
                  .ok());
  FlowBuilder f("wide");
  f.Step("fan", "fan.out").Children("fan.child", 3);
  ASSERT_TRUE(h.flows->Register(*f.Build()).ok());
  h.Open(/*capacity=*/16);
  taskmill::Run first = h.Start("wide"), second = h.Start("wide");
  EXPECT_EQ(h.Wait(first, 120s).status, RunStatus::kCompleted);
  EXPECT_EQ(h.Wait(second, 120s).status, RunStatus::kCompleted);
  std::lock_guard lock(mu);
  ASSERT_EQ(marks.size(), 2u);
  for (auto& [flow, m] : marks) {
    ASSERT_EQ(m.size(), 60u) << flow;
    std::stable_sort(m.begin(), m.end(), [](const auto& a, const auto& b) {
      return a.first < b.first || (a.first == b.first && a.second < b.second);
    });
    int open = 0, most = 0;
    for (const auto& [at, delta] : m) {
      open += delta;
      most = std::max(most, open);
    }
    EXPECT_EQ(most, 3) << "flow run " << flow;
  }
  EXPECT_GT(both_at_cap, 0) << "the two runs never had their cap of children running together";
  // The flows are over: their children's queues keep no cap behind. The runner lifts
  // the caps just after the commit that ends a flow, which a waiter may see first.
  auto flow_queue_left = [&] {
    auto listed = h.engine->storage().QueueList(h.engine->clock().Now());
    return !listed.ok() || std::any_of(listed->begin(), listed->end(), [](const QueueStats& q) {
      return q.queue.rfind("flow:", 0) == 0;
    });
  };
  for (auto until = std::chrono::steady_clock::now() + 10s;
       flow_queue_left() && std::chrono::steady_clock::now() < until;) {
    std::this_thread::sleep_for(10ms);
  }
  auto queues = h.engine->storage().QueueList(h.engine->clock().Now());
  ASSERT_TRUE(queues.ok());
  for (const QueueStats& q : *queues) {
    EXPECT_EQ(q.queue.rfind("flow:", 0), std::string::npos) << q.queue << " was left behind";
  }
}

TEST(FlowEngine, AStepIsRetriedThenTheFlowFailsOverNamingIt) {
  std::atomic<int> tries{0};
  Harness h;
  ASSERT_TRUE(h.functions
                  ->Register("web.fetch",
                             [&](RunContext&) {
                               ++tries;
                               throw std::runtime_error("connection refused");
                             })
                  .ok());
  ASSERT_TRUE(h.functions->Register("db.write", [](RunContext&) {}).ok());
  FlowBuilder f("fetching");
  auto fetch = f.Step("fetch", "web.fetch").Attempts(3);
  auto store = f.Step("store", "db.write");
  fetch.Precede(store);
  ASSERT_TRUE(h.flows->Register(*f.Build()).ok());
  h.Open();
  taskmill::Run root = h.Wait(h.Start("fetching"));
  EXPECT_EQ(root.status, RunStatus::kFailed);
  EXPECT_EQ(tries.load(), 3);
  EXPECT_EQ(root.result.at("outcome"), "failed_over");
  EXPECT_EQ(root.result.at("step"), "fetch");
  EXPECT_EQ(root.result.at("error"), "connection refused");
  EXPECT_EQ(h.Get(root.id + ":fetch").attempts.size(), 3u);
  EXPECT_FALSE(h.engine->storage().RunGet(root.id + ":store").ok()) << "store must not start";
}

TEST(FlowEngine, ATimeoutKillsTheAttempt) {
  std::atomic<int> cancelled{0};
  Harness h;
  ASSERT_TRUE(h.functions
                  ->Register("slow.step",
                             [&](RunContext& ctx) {
                               if (!ctx.SleepFor(30s)) ++cancelled;
                             })
                  .ok());
  FlowBuilder f("slow");
  f.Step("wait", "slow.step").Attempts(2).Timeout(200ms);
  ASSERT_TRUE(h.flows->Register(*f.Build()).ok());
  h.Open();
  taskmill::Run root = h.Wait(h.Start("slow"), 30s);
  EXPECT_EQ(root.status, RunStatus::kFailed);
  EXPECT_EQ(root.result.at("error_kind"), "timeout");
  EXPECT_EQ(cancelled.load(), 2);
  taskmill::Run step = h.Get(root.id + ":wait");
  ASSERT_EQ(step.attempts.size(), 2u);
  EXPECT_EQ(step.attempts[0].outcome, "timeout");
}

void RegisterChildFlow(Harness& h, bool exit_on_failed) {
  ASSERT_TRUE(h.functions
                  ->Register("kids.make",
                             [](RunContext& ctx) {
                               for (int i = 0; i < 20; ++i)
                                 flow::AddChild(ctx, std::to_string(i), i);
                             })
                  .ok());
  ASSERT_TRUE(h.functions
                  ->Register("kids.run",
                             [](RunContext& ctx) {
                               int64_t n = flow::ChildDefinition(ctx).as_int64();
                               if (n == 3) throw std::runtime_error("child 3 fails");
                               ctx.SleepFor(n == 4 ? 5s : 10ms);
                             })
                  .ok());
  ASSERT_TRUE(h.functions->Register("kids.after", [](RunContext&) {}).ok());
  FlowBuilder f("kids");
  auto make =
      f.Step("make", "kids.make").Children("kids.run", 2).Attempts(2).ExitOnFailed(exit_on_failed);
  auto after = f.Step("after", "kids.after");
  make.Precede(after);
  ASSERT_TRUE(h.flows->Register(*f.Build()).ok());
}

TEST(FlowEngine, ExitOnFailedStopsTheOtherChildrenAndFailsTheFlow) {
  Harness h;
  RegisterChildFlow(h, true);
  h.Open();
  taskmill::Run root = h.Wait(h.Start("kids"));
  EXPECT_EQ(root.status, RunStatus::kFailed);
  EXPECT_EQ(root.result.at("step"), "make");
  EXPECT_EQ(root.result.at("error"), "child 3 fails");
  int stopped = 0, failed = 0;
  for (const taskmill::Run& child : h.Children(root.id + ":make")) {
    EXPECT_TRUE(IsFinal(child.status)) << child.id;
    stopped += child.status == RunStatus::kStopped;
    failed += child.status == RunStatus::kFailed;
    if (child.status == RunStatus::kFailed) {
      EXPECT_EQ(child.attempts.size(), 2u);
    }
  }
  EXPECT_EQ(failed, 1);
  EXPECT_GT(stopped, 0);
  EXPECT_FALSE(h.engine->storage().RunGet(root.id + ":after").ok());
}

TEST(FlowEngine, WithoutExitOnFailedFailuresAreCountedAndTheFlowGoesOn) {
  Harness h;
  RegisterChildFlow(h, false);
  h.Open();
  taskmill::Run root = h.Wait(h.Start("kids"));
  EXPECT_EQ(root.status, RunStatus::kCompleted) << root.error;
  int failed = 0, completed = 0;
  for (const taskmill::Run& child : h.Children(root.id + ":make")) {
    failed += child.status == RunStatus::kFailed;
    completed += child.status == RunStatus::kCompleted;
  }
  EXPECT_EQ(failed, 1);
  EXPECT_EQ(completed, 19);
  EXPECT_EQ(h.Get(root.id + ":after").status, RunStatus::kCompleted);
}

TEST(FlowEngine, FanInWaitsForEveryParent) {
  std::mutex mu;
  std::vector<std::string> order;
  auto record = [&](std::string name, Duration sleep) {
    return [&, name, sleep](RunContext& ctx) {
      ctx.SleepFor(sleep);
      std::lock_guard lock(mu);
      order.push_back(name);
      flow::SetState(ctx, name, true);
    };
  };
  Harness h;
  ASSERT_TRUE(h.functions->Register("d.a", record("a", 0ms)).ok());
  ASSERT_TRUE(h.functions->Register("d.b", record("b", 50ms)).ok());
  ASSERT_TRUE(h.functions->Register("d.c", record("c", 600ms)).ok());
  ASSERT_TRUE(h.functions
                  ->Register("d.d",
                             [&](RunContext& ctx) {
                               std::lock_guard lock(mu);
                               order.push_back("d");
                               // Both branches' additions are in the state it reads.
                               EXPECT_TRUE(flow::State(ctx).contains("b"));
                               EXPECT_TRUE(flow::State(ctx).contains("c"));
                             })
                  .ok());
  FlowBuilder f("diamond");
  auto a = f.Step("a", "d.a");
  auto b = f.Step("b", "d.b");
  auto c = f.Step("c", "d.c");
  auto d = f.Step("d", "d.d");
  a.Precede(b).Precede(c);
  d.Succeed(b).Succeed(c);
  ASSERT_TRUE(h.flows->Register(*f.Build()).ok());
  h.Open();
  taskmill::Run root = h.Wait(h.Start("diamond"));
  EXPECT_EQ(root.status, RunStatus::kCompleted) << root.error;
  std::lock_guard lock(mu);
  ASSERT_EQ(order.size(), 4u);
  EXPECT_EQ(order.back(), "d");
  EXPECT_EQ(std::count(order.begin(), order.end(), "d"), 1);
}

TEST(FlowEngine, CancellingTheRootStopsTheFlow) {
  Harness h;
  ASSERT_TRUE(h.functions
                  ->Register("k.make",
                             [](RunContext& ctx) {
                               for (int i = 0; i < 10; ++i)
                                 flow::AddChild(ctx, std::to_string(i), i);
                             })
                  .ok());
  std::atomic<int> started{0};
  ASSERT_TRUE(h.functions
                  ->Register("k.long",
                             [&](RunContext& ctx) {
                               ++started;
                               ctx.SleepFor(60s);
                             })
                  .ok());
  FlowBuilder f("long");
  f.Step("make", "k.make").Children("k.long", 2);
  ASSERT_TRUE(h.flows->Register(*f.Build()).ok());
  h.Open();
  taskmill::Run root = h.Start("long");
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (started.load() < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_EQ(started.load(), 2);
  ASSERT_TRUE(h.engine->Cancel(root.id, root.queue).ok());
  taskmill::Run done = h.Wait(root, 10s);
  EXPECT_EQ(done.status, RunStatus::kStopped);
  for (const taskmill::Run& child : h.Children(root.id + ":make")) {
    EXPECT_EQ(child.status, RunStatus::kStopped) << boost::json::serialize(ToJson(child));
  }
}

}  // namespace
}  // namespace taskmill
