// End-to-end tests of the HTTP API: a real Engine on SQLite in a temporary directory,
// the ApiServer on port 0, and the CLI's HttpClient. No test sleeps: waits are
// long-polls or condition variables with generous bounds.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <taskmill/engine.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <cctype>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "api/auth.h"
#include "api/server.h"
#include "cli/client.h"
#include "metrics/exposition_test_util.h"

namespace taskmill::api {
namespace {
namespace json = boost::json;
using cli::HttpClient;
using cli::HttpResponse;

constexpr auto kBound = std::chrono::seconds(30);  // generous bound for every wait

// Runs of demo.block report here when they start, and stay until cancelled.
struct BlockedRuns {
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, int> started;  // attempts started, by run id; guarded by mu

  void Started(const std::string& id) {
    {
      std::lock_guard lock(mu);
      ++started[id];
    }
    cv.notify_all();
  }
  // Waits until the run's `attempts`-th attempt has started.
  bool WaitStarted(const std::string& id, int attempts = 1) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, kBound, [&] { return started[id] >= attempts; });
  }
};

std::shared_ptr<FunctionRegistry> TestFunctions(BlockedRuns* blocked) {
  auto registry = std::make_shared<FunctionRegistry>();
  EXPECT_TRUE(registry
                  ->Register("demo.echo", [](RunContext& ctx) { ctx.SetResult(ctx.args()); },
                             {.name = "demo.echo", .description = "returns its args"})
                  .ok());
  EXPECT_TRUE(registry
                  ->Register("demo.fail", [](RunContext&) { throw std::runtime_error("boom"); },
                             {.name = "demo.fail", .description = "always fails"})
                  .ok());
  EXPECT_TRUE(registry
                  ->Register("demo.block",
                             [blocked](RunContext& ctx) {
                               blocked->Started(ctx.run().id);
                               ctx.cancellation().WaitFor(std::chrono::hours(1));
                             },
                             {.name = "demo.block", .description = "waits until cancelled"})
                  .ok());
  EXPECT_TRUE(registry->Register("other.thing", [](RunContext&) {}, {.name = "other.thing"}).ok());
  // Stands for a command task's function: the API must not start commands freely.
  EXPECT_TRUE(registry
                  ->Register("task.shell", [](RunContext&) {},
                             {.name = "task.shell", .handler_kind = "command"})
                  .ok());
  return registry;
}

// A plain TCP connection for what HttpClient never sends: partial requests,
// Expect: 100-continue, HEAD.
class RawConnection {
 public:
  explicit RawConnection(const std::string& url) : socket_(ioc_) {
    auto hostport = url.substr(std::string("http://").size());
    auto colon = hostport.rfind(':');
    boost::asio::ip::tcp::resolver resolver(ioc_);
    boost::asio::connect(socket_,
                         resolver.resolve(hostport.substr(0, colon), hostport.substr(colon + 1)));
    // A bound on every read, so that a server that never answers fails the test.
    timeval timeout{.tv_sec = 30, .tv_usec = 0};
    setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  }
  void Write(std::string_view text) { boost::asio::write(socket_, boost::asio::buffer(text)); }
  // Reads up to and including the blank line that ends a response header.
  std::string ReadHeader() {
    boost::system::error_code ec;
    size_t n = boost::asio::read_until(socket_, boost::asio::dynamic_buffer(data_), "\r\n\r\n", ec);
    if (ec) return "error: " + ec.message();
    std::string header = data_.substr(0, n);
    data_.erase(0, n);
    return header;
  }
  // Reads what has arrived (at least one byte); "" on error or end.
  std::string ReadSome() {
    if (!data_.empty()) return std::exchange(data_, std::string());
    char buffer[4096];
    boost::system::error_code ec;
    size_t n = socket_.read_some(boost::asio::buffer(buffer), ec);
    return ec ? std::string() : std::string(buffer, n);
  }
  // Reads until the server closes the connection.
  std::string ReadAll() {
    boost::system::error_code ec;
    boost::asio::read(socket_, boost::asio::dynamic_buffer(data_), ec);
    return std::exchange(data_, std::string());
  }

 private:
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::socket socket_;
  std::string data_;  // received and not yet returned
};

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(StartServer(ApiOptions{})); }

  void StartServer(ApiOptions options) {
    char pattern[] = "/tmp/taskmill-api-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    EngineOptions engine_options;
    engine_options.storage.url = "sqlite://" + dir_ + "/taskmill.db";
    engine_options.storage.url += "?synchronous=normal";
    engine_options.runner = true;
    engine_options.scheduler = false;
    auto engine = Engine::Open(engine_options, TestFunctions(&blocked_));
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    engine_ = std::move(*engine);
    ASSERT_TRUE(engine_->Start().ok());
    options.listen = "127.0.0.1:0";
    server_ = std::make_unique<ApiServer>(options, *engine_);
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

  // A raw request: the response whatever its status.
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

  json::object CreateRun(std::string_view body) {
    return SendJson("POST", "/api/v1/runs", 201, body);
  }

  // Long-polls until the run is final.
  json::object WaitFinal(const std::string& id) {
    auto deadline = std::chrono::steady_clock::now() + kBound;
    json::object run;
    while (std::chrono::steady_clock::now() < deadline) {
      run = SendJson("GET", "/api/v1/runs/" + id + "?wait=10", 200);
      auto status = ParseRunStatus(run["status"].as_string());
      if (status && IsFinal(*status)) return run;
    }
    ADD_FAILURE() << "run " << id << " not final within the bound: " << json::serialize(run);
    return run;
  }

  int64_t TotalRuns() {
    return SendJson("GET", "/api/v1/stats", 200)["statuses"].as_object()["total"].as_int64();
  }

  // The error object of an error response, after checking status and code.
  json::object ExpectError(const HttpResponse& response, int status, std::string_view code) {
    EXPECT_EQ(response.status, status) << response.body;
    EXPECT_EQ(response.content_type, "application/json");
    json::value body = json::parse(response.body);
    json::object error = body.at("error").as_object();
    EXPECT_EQ(error.at("code").as_string(), code) << response.body;
    EXPECT_FALSE(error.at("message").as_string().empty());
    EXPECT_TRUE(error.at("details").is_object());
    return error;
  }

  std::string dir_;
  BlockedRuns blocked_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<ApiServer> server_;
  std::unique_ptr<HttpClient> client_;
};

TEST_F(ApiTest, CreateAndWaitCompletesWithTheResult) {
  json::object created = CreateRun(R"({"function":"demo.echo","args":["hello"]})");
  EXPECT_EQ(created["function"].as_string(), "demo.echo");
  EXPECT_EQ(created["queue"].as_string(), "default");
  std::string id(created["id"].as_string());
  ASSERT_EQ(id.size(), 36u);  // a UUIDv7

  json::object run = WaitFinal(id);
  EXPECT_EQ(run["status"].as_string(), "completed");
  EXPECT_EQ(run["result"], json::parse(R"(["hello"])"));
  ASSERT_EQ(run["attempts"].as_array().size(), 1u);
  EXPECT_EQ(run["attempts"].as_array()[0].as_object()["outcome"].as_string(), "completed");
  // The API's run JSON is exactly the model's: it parses back without loss. Compared
  // as text: a plain number ("delay":0) reads back as an integer, the model's is a double.
  auto parsed = RunFromJson(run);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  std::string model_text, answer_text;
  AppendJson(json::value(ToJson(*parsed)), &model_text);
  AppendJson(json::value(run), &answer_text);
  EXPECT_EQ(model_text, answer_text);
}

TEST_F(ApiTest, FailingRunRetriesWithTheGivenPolicyThenFails) {
  json::object created = CreateRun(
      R"({"function":"demo.fail","retry":{"max_attempts":3,"delay":0.05,"delay_factor":2}})");
  EXPECT_EQ(created["max_attempts"].as_int64(), 3);
  json::object run = WaitFinal(std::string(created["id"].as_string()));
  EXPECT_EQ(run["status"].as_string(), "failed");
  EXPECT_EQ(run["error"].as_string(), "boom");
  ASSERT_EQ(run["attempts"].as_array().size(), 3u);
  // The retry waits are visible from the attempt times: ≥ 50 ms, then ≥ 100 ms.
  const auto& attempts = run["attempts"].as_array();
  for (size_t k = 1; k < attempts.size(); ++k) {
    TimePoint finished, started;
    ASSERT_TRUE(ParseTime(attempts[k - 1].as_object().at("finished_at").as_string(), &finished));
    ASSERT_TRUE(ParseTime(attempts[k].as_object().at("started_at").as_string(), &started));
    EXPECT_GE(started - finished, std::chrono::milliseconds(50 << (k - 1))) << "retry " << k;
  }
}

