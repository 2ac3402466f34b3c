// A C++ step of thousands of children on a real SQLite file: it stages them a batch at
// a time (flows/step_store.h), its finish releases them, each runs once, and the next
// step pages their results in the order they were added, with no "children" in its
// args. Every wait is a deadline in seconds.
#include "flows/step_store.h"

#include <gtest/gtest.h>
#include <taskmill/engine.h>
#include <taskmill/flow.h>

#include <atomic>
#include <boost/json.hpp>
#include <string>

#include "flows/flow_test_harness.h"
#include "storage/forwarding_storage.h"

namespace taskmill {
namespace {
namespace json = boost::json;

TEST(FlowStepStore, ThousandsOfChildrenAreStagedRunOnceAndPagedInOrder) {
  constexpr int kChildren = 2500;
  flows::FlowHarness h;
  ASSERT_TRUE(h.functions
                  ->Register("big.split",
                             [](RunContext& ctx) {
                               flow::SetState(ctx, "factor", 2);
                               for (int i = 0; i < kChildren; ++i) {
                                 flow::AddChild(ctx, "c" + std::to_string(i), i);
                               }
                             })
                  .ok());
  ASSERT_TRUE(h.functions
                  ->Register("big.child",
                             [](RunContext& ctx) {
                               ctx.SetResult(flow::ChildDefinition(ctx).as_int64() *
                                             flow::State(ctx).at("factor").as_int64());
                             })
                  .ok());
  ASSERT_TRUE(h.functions
                  ->Register("big.collect",
                             [](RunContext& ctx) {
                               int64_t n = 0, sum = 0;
                               bool in_order = true;
                               for (const auto& [id, result] : flow::ChildResults(ctx, "split")) {
                                 in_order = in_order && id == "c" + std::to_string(n);
                                 sum += result.as_int64();
                                 ++n;
                               }
                               flow::SetState(ctx, "n", n);
                               flow::SetState(ctx, "sum", sum);
                               flow::SetState(ctx, "in_order", in_order);
                               flow::SetState(ctx, "args_have_children",
                                              ctx.args().as_object().contains("children"));
                             })
                  .ok());
  FlowBuilder f("big");
  auto split = f.Step("split", "big.split").Children("big.child");
  auto collect = f.Step("collect", "big.collect");
  split.Precede(collect);
  ASSERT_TRUE(h.flows->Register(*f.Build()).ok());
  h.Open();

  taskmill::Run root = h.Wait(h.Start("big"));
  EXPECT_EQ(root.status, RunStatus::kCompleted) << root.error;
  // The split's result keeps the last, unfinished batch and the count of the others.
  taskmill::Run split_run = h.Get(root.id + ":split");
  const size_t staged = kChildren / flows::kStageBatch * flows::kStageBatch;
  EXPECT_EQ(split_run.result.at("children_staged"), static_cast<int64_t>(staged));
  EXPECT_EQ(split_run.result.at("children").as_array().size(), kChildren - staged);

  const taskmill::Run collect_run = h.Get(root.id + ":collect");
  const json::value& state = collect_run.result.at("state");
  EXPECT_EQ(state.at("n"), kChildren);
  EXPECT_EQ(state.at("sum"), int64_t{kChildren} * (kChildren - 1));  // 2 × (0 + ... + 2499)
  EXPECT_EQ(state.at("in_order"), true);
  EXPECT_EQ(state.at("args_have_children"), false);

  std::vector<taskmill::Run> children = h.Children(root.id + ":split");
  ASSERT_EQ(children.size(), static_cast<size_t>(kChildren));
  for (const taskmill::Run& child : children) {
    EXPECT_EQ(child.status, RunStatus::kCompleted) << child.id;
    EXPECT_EQ(child.attempts.size(), 1u) << child.id << " ran more than once";
  }
}

// Staging fails from the second batch on (a full disk, say). A batch is written while
// the function builds the next, so the failure of the last one is known only once the
// function has returned.
class StageFailsAfterOne final : public ForwardingStorage {
 public:
  using ForwardingStorage::ForwardingStorage;
  Status RunStage(const std::string& parent_queue, const std::string& parent_id, int attempt,
                  const std::vector<Run>& runs) override {
    if (++stages_ > 1) return Status::Unavailable("the disk is full");
    return ForwardingStorage::RunStage(parent_queue, parent_id, attempt, runs);
  }

 private:
  std::atomic<int> stages_{0};
};

TEST(FlowStepStore, AStepWhoseChildrenCannotBeStagedFailsAndRunsNoneOfThem) {
  flows::FlowHarness h;
  std::atomic<int> ran{0};
  std::atomic<bool> returned{false};
  ASSERT_TRUE(h.functions
                  ->Register("big.split",
                             [&returned](RunContext& ctx) {
                               for (int i = 0; i < 2100; ++i)
                                 flow::AddChild(ctx, std::to_string(i), i);
                               returned = true;
                             })
                  .ok());
  ASSERT_TRUE(h.functions->Register("big.child", [&ran](RunContext&) { ++ran; }).ok());
  FlowBuilder f("big");
  f.Step("split", "big.split").Children("big.child");
  ASSERT_TRUE(h.flows->Register(*f.Build()).ok());
  auto inner = OpenStorage({(h.dir.path() / "flows.db").string() + "?synchronous=normal"});
  ASSERT_TRUE(inner.ok()) << inner.status().ToString();
  auto storage = std::make_shared<StageFailsAfterOne>(**inner);
  EngineOptions options;
  options.flows = h.flows;
  auto engine = Engine::Open(options, storage, h.functions);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  h.engine = std::move(*engine);
  ASSERT_TRUE(h.engine->Start().ok());

  taskmill::Run root = h.Wait(h.Start("big"));
  EXPECT_EQ(root.status, RunStatus::kFailed);
  const taskmill::Run split = h.Get(root.id + ":split");
  EXPECT_EQ(split.status, RunStatus::kFailed);
  EXPECT_NE(split.error.find("cannot stage the step's children"), std::string::npos) << split.error;
  EXPECT_NE(split.error.find("the disk is full"), std::string::npos) << split.error;
  // The second and last batch failed after the function added it: it returned, and
  // its finish released neither batch.
  EXPECT_TRUE(returned.load());
  EXPECT_TRUE(h.Children(root.id + ":split").empty());
  EXPECT_EQ(ran.load(), 0);
  h.engine.reset();  // before the storage it runs on
}

}  // namespace
}  // namespace taskmill
