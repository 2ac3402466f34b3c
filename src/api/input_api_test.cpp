// Inputs that must not hurt, end to end through the HTTP API: a real Engine on SQLite
// in a temporary directory (no runner or scheduler: tests drive attempts themselves
// on a ManualClock), the ApiServer on port 0 and the CLI's HttpClient.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <taskmill/bulk.h>
#include <taskmill/engine.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "api/server.h"
#include "api/utf8_text.h"
#include "cli/client.h"
#include "runner/runner.h"
#include "storage/conformance/storage_conformance.h"

namespace taskmill::api {
namespace {
namespace json = boost::json;
namespace http = boost::beast::http;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

class InputApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    BulkOptions options;
    options.max_record_size = 1024;
    options.progress_every = 10;
    runtime_ = std::make_shared<BulkRuntime>(options);
    auto registry = std::make_shared<FunctionRegistry>();
    ASSERT_TRUE(
        registry->Register("demo.echo", [](RunContext& ctx) { ctx.SetResult(ctx.args()); }).ok());
    BulkFunction import;
    import.info.name = "numbers.import";
    import.info.input = "csv";
    import.info.mandatory = {"e164"};
    import.info.output_header = {"attempt"};
    import.progress_every = 10;
    import.call = [this](const BulkCall& call) { { std::lock_guard lock(mu_);
    calls_[call.context.attempt()].push_back(call.row->number());
  }
  if (call.context.attempt() == 1 && call.row->number() == freeze_at_) {
    frozen_.set_value();
    release_.get_future().wait();
  }
  return BulkResult::Merge({{"attempt", std::to_string(call.context.attempt())}});
};
ASSERT_TRUE(RegisterBulkFunction(*registry, runtime_, import).ok());

EngineOptions engine_options;
engine_options.storage.url = (dir_.path() / "taskmill.db").string();
engine_options.storage.url += "?synchronous=normal";
engine_options.clock = &clock_;
engine_options.runner = false;
engine_options.scheduler = false;
auto engine = Engine::Open(engine_options, registry);
ASSERT_TRUE(engine.ok()) << engine.status().ToString();
engine_ = std::move(*engine);
runtime_->Attach(*engine_);
ASSERT_TRUE(engine_->Start().ok());
ApiOptions api_options;
api_options.listen = "127.0.0.1:0";
server_ = std::make_unique<ApiServer>(api_options, *engine_);
ASSERT_TRUE(server_->Start().ok());
client_ = std::make_unique<cli::HttpClient>(server_->url());
}  // namespace

void TearDown() override {
  client_.reset();
  if (server_) server_->Stop();
  if (engine_) engine_->Stop();
}

cli::HttpResponse Send(const std::string& method, const std::string& target,
                       const std::string& body = "",
                       const std::string& content_type = "application/json") {
  auto response = client_->Send(method, target, body, content_type);
  EXPECT_TRUE(response.ok()) << response.status().ToString();
  return response.ok() ? *response : cli::HttpResponse{};
}
cli::HttpResponse PostCsv(const std::string& target, const std::string& csv) {
  return Send("POST", target, csv, "text/csv");
}

static json::value Error(const cli::HttpResponse& response) {
  boost::system::error_code ec;
  json::value v = json::parse(response.body, ec);
  if (ec || !v.is_object() || !v.get_object().contains("error")) return json::object();
  return v.at("error");
}
static std::string Detail(const cli::HttpResponse& response, std::string_view key) {
  json::value error = Error(response);
  const json::value* v =
      error.is_object() ? error.at("details").as_object().if_contains(key) : nullptr;
  return v && v->is_string() ? std::string(v->get_string()) : "";
}
static std::string Code(const cli::HttpResponse& response) {
  json::value error = Error(response);
  return error.is_object() ? std::string(error.at("code").as_string()) : "";
}

int64_t RunCount() { return engine_->storage().RunStats()->total; }

// The response head of `target`, read with a plain HTTP client (HttpClient keeps
// only the body).
http::response<http::string_body> Head(const std::string& target) {
  std::string hostport = server_->url().substr(std::string("http://").size());
  auto colon = hostport.rfind(':');
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket socket(ioc);
  boost::asio::ip::tcp::resolver resolver(ioc);
  boost::asio::connect(socket,
                       resolver.resolve(hostport.substr(0, colon), hostport.substr(colon + 1)));
  http::request<http::empty_body> request{http::verb::get, target, 11};
  request.set(http::field::host, hostport);
  http::write(socket, request);
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(socket, buffer, response);
  return response;
}

std::string Csv(int rows) {
  std::string csv = "e164\n";
  for (int i = 1; i <= rows; ++i) csv += "+1555" + std::to_string(1000000 + i) + "\n";
  return csv;
}

conformance::TempDir dir_;  // first: removed after the engine closed the database
ManualClock clock_{conformance::kT0};
std::shared_ptr<BulkRuntime> runtime_;
std::unique_ptr<Engine> engine_;
std::unique_ptr<ApiServer> server_;
std::unique_ptr<cli::HttpClient> client_;

std::mutex mu_;
std::map<int, std::vector<int64_t>> calls_;  // attempt → rows it was called for
int64_t freeze_at_ = -1;                     // attempt 1 blocks at this row
std::promise<void> frozen_;
std::promise<void> release_;
};  // namespace taskmill::api