TEST_F(ApiTest, BatchCreatesAThousandRunsInOneCall) {
  int64_t before = TotalRuns();
  json::array runs;
  for (int i = 0; i < 1000; ++i) {
    runs.push_back(json::object{{"function", "demo.echo"},
                                {"args", json::array{i}},
                                {"queue", "batch"},
                                {"id", "b-" + std::to_string(i)}});
  }
  json::object body{{"runs", std::move(runs)}};
  json::object created = SendJson("POST", "/api/v1/runs:batch", 201, json::serialize(body));
  ASSERT_EQ(created["runs"].as_array().size(), 1000u);
  EXPECT_EQ(created["runs"].as_array()[999].as_object()["id"].as_string(), "b-999");
  EXPECT_EQ(TotalRuns(), before + 1000);

  // The same ids again: conflict, and nothing more is stored.
  HttpResponse again = Send("POST", "/api/v1/runs:batch", json::serialize(body));
  ExpectError(again, 409, "conflict");
  EXPECT_EQ(TotalRuns(), before + 1000);
  // With conflict=ignore the stored runs are answered.
  body["conflict"] = "ignore";
  json::object ignored = SendJson("POST", "/api/v1/runs:batch", 201, json::serialize(body));
  EXPECT_EQ(ignored["runs"].as_array().size(), 1000u);
  EXPECT_EQ(TotalRuns(), before + 1000);
}

TEST_F(ApiTest, BatchWithReturnIdsAnswersIdsAndStatusesInRequestOrder) {
  int64_t before = TotalRuns();
  std::string body = R"({"runs":[{"function":"demo.echo","queue":"ids","id":"first"},)"
                     R"({"function":"demo.echo","queue":"ids","id":"se:cond"},)"
                     R"({"function":"demo.echo","queue":"ids"}]})";
  json::object created = SendJson("POST", "/api/v1/runs:batch?return=ids", 201, body);
  const json::array& runs = created["runs"].as_array();
  ASSERT_EQ(runs.size(), 3u);
  EXPECT_EQ(runs[0], (json::object{{"id", "first"}, {"status", "pending"}}));
  EXPECT_EQ(runs[1].as_object().at("id"), "se:cond");
  EXPECT_EQ(runs[2].as_object().size(), 2u);
  EXPECT_FALSE(runs[2].as_object().at("id").as_string().empty());
  EXPECT_EQ(TotalRuns(), before + 3);
  // The default form, named, answers whole runs; anything else is a parameter error.
  json::object whole = SendJson("POST", "/api/v1/runs:batch?return=runs", 201,
                                R"({"runs":[{"function":"demo.echo","queue":"ids"}]})");
  EXPECT_TRUE(whole["runs"].as_array()[0].as_object().contains("args"));
  json::object error = ExpectError(
      Send("POST", "/api/v1/runs:batch?return=all", R"({"runs":[{"function":"demo.echo"}]})"), 400,
      "invalid_argument");
  EXPECT_EQ(error["details"].as_object()["parameter"], "return");
  EXPECT_EQ(TotalRuns(), before + 4);
}

TEST_F(ApiTest, BatchWithOneBadItemStoresNothingAndNamesTheIndex) {
  int64_t before = TotalRuns();
  json::object error = ExpectError(
      Send("POST", "/api/v1/runs:batch",
           R"({"runs":[{"function":"demo.echo"},{"function":"demo.echo","delay":-1}]})"),
      422, "invalid_argument");
  EXPECT_EQ(error["details"].as_object()["index"].as_int64(), 1);
  EXPECT_EQ(error["details"].as_object()["field"].as_string(), "runs[1].delay");

  error = ExpectError(Send("POST", "/api/v1/runs:batch",
                           R"({"runs":[{"function":"demo.echo"},{"function":"nope.nothing"}]})"),
                      422, "unknown_function");
  EXPECT_EQ(error["details"].as_object()["index"].as_int64(), 1);
  EXPECT_EQ(TotalRuns(), before);

  ExpectError(Send("POST", "/api/v1/runs:batch", R"({"runs":[]})"), 422, "invalid_argument");
  ExpectError(Send("POST", "/api/v1/runs:batch", R"({"runs":[{"function":"demo.echo"}],"x":1})"),
              422, "invalid_argument");
}

TEST_F(ApiTest, ListFiltersAndPagesWithACursor) {
  json::array runs;
  for (int i = 0; i < 5; ++i) {
    runs.push_back(json::object{{"function", "demo.echo"}, {"queue", "listing"}});
  }
  runs.push_back(json::object{{"function", "demo.fail"}, {"queue", "listing"}});
  json::object created =
      SendJson("POST", "/api/v1/runs:batch", 201, json::serialize(json::object{{"runs", runs}}));
  for (const auto& run : created["runs"].as_array()) {
    WaitFinal(std::string(run.as_object().at("id").as_string()));
  }

  std::set<std::string> seen;
  std::string cursor;
  int pages = 0;
  do {
    std::string target = "/api/v1/runs?queue=listing&limit=2";
    if (!cursor.empty()) target += "&cursor=" + cli::UrlEncode(cursor);
    json::object page = SendJson("GET", target, 200);
    ASSERT_LE(page["runs"].as_array().size(), 2u);
    for (const auto& run : page["runs"].as_array()) {
      EXPECT_TRUE(seen.insert(std::string(run.as_object().at("id").as_string())).second);
    }
    cursor = page["next_cursor"].is_null() ? "" : std::string(page["next_cursor"].as_string());
    ASSERT_LT(++pages, 10);
  } while (!cursor.empty());
  EXPECT_EQ(seen.size(), 6u);

  json::object failed = SendJson("GET", "/api/v1/runs?queue=listing&status=failed", 200);
  ASSERT_EQ(failed["runs"].as_array().size(), 1u);
  EXPECT_EQ(failed["runs"].as_array()[0].as_object()["function"].as_string(), "demo.fail");
  json::object by_function = SendJson("GET", "/api/v1/runs?function=demo.echo&queue=listing", 200);
  EXPECT_EQ(by_function["runs"].as_array().size(), 5u);
  EXPECT_TRUE(by_function["next_cursor"].is_null());

  json::object error =
      ExpectError(Send("GET", "/api/v1/runs?status=broken"), 400, "invalid_argument");
  EXPECT_EQ(error["details"].as_object()["parameter"].as_string(), "status");
  ExpectError(Send("GET", "/api/v1/runs?limit=0"), 400, "invalid_argument");
  ExpectError(Send("GET", "/api/v1/runs?cursor=garbage"), 400, "invalid_argument");
  error = ExpectError(Send("GET", "/api/v1/runs?stauts=failed"), 400, "invalid_argument");
  EXPECT_EQ(error["details"].as_object()["parameter"].as_string(), "stauts");
}

TEST_F(ApiTest, CancelRetryAndDeleteARunningRun) {
  json::object created = CreateRun(R"({"function":"demo.block","id":"blocker"})");
  ASSERT_TRUE(blocked_.WaitStarted("blocker"));

  json::object error =
      ExpectError(Send("DELETE", "/api/v1/runs/blocker"), 409, "failed_precondition");
  json::object cancelled = SendJson("POST", "/api/v1/runs/blocker/cancel", 200);
  EXPECT_EQ(cancelled["status"].as_string(), "stopped");
  EXPECT_EQ(WaitFinal("blocker")["status"].as_string(), "stopped");
  ExpectError(Send("POST", "/api/v1/runs/blocker/cancel"), 409, "failed_precondition");

  // Retry puts it back to pending with one more attempt; it runs (and blocks) again.
  json::object retried = SendJson("POST", "/api/v1/runs/blocker/retry", 200);
  EXPECT_EQ(retried["status"].as_string(), "pending");
  ASSERT_TRUE(blocked_.WaitStarted("blocker", 2));
  SendJson("POST", "/api/v1/runs/blocker/cancel?queue=default", 200);
  json::object final_run = WaitFinal("blocker");
  EXPECT_EQ(final_run["status"].as_string(), "stopped");
  EXPECT_EQ(final_run["attempts"].as_array().size(), 2u);

  HttpResponse deleted = Send("DELETE", "/api/v1/runs/blocker");
  EXPECT_EQ(deleted.status, 204);
  EXPECT_TRUE(deleted.body.empty());
  ExpectError(Send("GET", "/api/v1/runs/blocker"), 404, "not_found");
  ExpectError(Send("DELETE", "/api/v1/runs/blocker"), 404, "not_found");
  ExpectError(Send("POST", "/api/v1/runs/nothing-here/retry"), 404, "not_found");
}

