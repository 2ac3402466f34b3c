// Flow definitions built in C++: the builder's handles, the graph's questions and the
// rules (a cycle named, unknown and unreachable steps), and the DOT export.
#include <gtest/gtest.h>
#include <taskmill/flow.h>

namespace taskmill {
namespace {

TEST(FlowBuilder, DescribesTheGraphApartFromRunningIt) {
  FlowBuilder f("ingest");
  auto fetch = f.Step("fetch", "web.fetch").Attempts(3).Timeout(std::chrono::seconds(5));
  auto parse = f.Step("parse", "data.split").Children("data.sum_line", 10);
  auto store = f.Step("store", "db.write");
  fetch.Precede(parse);
  store.Succeed(parse);
  Result<FlowDef> def = f.Build();
  ASSERT_TRUE(def.ok()) << def.status().message();
  EXPECT_EQ(def->entrance, "fetch");
  EXPECT_EQ(def->Find("fetch")->retry.max_attempts, 3);
  EXPECT_EQ(def->Find("parse")->max_concurrency, 10);
  EXPECT_EQ(def->Successors("fetch"), std::vector<std::string>{"parse"});
  EXPECT_EQ(def->Successors("parse"), std::vector<std::string>{"store"});
  EXPECT_EQ(def->Edges().size(), 2u);
}

TEST(FlowBuilder, CycleIsRejectedWithItsPath) {
  FlowBuilder f("loop");
  auto a = f.Step("a", "t.a");
  auto b = f.Step("b", "t.b");
  auto c = f.Step("c", "t.c");
  a.Precede(b);
  b.Precede(c);
  c.Precede(b);
  Result<FlowDef> def = f.Build();
  ASSERT_FALSE(def.ok());
  EXPECT_EQ(def.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(def.status().message().find("cycle: b → c → b"), std::string::npos)
      << def.status().message();
}

TEST(FlowBuilder, UnreachableAndUnknownSteps) {
  FlowBuilder f("f");
  f.Step("a", "t.a");
  f.Step("b", "t.b");
  Result<FlowDef> def = f.Build();
  ASSERT_FALSE(def.ok());
  EXPECT_NE(def.status().message().find("b: unreachable from the entrance 'a'"), std::string::npos)
      << def.status().message();

  FlowDef bad;
  bad.name = "g";
  bad.entrance = "a";
  bad.steps.push_back({.name = "a", .function = "t.a", .after = {"zz"}});
  EXPECT_NE(bad.Validate().message().find("a.after: unknown step 'zz'"), std::string::npos)
      << bad.Validate().message();
}

TEST(FlowBuilder, FanInIsADiamond) {
  FlowBuilder f("diamond");
  auto a = f.Step("a", "t.a");
  auto b = f.Step("b", "t.b");
  auto c = f.Step("c", "t.c");
  auto d = f.Step("d", "t.d");
  a.Precede(b).Precede(c);
  d.Succeed(b).Succeed(c);
  Result<FlowDef> def = f.Build();
  ASSERT_TRUE(def.ok()) << def.status().message();
  EXPECT_EQ(def->Predecessors("d"), (std::vector<std::string>{"b", "c"}));
  std::string dot = ToDot(*def);
  EXPECT_NE(dot.find("\"b\" -> \"d\";"), std::string::npos) << dot;
  EXPECT_NE(dot.find("\"c\" -> \"d\";"), std::string::npos) << dot;
}

TEST(FlowRegistry, RefusesInvalidAndDuplicateFlows) {
  FlowRegistry registry;
  FlowBuilder f("one");
  f.Step("a", "t.a");
  ASSERT_TRUE(registry.Register(*f.Build()).ok());
  EXPECT_EQ(registry.Register(*f.Build()).code(), StatusCode::kConflict);
  FlowDef empty;
  empty.name = "empty";
  EXPECT_EQ(registry.Register(empty).code(), StatusCode::kInvalidArgument);
  ASSERT_NE(registry.Find("one"), nullptr);
}

}  // namespace
}  // namespace taskmill
