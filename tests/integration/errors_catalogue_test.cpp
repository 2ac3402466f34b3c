// docs/errors.md is complete: every API error code the code base can answer has a row,
// and every row is produced here, through the real server and the real `taskmill`
// binary, with the code and status the row gives. A new code without a row, or a row
// without a producer, fails the test.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "api/api_error.h"
#include "integration/harness.h"

namespace taskmill::testing {
namespace {
namespace json = boost::json;
namespace fs = std::filesystem;
using boost::asio::ip::tcp;

const fs::path kSource = TASKMILL_SOURCE_DIR;

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Row {
  std::string code;    // the code cell without backticks; "" when it is not a code
  std::string status;  // "HTTP 400", "exit 2", "run failed"
};

// The rows of docs/errors.md's tables: | `class` | code | status | when |.
std::map<std::string, Row> CatalogueRows() {
  std::map<std::string, Row> rows;
  std::istringstream in(ReadFile(kSource / "docs/errors.md"));
  std::regex row(R"re(^\| `([a-z0-9_.]+)` \| ([^|]*) \| ([^|]*) \|)re");
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (!std::regex_search(line, m, row)) continue;
    std::string code = m[2];
    while (!code.empty() && code.back() == ' ') code.pop_back();
    code = code.size() > 2 && code.front() == '`' && code.back() == '`'
               ? code.substr(1, code.size() - 2)
               : "";
    std::string status = m[3];
    while (!status.empty() && status.back() == ' ') status.pop_back();
    rows[m[1]] = {code, status};
  }
  return rows;
}

// Every error code the sources can answer: the codes given to ApiStatus(), the codes
// set in a Status's details, the fixed table of api_error.cpp and the generic names of
// StatusCodeName().
std::set<std::string> CodesInSources() {
  std::set<std::string> codes;
  std::regex api_status(R"re(ApiStatus\(\s*StatusCode::\w+,\s*"([a-z_]+)")re");
  std::regex detail(R"re(details\["code"\]\s*=\s*"([a-z_]+)")re");
  std::regex table(R"re(\{"([a-z_]+)",\s*http::status::)re");
  std::regex generic(R"re(case StatusCode::\w+:\s*return "([a-z_]+)")re");
  for (const auto& entry : fs::recursive_directory_iterator(kSource / "src")) {
    std::string name = entry.path().filename().string();
    if (!entry.is_regular_file() || entry.path().extension() != ".cpp" ||
        name.ends_with("_test.cpp") || entry.path().string().find("/cli/") != std::string::npos) {
      continue;
    }
    std::string text = ReadFile(entry.path());
    for (const std::regex* re : {&api_status, &detail, &table, &generic}) {
      for (auto it = std::sregex_iterator(text.begin(), text.end(), *re);
           it != std::sregex_iterator(); ++it) {
        codes.insert((*it)[1]);
      }
    }
  }
  codes.erase("ok");
  return codes;
}

struct HttpAnswer {
  int status = 0;
  json::value body;
};

// Sends `request` as raw bytes to `url` (http://HOST:PORT) and reads the answer.
HttpAnswer Raw(const std::string& url, const std::string& request) {
  std::string host_port = url.substr(url.find("//") + 2);
  std::string host = host_port.substr(0, host_port.rfind(':'));
  std::string port = host_port.substr(host_port.rfind(':') + 1);
  boost::asio::io_context ioc;
  tcp::socket socket(ioc);
  boost::asio::connect(socket, tcp::resolver(ioc).resolve(host, port));
  boost::asio::write(socket, boost::asio::buffer(request));
  std::string answer;
  boost::system::error_code ec;
  std::array<char, 65536> buffer{};
  for (;;) {
    size_t n = socket.read_some(boost::asio::buffer(buffer), ec);
    answer.append(buffer.data(), n);
    if (ec) break;
    // An answer with Content-Length is complete once that many body bytes arrived.
    auto end = answer.find("\r\n\r\n");
    auto length = answer.find("Content-Length: ");
    if (end != std::string::npos && length != std::string::npos && length < end &&
        answer.size() >= end + 4 + std::stoul(answer.substr(length + 16))) {
      break;
    }
  }
  HttpAnswer out;
  if (answer.size() > 12) out.status = std::stoi(answer.substr(9, 3));
  auto end = answer.find("\r\n\r\n");
  if (end != std::string::npos) {
    boost::system::error_code parse_ec;
    out.body = json::parse(answer.substr(end + 4), parse_ec);
  }
  return out;
}

std::string Request(const std::string& method, const std::string& target,
                    const std::string& body = "", const std::string& type = "application/json",
                    const std::string& token = "") {
  std::string r = method + " " + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n";
  if (!token.empty()) r += "Authorization: Bearer " + token + "\r\n";
  if (!body.empty() || method == "POST") {
    r += "Content-Type: " + type + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  return r + "\r\n" + body;
}

struct Observed {
  std::string code;
  std::string status;
};

Observed Of(const HttpAnswer& a) {
  Observed o{"", "HTTP " + std::to_string(a.status)};
  if (a.body.is_object()) {
    if (const auto* error = a.body.get_object().if_contains("error"); error && error->is_object()) {
      if (const auto* code = error->get_object().if_contains("code"); code && code->is_string()) {
        o.code = code->get_string();
      }
    }
  }
  return o;
}

// What the server answers for a Status that no request can provoke on demand (a
// storage failure, a full server, a slow client): the mapping every handler's error
// goes through.
Observed Mapped(StatusCode code) {
  api::ApiError error = api::ToApiError(Status(code, "for the catalogue"));
  return {error.code, "HTTP " + std::to_string(static_cast<int>(error.http_status))};
}

Observed Exit(const CommandResult& r) { return {"", "exit " + std::to_string(r.exit_code)}; }

// The exit status and the code the command printed: `error: <message> (<code>)`.
Observed ExitWithCode(const CommandResult& r) {
  Observed o = Exit(r);
  std::smatch m;
  static const std::regex code(R"re(\(([a-z_]+)\)\s*$)re");
  if (std::regex_search(r.err, m, code)) o.code = m[1];
  return o;
}

// A server that answers every request with one fixed answer: a server that is not
// taskmill, or a taskmill that fails.
class FixedAnswerServer {
 public:
  explicit FixedAnswerServer(std::string answer)
      : answer_(std::move(answer)), acceptor_(ioc_, tcp::endpoint(tcp::v4(), 0)) {
    thread_ = std::thread([this] {
      while (!stop_) {
        boost::system::error_code ec;
        tcp::socket socket(ioc_);
        acceptor_.accept(socket, ec);
        if (ec || stop_) return;
        std::string request;
        std::array<char, 4096> buffer{};
        while (request.find("\r\n\r\n") == std::string::npos) {
          size_t n = socket.read_some(boost::asio::buffer(buffer), ec);
          if (ec) break;
          request.append(buffer.data(), n);
        }
        boost::asio::write(socket, boost::asio::buffer(answer_), ec);
      }
    });
  }
  ~FixedAnswerServer() {
    stop_ = true;
    // Wakes the accept with one last connection.
    boost::system::error_code ec;
    tcp::socket poke(ioc_);
    poke.connect(acceptor_.local_endpoint(), ec);
    thread_.join();
  }
  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port());
  }