TEST_F(InputApiTest, NumbersThatOverflowADoubleAreRefusedWith422NamingTheField) {
  auto run = Send("POST", "/api/v1/runs", R"({"function":"demo.echo","args":[1e400]})");
  EXPECT_EQ(run.status, 422) << run.body;
  EXPECT_EQ(Detail(run, "field"), "args[0]");
  EXPECT_THAT(run.body, HasSubstr("out of range"));

  auto batch = Send("POST", "/api/v1/runs:batch",
                    R"({"runs":[{"function":"demo.echo","data":{"x":-1e999}}]})");
  EXPECT_EQ(batch.status, 422) << batch.body;
  EXPECT_EQ(Detail(batch, "field"), "runs[0].data.x");

  auto upload = PostCsv("/api/v1/runs?function=numbers.import&args=%5B1e400%5D", Csv(1));
  EXPECT_EQ(upload.status, 400) << upload.body;
  EXPECT_EQ(Detail(upload, "parameter"), "args");
  EXPECT_EQ(RunCount(), 0);
}

TEST_F(InputApiTest, DuplicateJsonKeysAreRefusedWithTheKeyAndWhere) {
  auto run =
      Send("POST", "/api/v1/runs", "{\"function\":\"demo.echo\",\n\"id\":\"a\",\"id\":\"b\"}");
  EXPECT_EQ(run.status, 400) << run.body;
  EXPECT_EQ(Code(run), "duplicate_key");
  EXPECT_EQ(Detail(run, "field"), "id");
  EXPECT_EQ(Error(run).at("details").at("line"), 2);
  EXPECT_EQ(RunCount(), 0);
}

TEST_F(InputApiTest, RawBytesInIdsAndNamesAreRefusedAndNeverEchoed) {
  auto get = Send("GET", "/api/v1/runs/%ff%fe");
  EXPECT_EQ(get.status, 400) << get.body;
  EXPECT_EQ(Detail(get, "parameter"), "id");
  EXPECT_TRUE(IsValidUtf8(get.body)) << get.body;

  auto upload = PostCsv("/api/v1/runs?function=numbers.import&name=%ff%fe", Csv(1));
  EXPECT_EQ(upload.status, 400) << upload.body;
  EXPECT_EQ(Detail(upload, "parameter"), "name");
  EXPECT_TRUE(IsValidUtf8(upload.body)) << upload.body;

  auto query = Send("GET", "/api/v1/runs?queue=%c0%af");
  EXPECT_EQ(query.status, 400) << query.body;
  EXPECT_EQ(Detail(query, "parameter"), "queue");

  // No route: the path is quoted back, with the bytes replaced.
  auto nowhere = Send("GET", "/api/v1/%ff/x/y");
  EXPECT_EQ(nowhere.status, 404) << nowhere.body;
  EXPECT_TRUE(IsValidUtf8(nowhere.body)) << nowhere.body;
  EXPECT_EQ(RunCount(), 0);
}