TEST_F(ApiTest, LongPollDoesNotHoldAnIoThread) {
  server_->Stop();
  ApiOptions options;
  options.threads = 1;  // one io thread: a blocking long-poll would stall everything
  TearDown();
  ASSERT_NO_FATAL_FAILURE(StartServer(options));

  CreateRun(R"({"function":"demo.block","id":"held"})");
  ASSERT_TRUE(blocked_.WaitStarted("held"));
  json::object polled;
  std::thread poller([&] {
    HttpClient client(server_->url());
    auto run = client.Get("/api/v1/runs/held?wait=60", std::chrono::seconds(90));
    ASSERT_TRUE(run.ok()) << run.status().ToString();
    polled = run->as_object();
  });
  auto deadline = std::chrono::steady_clock::now() + kBound;
  while (server_->counters().pending_waits == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  ASSERT_EQ(server_->counters().pending_waits, 1u);
  // While the long-poll is pending, the single io thread still serves requests; the
  // cancel's event then answers the long-poll at once.
  EXPECT_EQ(SendJson("GET", "/healthz", 200)["status"].as_string(), "ok");
  SendJson("POST", "/api/v1/runs/held/cancel", 200);
  poller.join();
  EXPECT_EQ(polled["status"].as_string(), "stopped");
  EXPECT_EQ(server_->counters().pending_waits, 0u);
}

TEST_F(ApiTest, LongPollEndsWithTheRunAsItIsWhenTheWaitPasses) {
  CreateRun(R"({"function":"demo.block","id":"still-running"})");
  ASSERT_TRUE(blocked_.WaitStarted("still-running"));
  json::object run = SendJson("GET", "/api/v1/runs/still-running?wait=0.2", 200);
  EXPECT_EQ(run["status"].as_string(), "running");
  ExpectError(Send("GET", "/api/v1/runs/not-there?wait=5"), 404, "not_found");
  SendJson("POST", "/api/v1/runs/still-running/cancel", 200);
}

TEST_F(ApiTest, LongPollSeesAChangeThatPublishedNoEvent) {
  server_->Stop();
  TearDown();
  ApiOptions options;
  options.wait_recheck = std::chrono::milliseconds(20);
  ASSERT_NO_FATAL_FAILURE(StartServer(options));
  CreateRun(R"({"function":"demo.block","id":"elsewhere"})");
  ASSERT_TRUE(blocked_.WaitStarted("elsewhere"));
  json::object polled;
  std::thread poller([&] {
    HttpClient client(server_->url());
    auto run = client.Get("/api/v1/runs/elsewhere?wait=30", std::chrono::seconds(60));
    ASSERT_TRUE(run.ok()) << run.status().ToString();
    polled = run->as_object();
  });
  auto deadline = std::chrono::steady_clock::now() + kBound;
  while (server_->counters().pending_waits == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  // As another node would: change storage without an event in this process.
  ASSERT_TRUE(engine_->storage().RunCancel("elsewhere", "default", engine_->clock().Now()).ok());
  poller.join();
  EXPECT_EQ(polled["status"].as_string(), "stopped");
  // The blocked handler is released when the engine stops (TearDown).
}

TEST_F(ApiTest, StopWithALongPollPendingClosesItsConnection) {
  CreateRun(R"({"function":"demo.block","id":"abandoned"})");
  ASSERT_TRUE(blocked_.WaitStarted("abandoned"));
  Status polled;
  std::thread poller([&] {
    HttpClient client(server_->url());
    polled = client.Get("/api/v1/runs/abandoned?wait=60", std::chrono::seconds(90)).status();
  });
  auto deadline = std::chrono::steady_clock::now() + kBound;
  while (server_->counters().pending_waits == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  ASSERT_EQ(server_->counters().pending_waits, 1u);
  server_->Stop();
  poller.join();
  EXPECT_EQ(polled.code(), StatusCode::kUnavailable) << polled.ToString();
}

TEST_F(ApiTest, BadInputGetsAClearErrorAndStoresNothing) {
  int64_t before = TotalRuns();

  json::object error = ExpectError(Send("POST", "/api/v1/runs", R"({"function": "demo.echo",)"),
                                   400, "malformed_json");
  EXPECT_EQ(error["details"].as_object()["line"].as_int64(), 1);
  ExpectError(Send("POST", "/api/v1/runs", R"({"function":"demo.echo"})", "text/plain"), 415,
              "unsupported_media_type");
  ExpectError(Send("POST", "/api/v1/runs", ""), 400, "malformed_json");

  error = ExpectError(Send("POST", "/api/v1/runs", R"({"function":"nope.missing"})"), 422,
                      "unknown_function");
  EXPECT_NE(error["message"].as_string().find("nope.missing"), std::string::npos);

  error = ExpectError(Send("POST", "/api/v1/runs", R"({"function":"demo.echo","args":"hello"})"),
                      422, "invalid_argument");
  EXPECT_EQ(error["details"].as_object()["field"].as_string(), "args");
  error = ExpectError(Send("POST", "/api/v1/runs", R"({"function":"demo.echo","delay":-5})"), 422,
                      "invalid_argument");
  EXPECT_EQ(error["details"].as_object()["field"].as_string(), "delay");
  error = ExpectError(Send("POST", "/api/v1/runs", R"({"function":"demo.echo","colour":"red"})"),
                      422, "invalid_argument");
  EXPECT_EQ(error["details"].as_object()["field"].as_string(), "colour");
  error =
      ExpectError(Send("POST", "/api/v1/runs", R"({"task":"no-such-task"})"), 422, "unknown_task");
  EXPECT_EQ(error["details"].as_object()["field"].as_string(), "task");
  ExpectError(Send("POST", "/api/v1/runs", "[1,2]"), 422, "invalid_argument");
  EXPECT_EQ(TotalRuns(), before);

  CreateRun(R"({"function":"demo.echo","id":"dup-1"})");
  ExpectError(Send("POST", "/api/v1/runs", R"({"function":"demo.echo","id":"dup-1"})"), 409,
              "conflict");
  json::object same = CreateRun(R"({"function":"demo.echo","id":"dup-1","conflict":"ignore"})");
  EXPECT_EQ(same["id"].as_string(), "dup-1");
  EXPECT_EQ(TotalRuns(), before + 1);

  std::string huge = R"({"function":"demo.echo","args":[")" + std::string(1 << 20, 'x') + R"("]})";
  ExpectError(Send("POST", "/api/v1/runs", huge), 413, "too_large");
  EXPECT_EQ(TotalRuns(), before + 1);  // a new connection after the 413 closed the old one

  ExpectError(Send("GET", "/api/v1/nothing"), 404, "route_not_found");
  ExpectError(Send("GET", "/"), 404, "route_not_found");  // no web UI in this server
  HttpResponse wrong_method = Send("PUT", "/api/v1/runs");
  ExpectError(wrong_method, 405, "method_not_allowed");
  EXPECT_EQ(wrong_method.allow, "POST, GET");
  ExpectError(Send("GET", "/api/v1/runs/x?wait=61"), 400, "invalid_argument");
  ExpectError(Send("GET", "/api/v1/runs/x?wait=soon"), 400, "invalid_argument");
}

// A task defined through the API obeys the configuration file's rules (TaskDef::Validate),
// is stored whole and can be started; a bad definition stores nothing.
TEST_F(ApiTest, PutTaskDefinesATaskWithTheConfigurationsRules) {
  json::object created = SendJson("PUT", "/api/v1/tasks/api-made", 201,
                                  R"({"function":"demo.echo","args":["hi"],"max_attempts":2})");
  EXPECT_EQ(created["name"].as_string(), "api-made");
  auto stored = engine_->storage().TaskGet("api-made");
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  EXPECT_EQ(stored->retry.max_attempts, 2);
  json::object run = WaitFinal(
      std::string(SendJson("POST", "/api/v1/tasks/api-made/start", 201)["id"].as_string()));
  EXPECT_EQ(run["result"], json::parse(R"(["hi"])"));
  // Redefining answers 200.
  SendJson("PUT", "/api/v1/tasks/api-made", 200, R"({"function":"demo.echo","priority":5})");
  EXPECT_EQ(engine_->storage().TaskGet("api-made")->priority, 5);

  json::object error =
      ExpectError(Send("PUT", "/api/v1/tasks/bad-cron",
                       R"({"kind":"periodical","function":"demo.echo","schedule":"61 * * * * *"})"),
                  422, "invalid_argument");
  EXPECT_NE(std::string(error["message"].as_string()).find("schedule"), std::string::npos)
      << error["message"];
  ExpectError(Send("PUT", "/api/v1/tasks/no-fn", R"({"function":"nope.nothing"})"), 422,
              "unknown_function");
  ExpectError(Send("PUT", "/api/v1/tasks/cmd", R"({"command":["/bin/true"]})"), 422,
              "invalid_argument");
  ExpectError(Send("PUT", "/api/v1/tasks/other", R"({"name":"else","function":"demo.echo"})"), 422,
              "invalid_argument");
  for (const char* name : {"bad-cron", "no-fn", "cmd", "other", "else"}) {
    EXPECT_TRUE(engine_->storage().TaskGet(name).status().IsNotFound()) << name;
  }
}

TEST_F(ApiTest, TasksFunctionsStatsAndHealth) {
  TaskDef task;
  task.name = "nightly-report";
  task.function = "demo.echo";
  task.args = json::array{"report"};
  task.retry.max_attempts = 4;
  task.retry.delay = std::chrono::seconds(7);
  ASSERT_TRUE(engine_->storage().TaskUpsert(task).ok());

  json::object tasks = SendJson("GET", "/api/v1/tasks", 200);
  ASSERT_EQ(tasks["tasks"].as_array().size(), 1u);
  json::object listed = tasks["tasks"].as_array()[0].as_object();
  EXPECT_EQ(listed["name"].as_string(), "nightly-report");
  EXPECT_TRUE(listed["last_run"].is_null());

  // Start with an override: a partial retry policy keeps the task's delay.
  json::object started =
      SendJson("POST", "/api/v1/tasks/nightly-report/start", 201, R"({"max_attempts":2})");
  EXPECT_EQ(started["task"].as_string(), "nightly-report");
  EXPECT_EQ(started["max_attempts"].as_int64(), 2);
  EXPECT_EQ(started["delay"].to_number<double>(), 7.0);
  json::object run = WaitFinal(std::string(started["id"].as_string()));
  EXPECT_EQ(run["result"], json::parse(R"(["report"])"));
  // Without a body the task's own args are used.
  json::object plain = SendJson("POST", "/api/v1/tasks/nightly-report/start", 201);
  EXPECT_EQ(plain["args"], json::parse(R"(["report"])"));
  WaitFinal(std::string(plain["id"].as_string()));

  json::object one = SendJson("GET", "/api/v1/tasks/nightly-report", 200);
  ASSERT_TRUE(one["last_run"].is_object());
  EXPECT_EQ(one["last_run"].as_object()["status"].as_string(), "completed");
  ExpectError(Send("GET", "/api/v1/tasks/unknown"), 404, "not_found");
  ExpectError(Send("POST", "/api/v1/tasks/unknown/start"), 404, "not_found");

  // A continuous task shows the run keeping it alive and how often it restarted.
  TaskDef consumer;
  consumer.name = "consumer";
  consumer.kind = TaskKind::kContinuous;
  consumer.function = "demo.echo";
  ASSERT_TRUE(engine_->storage().TaskUpsert(consumer).ok());
  json::object idle = SendJson("GET", "/api/v1/tasks/consumer", 200);
  EXPECT_TRUE(idle["live_run"].is_null());
  EXPECT_EQ(idle["restart_count"].as_int64(), 0);
  EXPECT_FALSE(one.contains("live_run")) << "only continuous tasks have a live run";
  taskmill::Run live;
  live.id = "consumer-live";
  live.function = "demo.echo";
  live.task = "consumer";
  live.run_at = live.created_at = engine_->clock().Now() + std::chrono::hours(1);
  ASSERT_TRUE(engine_->storage().RunPut({{live}}).ok());
  json::object alive = SendJson("GET", "/api/v1/tasks/consumer", 200);
  ASSERT_TRUE(alive["live_run"].is_object());
  EXPECT_EQ(alive["live_run"].as_object()["id"].as_string(), "consumer-live");
  EXPECT_EQ(alive["live_run"].as_object()["status"].as_string(), "pending");

  // The task's runs are counted under its name in the metrics, every status present.
  metrics::testing::Exposition scraped;
  ASSERT_EQ(metrics::testing::ParseExposition(Send("GET", "/metrics").body, &scraped), "");
  EXPECT_EQ(scraped.Value("taskmill_runs", {{"status", "completed"}, {"task", "nightly-report"}}),
            2);
  EXPECT_EQ(scraped.Value("taskmill_runs", {{"status", "failed"}, {"task", "nightly-report"}}), 0);

  json::object functions = SendJson("GET", "/api/v1/functions", 200);
  EXPECT_EQ(functions["functions"].as_array().size(), 5u);
  json::object demo = SendJson("GET", "/api/v1/functions?category=demo&action=fail", 200);
  ASSERT_EQ(demo["functions"].as_array().size(), 1u);
  EXPECT_EQ(demo["functions"].as_array()[0].as_object()["name"].as_string(), "demo.fail");

  json::object stats = SendJson("GET", "/api/v1/stats", 200);
  json::object& statuses = stats["statuses"].as_object();
  for (RunStatus status : kAllRunStatuses) {
    EXPECT_TRUE(statuses.contains(ToString(status))) << ToString(status);
  }
  EXPECT_EQ(statuses["completed"].as_int64(), 2);
  EXPECT_EQ(statuses["pending"].as_int64(), 1);  // the consumer's live run
  EXPECT_EQ(statuses["total"].as_int64(), 3);

  EXPECT_EQ(SendJson("GET", "/healthz", 200)["status"].as_string(), "ok");
}

TEST_F(ApiTest, MetricsParseAndCountFinishedRunsAndRoutePatterns) {
  using metrics::testing::Exposition;
  // Counters are process-wide (other tests ran before): compare two scrapes.
  auto scrape = [&] {
    HttpResponse response = Send("GET", "/metrics");
    EXPECT_EQ(response.status, 200) << response.body;
    EXPECT_EQ(response.content_type, "text/plain; version=0.0.4; charset=utf-8");
    Exposition parsed;
    EXPECT_EQ(metrics::testing::ParseExposition(response.body, &parsed), "") << response.body;
    return parsed;
  };
  auto value = [](const Exposition& e, const std::string& name,
                  const metrics::testing::LabelSet& labels = {}) {
    return e.Value(name, labels).value_or(0);
  };
  const metrics::testing::LabelSet completed{{"status", "completed"}};
  const metrics::testing::LabelSet completed_no_task{{"status", "completed"}, {"task", ""}};
  const metrics::testing::LabelSet get_run{{"route", "/api/v1/runs/{id}"}, {"code", "200"}};

  // The engine counts finishes from its event bus. This listener sees the same events;
  // Unsubscribe waits for a Publish in progress, so once it returns, the engine's
  // listener has counted every finish this one saw.
  std::mutex mu;
  std::condition_variable cv;
  int finished = 0;  // guarded by mu
  uint64_t subscription = engine_->events().Subscribe([&](const Event& event) {
    if (event.type != Event::Type::kRunFinished) return;
    {
      std::lock_guard lock(mu);
      ++finished;
    }
    cv.notify_all();
  });

  Exposition before = scrape();
  // Every family is there before anything happened.
  for (const char* name :
       {"taskmill_runs", "taskmill_runs_finished_total", "taskmill_queue_depth",
        "taskmill_queue_oldest_pending_age_seconds", "taskmill_attempt_duration_seconds",
        "taskmill_enqueue_to_start_seconds", "taskmill_runner_slots_used",
        "taskmill_runner_slots_capacity", "taskmill_scheduler_lag_seconds",
        "taskmill_storage_commit_batch_size", "taskmill_storage_commit_duration_seconds",
        "taskmill_http_requests_total"}) {
    EXPECT_TRUE(before.families.count(name)) << name;
  }
  EXPECT_TRUE(before.Value("taskmill_runs_finished_total", completed).has_value());
  EXPECT_EQ(before.Value("taskmill_runs", completed_no_task), 0);
  EXPECT_EQ(value(before, "taskmill_runner_slots_capacity"), 16);

  constexpr int kRuns = 3;
  std::vector<std::string> ids;
  for (int i = 0; i < kRuns; ++i) {
    ids.emplace_back(CreateRun(R"({"function":"demo.echo","args":[1]})")["id"].as_string());
  }
  // One run that waits an hour: a queue with a pending run that is not due yet.
  CreateRun(R"({"function":"demo.echo","queue":"later","delay":3600})");
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, kBound, [&] { return finished >= kRuns; }));
  }
  engine_->events().Unsubscribe(subscription);
  for (const std::string& id : ids) SendJson("GET", "/api/v1/runs/" + id, 200);
  ExpectError(Send("GET", "/api/v1/no-such-route"), 404, "route_not_found");

  Exposition after = scrape();
  EXPECT_EQ(value(after, "taskmill_runs_finished_total", completed),
            value(before, "taskmill_runs_finished_total", completed) + kRuns);
  EXPECT_EQ(value(after, "taskmill_runs", completed_no_task), kRuns);
  EXPECT_EQ(value(after, "taskmill_runs", {{"status", "pending"}, {"task", ""}}), 1);
  EXPECT_EQ(value(after, "taskmill_queue_depth", {{"queue", "later"}}), 1);
  EXPECT_EQ(value(after, "taskmill_queue_oldest_pending_age_seconds", {{"queue", "later"}}), 0);
  // Observed before the finishes were published.
  EXPECT_EQ(value(after, "taskmill_attempt_duration_seconds_count"),
            value(before, "taskmill_attempt_duration_seconds_count") + kRuns);
  EXPECT_EQ(value(after, "taskmill_enqueue_to_start_seconds_count"),
            value(before, "taskmill_enqueue_to_start_seconds_count") + kRuns);
  EXPECT_GT(value(after, "taskmill_storage_commit_batch_size_count"),
            value(before, "taskmill_storage_commit_batch_size_count"));

  // Requests are counted under their route pattern, never their raw path.
  EXPECT_EQ(value(after, "taskmill_http_requests_total", get_run),
            value(before, "taskmill_http_requests_total", get_run) + kRuns);
  EXPECT_GE(
      value(after, "taskmill_http_requests_total", {{"route", "/api/v1/runs"}, {"code", "201"}}),
      kRuns + 1);
  EXPECT_GE(value(after, "taskmill_http_requests_total", {{"route", "/metrics"}, {"code", "200"}}),
            1);
  EXPECT_GE(value(after, "taskmill_http_requests_total", {{"route", "other"}, {"code", "404"}}), 1);
  auto requests = after.Samples("taskmill_http_requests_total");
  ASSERT_FALSE(requests.empty());
  for (const auto& sample : requests) {
    const std::string& route = sample.labels.at("route");
    EXPECT_EQ(route.find("no-such-route"), std::string::npos);
    for (const std::string& id : ids) EXPECT_EQ(route.find(id), std::string::npos) << route;
  }
}

