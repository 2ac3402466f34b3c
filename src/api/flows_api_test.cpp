// The flow routes as the flow page reads them: a flow started over HTTP, its graph with
// the children's counts, and the runs list filtered to a flow (flow_id) or to a step's
// children (parent_id). A real Engine (runner included) on SQLite in a temporary
// directory and the ApiServer on port 0; waits are deadlines in seconds.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <taskmill/engine.h>
#include <taskmill/flow.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <set>
#include <string>
#include <thread>

#include "api/server.h"
#include "cli/client.h"

namespace taskmill::api {
namespace {
namespace json = boost::json;
using cli::HttpClient;
using cli::HttpResponse;

constexpr auto kBound = std::chrono::seconds(30);  // generous bound of every wait

class FlowsApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/taskmill-flows-api-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    auto functions = std::make_shared<FunctionRegistry>();
    // split adds three children; each child returns its definition doubled.
    ASSERT_TRUE(functions
                    ->Register("t.split",
                               [](RunContext& ctx) {
                                 for (int k = 0; k < 3; ++k)
                                   flow::AddChild(ctx, std::to_string(k), k);
                                 flow::SetState(ctx, "children", 3);
                               })
                    .ok());
    ASSERT_TRUE(functions
                    ->Register("t.double",
                               [](RunContext& ctx) {
                                 ctx.SetResult(2 * flow::ChildDefinition(ctx).as_int64());
                               })
                    .ok());
    ASSERT_TRUE(functions->Register("t.store", [](RunContext&) {}).ok());
    FlowBuilder f("fan");
    auto split = f.Step("split", "t.split").Children("t.double", 2);
    auto store = f.Step("store", "t.store");
    split.Precede(store);
    auto flows = std::make_shared<FlowRegistry>();
    auto built = f.Build();
    ASSERT_TRUE(built.ok()) << built.status().ToString();
    ASSERT_TRUE(flows->Register(*built).ok());

    EngineOptions options;
    options.storage.url = "sqlite://" + dir_ + "/taskmill.db?synchronous=normal";
    options.runner = true;
    options.scheduler = false;
    options.flows = flows;
    auto engine = Engine::Open(options, functions);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    engine_ = std::move(*engine);
    ASSERT_TRUE(engine_->Start().ok());
    ApiOptions api;
    api.listen = "127.0.0.1:0";
    server_ = std::make_unique<ApiServer>(api, *engine_);
    ASSERT_TRUE(server_->Start().ok());
    client_ = std::make_unique<HttpClient>(server_->url());
  }

  void TearDown() override {
    client_.reset();
    if (server_) server_->Stop();
    if (engine_) engine_->Stop();
    server_.reset();
    engine_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  json::object SendJson(std::string_view method, std::string_view target, int expected_status,
                        std::string_view body = {}) {
    auto response = client_->Send(method, target, body, "application/json");
    EXPECT_TRUE(response.ok()) << response.status().ToString();
    if (!response.ok()) return {};
    EXPECT_EQ(response->status, expected_status)
        << method << " " << target << ": " << response->body;
    json::value value = json::parse(response->body);
    return value.is_object() ? value.get_object() : json::object();
  }

  // The ids of the runs a listing answers.
  std::set<std::string> ListedIds(const std::string& query) {
    std::set<std::string> ids;
    json::object page = SendJson("GET", "/api/v1/runs?" + query + "&limit=1000", 200);
    for (const auto& run : page["runs"].as_array()) {
      ids.insert(std::string(run.as_object().at("id").as_string()));
    }
    return ids;
  }

  std::string dir_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<ApiServer> server_;
  std::unique_ptr<HttpClient> client_;
};

TEST_F(FlowsApiTest, TheGraphCountsChildrenAndTheRunsListFiltersByFlowAndParent) {
  json::object root = SendJson("POST", "/api/v1/flows/fan/runs", 201, "{}");
  const std::string id(root["id"].as_string());
  json::object graph;
  auto deadline = std::chrono::steady_clock::now() + kBound;
  while (std::chrono::steady_clock::now() < deadline) {
    graph = SendJson("GET", "/api/v1/flows/runs/" + id, 200);
    if (graph["status"].is_string() && graph["status"].as_string() == "completed") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(graph["status"], json::value("completed")) << json::serialize(graph);
  EXPECT_EQ(graph["result"], json::parse(R"({"outcome":"all_over"})"));
  EXPECT_EQ(graph["state"], json::parse(R"({"children":3})"));
  const json::object& split = graph["steps"].as_array()[0].as_object();
  EXPECT_EQ(split.at("name"), json::value("split"));
  EXPECT_EQ(split.at("state"), json::value("completed"));
  EXPECT_EQ(split.at("children"), json::parse(R"({"total":3,"done":3,"failed":0,"running":0})"));
  EXPECT_EQ(graph["edges"], json::parse(R"([{"from":"split","to":"store"}])"));

  // The flow page links to a step's children and to every run of the flow.
  const std::string step = id + ":split";
  EXPECT_EQ(ListedIds("parent_id=" + cli::UrlEncode(step)),
            (std::set<std::string>{step + ":0", step + ":1", step + ":2"}));
  EXPECT_EQ(
      ListedIds("flow_id=" + cli::UrlEncode(id)),
      (std::set<std::string>{id, step, step + ":0", step + ":1", step + ":2", id + ":store"}));
  EXPECT_TRUE(ListedIds("parent_id=nothing-of-this-name").empty());

  // The flow's definition names the step's child function, which the page reads.
  json::object flows = SendJson("GET", "/api/v1/flows", 200);
  const json::object& def = flows["flows"].as_array()[0].as_object();
  EXPECT_EQ(def.at("steps").as_array()[0].as_object().at("child_func"), json::value("t.double"));
  EXPECT_EQ(def.at("recent_runs").as_array()[0].as_object().at("run_id"), json::value(id));
}

}  // namespace
}  // namespace taskmill::api
