// flow_test_harness.h — the flow tests' engine on a real SQLite file in a temporary
// directory: register functions and flows, Open, start a flow, wait for its end (a
// deadline in seconds), read its runs back.
#pragma once

#include <gtest/gtest.h>
#include <taskmill/engine.h>
#include <taskmill/flow.h>
#include <taskmill/testing/storage_conformance.h>

#include <boost/json.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace taskmill::flows {

struct FlowHarness {
  conformance::TempDir dir;
  std::shared_ptr<FunctionRegistry> functions = std::make_shared<FunctionRegistry>();
  std::shared_ptr<FlowRegistry> flows = std::make_shared<FlowRegistry>();
  std::unique_ptr<Engine> engine;

  // `queues`: the queues the runner serves (RunnerOptions::queues); empty: every queue.
  void Open(int capacity = 8, std::vector<std::string> queues = {}) {
    EngineOptions options;
    options.storage.url = (dir.path() / "flows.db").string() + "?synchronous=normal";
    options.runner_options.capacity = capacity;
    options.runner_options.queues = std::move(queues);
    options.scheduler_options.sweep_interval = std::chrono::milliseconds(200);
    options.flows = flows;
    auto opened = Engine::Open(options, functions);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    engine = std::move(*opened);
    ASSERT_TRUE(engine->Start().ok());
  }
  Run Start(const std::string& flow, boost::json::value args = boost::json::object()) {
    FlowStartRequest request;
    request.flow = flow;
    request.args = std::move(args);
    auto root = StartFlow(*engine, request);
    EXPECT_TRUE(root.ok()) << root.status().ToString();
    return root.ok() ? *root : Run{};
  }
  Run Wait(const Run& root, Duration deadline = std::chrono::seconds(60)) {
    auto done = engine->WaitFinished(root.id, root.queue, deadline);
    EXPECT_TRUE(done.ok()) << done.status().ToString();
    EXPECT_TRUE(done.ok() && IsFinal(done->status)) << "the flow did not end in time";
    return done.ok() ? *done : Run{};
  }
  Run Get(const std::string& id) {
    auto run = engine->storage().RunGet(id);
    EXPECT_TRUE(run.ok()) << id << ": " << run.status().ToString();
    return run.ok() ? *run : Run{};
  }
  // Every run `filter` matches, page after page.
  std::vector<Run> List(RunFilter filter) {
    std::vector<Run> out;
    filter.limit = 1000;
    for (;;) {
      auto page = engine->storage().RunList(filter);
      EXPECT_TRUE(page.ok());
      if (!page.ok()) break;
      for (Run& r : page->runs) out.push_back(std::move(r));
      if (page->next_cursor.empty()) break;
      filter.cursor = page->next_cursor;
    }
    return out;
  }
  // The children of a step's run.
  std::vector<Run> Children(const std::string& step_run_id) {
    RunFilter filter;
    filter.parent_id = step_run_id;
    return List(std::move(filter));
  }
};

}  // namespace taskmill::flows
