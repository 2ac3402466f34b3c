// What a child's finish carries (AdvanceFlow): its step's successors, stored from the
// instant of that finish, whichever step run's children the same worker finished
// before it.
#include "flows/advance.h"

#include <gtest/gtest.h>
#include <taskmill/flow.h>

#include <boost/json.hpp>
#include <string>
#include <tuple>
#include <vector>

namespace taskmill::flows {
namespace {
namespace json = boost::json;

TimePoint At(int seconds) { return TimePoint{} + std::chrono::seconds(seconds); }

class ChildFinish : public ::testing::Test {
 protected:
  void SetUp() override {
    FlowBuilder f("pipeline");
    auto split = f.Step("split", "test.split").Children("test.child");
    auto store = f.Step("store", "test.store");
    split.Precede(store);
    ASSERT_TRUE(flows_.Register(*f.Build()).ok());
    flow_ = flows_.Find("pipeline");
  }

  // A child of the run of step "split" in the flow of root `root`, whose args are
  // `flow_args`.
  taskmill::Run Child(const std::string& root_id, const json::value& flow_args,
                      const std::string& id) {
    taskmill::Run root;
    root.id = root_id;
    root.flow_id = root_id;
    root.args = flow_args;
    taskmill::Run step = StepRun(*flow_, *flow_->Find("split"), root, At(0));
    return ChildRun(*flow_, *flow_->Find("split"), step, json::object{}, json::value(id), nullptr,
                    At(0));
  }

  RunFinish Finish(const taskmill::Run& child, int at) {
    RunFinish f;
    f.id = child.id;
    f.queue = child.queue;
    f.attempt = 1;
    f.status = RunStatus::kCompleted;
    f.finished_at = At(at);
    AdvanceFlow(flows_, child, f);
    return f;
  }

  FlowRegistry flows_;
  const FlowDef* flow_ = nullptr;
};

TEST_F(ChildFinish, CarriesItsOwnStepsSuccessorFromItsOwnInstant) {
  // Two children of one step run, two of another flow's (with the same args, then
  // others), then one of the first again.
  const json::value one = json::object{{"n", 1}}, two = json::object{{"n", 2}};
  const std::vector<std::tuple<taskmill::Run, std::string, json::value>> children = {
      {Child("r1", one, "a"), "r1", one},
      {Child("r1", one, "b"), "r1", one},
      {Child("r2", one, "c"), "r2", one},
      {Child("r2", two, "e"), "r2", two},
      {Child("r1", one, "d"), "r1", one}};
  int at = 10;
  for (const auto& [child, root, flow_args] : children) {
    RunFinish f = Finish(child, ++at);
    const std::vector<RunFollowUp> stored = FollowUpsAsStored(f);
    ASSERT_EQ(stored.size(), 1u) << child.id;
    const RunFollowUp& up = stored[0];
    EXPECT_EQ(up.run.id, root + ":store") << child.id;
    EXPECT_EQ(up.run.flow_id, root);
    EXPECT_EQ(up.run.args, (json::object{{"args", flow_args}})) << child.id;
    EXPECT_EQ(up.after, std::vector<std::string>{root + ":split"});
    EXPECT_EQ(up.while_live, root);
    EXPECT_EQ(up.run.created_at, At(at)) << child.id;
    EXPECT_EQ(up.run.run_at, At(at)) << child.id;
    ASSERT_TRUE(f.settle.has_value());
    EXPECT_EQ(f.settle->id, root);
    EXPECT_TRUE(f.settle->when_idle);
  }
}

}  // namespace
}  // namespace taskmill::flows