// Restarts the server with the web UI's files given by `lookup` (SetStaticAssets must
// come before Start, so the server is built by hand).
void RestartWithAssets(std::unique_ptr<Engine>& engine_out, std::unique_ptr<ApiServer>& server_out,
                       std::string& dir, BlockedRuns& blocked, StaticAssetLookup lookup) {
  char pattern[] = "/tmp/taskmill-api-test-XXXXXX";
  ASSERT_NE(mkdtemp(pattern), nullptr);
  dir = pattern;
  EngineOptions engine_options;
  engine_options.storage.url = "sqlite://" + dir + "/taskmill.db";
  engine_options.runner = false;
  engine_options.scheduler = false;
  auto engine = Engine::Open(engine_options, TestFunctions(&blocked));
  ASSERT_TRUE(engine.ok());
  engine_out = std::move(*engine);
  ApiOptions options;
  options.listen = "127.0.0.1:0";
  server_out = std::make_unique<ApiServer>(options, *engine_out);
  server_out->SetStaticAssets(std::move(lookup));
  ASSERT_TRUE(server_out->Start().ok());
}

// A lookup over a fixed table of files.
StaticAssetLookup LookupIn(const std::map<std::string, WebAsset, std::less<>>* assets) {
  return [assets](std::string_view path) -> std::optional<WebAsset> {
    auto it = assets->find(path);
    if (it == assets->end()) return std::nullopt;
    return it->second;
  };
}

