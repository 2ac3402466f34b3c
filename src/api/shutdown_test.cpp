// The API while the server shuts down: long-polls still waiting (a run's `?wait=`, a
// remote runner's take) and new requests are answered 503 `unavailable` with
// Retry-After, never dropped without an answer. A real Engine on SQLite in a
// temporary directory, the ApiServer on port 0, raw HTTP over Beast to see headers.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <taskmill/engine.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <filesystem>
#include <thread>

#include "api/server.h"

namespace taskmill::api {
namespace {
namespace json = boost::json;
namespace net = boost::asio;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;

constexpr auto kBound = std::chrono::seconds(30);  // generous bound for every wait

struct Answer {
  int status = 0;
  std::string retry_after;
  std::string code;   // error.code of the body, when it is an error
  std::string error;  // what went wrong on the client side, if anything
};

// One request on a new connection; the answer whatever its status.
Answer Request(const std::string& url, http::verb method, const std::string& target) {
  Answer answer;
  try {
    auto colon = url.rfind(':');
    std::string port = url.substr(colon + 1);
    net::io_context ioc;
    tcp::resolver resolver(ioc);
    tcp::socket socket(ioc);
    net::connect(socket, resolver.resolve("127.0.0.1", port));
    http::request<http::string_body> request{method, target, 11};
    request.set(http::field::host, "127.0.0.1");
    if (method == http::verb::post) request.set(http::field::content_type, "application/json");
    request.prepare_payload();
    http::write(socket, request);
    boost::beast::flat_buffer buffer;
    http::response<http::string_body> response;
    http::read(socket, buffer, response);
    answer.status = response.result_int();
    answer.retry_after = std::string(response[http::field::retry_after]);
    boost::system::error_code ec;
    json::value body = json::parse(response.body(), ec);
    if (!ec && body.is_object() && body.as_object().contains("error")) {
      answer.code = std::string(body.at("error").at("code").as_string());
    }
  } catch (const std::exception& e) {
    answer.error = e.what();
  }
  return answer;
}

class ShutdownTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/taskmill-shutdown-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    auto registry = std::make_shared<FunctionRegistry>();
    ASSERT_TRUE(registry->Register("demo.echo", [](RunContext&) {}, {.name = "demo.echo"}).ok());
    ASSERT_TRUE(RegisterRemoteFunction(*registry, {.name = "py.add", .queue = "remote"}).ok());
    EngineOptions engine_options;
    engine_options.storage.url = "sqlite://" + dir_ + "/taskmill.db";
    engine_options.storage.url += "?synchronous=normal";
    // No runner: a run stays pending, so a long-poll on it waits.
    engine_options.runner = false;
    engine_options.scheduler = false;
    auto engine = Engine::Open(engine_options, registry);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    engine_ = std::move(*engine);
    ASSERT_TRUE(engine_->Start().ok());
    ApiOptions options;
    options.listen = "127.0.0.1:0";
    // Far beyond every bound: a wait that ends was ended by the shutdown.
    options.wait_recheck = std::chrono::hours(1);
    server_ = std::make_unique<ApiServer>(options, *engine_);
    ASSERT_TRUE(server_->Start().ok());
  }

  void TearDown() override {
    if (server_) server_->Stop();
    if (engine_) engine_->Stop();
    server_.reset();
    engine_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  std::string CreatePendingRun() {
    EnqueueRequest request;
    request.function = "demo.echo";
    auto run = engine_->Enqueue(request);
    EXPECT_TRUE(run.ok()) << run.status().ToString();
    return run.ok() ? run->id : "";
  }

  template <typename Counter>
  void WaitUntilPending(Counter counter) {
    auto deadline = std::chrono::steady_clock::now() + kBound;
    while (counter() == 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();
    }
    ASSERT_EQ(counter(), 1u);
  }

  static void ExpectUnavailable(const Answer& answer) {
    EXPECT_EQ(answer.error, "");
    EXPECT_EQ(answer.status, 503);
    EXPECT_EQ(answer.code, "unavailable");
    EXPECT_FALSE(answer.retry_after.empty());
  }

  std::string dir_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<ApiServer> server_;
};

TEST_F(ShutdownTest, RunLongPollWaitingAtShutdownIsAnswered503) {
  std::string id = CreatePendingRun();
  Answer polled;
  std::thread poller([&] {
    polled = Request(server_->url(), http::verb::get, "/api/v1/runs/" + id + "?wait=60");
  });
  WaitUntilPending([&] { return server_->counters().pending_waits; });
  server_->Stop();
  poller.join();
  ExpectUnavailable(polled);
}

TEST_F(ShutdownTest, RemoteTakeWaitingAtShutdownIsAnswered503) {
  Answer taken;
  std::thread worker([&] {
    taken = Request(server_->url(), http::verb::post,
                    "/api/v1/runners/worker-1/take?queue=remote&max=1&wait=60");
  });
  WaitUntilPending([&] { return server_->counters().pending_takes; });
  server_->Stop();
  worker.join();
  ExpectUnavailable(taken);
}

TEST_F(ShutdownTest, RequestsDuringShutdownAreAnswered503) {
  std::string id = CreatePendingRun();
  server_->BeginShutdown();
  ExpectUnavailable(Request(server_->url(), http::verb::get, "/healthz"));
  ExpectUnavailable(Request(server_->url(), http::verb::get, "/api/v1/runs/" + id));
  ExpectUnavailable(Request(server_->url(), http::verb::get, "/api/v1/runs/" + id + "?wait=60"));
}

}  // namespace
}  // namespace taskmill::api
