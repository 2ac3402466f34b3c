// Tests of the remote runners' routes (take, heartbeat, finish, the runner list): a real
// Engine on SQLite whose local runner serves only the "default" queue, on simulated
// time (ManualClock) so that leases and retry delays pass without sleeping, the
// ApiServer on port 0 and the CLI's HttpClient acting as a remote worker.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <taskmill/engine.h>

#include <boost/json.hpp>
#include <filesystem>
#include <thread>

#include "api/server.h"
#include "cli/client.h"
#include "scheduler/scheduler.h"

namespace taskmill::api {
namespace {
namespace json = boost::json;
using cli::HttpClient;
using cli::HttpResponse;

constexpr auto kBound = std::chrono::seconds(30);  // generous bound for every wait

TimePoint Start() {
  TimePoint t;
  EXPECT_TRUE(ParseTime("2026-03-01T00:00:00Z", &t));
  return t;
}

std::shared_ptr<FunctionRegistry> TestFunctions() {
  auto registry = std::make_shared<FunctionRegistry>();
  EXPECT_TRUE(registry
                  ->Register("demo.echo", [](RunContext& ctx) { ctx.SetResult(ctx.args()); },
                             {.name = "demo.echo", .description = "returns its args"})
                  .ok());
  EXPECT_TRUE(RegisterRemoteFunction(*registry,
                                     {.name = "py.add", .description = "sums", .queue = "remote"})
                  .ok());
  EXPECT_TRUE(RegisterRemoteFunction(*registry,
                                     {.name = "py.fail", .description = "fails", .queue = "remote"})
                  .ok());
  return registry;
}

class RunnersApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/taskmill-runners-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    EngineOptions engine_options;
    engine_options.storage.url = "sqlite://" + dir_ + "/taskmill.db";
    engine_options.storage.url += "?synchronous=normal";
    engine_options.clock = &clock_;
    engine_options.runner = true;
    engine_options.runner_options.id = "local-runner";
    engine_options.runner_options.capacity = 2;
    engine_options.runner_options.queues = {"default"};
    engine_options.scheduler = false;
    auto engine = Engine::Open(engine_options, TestFunctions());
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    engine_ = std::move(*engine);
    ASSERT_TRUE(engine_->Start().ok());
    ApiOptions options;
    options.listen = "127.0.0.1:0";
    // Far beyond every bound below: a take that answers in time was woken by an event.
    options.wait_recheck = std::chrono::hours(1);
    server_ = std::make_unique<ApiServer>(options, *engine_);
    ASSERT_TRUE(server_->Start().ok());
    client_ = std::make_unique<HttpClient>(server_->url());
    // The scheduler's sweep of expired leases, driven by hand on the simulated clock.
    sweeper_ = std::make_unique<Scheduler>(SchedulerOptions{}, engine_->storage(), clock_,
                                           engine_->events(), [] {});
  }