TEST_F(ApiTest, StaticAssetsServeTheWebUi) {
  server_->Stop();
  TearDown();
  static const std::map<std::string, WebAsset, std::less<>> kAssets = {
      {"/index.html", {"text/html; charset=utf-8", "<html>taskmill</html>", {}}},
      {"/assets/app-1234.js", {"text/javascript", "console.log(1)", {}}}};
  ASSERT_NO_FATAL_FAILURE(RestartWithAssets(engine_, server_, dir_, blocked_, LookupIn(&kAssets)));
  client_ = std::make_unique<HttpClient>(server_->url());

  HttpResponse index = Send("GET", "/");
  EXPECT_EQ(index.status, 200);
  EXPECT_EQ(index.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(index.body, "<html>taskmill</html>");
  HttpResponse script = Send("GET", "/assets/app-1234.js");
  EXPECT_EQ(script.body, "console.log(1)");
  EXPECT_EQ(script.content_type, "text/javascript");
  // A page of the UI's own routing is the app itself.
  EXPECT_EQ(Send("GET", "/runs/0190-abc").body, "<html>taskmill</html>");
  // The API namespace never falls back to the UI.
  ExpectError(Send("GET", "/api/v1/nothing"), 404, "route_not_found");
}

// Runs `gzip ARGS` with `input` on its standard input and returns what it prints (the
// unit tests do not link zlib; gzip is on every Debian machine).
std::string RunGzip(const std::string& args, const std::string& input) {
  char path[] = "/tmp/taskmill-gzip-test-XXXXXX";
  int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  if (fd < 0) return {};
  EXPECT_EQ(write(fd, input.data(), input.size()), static_cast<ssize_t>(input.size()));
  close(fd);
  std::string command = "gzip " + args + " < " + path;
  std::string output;
  if (FILE* pipe = popen(command.c_str(), "r")) {
    char buffer[4096];
    size_t n;
    while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) output.append(buffer, n);
    EXPECT_EQ(pclose(pipe), 0) << command;
  } else {
    ADD_FAILURE() << "cannot run " << command;
  }
  unlink(path);
  return output;
}

// A response read whole from a raw connection ("Connection: close").
struct RawResponse {
  std::string header;  // lower-cased, for matching field names
  std::string body;
  bool Has(std::string_view line) const { return header.find(line) != std::string::npos; }
};

RawResponse RawGet(const std::string& url, std::string_view target,
                   std::string_view extra_headers) {
  RawConnection raw(url);
  raw.Write("GET " + std::string(target) + " HTTP/1.1\r\nHost: test\r\nConnection: close\r\n" +
            std::string(extra_headers) + "\r\n");
  std::string all = raw.ReadAll();
  size_t end = all.find("\r\n\r\n");
  RawResponse out;
  if (end == std::string::npos) {
    ADD_FAILURE() << "no complete response header: " << all;
    return out;
  }
  out.header = all.substr(0, end + 2);
  for (char& c : out.header) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  out.body = all.substr(end + 4);
  return out;
}

TEST_F(ApiTest, StaticAssetsAreGzippedForClientsThatAcceptIt) {
  server_->Stop();
  TearDown();
  std::string script;
  for (int i = 0; i < 200; ++i)
    script += "console.log('taskmill line " + std::to_string(i) + "');\n";
  static std::string plain, compressed;
  plain = script;
  compressed = RunGzip("-9 -n -c", plain);
  ASSERT_FALSE(compressed.empty());
  static const std::string kIndex = "<html>taskmill</html>";
  static std::map<std::string, WebAsset, std::less<>> assets;
  assets = {{"/index.html", {"text/html; charset=utf-8", kIndex, {}}},
            {"/assets/app-1234.js", {"text/javascript; charset=utf-8", plain, compressed}}};
  ASSERT_NO_FATAL_FAILURE(RestartWithAssets(engine_, server_, dir_, blocked_, LookupIn(&assets)));
  client_ = std::make_unique<HttpClient>(server_->url());

  RawResponse gzipped =
      RawGet(server_->url(), "/assets/app-1234.js", "Accept-Encoding: gzip, deflate, br\r\n");
  EXPECT_TRUE(gzipped.Has("http/1.1 200 ok\r\n")) << gzipped.header;
  EXPECT_TRUE(gzipped.Has("\r\ncontent-encoding: gzip\r\n")) << gzipped.header;
  EXPECT_TRUE(gzipped.Has("\r\nvary: accept-encoding\r\n")) << gzipped.header;
  EXPECT_TRUE(gzipped.Has("\r\ncontent-type: text/javascript; charset=utf-8\r\n"))
      << gzipped.header;
  EXPECT_TRUE(gzipped.Has("\r\ncache-control: public, max-age=31536000, immutable\r\n"))
      << gzipped.header;
  EXPECT_TRUE(gzipped.Has("\r\ncontent-length: " + std::to_string(compressed.size()) + "\r\n"))
      << gzipped.header;
  EXPECT_LT(compressed.size(), plain.size());
  ASSERT_GE(gzipped.body.size(), 2u);
  EXPECT_EQ(gzipped.body.substr(0, 2), "\x1f\x8b") << "the gzip magic bytes";
  EXPECT_EQ(RunGzip("-dc", gzipped.body), plain) << "decompresses to the plain file";

  // Without Accept-Encoding, or with gzip refused, the plain file (still with Vary).
  for (std::string_view headers :
       {std::string_view(), std::string_view("Accept-Encoding: identity\r\n"),
        std::string_view("Accept-Encoding: gzip;q=0, identity\r\n"),
        std::string_view("Accept-Encoding: *;q=0.5, gzip;q=0\r\n"),
        std::string_view("Accept-Encoding: br\r\n")}) {
    RawResponse response = RawGet(server_->url(), "/assets/app-1234.js", headers);
    EXPECT_FALSE(response.Has("content-encoding")) << headers << response.header;
    EXPECT_TRUE(response.Has("\r\nvary: accept-encoding\r\n")) << headers << response.header;
    EXPECT_TRUE(response.Has("\r\ncontent-type: text/javascript; charset=utf-8\r\n"));
    EXPECT_EQ(response.body, plain) << headers;
  }
  // Other spellings that allow it.
  for (std::string_view headers : {std::string_view("Accept-Encoding: *\r\n"),
                                   std::string_view("Accept-Encoding: GZIP;q=0.5\r\n"),
                                   std::string_view("Accept-Encoding: br;q=1.0, x-gzip\r\n")}) {
    RawResponse response = RawGet(server_->url(), "/assets/app-1234.js", headers);
    EXPECT_TRUE(response.Has("\r\ncontent-encoding: gzip\r\n")) << headers << response.header;
    EXPECT_EQ(response.body, compressed) << headers;
  }
  // A file without a compressed copy is answered plain, without Vary.
  RawResponse index = RawGet(server_->url(), "/runs/abc", "Accept-Encoding: gzip\r\n");
  EXPECT_FALSE(index.Has("content-encoding")) << index.header;
  EXPECT_FALSE(index.Has("vary")) << index.header;
  EXPECT_TRUE(index.Has("\r\ncache-control: no-cache\r\n")) << index.header;
  EXPECT_EQ(index.body, kIndex);
}

TEST_F(ApiTest, ConnectionsOverTheLimitAre503) {
  server_->Stop();
  TearDown();
  ApiOptions options;
  options.max_connections = 1;
  ASSERT_NO_FATAL_FAILURE(StartServer(options));
  EXPECT_EQ(SendJson("GET", "/healthz", 200)["status"].as_string(), "ok");  // holds the one slot
  HttpClient second(server_->url());
  auto response = second.Send("GET", "/healthz");
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  ExpectError(*response, 503, "unavailable");
}

