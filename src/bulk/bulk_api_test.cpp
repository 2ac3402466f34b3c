// The HTTP API of bulk runs, end to end: a real Engine (runner included) on SQLite,
// the ApiServer on port 0, the CLI's HttpClient and a raw socket for what HttpClient
// never sends (chunked bodies, Expect: 100-continue, HEAD). No test sleeps: run
// completion is a long-poll (`?wait=`).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <taskmill/bulk.h>
#include <taskmill/engine.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>

#include "api/server.h"
#include "bulk/bulk_test_util.h"
#include "cli/client.h"
#include "storage/conformance/storage_conformance.h"

namespace taskmill::bulk {
namespace {
namespace json = boost::json;
using ::testing::HasSubstr;
using testing::ParseCsv;
using testing::Table;
using Row = std::vector<std::string>;

class BulkApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    BulkOptions options;
    options.max_file_size = 64 << 10;
    auto runtime = std::make_shared<BulkRuntime>(options);
    auto registry = std::make_shared<FunctionRegistry>();
    BulkFunction import;
    import.info.name = "numbers.import";
    import.info.description = "imports numbers";
    import.info.input = "csv";
    import.info.mandatory = {"e164"};
    import.info.optional = {"state"};
    import.info.output_header = {"note"};
    import.verifiers["e164"] = [](std::string_view v) { return !v.empty() && v[0] == '+';
  };
  import.call = [](const BulkCall& call) {
    return BulkResult::Merge(
        {{ "note",
           "seen " + std::string(call.row->GetOr("e164")) }});
};
ASSERT_TRUE(RegisterBulkFunction(*registry, runtime, import).ok());
// The limit belongs to each function's runtime: this one takes larger files.
BulkOptions big_options;
big_options.max_file_size = 16 << 20;
auto big_runtime = std::make_shared<BulkRuntime>(big_options);
BulkFunction big = import;
big.info.name = "numbers.big";
ASSERT_TRUE(RegisterBulkFunction(*registry, big_runtime, big).ok());
ASSERT_TRUE(registry->Register("demo.echo", [](RunContext&) {}).ok());

EngineOptions engine_options;
engine_options.storage.url = (dir_.path() / "taskmill.db").string();
engine_options.storage.url += "?synchronous=normal";
engine_options.scheduler = false;
// Bulk runs are stored by the upload, not through Engine::Enqueue, so no wake-up
// reaches the runner; a short poll keeps the tests quick.
engine_options.runner_options.poll_interval = std::chrono::milliseconds(20);
auto engine = Engine::Open(engine_options, registry);
ASSERT_TRUE(engine.ok()) << engine.status().ToString();
engine_ = std::move(*engine);
runtime->Attach(*engine_);
big_runtime->Attach(*engine_);
ASSERT_TRUE(engine_->Start().ok());
api::ApiOptions api_options;
api_options.listen = "127.0.0.1:0";
server_ = std::make_unique<api::ApiServer>(api_options, *engine_);
ASSERT_TRUE(server_->Start().ok());
client_ = std::make_unique<cli::HttpClient>(server_->url());
}  // namespace

void TearDown() override {
  client_.reset();
  if (server_) server_->Stop();
  if (engine_) engine_->Stop();
}

cli::HttpResponse Post(const std::string& target, const std::string& body,
                       const std::string& content_type = "text/csv") {
  auto response = client_->Send("POST", target, body, content_type);
  EXPECT_TRUE(response.ok()) << response.status().ToString();
  return response.ok() ? *response : cli::HttpResponse{};
}

cli::HttpResponse Get(const std::string& target) {
  auto response = client_->Send("GET", target);
  EXPECT_TRUE(response.ok()) << response.status().ToString();
  return response.ok() ? *response : cli::HttpResponse{};
}

json::object Json(const cli::HttpResponse& response) {
  auto v = json::parse(response.body);
  return v.is_object() ? v.get_object() : json::object();
}

// The run once it is final.
json::object WaitFinal(const std::string& id) {
  for (int i = 0; i < 10; ++i) {
    json::object run = Json(Get("/api/v1/runs/" + id + "?wait=30"));
    std::string status(run["status"].as_string());
    if (status != "pending" && status != "running") return run;
  }
  ADD_FAILURE() << "run " << id << " did not finish";
  return {};
}

int64_t RunCount() { return engine_->storage().RunStats()->total; }

conformance::TempDir dir_;
std::unique_ptr<Engine> engine_;
std::unique_ptr<api::ApiServer> server_;
std::unique_ptr<cli::HttpClient> client_;
};  // namespace taskmill::bulk