  void TearDown() override {
    client_.reset();
    sweeper_.reset();
    if (server_) server_->Stop();
    if (engine_) engine_->Stop();
    server_.reset();
    engine_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  HttpResponse Send(std::string_view method, std::string_view target, std::string_view body = {},
                    std::string_view content_type = "application/json") {
    auto response = client_->Send(method, target, body, content_type);
    EXPECT_TRUE(response.ok()) << response.status().ToString();
    return response.ok() ? *response : HttpResponse{};
  }

  json::object SendJson(std::string_view method, std::string_view target, int expected_status,
                        std::string_view body = {}) {
    HttpResponse response = Send(method, target, body);
    EXPECT_EQ(response.status, expected_status) << method << " " << target << ": " << response.body;
    if (response.body.empty()) return {};
    json::value value = json::parse(response.body);
    return value.is_object() ? value.get_object() : json::object();
  }

  json::object ExpectError(const HttpResponse& response, int status, std::string_view code) {
    EXPECT_EQ(response.status, status) << response.body;
    json::value body = json::parse(response.body);
    json::object error = body.at("error").as_object();
    EXPECT_EQ(error.at("code").as_string(), code) << response.body;
    EXPECT_FALSE(error.at("message").as_string().empty());
    EXPECT_TRUE(error.at("details").is_object());
    return error;
  }

  std::string CreateRun(std::string_view body) {
    json::object run = SendJson("POST", "/api/v1/runs", 201, body);
    return std::string(run["id"].as_string());
  }

  json::object GetRun(const std::string& id) { return SendJson("GET", "/api/v1/runs/" + id, 200); }

  // A take without waiting; the runs claimed.
  json::array Take(std::string_view runner, std::string_view query = "queue=remote") {
    json::object body = SendJson(
        "POST", "/api/v1/runners/" + std::string(runner) + "/take?" + std::string(query), 200);
    return body["runs"].as_array();
  }

  json::object Heartbeat(std::string_view runner, const json::object& beat) {
    json::object body{{"runs", json::array{beat}}};
    json::object answer = SendJson("POST", "/api/v1/runners/" + std::string(runner) + "/heartbeat",
                                   200, json::serialize(body));
    EXPECT_EQ(answer["runs"].as_array().size(), 1u);
    return answer["runs"].as_array().at(0).as_object();
  }

  HttpResponse Finish(std::string_view runner, const json::object& body) {
    return Send("POST", "/api/v1/runners/" + std::string(runner) + "/finish",
                json::serialize(body));
  }

  json::object Runner(std::string_view id) {
    json::object list = SendJson("GET", "/api/v1/runners", 200);
    for (const auto& runner : list["runners"].as_array()) {
      if (runner.as_object().at("id").as_string() == id) return runner.as_object();
    }
    return {};
  }

  ManualClock clock_{Start()};
  std::string dir_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<ApiServer> server_;
  std::unique_ptr<HttpClient> client_;
  std::unique_ptr<Scheduler> sweeper_;
};

TEST_F(RunnersApiTest, TakeHeartbeatFinishCompletesARun) {
  // A remote function's runs go to its queue unless the request names another.
  json::object created =
      SendJson("POST", "/api/v1/runs", 201, R"({"function":"py.add","args":[1,2]})");
  EXPECT_EQ(created["queue"].as_string(), "remote");
  std::string id(created["id"].as_string());

  json::array runs = Take("worker-1");
  ASSERT_EQ(runs.size(), 1u);
  json::object taken = runs[0].as_object();
  EXPECT_EQ(taken["id"].as_string(), id);
  EXPECT_EQ(taken["status"].as_string(), "running");
  EXPECT_EQ(taken["runner"].as_string(), "worker-1");
  EXPECT_EQ(taken["args"], json::parse("[1,2]"));
  EXPECT_EQ(taken["fencing_token"].as_int64(), 1);
  EXPECT_EQ(taken["lease_until"].as_string(), FormatTime(clock_.Now() + std::chrono::seconds(60)));
  EXPECT_TRUE(Take("worker-2").empty()) << "claimed once";

  // The heartbeat renews the lease from now, and stores progress.
  clock_.Advance(std::chrono::seconds(20));
  json::object beat = Heartbeat(
      "worker-1",
      {{"id", id}, {"fencing_token", 1}, {"progress", {{"total", 10}, {"succeeded", 4}}}});
  EXPECT_TRUE(beat["accepted"].as_bool());
  EXPECT_FALSE(beat["cancel_requested"].as_bool());
  EXPECT_EQ(beat["queue"].as_string(), "remote");
  json::object running = GetRun(id);
  EXPECT_EQ(running["lease_until"].as_string(),
            FormatTime(clock_.Now() + std::chrono::seconds(60)));
  EXPECT_EQ(running["progress"].as_object()["succeeded"].as_int64(), 4);

  json::object local = Runner("local-runner");
  EXPECT_EQ(local["kind"].as_string(), "local");
  EXPECT_EQ(local["queues"], json::parse(R"(["default"])"));
  EXPECT_EQ(local["capacity"].as_int64(), 2);
  json::object remote = Runner("worker-1");
  EXPECT_EQ(remote["kind"].as_string(), "remote");
  EXPECT_EQ(remote["queues"], json::parse(R"(["remote"])"));
  EXPECT_EQ(remote["used"].as_int64(), 1);
  EXPECT_EQ(remote["capacity"].as_int64(), 1);
  EXPECT_EQ(remote["last_seen"].as_string(), FormatTime(clock_.Now()));

  HttpResponse finished = Finish("worker-1", {{"id", id},
                                              {"fencing_token", 1},
                                              {"status", "completed"},
                                              {"result", 3},
                                              {"progress", {{"total", 10}, {"succeeded", 10}}}});
  ASSERT_EQ(finished.status, 200) << finished.body;
  json::object done = json::parse(finished.body).as_object();
  EXPECT_EQ(done["status"].as_string(), "completed");
  EXPECT_EQ(done["result"].as_int64(), 3);
  EXPECT_EQ(done["progress"].as_object()["succeeded"].as_int64(), 10);
  ASSERT_EQ(done["attempts"].as_array().size(), 1u);
  EXPECT_EQ(done["attempts"].as_array()[0].as_object()["runner"].as_string(), "worker-1");
  EXPECT_EQ(done["attempts"].as_array()[0].as_object()["outcome"].as_string(), "completed");
  EXPECT_EQ(Runner("worker-1")["used"].as_int64(), 0);

  // Finishing again is stale: the attempt is over, and nothing changes.
  json::object error = ExpectError(
      Finish("worker-1", {{"id", id}, {"fencing_token", 1}, {"status", "failed"}, {"error", "x"}}),
      409, "stale_fencing_token");
  EXPECT_EQ(error["details"].as_object()["status"].as_string(), "completed");
  EXPECT_EQ(GetRun(id), done);

  // A runner silent for more than a minute drops out of the list; the local one stays.
  clock_.Advance(std::chrono::seconds(61));
  EXPECT_TRUE(Runner("worker-1").empty());
  EXPECT_FALSE(Runner("local-runner").empty());
}

TEST_F(RunnersApiTest, FinishFromAnotherRunnerSaysWhoHoldsTheAttempt) {
  SendJson("POST", "/api/v1/runs", 201, R"({"function":"py.add","id":"held","args":[1,2]})");
  ASSERT_EQ(Take("worker-1").size(), 1u);
  // worker-2 presents the current token of an attempt that worker-1 holds.
  json::object error = ExpectError(
      Finish("worker-2", {{"id", "held"}, {"fencing_token", 1}, {"status", "completed"}}), 409,
      "stale_fencing_token");
  std::string message(error["message"].as_string());
  EXPECT_NE(message.find("held by runner 'worker-1', not by 'worker-2'"), std::string::npos)
      << message;
  EXPECT_EQ(message.find("no longer current"), std::string::npos) << message;
  EXPECT_EQ(error["details"].as_object()["runner"].as_string(), "worker-1");
  EXPECT_EQ(GetRun("held")["status"].as_string(), "running") << "nothing changed";
}

TEST_F(RunnersApiTest, FailedFinishRetriesWithTheRunsPolicy) {
  std::string id = CreateRun(R"({"function":"py.fail","retry":{"max_attempts":2,"delay":5}})");
  ASSERT_EQ(Take("worker-1").size(), 1u);
  HttpResponse first = Finish("worker-1", {{"id", id},
                                           {"fencing_token", 1},
                                           {"status", "failed"},
                                           {"error", "ValueError: nope"},
                                           {"output", "Traceback ..."}});
  ASSERT_EQ(first.status, 200) << first.body;
  json::object retrying = json::parse(first.body).as_object();
  EXPECT_EQ(retrying["status"].as_string(), "pending");
  EXPECT_EQ(retrying["run_at"].as_string(), FormatTime(clock_.Now() + std::chrono::seconds(5)));
  EXPECT_EQ(retrying["attempts"].as_array()[0].as_object()["output"].as_string(), "Traceback ...");

  EXPECT_TRUE(Take("worker-1").empty()) << "not due before the retry delay";
  clock_.Advance(std::chrono::seconds(5));
  json::array again = Take("worker-1");
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].as_object()["fencing_token"].as_int64(), 2);
  HttpResponse last = Finish(
      "worker-1",
      {{"id", id}, {"fencing_token", 2}, {"status", "failed"}, {"error", "ValueError: nope"}});
  ASSERT_EQ(last.status, 200) << last.body;
  json::object failed = json::parse(last.body).as_object();
  EXPECT_EQ(failed["status"].as_string(), "failed");
  EXPECT_EQ(failed["error"].as_string(), "ValueError: nope");
  EXPECT_EQ(failed["error_kind"].as_string(), "user");
  EXPECT_EQ(failed["attempts"].as_array().size(), 2u);
}