TEST_F(ApiTest, ExpectContinueIsAnsweredBeforeTheBody) {
  RawConnection raw(server_->url());
  std::string body = R"({"function":"demo.echo","id":"continued"})";
  raw.Write(
      "POST /api/v1/runs HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
      "Expect: 100-continue\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n");
  EXPECT_EQ(raw.ReadHeader(), "HTTP/1.1 100 Continue\r\n\r\n");
  raw.Write(body);
  EXPECT_TRUE(raw.ReadHeader().starts_with("HTTP/1.1 201 Created\r\n"));

  // Over the limit, the body is refused before it is sent.
  RawConnection big(server_->url());
  big.Write(
      "POST /api/v1/runs HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
      "Expect: 100-continue\r\nContent-Length: 100000000\r\n\r\n");
  std::string refused = big.ReadAll();
  EXPECT_TRUE(refused.starts_with("HTTP/1.1 413 Payload Too Large\r\n")) << refused;
  EXPECT_NE(refused.find(R"("code":"too_large")"), std::string::npos) << refused;
}

TEST_F(ApiTest, HeadAnswersTheHeaderOnly) {
  RawConnection raw(server_->url());
  raw.Write("HEAD /healthz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
  std::string all = raw.ReadAll();
  EXPECT_TRUE(all.starts_with("HTTP/1.1 200 OK\r\n")) << all;
  EXPECT_NE(all.find("Content-Length: 15\r\n"), std::string::npos) << all;
  EXPECT_TRUE(all.ends_with("\r\n\r\n")) << all;  // no body
}

TEST_F(ApiTest, SlowAndOversizedRequestsAreRefused) {
  server_->Stop();
  TearDown();
  ApiOptions options;
  options.request_timeout = std::chrono::milliseconds(200);
  options.max_header = 2048;
  ASSERT_NO_FATAL_FAILURE(StartServer(options));

  // A request that starts and never ends (slow loris) gets 408 and is closed.
  RawConnection slow(server_->url());
  slow.Write("GET /healthz HTTP/1.1\r\nHost: te");
  std::string answer = slow.ReadAll();
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 408 Request Timeout\r\n")) << answer;
  EXPECT_NE(answer.find(R"("code":"timeout")"), std::string::npos) << answer;

  RawConnection huge_header(server_->url());
  huge_header.Write("GET /healthz HTTP/1.1\r\nHost: test\r\nX-Filler: " + std::string(4096, 'x') +
                    "\r\n\r\n");
  answer = huge_header.ReadAll();
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 413 Payload Too Large\r\n")) << answer;

  RawConnection garbage(server_->url());
  garbage.Write("NOT HTTP AT ALL\r\n\r\n");
  answer = garbage.ReadAll();
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 400 Bad Request\r\n")) << answer;
  EXPECT_NE(answer.find(R"("code":"bad_request")"), std::string::npos) << answer;
}

TEST_F(ApiTest, ListenErrorsNameTheAddress) {
  std::string url = server_->url();
  std::string address = url.substr(std::string("http://").size());
  ApiOptions options;
  options.listen = address;
  ApiServer second(options, *engine_);
  Status status = second.Start();
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.message(), "cannot listen on " + address + ": address already in use");

  options.listen = "localhost-no-port";
  ApiServer bad(options, *engine_);
  EXPECT_TRUE(bad.Start().IsInvalidArgument());
}

TEST_F(ApiTest, ClientReportsAnUnreachableServer) {
  std::string url = server_->url();
  client_.reset();
  server_->Stop();
  HttpClient client(url);
  auto response = client.Get("/healthz");
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(response.status().message(), "cannot reach taskmill at " + url +
                                             ": connection refused — is `taskmill serve` running?");
}

TEST_F(ApiTest, ClientCarriesTheApiError) {
  auto response = client_->Post("/api/v1/runs", json::parse(R"({"function":"nope.x"})"));
  ASSERT_FALSE(response.ok());
  auto api = cli::ApiErrorOf(response.status());
  ASSERT_TRUE(api.has_value());
  EXPECT_EQ(api->http_status, 422);
  EXPECT_EQ(api->code, "unknown_function");
  EXPECT_FALSE(cli::ApiErrorOf(Status::Unavailable("x")).has_value());
}

// ---- the dashboard's routes --------------------------------------------------------

// Finished runs in every point of GET /api/v1/stats/throughput (`status`: that status
// only).
int64_t SumPoints(const json::object& throughput, std::string_view status = "finished") {
  int64_t sum = 0;
  for (const json::value& point : throughput.at("points").as_array()) {
    sum += point.as_object().at(status).as_int64();
  }
  return sum;
}

TEST_F(ApiTest, DashboardRoutesReportWhoThroughputAndTheScheduler) {
  json::object me = SendJson("GET", "/api/v1/whoami", 200);
  EXPECT_TRUE(me["token"].is_null()) << "no tokens: the anonymous admin";
  EXPECT_EQ(me["account"].as_string(), "");
  EXPECT_TRUE(me["admin"].as_bool());
  EXPECT_FALSE(me["auth_required"].as_bool());

  json::object empty = SendJson("GET", "/api/v1/stats/throughput?window=600&step=60", 200);
  EXPECT_EQ(empty["step"].as_int64(), 60);
  EXPECT_EQ(empty["window"].as_int64(), 600);
  EXPECT_TRUE(empty["since"].is_string());
  ASSERT_EQ(empty["points"].as_array().size(), 10u);
  const json::object& point = empty["points"].as_array()[0].as_object();
  for (std::string_view key : {"at", "finished", "completed", "partial", "failed", "lost",
                               "stopped", "did_not_start", "unknown_task"}) {
    EXPECT_TRUE(point.contains(key)) << key;
  }
  EXPECT_EQ(SumPoints(empty), 0);

  std::vector<std::string> ids;
  for (std::string_view body : {R"({"function":"demo.echo"})", R"({"function":"demo.echo"})",
                                R"({"function":"demo.fail"})"}) {
    ids.emplace_back(CreateRun(body)["id"].as_string());
  }
  for (const std::string& id : ids) WaitFinal(id);
  // The event that feeds the ring is published just after the commit a reader may
  // already see: poll within the bound.
  json::object throughput;
  auto deadline = std::chrono::steady_clock::now() + kBound;
  do {
    throughput = SendJson("GET", "/api/v1/stats/throughput", 200);  // 3600 s by 60 s
  } while (SumPoints(throughput) < 3 && std::chrono::steady_clock::now() < deadline);
  EXPECT_EQ(throughput["points"].as_array().size(), 60u);
  EXPECT_EQ(SumPoints(throughput), 3);
  EXPECT_EQ(SumPoints(throughput, "completed"), 2);
  EXPECT_EQ(SumPoints(throughput, "failed"), 1);

  for (std::string_view bad : {"?window=0", "?window=3601", "?step=0", "?window=60&step=7",
                               "?window=60&step=120", "?window=abc", "?span=60"}) {
    ExpectError(Send("GET", "/api/v1/stats/throughput" + std::string(bad)), 400,
                "invalid_argument");
  }

  // No scheduler role here, and no other node holds the lease.
  json::object scheduler = SendJson("GET", "/api/v1/scheduler", 200);
  EXPECT_TRUE(scheduler["leader"].is_null());
  EXPECT_TRUE(scheduler["lease_until"].is_null());
  EXPECT_FALSE(scheduler["is_leader"].as_bool());
  EXPECT_TRUE(scheduler["lag_seconds"].is_null());
  EXPECT_EQ(scheduler["tasks"].as_int64(), 0);
  // Another node takes the lease: it is named, and this node does not lead.
  ASSERT_TRUE(engine_->storage()
                  .LeaderAttemptElect("scheduler", "node-b", engine_->clock().Now(),
                                      std::chrono::seconds(30))
                  .value());
  scheduler = SendJson("GET", "/api/v1/scheduler", 200);
  EXPECT_EQ(scheduler["leader"], json::value("node-b"));
  EXPECT_TRUE(scheduler["lease_until"].is_string());
  EXPECT_FALSE(scheduler["is_leader"].as_bool());
}

// ---- tokens, accounts and live events ---------------------------------------------

class AuthTest : public ApiTest {
 protected:
  // Makes a token in storage, as `taskmill token create` does.
  std::string MakeToken(const std::string& account, bool admin = false) {
    std::string secret;
    auto token =
        CreateToken(engine_->storage(), "", account, admin, engine_->clock().Now(), &secret);
    EXPECT_TRUE(token.ok()) << token.status().ToString();
    return secret;
  }
  HttpResponse SendAs(const std::string& token, std::string_view method, std::string_view target,
                      std::string_view body = {}) {
    HttpClient client(server_->url());
    client.set_token(token);
    auto response = client.Send(method, target, body, "application/json");
    EXPECT_TRUE(response.ok()) << response.status().ToString();
    return response.ok() ? *response : HttpResponse{};
  }
  json::object JsonAs(const std::string& token, std::string_view method, std::string_view target,
                      int expected_status, std::string_view body = {}) {
    HttpResponse response = SendAs(token, method, target, body);
    EXPECT_EQ(response.status, expected_status) << method << " " << target << ": " << response.body;
    if (response.body.empty()) return {};
    json::value value = json::parse(response.body);
    return value.is_object() ? value.get_object() : json::object();
  }
};