TEST_F(BulkApiTest, ACsvBodyCreatesARunWhoseFilesDownload) {
  std::string csv = "e164,state\n+15550001,active\n+15550002,\nbad,x\n";
  auto created = Post("/api/v1/runs?function=numbers.import&id=csv-1&name=my%20numbers.csv", csv);
  ASSERT_EQ(created.status, 201) << created.body;
  json::object run = Json(created);
  EXPECT_EQ(run["id"], "csv-1");
  EXPECT_EQ(run["function"], "numbers.import");
  EXPECT_EQ(run["progress"].at("total"), 3);

  json::object done = WaitFinal("csv-1");
  EXPECT_EQ(done["status"], "partial");
  EXPECT_EQ(json::serialize(done["progress"]), R"({"total":3,"succeeded":2,"failed":1})");

  auto output = Get("/api/v1/runs/csv-1/output.csv");
  ASSERT_EQ(output.status, 200) << output.body;
  EXPECT_EQ(output.content_type, "text/csv; charset=utf-8");
  EXPECT_THAT(ParseCsv(output.body),
              ::testing::ElementsAre(Row{"e164", "state", "note", "error"},
                                     Row{"+15550001", "active", "seen +15550001", ""},
                                     Row{"+15550002", "", "seen +15550002", ""},
                                     Row{"bad", "x", "", "bad field(s) e164"}));
  auto input = Get("/api/v1/runs/csv-1/input.csv?queue=default");
  ASSERT_EQ(input.status, 200);
  EXPECT_EQ(input.body, csv);
}

// Regression: Beast checks Content-Length against the parser's body limit while it
// parses the header, so a CSV over max_json_body (1 MiB) was refused with 413 before
// the upload route could stream it.
TEST_F(BulkApiTest, ACsvLargerThanTheJsonBodyLimitIsStreamed) {
  std::string csv = "e164\n";
  for (int i = 0; csv.size() < (3u << 20); ++i) csv += "+1555" + std::to_string(1000000 + i) + "\n";
  auto created = Post("/api/v1/runs?function=numbers.big&id=big", csv);
  ASSERT_EQ(created.status, 201) << created.body.substr(0, 300);
  EXPECT_EQ(WaitFinal("big")["status"], "completed");
  EXPECT_EQ(Get("/api/v1/runs/big/input.csv").body, csv);
  // An ordinary JSON body over the limit is still refused before it is read.
  auto json_body = Post("/api/v1/runs", std::string(2 << 20, ' '), "application/json");
  EXPECT_EQ(json_body.status, 413);
}

TEST_F(BulkApiTest, AnInvalidCsvIsRejectedWithEveryProblemAndNothingIsStored) {
  auto response = Post("/api/v1/runs?function=numbers.import", "e164,state\n,x\n+1,a,b\n");
  EXPECT_EQ(response.status, 400);
  json::object error = Json(response)["error"].as_object();
  EXPECT_EQ(error["code"], "invalid_csv");
  EXPECT_EQ(error["message"],
            "the CSV is not a valid input for numbers.import:\n"
            "line 2: no value in the mandatory column e164\n"
            "line 3: the row has 3 cells; the header has 2");
  EXPECT_EQ(error["details"],
            json::parse(R"({"errors":[{"line":2,"column":1,"message":"no value in the mandatory )"
                        R"(column e164"},{"line":3,"message":"the row has 3 cells; the header )"
                        R"(has 2"}],"error_count":2})"));
  EXPECT_EQ(RunCount(), 0);
  EXPECT_EQ(*engine_->storage().FilePruneStaged(conformance::At(100'000'000)), 0);
}

TEST_F(BulkApiTest, AnUploadOverTheLimitIs413AndNothingIsStored) {
  std::string csv = "e164\n";
  while (csv.size() <= (64 << 10)) csv += "+15550001\n";
  auto response = Post("/api/v1/runs?function=numbers.import", csv);
  EXPECT_EQ(response.status, 413) << response.body;
  EXPECT_EQ(Json(response)["error"].at("code"), "too_large");
  EXPECT_THAT(std::string(Json(response)["error"].at("message").as_string()),
              HasSubstr("limit of 64 KiB"));
  EXPECT_EQ(RunCount(), 0);
  EXPECT_EQ(*engine_->storage().FilePruneStaged(conformance::At(100'000'000)), 0);
}

TEST_F(BulkApiTest, JsonRecordsAreKazoosForm) {
  auto created = Post("/api/v1/runs?function=numbers.import&id=records-1",
                      R"({"records":[{"e164":"+15550001"},{"e164":"+15550002","state":"x"}]})",
                      "application/json");
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(WaitFinal("records-1")["status"], "completed");
  EXPECT_EQ(Get("/api/v1/runs/records-1/input.csv").body, "e164,state\n+15550001,\n+15550002,x\n");

  auto extra =
      Post("/api/v1/runs?function=numbers.import", R"({"records":[],"x":1})", "application/json");
  EXPECT_EQ(extra.status, 422);
  EXPECT_EQ(Json(extra)["error"].at("details").at("field"), "x");
}