TEST_F(RunnersApiTest, FinishWithAStaleTokenAfterTheLeaseExpiredIsRefused) {
  std::string id =
      CreateRun(R"({"function":"py.add","args":[2,2],"time_to_resolve":10,"max_attempts":2})");
  ASSERT_EQ(Take("worker-1").size(), 1u);
  // worker-1 goes silent: its lease expires, the sweeper hands the run back, and
  // worker-2 claims it with the next fencing token.
  clock_.Advance(std::chrono::seconds(11));
  ASSERT_EQ(sweeper_->SweepLost(clock_.Now()), 1);
  json::array reclaimed = Take("worker-2");
  ASSERT_EQ(reclaimed.size(), 1u);
  EXPECT_EQ(reclaimed[0].as_object()["fencing_token"].as_int64(), 2);
  json::object before = GetRun(id);

  json::object beat = Heartbeat("worker-1", {{"id", id}, {"fencing_token", 1}});
  EXPECT_FALSE(beat["accepted"].as_bool());
  EXPECT_FALSE(beat["cancel_requested"].as_bool());
  EXPECT_TRUE(beat["lease_until"].is_null());
  // The right token from the wrong runner is not accepted either.
  EXPECT_FALSE(Heartbeat("worker-1", {{"id", id}, {"fencing_token", 2}})["accepted"].as_bool());
  json::object error = ExpectError(
      Finish("worker-1",
             {{"id", id}, {"fencing_token", 1}, {"status", "completed"}, {"result", 4}}),
      409, "stale_fencing_token");
  EXPECT_EQ(error["details"].as_object()["current_fencing_token"].as_int64(), 2);
  EXPECT_EQ(GetRun(id), before) << "a stale finish changes nothing";

  HttpResponse finished = Finish(
      "worker-2", {{"id", id}, {"fencing_token", 2}, {"status", "completed"}, {"result", 4}});
  ASSERT_EQ(finished.status, 200) << finished.body;
  json::object run = json::parse(finished.body).as_object();
  EXPECT_EQ(run["status"].as_string(), "completed");
  const json::array& attempts = run["attempts"].as_array();
  ASSERT_EQ(attempts.size(), 2u);
  EXPECT_EQ(attempts[0].as_object().at("outcome").as_string(), "lost");
  EXPECT_EQ(attempts[1].as_object().at("runner").as_string(), "worker-2");
}