 private:
  std::string answer_;
  boost::asio::io_context ioc_;
  tcp::acceptor acceptor_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

std::string JsonAnswer(int status, const std::string& body) {
  return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: application/json\r\n" +
         "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

class ErrorsCatalogueTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    server_ = new Server(dir_->path() / "open");
    // A second server with tokens, for the answers to who is asking.
    fs::path guarded = dir_->path() / "guarded";
    auto admin = Taskmill(
        {"token", "create", "--admin", "--name", "ops", "--json", "--data-dir", guarded.string()});
    auto account = Taskmill({"token", "create", "--account", "acme", "--name", "acme", "--json",
                             "--data-dir", guarded.string()});
    if (account.Json().is_object()) account_token_ = account.Json().at("token").as_string();
    auto other = Taskmill({"token", "create", "--account", "globex", "--name", "globex", "--json",
                           "--data-dir", guarded.string()});
    if (other.Json().is_object()) other_token_ = other.Json().at("token").as_string();
    guarded_ = new Server(guarded);
  }
  static void TearDownTestSuite() {
    delete guarded_;
    delete server_;
    delete dir_;
  }
  void SetUp() override {
    ASSERT_TRUE(server_->started()) << server_->startup_output();
    ASSERT_TRUE(guarded_->started()) << guarded_->startup_output();
    ASSERT_FALSE(account_token_.empty());
    ASSERT_FALSE(other_token_.empty());
  }

  static HttpAnswer Send(const std::string& request) { return Raw(server_->url(), request); }
  static CommandResult Cli(const std::vector<std::string>& args) {
    return Taskmill(args, server_->url());
  }
  static Observed BadConfig(const std::string& yaml) {
    fs::path file = dir_->path() / "bad.yaml";
    std::ofstream(file) << yaml;
    return Exit(Taskmill({"serve", "--config", file.string(), "--listen", "127.0.0.1:0",
                          "--data-dir", (dir_->path() / "bad").string()}));
  }

