// Flows over HTTP on a real engine (SQLite in a temporary directory) and a real
// ApiServer on port 0: steps taken and finished by a remote runner advance the flow,
// and a failed flow reopened by POST /api/v1/flows/runs/{root}/steps/{step}/retry, with
// another account's flow not found. Waits are deadlines in seconds.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <taskmill/engine.h>
#include <taskmill/flow.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <thread>

#include "api/auth.h"
#include "api/server.h"
#include "cli/client.h"

namespace taskmill::api {
namespace {
namespace json = boost::json;
using namespace std::chrono_literals;

class FlowHttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/taskmill-flow-http-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    auto functions = std::make_shared<FunctionRegistry>();
    // Declared here, executed by the remote runner (the local one serves only
    // `default`).
    for (const char* name : {"remote.split", "remote.sum", "remote.fail"}) {
      ASSERT_TRUE(functions->Register(name, [](RunContext&) {}).ok());
    }
    auto flows = std::make_shared<FlowRegistry>();
    FlowBuilder f("remote");
    f.Queue("remote");
    auto split = f.Step("split", "remote.split");
    auto sum = f.Step("sum", "remote.sum");
    split.Precede(sum);
    ASSERT_TRUE(flows->Register(*f.Build()).ok());
    FlowBuilder g("failing");
    g.Queue("remote");
    auto fail = g.Step("fail", "remote.fail");
    auto after = g.Step("after", "remote.sum");
    fail.Precede(after);
    ASSERT_TRUE(flows->Register(*g.Build()).ok());
    FlowBuilder c("capped");
    c.Queue("remote");
    c.Step("split", "remote.split").Children("remote.sum", 1);
    ASSERT_TRUE(flows->Register(*c.Build()).ok());
    EngineOptions options;
    options.storage.url = "sqlite://" + dir_ + "/taskmill.db?synchronous=normal";
    options.scheduler = false;
    options.runner_options.queues = {"default"};
    options.flows = flows;
    auto engine = Engine::Open(options, functions);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    engine_ = std::move(*engine);
    ASSERT_TRUE(engine_->Start().ok());
    ApiOptions api;
    api.listen = "127.0.0.1:0";
    server_ = std::make_unique<ApiServer>(api, *engine_);
    ASSERT_TRUE(server_->Start().ok());
    admin_ = Token("", true);
    alpha_ = Token("acct-alpha", false);
    beta_ = Token("acct-beta", false);
  }
  void TearDown() override {
    if (server_) server_->Stop();
    if (engine_) engine_->Stop();
    server_.reset();
    engine_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  std::string Token(const std::string& account, bool admin) {
    std::string secret;
    auto token =
        CreateToken(engine_->storage(), "", account, admin, engine_->clock().Now(), &secret);
    EXPECT_TRUE(token.ok()) << token.status().ToString();
    return secret;
  }
  json::value Call(const std::string& token, std::string_view method, const std::string& target,
                   int expected, const json::value& body = json::object()) {
    cli::HttpClient client(server_->url());
    client.set_token(token);
    auto response = client.Send(method, target, json::serialize(body));
    EXPECT_TRUE(response.ok()) << target << ": " << response.status().ToString();
    if (!response.ok()) return nullptr;
    EXPECT_EQ(response->status, expected) << method << " " << target << ": " << response->body;
    return response->body.empty() ? json::value(nullptr) : json::parse(response->body);
  }
  // Takes the one run due in `remote` as runner `worker` (an admin's token, as every
  // runner's), waiting up to 10 s.
  json::object Take() {
    json::value taken =
        Call(admin_, "POST", "/api/v1/runners/worker/take?queue=remote&wait=10", 200);
    const json::array& runs = taken.at("runs").as_array();
    EXPECT_EQ(runs.size(), 1u) << json::serialize(taken);
    return runs.empty() ? json::object() : runs[0].as_object();
  }
  json::value Finish(const json::object& run, json::object report) {
    report["id"] = run.at("id");
    report["queue"] = run.at("queue");
    report["fencing_token"] = run.at("fencing_token");
    return Call(admin_, "POST", "/api/v1/runners/worker/finish", 200, report);
  }
  taskmill::Run WaitRoot(const std::string& id) {
    auto done = engine_->WaitFinished(id, "remote", 30s);
    EXPECT_TRUE(done.ok() && IsFinal(done->status)) << "the flow did not end in time";
    return done.ok() ? *done : taskmill::Run{};
  }

  std::string dir_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<ApiServer> server_;
  std::string admin_, alpha_, beta_;
};

TEST_F(FlowHttpTest, StepsFinishedByARemoteRunnerAdvanceTheFlow) {
  json::value root = Call(alpha_, "POST", "/api/v1/flows/remote/runs", 201,
                          json::object{{"args", json::object{{"n", 2}}}});
  const std::string id(root.at("id").as_string());
  json::object split = Take();
  ASSERT_EQ(std::string(split.at("id").as_string()), id + ":split");
  EXPECT_EQ(split.at("args").at("args").at("n"), 2) << "the step sees the flow's args";
  Finish(split, json::object{{"status", "completed"},
                             {"result", json::object{{"state", json::object{{"lines", 3}}}}}});
  // The next step was stored in the finish's commit, with the state the first added.
  json::object sum = Take();
  ASSERT_EQ(std::string(sum.at("id").as_string()), id + ":sum");
  EXPECT_EQ(sum.at("args").at("state").at("lines"), 3);
  Finish(sum, json::object{{"status", "completed"}});
  taskmill::Run done = WaitRoot(id);
  EXPECT_EQ(done.status, RunStatus::kCompleted) << done.error;
  EXPECT_EQ(done.result.at("outcome"), "all_over");
}

TEST_F(FlowHttpTest, ARemoteRunnerOfTheFlowsQueueTakesItsCappedChildrenUnderTheCap) {
  json::value root = Call(alpha_, "POST", "/api/v1/flows/capped/runs", 201);
  const std::string id(root.at("id").as_string());
  Finish(Take(), json::object{{"status", "completed"},
                              {"result", json::object{{"children", json::array{
                                                                       json::array{"a", 1},
                                                                       json::array{"b", 2},
                                                                   }}}}});
  // The children run in a queue of their own, taken with the flow's queue, one at a
  // time (max_concurrency 1).
  json::value taken =
      Call(admin_, "POST", "/api/v1/runners/worker/take?queue=remote&max=10&wait=10", 200);
  ASSERT_EQ(taken.at("runs").as_array().size(), 1u) << json::serialize(taken);
  json::object first = taken.at("runs").as_array()[0].as_object();
  EXPECT_EQ(std::string(first.at("queue").as_string()), "flow:capped:split:" + id);
  json::value held = Call(admin_, "POST", "/api/v1/runners/worker/take?queue=remote&max=10", 200);
  EXPECT_TRUE(held.at("runs").as_array().empty()) << "past the cap: " << json::serialize(held);
  Finish(first, json::object{{"status", "completed"}});
  json::object second = Take();
  EXPECT_EQ(second.at("queue"), first.at("queue"));
  EXPECT_NE(second.at("id"), first.at("id"));
  Finish(second, json::object{{"status", "completed"}});
  taskmill::Run done = WaitRoot(id);
  EXPECT_EQ(done.status, RunStatus::kCompleted) << done.error;
}

TEST_F(FlowHttpTest, RetryingTheFailedStepReopensTheFlowAndOnlyForItsAccount) {
  json::value root = Call(alpha_, "POST", "/api/v1/flows/failing/runs", 201);
  const std::string id(root.at("id").as_string());
  json::object fail = Take();
  ASSERT_EQ(std::string(fail.at("id").as_string()), id + ":fail");
  Finish(fail, json::object{{"status", "failed"}, {"error", "no data yet"}});
  taskmill::Run failed = WaitRoot(id);
  ASSERT_EQ(failed.status, RunStatus::kFailed);
  const std::string route = "/api/v1/flows/runs/" + id + "/steps/fail/retry";
  // Another account's flow does not exist; a step that did not fail the flow is refused.
  Call(beta_, "POST", route, 404);
  EXPECT_EQ(Call(alpha_, "POST", "/api/v1/flows/runs/" + id + "/steps/after/retry", 409)
                .at("error")
                .at("code"),
            "failed_precondition");
  Call(alpha_, "POST", "/api/v1/flows/runs/" + id + "/steps/nope/retry", 404);
  Call(alpha_, "POST", "/api/v1/flows/runs/" + id + ":fail/steps/fail/retry", 404);

  json::value reopened = Call(alpha_, "POST", route, 200);
  EXPECT_EQ(reopened.at("status"), "running");
  EXPECT_EQ(reopened.at("result"), nullptr);
  json::value step = Call(alpha_, "GET", "/api/v1/runs/" + id + ":fail", 200);
  EXPECT_EQ(step.at("status"), "pending");
  EXPECT_EQ(step.at("attempts").as_array().size(), 1u);
  // Taken again, it completes, and the flow goes on to its end.
  json::object again = Take();
  ASSERT_EQ(std::string(again.at("id").as_string()), id + ":fail");
  EXPECT_EQ(again.at("fencing_token"), 2);
  Finish(again, json::object{{"status", "completed"}});
  json::object after = Take();
  ASSERT_EQ(std::string(after.at("id").as_string()), id + ":after");
  Finish(after, json::object{{"status", "completed"}});
  taskmill::Run done = WaitRoot(id);
  EXPECT_EQ(done.status, RunStatus::kCompleted) << done.error;
  // Reopening a flow that did not fail is refused.
  Call(admin_, "POST", route, 409);
}

}  // namespace
}  // namespace taskmill::api