TEST_F(AuthTest, EveryApiRouteNeedsATokenOnceOneExists) {
  SendJson("GET", "/api/v1/stats", 200);  // no tokens yet: loopback answers everyone
  std::string admin = MakeToken("", /*admin=*/true);

  HttpResponse missing = Send("GET", "/api/v1/stats");
  ExpectError(missing, 401, "unauthorized");
  EXPECT_EQ(missing.status, 401);
  ExpectError(SendAs("tm_not-a-real-token", "GET", "/api/v1/runs"), 401, "unauthorized");
  ExpectError(SendAs(admin.substr(0, admin.size() - 1), "GET", "/api/v1/runs"), 401,
              "unauthorized");
  JsonAs(admin, "GET", "/api/v1/stats", 200);
  // Health, metrics-style probes and the UI's files stay public.
  EXPECT_EQ(Send("GET", "/healthz").status, 200);
  // A rejected request stores nothing.
  int64_t before =
      JsonAs(admin, "GET", "/api/v1/stats", 200)["statuses"].as_object()["total"].as_int64();
  ExpectError(Send("POST", "/api/v1/runs", R"({"function":"demo.echo"})"), 401, "unauthorized");
  EXPECT_EQ(JsonAs(admin, "GET", "/api/v1/stats", 200)["statuses"].as_object()["total"].as_int64(),
            before);
}

TEST_F(AuthTest, AnAccountSeesAndActsOnItsOwnRunsOnly) {
  std::string acme = MakeToken("acme");
  std::string globex = MakeToken("globex");
  std::string admin = MakeToken("ops", /*admin=*/true);

  json::object run =
      JsonAs(acme, "POST", "/api/v1/runs", 201, R"({"function":"demo.block","queue":"iso"})");
  std::string id(run["id"].as_string());
  EXPECT_EQ(run["account_id"].as_string(), "acme");
  EXPECT_EQ(run["auth_account_id"].as_string(), "acme");
  ASSERT_TRUE(blocked_.WaitStarted(id));

  // To globex the run does not exist, on every route that names it.
  for (auto [method, target] : std::vector<std::pair<std::string, std::string>>{
           {"GET", "/api/v1/runs/" + id},
           {"GET", "/api/v1/runs/" + id + "?wait=1"},
           {"POST", "/api/v1/runs/" + id + "/cancel"},
           {"POST", "/api/v1/runs/" + id + "/retry"},
           {"DELETE", "/api/v1/runs/" + id},
           {"GET", "/api/v1/runs/" + id + "/input.csv"},
           {"GET", "/api/v1/runs/" + id + "/output.csv"}}) {
    ExpectError(SendAs(globex, method, target), 404, "not_found");
  }
  EXPECT_TRUE(JsonAs(globex, "GET", "/api/v1/runs?queue=iso", 200)["runs"].as_array().empty());
  ExpectError(SendAs(globex, "GET", "/api/v1/runs?account=acme"), 403, "forbidden");
  ExpectError(SendAs(globex, "POST", "/api/v1/runs?account=acme", R"({"function":"demo.echo"})"),
              403, "forbidden");
  // Steering the server is for admins.
  ExpectError(SendAs(acme, "POST", "/api/v1/queues/iso/pause"), 403, "forbidden");
  ExpectError(SendAs(acme, "GET", "/api/v1/tokens"), 403, "forbidden");

  // acme sees its run; the admin sees every account's, and acts for any.
  EXPECT_EQ(JsonAs(acme, "GET", "/api/v1/runs?queue=iso", 200)["runs"].as_array().size(), 1u);
  EXPECT_EQ(JsonAs(admin, "GET", "/api/v1/runs?account=acme", 200)["runs"].as_array().size(), 1u);
  EXPECT_TRUE(JsonAs(admin, "GET", "/api/v1/runs?account=globex", 200)["runs"].as_array().empty());
  json::object for_globex = JsonAs(admin, "POST", "/api/v1/runs?account=globex", 201,
                                   R"({"function":"demo.echo","queue":"iso"})");
  EXPECT_EQ(for_globex["account_id"].as_string(), "globex");
  EXPECT_EQ(for_globex["auth_account_id"].as_string(), "ops") << "the admin token's account";
  EXPECT_EQ(JsonAs(globex, "GET", "/api/v1/runs?queue=iso", 200)["runs"].as_array().size(), 1u);

  json::object cancelled = JsonAs(acme, "POST", "/api/v1/runs/" + id + "/cancel", 200);
  EXPECT_EQ(cancelled["status"].as_string(), "stopped");
}

TEST_F(AuthTest, TokenLifecycleThroughTheApi) {
  std::string admin = MakeToken("", /*admin=*/true);
  json::object made =
      JsonAs(admin, "POST", "/api/v1/tokens", 201, R"({"name":"acme-ci","account":"acme"})");
  EXPECT_EQ(made["name"].as_string(), "acme-ci");
  std::string secret(made["token"].as_string());
  EXPECT_TRUE(secret.starts_with("tm_"));
  JsonAs(secret, "GET", "/api/v1/runs", 200);

  json::object listed = JsonAs(admin, "GET", "/api/v1/tokens", 200);
  std::string text = json::serialize(listed);
  EXPECT_NE(text.find("acme-ci"), std::string::npos);
  EXPECT_EQ(text.find(secret), std::string::npos) << "secrets are never listed";
  EXPECT_EQ(text.find(HashTokenSecret(secret)), std::string::npos) << "nor their hashes";

  ExpectError(SendAs(admin, "POST", "/api/v1/tokens", R"({"name":"acme-ci","account":"acme"})"),
              409, "conflict");
  ExpectError(SendAs(admin, "POST", "/api/v1/tokens", R"({"nmae":"x"})"), 422, "invalid_argument");
  EXPECT_EQ(SendAs(admin, "DELETE", "/api/v1/tokens/acme-ci").status, 204);
  ExpectError(SendAs(secret, "GET", "/api/v1/runs"), 401, "unauthorized");
  ExpectError(SendAs(admin, "DELETE", "/api/v1/tokens/acme-ci"), 404, "not_found");
}

TEST_F(AuthTest, CommandFunctionsAreNotARemoteShell) {
  // Even the anonymous admin of a loopback server without api.allow_command_tasks.
  int64_t before = TotalRuns();
  ExpectError(Send("POST", "/api/v1/runs", R"({"function":"task.shell","args":["rm","-rf","/"]})"),
              403, "forbidden");
  EXPECT_EQ(TotalRuns(), before);
}

TEST_F(AuthTest, APublicAddressNeedsTokens) {
  ApiOptions options;
  options.listen = "0.0.0.0:0";
  ApiServer open(options, *engine_);
  Status refused = open.Start();
  EXPECT_EQ(refused.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.message().find("without API tokens"), std::string::npos) << refused.message();

  std::string admin = MakeToken("", /*admin=*/true);
  ApiServer guarded(options, *engine_);
  ASSERT_TRUE(guarded.Start().ok());
  HttpClient client(guarded.url());
  auto anonymous = client.Send("GET", "/api/v1/runs");
  ASSERT_TRUE(anonymous.ok());
  EXPECT_EQ(anonymous->status, 401);
  guarded.Stop();
}

// Reads the event stream until `needle` arrives (bounded by the socket's timeout).
std::string ReadEventsUntil(RawConnection& raw, std::string_view needle, std::string* seen) {
  while (seen->find(needle) == std::string::npos) {
    std::string piece = raw.ReadSome();
    if (piece.empty()) break;
    *seen += piece;
  }
  return *seen;
}