  // One producer per row of docs/errors.md, by class.
  static std::map<std::string, std::function<Observed()>> Producers() {
    const std::string runs = "/api/v1/runs";
    return {
        {"http.malformed_json", [=] { return Of(Send(Request("POST", runs, "{"))); }},
        {"http.duplicate_key",
         [=] {
           return Of(
               Send(Request("POST", runs, R"({"function":"demo.echo","function":"demo.fail"})")));
         }},
        {"http.invalid_parameter", [=] { return Of(Send(Request("GET", runs + "?bogus=1"))); }},
        {"http.invalid_utf8_path", [=] { return Of(Send(Request("GET", runs + "/%ff%fe"))); }},
        {"http.invalid_utf8_query",
         [=] {
           return Of(Send(Request("POST", runs + "?function=numbers.import&name=%ff%fe", "n\n1\n",
                                  "text/csv")));
         }},
        {"http.bad_request", [] { return Of(Send("GARBAGE\r\n\r\n")); }},
        {"http.invalid_csv",
         [=] {
           return Of(Send(Request("POST", runs + "?function=numbers.import", "\"a\n", "text/csv")));
         }},
        {"http.not_a_csv_function",
         [=] {
           return Of(Send(Request("POST", runs + "?function=demo.echo", "a\n1\n", "text/csv")));
         }},
        {"http.csv_input_required",
         [=] { return Of(Send(Request("POST", runs, R"({"function":"numbers.import"})"))); }},
        {"http.unauthorized",
         [] { return Of(Raw(guarded_->url(), Request("GET", "/api/v1/stats"))); }},
        {"http.forbidden",
         [] {
           return Of(Raw(guarded_->url(),
                         Request("POST", "/api/v1/queues/default/pause", "", "", account_token_)));
         }},
        {"http.not_found", [=] { return Of(Send(Request("GET", runs + "/no-such-run"))); }},
        {"http.route_not_found", [] { return Of(Send(Request("GET", "/api/v1/nope"))); }},
        {"http.method_not_allowed", [] { return Of(Send(Request("DELETE", "/api/v1/stats"))); }},
        {"http.timeout", [] { return Mapped(StatusCode::kTimeout); }},
        {"http.conflict",
         [=] {
           std::string body = R"({"function":"demo.echo","id":"catalogue-dup"})";
           Send(Request("POST", runs, body));
           return Of(Send(Request("POST", runs, body)));
         }},
        {"http.conflict_other_account",
         [=] {
           // Account acme owns the id; globex asks for the same one, even with "ignore".
           std::string body = R"({"function":"demo.echo","id":"catalogue-mine","data":{"k":"s"}})";
           Raw(guarded_->url(), Request("POST", runs, body, "application/json", account_token_));
           std::string ignore =
               R"({"function":"demo.echo","id":"catalogue-mine","conflict":"ignore"})";
           return Of(Raw(guarded_->url(),
                         Request("POST", runs, ignore, "application/json", other_token_)));
         }},
        {"http.failed_precondition",
         [=] {
           Cli({"create", "demo.echo", "--id", "catalogue-done", "--wait"});
           return Of(Send(Request("POST", runs + "/catalogue-done/cancel", "{}")));
         }},
        {"http.stale_fencing_token",
         [=] {
           Cli({"create", "demo.echo", "--id", "catalogue-stale", "--wait"});
           return Of(
               Send(Request("POST", "/api/v1/runners/w1/finish",
                            R"({"id":"catalogue-stale","fencing_token":1,"status":"completed"})")));
         }},
        {"http.too_large",
         [=] {
           std::string big =
               R"({"function":"demo.echo","args":[")" + std::string(2 << 20, 'x') + "\"]}";
           return Of(Send(Request("POST", runs, big)));
         }},
        {"http.csv_record_too_large",
         [=] {
           std::string csv = "n\n\"" + std::string((1 << 20) + 10, 'x') + "\"\n";
           return Of(Send(Request("POST", runs + "?function=numbers.import", csv, "text/csv")));
         }},
        {"http.unsupported_media_type",
         [=] { return Of(Send(Request("POST", runs, "{}", "text/plain"))); }},
        {"http.invalid_field",
         [=] { return Of(Send(Request("POST", runs, R"({"function":"demo.echo","delay":-1})"))); }},
        {"http.unknown_function",
         [=] { return Of(Send(Request("POST", runs, R"({"function":"demo.nope"})"))); }},
        {"http.unknown_task",
         [=] { return Of(Send(Request("POST", runs, R"({"task":"no-such-task"})"))); }},
        {"http.internal", [] { return Mapped(StatusCode::kInternal); }},
        {"http.insufficient_storage", [] { return Mapped(StatusCode::kInsufficientStorage); }},
        {"http.unavailable", [] { return Mapped(StatusCode::kUnavailable); }},
        {"http.unauthenticated", [] { return Mapped(StatusCode::kUnauthenticated); }},
        {"http.permission_denied", [] { return Mapped(StatusCode::kPermissionDenied); }},
        {"run.no_input_file",
         [] {
           // A task on a CSV function, fired every second by the scheduler.
           fs::path config = dir_->path() / "csv-task.yaml";
           std::ofstream(config) << "tasks:\n  csv_every_second: { kind: periodical, func_name: "
                                    "numbers.import, schedule: \"* * * * * *\" }\n";
           Server scheduled(dir_->path() / "csv-task", {"--config", config.string()});
           if (!scheduled.started()) return Observed{"", scheduled.startup_output()};
           json::value run;
           WaitUntil(std::chrono::seconds(30), [&] {
             auto list = Raw(scheduled.url(), Request("GET", "/api/v1/runs?task=csv_every_second"));
             if (!list.body.is_object()) return false;
             for (const auto& r : list.body.at("runs").as_array()) {
               if (r.at("status") == "failed") run = r;
             }
             return !run.is_null();
           });
           if (!run.is_object()) return Observed{"", "no failed run within 30 s"};
           // The run carries the message (error_kind "user"); the code stays inside.
           bool named = run.at("error").as_string().find("takes a CSV input") != std::string::npos;
           return Observed{named ? "no_input_file" : "",
                           "run " + std::string(run.at("status").as_string())};
         }},
        {"cli.usage",
         [] {
           return Exit(Cli({"stats", "--no-such-option"}));
         }},
        {"cli.bad_value",
         [] {
           return Exit(Cli({"create", "demo.echo", "--in", "-5"}));
         }},
        {"cli.bad_token",
         [] {
           return Exit(Cli({"--token", "a\r\nX-Injected: 1", "stats"}));
         }},
        {"cli.unknown_method",
         [] {
           return Exit(Cli({"api", "BOGUS", "/x"}));
         }},
        {"cli.csv_input_required",
         [] {
           return ExitWithCode(Cli({"create", "numbers.import"}));
         }},
        {"cli.rejected",
         [] {
           return Exit(Cli({"task", "enable", "no-such-task"}));
         }},
        {"cli.server_error",
         [] {
           FixedAnswerServer failing(JsonAnswer(
               500, R"({"error":{"code":"internal","message":"disk on fire","details":{}}})"));
           return Exit(Taskmill({"stats"}, failing.url()));
         }},
        {"cli.unexpected_answer",
         [] {
           FixedAnswerServer odd(JsonAnswer(200, "{}"));
           return Exit(Taskmill({"stats"}, odd.url()));
         }},
        {"cli.unreachable", [] { return Exit(Taskmill({"stats"}, "http://127.0.0.1:1")); }},
        {"cli.run_not_completed",
         [] {
           return Exit(Cli({"create", "demo.fail", "--wait"}));
         }},
        {"config.unknown_key", [] { return BadConfig("task_runner:\n  capacityy: 5\n"); }},
        {"config.wrong_type", [] { return BadConfig("task_runner:\n  capacity: lots\n"); }},
        {"csv.unterminated_quote",
         [=] {
           return Of(
               Send(Request("POST", runs + "?function=numbers.import", "a\n\"b\n", "text/csv")));
         }},
        {"cron.invalid_expression",
         [] {
           return Exit(Taskmill({"cron", "next", "61 * * * *"}));
         }},
    };
  }

  static TempDir* dir_;
  static Server* server_;
  static Server* guarded_;
  static std::string account_token_;
  static std::string other_token_;
};
TempDir* ErrorsCatalogueTest::dir_ = nullptr;
Server* ErrorsCatalogueTest::server_ = nullptr;
Server* ErrorsCatalogueTest::guarded_ = nullptr;
std::string ErrorsCatalogueTest::account_token_;
std::string ErrorsCatalogueTest::other_token_;