TEST_F(BulkApiTest, BadRequestsNameTheProblem) {
  auto unknown = Post("/api/v1/runs?function=numbers.nope", "e164\n+1\n");
  EXPECT_EQ(unknown.status, 422);
  EXPECT_EQ(Json(unknown)["error"].at("code"), "unknown_function");
  auto not_csv = Post("/api/v1/runs?function=demo.echo", "e164\n+1\n");
  EXPECT_EQ(not_csv.status, 400);
  EXPECT_EQ(Json(not_csv)["error"].at("code"), "not_a_csv_function");
  auto no_function = Post("/api/v1/runs", "e164\n+1\n");
  EXPECT_EQ(no_function.status, 400);
  EXPECT_THAT(std::string(Json(no_function)["error"].at("message").as_string()),
              HasSubstr("?function=numbers.import"));
  auto typo = Post("/api/v1/runs?function=numbers.import&queeu=x", "e164\n+1\n");
  EXPECT_EQ(typo.status, 400);
  auto xml = Post("/api/v1/runs?function=numbers.import", "<e164/>", "application/xml");
  EXPECT_EQ(xml.status, 415);
  EXPECT_EQ(RunCount(), 0);

  // An ordinary run still goes to the ordinary route.
  auto ordinary = Post("/api/v1/runs", R"({"function":"demo.echo"})", "application/json");
  EXPECT_EQ(ordinary.status, 201) << ordinary.body;

  auto no_file =
      Get("/api/v1/runs/" + std::string(Json(ordinary)["id"].as_string()) + "/output.csv");
  EXPECT_EQ(no_file.status, 404);
  EXPECT_EQ(Get("/api/v1/runs/nope/input.csv").status, 404);
}

TEST_F(BulkApiTest, AChunkedUploadWithExpectContinueIsStreamed) {
  auto url = server_->url().substr(std::string("http://").size());
  auto colon = url.rfind(':');
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket socket(ioc);
  boost::asio::ip::tcp::resolver resolver(ioc);
  boost::asio::connect(socket, resolver.resolve(url.substr(0, colon), url.substr(colon + 1)));
  timeval timeout{.tv_sec = 30, .tv_usec = 0};
  setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  boost::asio::write(
      socket, boost::asio::buffer(
                  std::string("POST /api/v1/runs?function=numbers.import&id=chunked HTTP/1.1\r\n"
                              "Host: x\r\nContent-Type: text/csv\r\nTransfer-Encoding: chunked\r\n"
                              "Expect: 100-continue\r\nConnection: close\r\n\r\n")));
  std::string got(64, '\0');
  size_t n = socket.read_some(boost::asio::buffer(got));
  EXPECT_EQ(got.substr(0, n), "HTTP/1.1 100 Continue\r\n\r\n");
  std::string body;
  std::string expected = "e164\n";
  for (int i = 0; i < 300; ++i) expected += "+1555" + std::to_string(100000 + i) + "\n";
  for (size_t at = 0; at < expected.size(); at += 1000) {
    std::string piece = expected.substr(at, 1000);
    char size[16];
    std::snprintf(size, sizeof size, "%zx\r\n", piece.size());
    body += size + piece + "\r\n";
  }
  body += "0\r\n\r\n";
  boost::asio::write(socket, boost::asio::buffer(body));
  std::string response;
  boost::system::error_code ec;
  boost::asio::read(socket, boost::asio::dynamic_buffer(response), ec);
  EXPECT_THAT(response, HasSubstr("HTTP/1.1 201 Created"));
  EXPECT_EQ(WaitFinal("chunked")["status"], "completed");
  EXPECT_EQ(Get("/api/v1/runs/chunked/input.csv").body, expected);
  Table output = ParseCsv(Get("/api/v1/runs/chunked/output.csv").body);
  EXPECT_EQ(output.size(), 301u);
}

TEST_F(BulkApiTest, HeadOfADownloadHasItsHeadersOnly) {
  ASSERT_EQ(Post("/api/v1/runs?function=numbers.import&id=head", "e164\n+1\n").status, 201);
  WaitFinal("head");
  // HttpClient never sends HEAD: a raw connection, kept alive for a second request.
  auto url = server_->url().substr(std::string("http://").size());
  auto colon = url.rfind(':');
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket socket(ioc);
  boost::asio::ip::tcp::resolver resolver(ioc);
  boost::asio::connect(socket, resolver.resolve(url.substr(0, colon), url.substr(colon + 1)));
  timeval timeout{.tv_sec = 30, .tv_usec = 0};
  setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  boost::asio::write(socket, boost::asio::buffer(std::string(
                                 "HEAD /api/v1/runs/head/output.csv HTTP/1.1\r\nHost: x\r\n\r\n"
                                 "GET /api/v1/runs/head/input.csv HTTP/1.1\r\nHost: x\r\n"
                                 "Connection: close\r\n\r\n")));
  std::string response;
  boost::system::error_code ec;
  boost::asio::read(socket, boost::asio::dynamic_buffer(response), ec);
  // The HEAD answer has no body: the next bytes are the GET's status line.
  auto second = response.find("HTTP/1.1 200 OK", 1);
  ASSERT_NE(second, std::string::npos) << response;
  std::string head = response.substr(0, second);
  EXPECT_THAT(head, HasSubstr("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(head, HasSubstr("Content-Type: text/csv; charset=utf-8\r\n"));
  EXPECT_THAT(head, HasSubstr("Content-Disposition: attachment; filename=\"input-output.csv\""));
  EXPECT_TRUE(head.ends_with("\r\n\r\n")) << head;
  EXPECT_THAT(response.substr(second), HasSubstr("e164\n+1\n"));
}

}  // namespace
}  // namespace taskmill::bulk