TEST_F(RunnersApiTest, CancelIsRequestedThroughTheHeartbeat) {
  std::string id = CreateRun(R"({"function":"py.add","args":[1]})");
  ASSERT_EQ(Take("worker-1").size(), 1u);
  SendJson("POST", "/api/v1/runs/" + id + "/cancel", 200);
  json::object beat = Heartbeat("worker-1", {{"id", id}, {"fencing_token", 1}});
  EXPECT_FALSE(beat["accepted"].as_bool());
  EXPECT_TRUE(beat["cancel_requested"].as_bool());
  ExpectError(Finish("worker-1", {{"id", id}, {"fencing_token", 1}, {"status", "completed"}}), 409,
              "stale_fencing_token");
  EXPECT_EQ(GetRun(id)["status"].as_string(), "stopped");
  EXPECT_EQ(Runner("worker-1")["used"].as_int64(), 0);
}

TEST_F(RunnersApiTest, TakeWithWaitAnswersWhenARunIsCreated) {
  json::object answer;
  std::thread worker([&] {
    HttpClient client(server_->url());
    auto response = client.Send("POST", "/api/v1/runners/worker-1/take?queue=remote&max=5&wait=30",
                                {}, "application/json", std::chrono::seconds(60));
    ASSERT_TRUE(response.ok()) << response.status().ToString();
    ASSERT_EQ(response->status, 200) << response->body;
    answer = json::parse(response->body).as_object();
  });
  auto deadline = std::chrono::steady_clock::now() + kBound;
  while (server_->counters().pending_takes == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  ASSERT_EQ(server_->counters().pending_takes, 1u);
  // A run of another queue does not answer the take; one of its queue does, at once
  // (the periodic re-try is an hour away).
  CreateRun(R"({"function":"py.add","queue":"elsewhere"})");
  std::string id = CreateRun(R"({"function":"py.add","args":[5]})");
  worker.join();
  ASSERT_EQ(answer["runs"].as_array().size(), 1u);
  EXPECT_EQ(answer["runs"].as_array()[0].as_object()["id"].as_string(), id);
  EXPECT_EQ(server_->counters().pending_takes, 0u);
  EXPECT_EQ(Runner("worker-1")["capacity"].as_int64(), 5);

  // When nothing comes, the take answers no runs once its wait has passed.
  json::object empty = SendJson("POST", "/api/v1/runners/worker-1/take?queue=remote&wait=0.1", 200);
  EXPECT_TRUE(empty["runs"].as_array().empty());
}

TEST_F(RunnersApiTest, LocalRunnerLeavesRemoteQueuesAndFailsRemoteFunctionsClearly) {
  // py.add forced onto the local runner's queue: its stand-in handler names the mistake.
  std::string misplaced = CreateRun(R"({"function":"py.add","queue":"default"})");
  json::object run = SendJson("GET", "/api/v1/runs/" + misplaced + "?wait=30", 200);
  EXPECT_EQ(run["status"].as_string(), "failed");
  EXPECT_NE(run["error"].as_string().find("remote runners"), std::string::npos) << run["error"];
  EXPECT_EQ(run["runner"].as_string(), "");

  std::string remote = CreateRun(R"({"function":"py.add"})");
  std::string local = CreateRun(R"({"function":"demo.echo","args":["hi"]})");
  EXPECT_EQ(SendJson("GET", "/api/v1/runs/" + local + "?wait=30", 200)["status"].as_string(),
            "completed");
  EXPECT_EQ(GetRun(remote)["status"].as_string(), "pending");

  json::object functions = SendJson("GET", "/api/v1/functions?category=py", 200);
  ASSERT_EQ(functions["functions"].as_array().size(), 2u);
  json::object add = functions["functions"].as_array()[0].as_object();
  EXPECT_EQ(add["handler"].as_string(), "remote");
  EXPECT_EQ(add["queue"].as_string(), "remote");
}

TEST_F(RunnersApiTest, BadRequestsGetTheApiErrorShape) {
  std::string id = CreateRun(R"({"function":"py.add"})");

  json::object error = ExpectError(Send("POST", "/api/v1/runners/w/take"), 400, "invalid_argument");
  EXPECT_EQ(error["details"].as_object()["parameter"].as_string(), "queue");
  ExpectError(Send("POST", "/api/v1/runners/w/take?queue=remote&max=0"), 400, "invalid_argument");
  ExpectError(Send("POST", "/api/v1/runners/w/take?queue=remote&max=101"), 400, "invalid_argument");
  ExpectError(Send("POST", "/api/v1/runners/w/take?queue=remote&wait=61"), 400, "invalid_argument");
  ExpectError(Send("POST", "/api/v1/runners/w/take?queue=remote&wait=soon"), 400,
              "invalid_argument");
  error = ExpectError(Send("POST", "/api/v1/runners/w/take?queue=remote&maxx=2"), 400,
                      "invalid_argument");
  EXPECT_EQ(error["details"].as_object()["parameter"].as_string(), "maxx");
  ExpectError(Send("POST", "/api/v1/runners/bad%20id/take?queue=remote"), 400, "invalid_argument");
  ExpectError(Send("POST", "/api/v1/runners/w/take?queue=remote", R"({"max":2})"), 400,
              "invalid_argument");
  ExpectError(Send("GET", "/api/v1/runners/w/take?queue=remote"), 405, "method_not_allowed");

  ExpectError(Send("POST", "/api/v1/runners/w/heartbeat", R"({"runs": [)"), 400, "malformed_json");
  error = ExpectError(Send("POST", "/api/v1/runners/w/heartbeat", R"({"runz": []})"), 422,
                      "invalid_argument");
  EXPECT_EQ(error["details"].as_object()["field"].as_string(), "runz");
  error = ExpectError(Send("POST", "/api/v1/runners/w/heartbeat",
                           R"({"runs": [{"id": "x", "fencing_token": 1, "colour": "red"}]})"),
                      422, "invalid_argument");
  EXPECT_EQ(error["details"].as_object()["field"].as_string(), "runs[0].colour");
  error = ExpectError(Send("POST", "/api/v1/runners/w/heartbeat", R"({"runs": [{"id": "x"}]})"),
                      422, "invalid_argument");
  EXPECT_EQ(error["details"].as_object()["field"].as_string(), "runs[0].fencing_token");
  ExpectError(Send("POST", "/api/v1/runners/w/heartbeat",
                   R"({"runs": [{"id": "x", "fencing_token": 1, "progress": {"total": -1}}]})"),
              422, "invalid_argument");

  ExpectError(Send("POST", "/api/v1/runners/w/finish", "{}", "text/plain"), 415,
              "unsupported_media_type");
  ExpectError(Send("POST", "/api/v1/runners/w/finish", "[1]"), 400, "invalid_argument");
  error = ExpectError(Finish("w", {{"id", id}, {"fencing_token", 1}, {"status", "done"}}), 422,
                      "invalid_argument");
  EXPECT_EQ(error["details"].as_object()["field"].as_string(), "status");
  error = ExpectError(
      Finish("w", {{"id", id}, {"fencing_token", 1}, {"status", "completed"}, {"reslt", 1}}), 422,
      "invalid_argument");
  EXPECT_EQ(error["details"].as_object()["field"].as_string(), "reslt");
  ExpectError(Finish("w", {{"id", id}, {"fencing_token", 0}, {"status", "completed"}}), 422,
              "invalid_argument");
  ExpectError(
      Finish("w", {{"id", id}, {"fencing_token", 1}, {"status", "completed"}, {"error", "x"}}), 422,
      "invalid_argument");
  ExpectError(Finish("w", {{"id", "no-such-run"}, {"fencing_token", 1}, {"status", "completed"}}),
              404, "not_found");
  // A pending run was never claimed: no token of it is current.
  ExpectError(Finish("w", {{"id", id}, {"fencing_token", 1}, {"status", "completed"}}), 409,
              "stale_fencing_token");
  ExpectError(Send("GET", "/api/v1/runners?kind=remote"), 400, "invalid_argument");
  EXPECT_EQ(GetRun(id)["status"].as_string(), "pending") << "no bad request changed the run";
}

}  // namespace
}  // namespace taskmill::api