TEST(ErrorsCatalogue, EveryCodeTheSourcesCanAnswerHasARow) {
  std::set<std::string> documented;
  for (const auto& [name, row] : CatalogueRows()) documented.insert(row.code);
  for (const std::string& code : CodesInSources()) {
    EXPECT_TRUE(documented.contains(code))
        << "error code '" << code << "' can be answered but docs/errors.md has no row for it";
  }
}

TEST_F(ErrorsCatalogueTest, EveryRowIsProducedWithItsCodeAndStatus) {
  auto rows = CatalogueRows();
  ASSERT_GT(rows.size(), 30u) << "docs/errors.md was not read";
  auto producers = Producers();
  for (const auto& [name, row] : rows) {
    auto it = producers.find(name);
    if (it == producers.end()) {
      ADD_FAILURE() << "class " << name << " of docs/errors.md has no test producing it";
      continue;
    }
    Observed seen = it->second();
    EXPECT_EQ(seen.status, row.status) << name;
    if (!row.code.empty()) {
      EXPECT_EQ(seen.code, row.code) << name;
    }
  }
  for (const auto& [name, producer] : producers) {
    EXPECT_TRUE(rows.contains(name)) << "test producer " << name << " has no row in docs/errors.md";
  }
}

}  // namespace
}  // namespace taskmill::testing