TEST_F(AuthTest, EventsStreamWhatTheTokenMaySeeAndResume) {
  std::string acme = MakeToken("acme");
  std::string admin = MakeToken("", /*admin=*/true);
  client_->set_token(admin);
  RawConnection raw(server_->url());
  raw.Write("GET /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + acme + "\r\n\r\n");
  std::string header = raw.ReadHeader();
  ASSERT_NE(header.find("200 OK"), std::string::npos) << header;
  EXPECT_NE(header.find("text/event-stream"), std::string::npos) << header;

  // Wait until the stream is registered: a run created before would not be sent.
  for (int i = 0; i < 1000 && server_->counters().event_streams == 0; ++i) {
    SendJson("GET", "/healthz", 200);
  }
  json::object other =
      JsonAs(admin, "POST", "/api/v1/runs?account=globex", 201, R"({"function":"demo.echo"})");
  json::object own = JsonAs(acme, "POST", "/api/v1/runs", 201, R"({"function":"demo.echo"})");
  std::string own_id(own["id"].as_string());
  WaitFinal(std::string(other["id"].as_string()));
  WaitFinal(own_id);
  JsonAs(admin, "POST", "/api/v1/runs?account=globex", 201, R"({"function":"demo.echo"})");

  std::string seen;
  ReadEventsUntil(raw, "\"status\":\"completed\"", &seen);
  EXPECT_NE(seen.find("event: run.created"), std::string::npos) << seen;
  EXPECT_NE(seen.find("event: run.finished"), std::string::npos) << seen;
  EXPECT_NE(seen.find(own_id), std::string::npos) << seen;
  EXPECT_EQ(seen.find(std::string(other["id"].as_string())), std::string::npos)
      << "globex's run leaked to acme:\n"
      << seen;

  // Resume after the first event: the ones after it come again at once.
  auto first_id = seen.substr(seen.find("id: ") + 4);
  first_id = first_id.substr(0, first_id.find('\n'));
  RawConnection again(server_->url());
  again.Write("GET /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + acme +
              "\r\nLast-Event-ID: " + first_id + "\r\n\r\n");
  ASSERT_NE(again.ReadHeader().find("200 OK"), std::string::npos);
  std::string replay;
  ReadEventsUntil(again, "run.finished", &replay);
  EXPECT_NE(replay.find("event: run.finished"), std::string::npos) << replay;
  EXPECT_EQ(replay.find("id: " + first_id + "\n"), std::string::npos) << "resumes after it";
}

TEST_F(AuthTest, WhoAmIAndThroughputFollowTheToken) {
  std::string acme = MakeToken("acme");
  std::string admin = MakeToken("ops", /*admin=*/true);
  ExpectError(Send("GET", "/api/v1/whoami"), 401, "unauthorized");
  json::object me = JsonAs(acme, "GET", "/api/v1/whoami", 200);
  EXPECT_TRUE(me["token"].is_string());
  EXPECT_FALSE(me["token"].as_string().empty());
  EXPECT_EQ(me["account"].as_string(), "acme");
  EXPECT_FALSE(me["admin"].as_bool());
  EXPECT_TRUE(me["auth_required"].as_bool());
  EXPECT_TRUE(JsonAs(admin, "GET", "/api/v1/whoami", 200)["admin"].as_bool());

  // One run of acme's, one of globex's: acme counts its own only, the admin both.
  client_->set_token(admin);
  json::object own = JsonAs(acme, "POST", "/api/v1/runs", 201, R"({"function":"demo.echo"})");
  json::object other =
      JsonAs(admin, "POST", "/api/v1/runs?account=globex", 201, R"({"function":"demo.echo"})");
  WaitFinal(std::string(own["id"].as_string()));
  WaitFinal(std::string(other["id"].as_string()));
  json::object all;
  auto deadline = std::chrono::steady_clock::now() + kBound;
  do {
    all = JsonAs(admin, "GET", "/api/v1/stats/throughput", 200);
  } while (SumPoints(all) < 2 && std::chrono::steady_clock::now() < deadline);
  EXPECT_EQ(SumPoints(all), 2);
  EXPECT_EQ(SumPoints(JsonAs(acme, "GET", "/api/v1/stats/throughput", 200)), 1);
}

// A self-signed certificate for localhost and 127.0.0.1 at `cert`, its key at `key`
// (made with the openssl command, as a user would).
bool MakeCertificate(const std::string& cert, const std::string& key,
                     const std::string& name = "localhost") {
  std::string make = "openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=" + name +
                     " -days 1 -addext subjectAltName=DNS:" + name + ",IP:127.0.0.1 -keyout " +
                     key + " -out " + cert + " 2>/dev/null";
  return std::system(make.c_str()) == 0;
}

// An API server on a free loopback port speaking HTTPS with `cert` and `key`.
std::unique_ptr<ApiServer> StartHttps(Engine& engine, const std::string& cert,
                                      const std::string& key) {
  ApiOptions options;
  options.listen = "127.0.0.1:0";
  options.tls_cert = cert;
  options.tls_key = key;
  auto server = std::make_unique<ApiServer>(options, engine);
  if (!server->Start().ok() || !server->url().starts_with("https://127.0.0.1:")) return nullptr;
  return server;
}

TEST_F(AuthTest, HttpsWithTheConfiguredCertificate) {
  std::string cert = dir_ + "/cert.pem", key = dir_ + "/key.pem";
  ASSERT_TRUE(MakeCertificate(cert, key)) << "the openssl command makes a test certificate";
  std::unique_ptr<ApiServer> server = StartHttps(*engine_, cert, key);
  ASSERT_TRUE(server);
  ApiServer& https = *server;

  namespace ssl = boost::asio::ssl;
  boost::asio::io_context ioc;
  ssl::context context(ssl::context::tls_client);
  context.set_verify_mode(ssl::verify_none);  // self-signed
  ssl::stream<boost::asio::ip::tcp::socket> stream(ioc, context);
  auto port = https.url().substr(https.url().rfind(':') + 1);
  boost::asio::ip::tcp::resolver resolver(ioc);
  boost::asio::connect(stream.lowest_layer(), resolver.resolve("127.0.0.1", port));
  stream.handshake(ssl::stream_base::client);
  std::string request = "GET /api/v1/stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  boost::asio::write(stream, boost::asio::buffer(request));
  std::string response;
  boost::system::error_code ec;
  boost::asio::read(stream, boost::asio::dynamic_buffer(response), ec);
  EXPECT_TRUE(response.starts_with("HTTP/1.1 200 OK")) << response;
  EXPECT_NE(response.find("\"statuses\""), std::string::npos) << response;

  ApiOptions options;
  options.listen = "127.0.0.1:0";
  options.tls_cert = cert;
  options.tls_key = key;
  ApiOptions half = options;
  half.tls_key.clear();
  EXPECT_TRUE(ApiServer(half, *engine_).Start().IsInvalidArgument());
  ApiOptions missing = options;
  missing.tls_cert = dir_ + "/absent.pem";
  Status refused = ApiServer(missing, *engine_).Start();
  EXPECT_TRUE(refused.IsInvalidArgument());
  EXPECT_NE(refused.message().find("absent.pem"), std::string::npos) << refused.message();
}

// The CLI's clients over https: verified against the CA file, refused with a clear
// error (and the exit status of an unreachable server) against another CA.
TEST_F(AuthTest, CliClientsSpeakHttpsVerifiedAgainstTheCaFile) {
  std::string cert = dir_ + "/cert.pem", key = dir_ + "/key.pem";
  std::string other = dir_ + "/other.pem", other_key = dir_ + "/other-key.pem";
  ASSERT_TRUE(MakeCertificate(cert, key)) << "the openssl command makes test certificates";
  ASSERT_TRUE(MakeCertificate(other, other_key, "elsewhere"));
  std::unique_ptr<ApiServer> server = StartHttps(*engine_, cert, key);
  ASSERT_TRUE(server);
  const std::string url = server->url();
  struct RestoreCaFile {
    ~RestoreCaFile() { unsetenv("TASKMILL_CA_FILE"); }
  } restore;

  setenv("TASKMILL_CA_FILE", cert.c_str(), 1);
  HttpClient client(url);
  auto created = client.Post("/api/v1/runs", json::parse(R"({"function":"demo.echo"})"));
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  std::string id(created->as_object().at("id").as_string());
  auto fetched = client.Get("/api/v1/runs/" + id);  // the same kept-alive connection
  ASSERT_TRUE(fetched.ok()) << fetched.status().ToString();
  EXPECT_EQ(fetched->as_object().at("id").as_string(), id);
  // The streaming connection (watch, bulk uploads) as well.
  auto streaming = cli::StreamingConnection::Open(url, 10);
  ASSERT_TRUE(streaming.ok()) << streaming.status().ToString();
  namespace http = boost::beast::http;
  http::request<http::empty_body> request{http::verb::get,
                                          (*streaming)->Target("/api/v1/runs/" + id), 11};
  request.set(http::field::host, (*streaming)->HostHeader());
  boost::system::error_code ec;
  http::write((*streaming)->stream(), request, ec);
  ASSERT_FALSE(ec) << ec.message();
  http::response<http::string_body> response;
  http::read((*streaming)->stream(), (*streaming)->buffer(), response, ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(response.result_int(), 200u);
  EXPECT_NE(response.body().find(id), std::string::npos) << response.body();

  // Another CA: refused, saying why, with the exit status of an unreachable server.
  setenv("TASKMILL_CA_FILE", other.c_str(), 1);
  auto refused = HttpClient(url).Get("/api/v1/stats");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable) << refused.status().ToString();
  EXPECT_NE(refused.status().message().find("certificate was not accepted"), std::string::npos)
      << refused.status().message();
  EXPECT_NE(refused.status().message().find(other), std::string::npos)
      << refused.status().message();
  EXPECT_EQ(cli::ReportFailure(refused.status()), cli::kExitServer);
  auto refused_stream = cli::StreamingConnection::Open(url, 10);
  ASSERT_FALSE(refused_stream.ok());
  EXPECT_NE(refused_stream.status().message().find("certificate was not accepted"),
            std::string::npos)
      << refused_stream.status().message();

  // The system's store alone does not know a self-signed certificate: the error
  // says how to pass one.
  unsetenv("TASKMILL_CA_FILE");
  auto unknown = HttpClient(url).Get("/api/v1/stats");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("--ca-file"), std::string::npos)
      << unknown.status().message();

  // A CA file that cannot be read is a usage error naming it.
  std::string absent = dir_ + "/absent.pem";
  setenv("TASKMILL_CA_FILE", absent.c_str(), 1);
  auto unreadable = HttpClient(url).Get("/api/v1/stats");
  ASSERT_FALSE(unreadable.ok());
  EXPECT_TRUE(unreadable.status().IsInvalidArgument()) << unreadable.status().ToString();
  EXPECT_NE(unreadable.status().message().find(absent), std::string::npos);
  EXPECT_NE(cli::ReportFailure(unreadable.status()), cli::kExitOk);
}

}  // namespace
}  // namespace taskmill::api