TEST_F(InputApiTest, DownloadNamesHaveAnAsciiFallbackAndAnRfc5987Name) {
  auto created =
      PostCsv("/api/v1/runs?function=numbers.import&id=named&name=caf%C3%A9%20%22x%22.csv", Csv(1));
  ASSERT_EQ(created.status, 201) << created.body;
  auto head = Head("/api/v1/runs/named/input.csv");
  EXPECT_EQ(head.result_int(), 200);
  EXPECT_EQ(std::string(head[http::field::content_disposition]),
            "attachment; filename=\"caf__ _x_.csv\"; filename*=UTF-8''caf%C3%A9%20%22x%22.csv");
}

TEST_F(InputApiTest, ATokenNameErrorNamesTheNameField) {
  auto token = Send("POST", "/api/v1/tokens", R"({"name":"../x","account":"acme"})");
  EXPECT_EQ(token.status, 422) << token.body;
  EXPECT_EQ(Detail(token, "field"), "name");
  auto no_account = Send("POST", "/api/v1/tokens", R"({"name":"ok"})");
  EXPECT_EQ(no_account.status, 422) << no_account.body;
  EXPECT_EQ(Detail(no_account, "field"), "account");
}

TEST_F(InputApiTest, CsvRunsTakeEveryRunOption) {
  auto created = PostCsv(
      "/api/v1/runs?function=numbers.import&id=opts&queue=bulk&priority=5&max_attempts=3"
      "&retry_delay=2&retry_delay_factor=2&max_retry_delay=30&timeout=1&time_to_resolve=90"
      "&delay=60&args=%5B1%2C%22a%22%5D&data=%7B%22k%22%3A%22v%22%7D",
      Csv(2));
  ASSERT_EQ(created.status, 201) << created.body;
  auto run = engine_->storage().RunGet("opts", "bulk");
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(run->priority, 5);
  EXPECT_EQ(run->retry.max_attempts, 3);
  EXPECT_EQ(run->retry.delay, 2s);
  EXPECT_EQ(run->retry.delay_factor, 2.0);
  EXPECT_EQ(run->retry.max_delay, 30s);
  EXPECT_EQ(run->timeout, std::optional<Duration>(1s));
  EXPECT_EQ(run->time_to_resolve, 90s);
  EXPECT_EQ(run->run_at, clock_.Now() + 60s);
  EXPECT_EQ(json::serialize(run->args), R"([1,"a"])");
  EXPECT_EQ(json::serialize(run->data), R"({"k":"v"})");
  EXPECT_EQ(run->progress.total, 2);

  // The same rules as a JSON body, named by the query parameter.
  auto zero = PostCsv("/api/v1/runs?function=numbers.import&max_attempts=0", Csv(1));
  EXPECT_EQ(zero.status, 400) << zero.body;
  EXPECT_EQ(Detail(zero, "parameter"), "max_attempts");
  auto huge = PostCsv("/api/v1/runs?function=numbers.import&delay=1e300", Csv(1));
  EXPECT_EQ(huge.status, 400) << huge.body;
  EXPECT_EQ(Detail(huge, "parameter"), "delay");
  EXPECT_THAT(huge.body, HasSubstr("at most"));
  auto word = PostCsv("/api/v1/runs?function=numbers.import&timeout=soon", Csv(1));
  EXPECT_EQ(word.status, 400) << word.body;
  EXPECT_EQ(Detail(word, "parameter"), "timeout");
  auto both =
      PostCsv("/api/v1/runs?function=numbers.import&delay=1&run_at=2026-01-01T00:00:00Z", Csv(1));
  EXPECT_EQ(both.status, 400) << both.body;
  EXPECT_EQ(RunCount(), 1);
}

// docs/bulk.md: an interrupted run resumes from its last checkpoint "if max_attempts
// allows" — which needs the attempts given on the upload to be stored.
TEST_F(InputApiTest, ACrashedCsvRunCreatedThroughTheApiResumesByItself) {
  auto created = PostCsv("/api/v1/runs?function=numbers.import&id=crash&max_attempts=3", Csv(100));
  ASSERT_EQ(created.status, 201) << created.body;
  freeze_at_ = 55;

  RunTakeParams take{.runner = "r1", .max = 1, .now = clock_.Now()};
  auto first = engine_->storage().RunTake(take);
  ASSERT_TRUE(first.ok() && first->size() == 1);
  taskmill::Run claimed = first->front();
  const auto* entry = engine_->functions().Find("numbers.import");
  auto token = std::make_shared<CancellationToken>();
  std::thread zombie([&] {
    RunContext context(claimed, token);
    (void)entry->handler->Execute(context);
  });
  frozen_.get_future().wait();  // attempt 1 is stuck at row 55: a frozen process
  // Its checkpoints (every 10 rows) are saved by a thread of their own: wait for one.
  for (auto deadline = std::chrono::steady_clock::now() + 30s;
       std::chrono::steady_clock::now() < deadline;) {
    if (engine_->storage().RunGet("crash")->progress.succeeded >= 10) break;
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_GE(engine_->storage().RunGet("crash")->progress.succeeded, 10);

  // The lease expires and the lost-run sweep finds it: with attempts left, the run is
  // pending again, by itself.
  clock_.Advance(claimed.time_to_resolve + 1s);
  auto expired = engine_->storage().RunListExpired(clock_.Now(), 10);
  ASSERT_TRUE(expired.ok() && expired->size() == 1);
  HandlerOutcome lost{.status = RunStatus::kLost, .error = "lease expired", .error_kind = "lost"};
  RunFinish finish = DecideFinish(expired->front(), lost, clock_.Now());
  finish.outcome = "lost";
  EXPECT_EQ(finish.status, RunStatus::kPending);
  ASSERT_TRUE(engine_->storage().RunFinishBatch({finish}).ok());

  take.now = clock_.Now() + 1h;  // past any retry delay
  auto second = engine_->storage().RunTake(take);
  ASSERT_TRUE(second.ok() && second->size() == 1);
  EXPECT_EQ(second->front().attempt, 2);
  RunContext context(second->front(), std::make_shared<CancellationToken>());
  HandlerOutcome outcome = entry->handler->Execute(context);
  EXPECT_EQ(outcome.status, RunStatus::kCompleted) << outcome.error;
  release_.set_value();
  zombie.join();

  std::lock_guard lock(mu_);
  ASSERT_FALSE(calls_[2].empty());
  EXPECT_GT(calls_[2].front(), 1) << "attempt 2 resumed from a checkpoint, not from row 1";
  EXPECT_EQ(calls_[2].back(), 100);
}

TEST_F(InputApiTest, ACsvFunctionWithoutItsInputIsRefusedWhenCreated) {
  auto run = Send("POST", "/api/v1/runs", R"({"function":"numbers.import"})");
  EXPECT_EQ(run.status, 400) << run.body;
  EXPECT_EQ(Code(run), "csv_input_required");
  EXPECT_EQ(Detail(run, "field"), "function");
  EXPECT_THAT(run.body, HasSubstr("--input"));
  auto batch = Send("POST", "/api/v1/runs:batch",
                    R"({"runs":[{"function":"demo.echo"},{"function":"numbers.import"}]})");
  EXPECT_EQ(batch.status, 400) << batch.body;
  EXPECT_EQ(Code(batch), "csv_input_required");
  EXPECT_EQ(RunCount(), 0);
}

TEST_F(InputApiTest, ACsvRecordOverTheLimitIs413) {
  std::string csv = "e164\n+15550001\n+" + std::string(2000, '1') + "\n";
  auto upload = PostCsv("/api/v1/runs?function=numbers.import", csv);
  EXPECT_EQ(upload.status, 413) << upload.body;
  EXPECT_EQ(Code(upload), "too_large");
  EXPECT_THAT(upload.body, HasSubstr("line 3"));
  EXPECT_EQ(RunCount(), 0);
}

}  // namespace
}  // namespace taskmill::api
