// Account isolation across the whole HTTP API: a test walks every route of the OpenAPI
// document (src/api/openapi.json) with two account tokens, and asserts that nothing of
// one account shows in the other's answers and that no route changes the other's runs.
//
// The routes come from the document, so a route added to the API is walked without a
// change here. A route that cannot be exercised fails the test: one the server does not
// register, a path parameter with no value to fill it, a request body with no entry in
// kBodies. The few routes that need more than a plain request are listed, with why, in
// kSpecialRoutes.
//
// A real Engine (runner included) on SQLite in a temporary directory and the ApiServer
// on port 0. Waits are long-polls and condition variables with deadlines.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <taskmill/bulk.h>
#include <taskmill/engine.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>
#include <cctype>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>

#include "api/auth.h"
#include "api/openapi.h"
#include "api/server.h"
#include "cli/client.h"

namespace taskmill::api {
namespace {
namespace json = boost::json;
using cli::HttpClient;
using cli::HttpResponse;

constexpr auto kBound = std::chrono::seconds(30);  // generous bound of every wait

// Routes walked in a way of their own; every other route of the document is sent as a
// plain request (with a body from kBodies when it takes one).
const std::map<std::string, std::string> kSpecialRoutes = {
    // An event stream never ends: read until a run the viewer makes last (ReadEvents).
    {"GET /api/v1/events", "stream"},
    // Public and server-wide by design (docs/metrics.md): answered alike with any token
    // or none, for the operator's scraper, so it is not an account's view. It carries
    // counts per queue and task, never run ids, data or account names.
    {"GET /metrics", "public"},
};

// Runs of demo.block report here when they start, and stay running until cancelled.
struct BlockedRuns {
  std::mutex mu;
  std::condition_variable cv;
  std::set<std::string> started;  // guarded by mu

  void Started(const std::string& id) {
    {
      std::lock_guard lock(mu);
      started.insert(id);
    }
    cv.notify_all();
  }
  bool WaitStarted(const std::string& id) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, kBound, [&] { return started.contains(id); });
  }
};

// One account of the test: its token and what it made.
struct Account {
  std::string name;  // also in every id, queue, secret and file name it makes
  std::string token;
  std::string token_name;
  std::string queue() const { return name + "-queue"; }
  std::string id(std::string_view what) const { return name + "-" + std::string(what); }
};

// Fields that change with time alone, not with what anyone does. A time series
// ("points" of the throughput) is summed up: its counts move between points as time
// passes, its totals only when runs finish.
void Normalize(json::value& value) {
  if (value.is_object()) {
    json::object& object = value.get_object();
    for (const char* key : {"lease_until", "oldest_pending_age", "at"}) object.erase(key);
    if (auto* points = object.if_contains("points"); points && points->is_array()) {
      json::object sums;
      for (const json::value& point : points->get_array()) {
        for (const auto& kv : point.as_object()) {
          if (!kv.value().is_number()) continue;
          // As doubles: a point may hold a mean (the queues' latency) beside counts.
          sums[kv.key()] = (sums.contains(kv.key()) ? sums[kv.key()].to_number<double>() : 0.0) +
                           kv.value().to_number<double>();
        }
      }
      *points = std::move(sums);
    }
    for (auto& kv : object) Normalize(kv.value());
  } else if (value.is_array()) {
    for (json::value& item : value.get_array()) Normalize(item);
  }
}

class IsolationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/taskmill-isolation-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    auto registry = std::make_shared<FunctionRegistry>();
    ASSERT_TRUE(registry
                    ->Register("demo.echo", [](RunContext& ctx) { ctx.SetResult(ctx.args()); },
                               {.name = "demo.echo"})
                    .ok());
    ASSERT_TRUE(registry
                    ->Register("demo.block",
                               [this](RunContext& ctx) {
                                 blocked_.Started(ctx.run().id);
                                 ctx.cancellation().WaitFor(std::chrono::hours(1));
                               },
                               {.name = "demo.block"})
                    .ok());
    // Stands for a command task's function.
    ASSERT_TRUE(registry
                    ->Register("task.shell", [](RunContext&) {},
                               {.name = "task.shell", .handler_kind = "command"})
                    .ok());
    auto runtime = std::make_shared<BulkRuntime>(BulkOptions{});
    BulkFunction import;
    import.info.name = "numbers.import";
    import.info.input = "csv";
    import.info.mandatory = {"e164"};
    import.info.output_header = {"note"};
    import.call = [](const BulkCall& call) {
      return BulkResult::Merge(
          {{ "note",
             "seen " + std::string(call.row->GetOr("e164")) }});
  };
  ASSERT_TRUE(RegisterBulkFunction(*registry, runtime, import).ok());

  EngineOptions engine_options;
  engine_options.storage.url = "sqlite://" + dir_ + "/taskmill.db";
  engine_options.storage.url += "?synchronous=normal";
  engine_options.scheduler = false;
  // Bulk runs are stored by the upload, which wakes no runner: poll often.
  engine_options.runner_options.poll_interval = std::chrono::milliseconds(20);
  auto engine = Engine::Open(engine_options, registry);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  engine_ = std::move(*engine);
  runtime->Attach(*engine_);
  ASSERT_TRUE(engine_->Start().ok());
  TaskDef report{.name = "report", .function = "demo.echo"};
  ASSERT_TRUE(engine_->storage().TaskUpsert(report).ok());
  // Its environment holds a secret of the operator's: no account may read it.
  TaskDef shell{.name = "shell",
                .function = "task.shell",
                .command = {"true"},
                .env = {{"SHELL_SECRET", "admin-secret"}}};
  ASSERT_TRUE(engine_->storage().TaskUpsert(shell).ok());
  ApiOptions options;
  options.listen = "127.0.0.1:0";
  server_ = std::make_unique<ApiServer>(options, *engine_);
  ASSERT_TRUE(server_->Start().ok());

  admin_ = MakeToken("", /*admin=*/true).token;
  alpha_ = MakeToken("acct-alpha");
  beta_ = MakeToken("acct-beta");
  json::value document = json::parse(OpenApiDocument());
  for (const auto& path : document.at("paths").as_object()) {
    for (const auto& operation : path.value().as_object()) {
      if (operation.key() == "parameters") continue;
      std::string method(operation.key());
      for (char& c : method) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      routes_.push_back(
          {method, std::string(path.key()), operation.value().as_object().contains("requestBody")});
    }
  }
}

  void TearDown() override {
  if (server_) server_->Stop();
  if (engine_) engine_->Stop();
  server_.reset();
  engine_.reset();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

Account MakeToken(const std::string& account, bool admin = false) {
  std::string secret;
  auto token = CreateToken(engine_->storage(), "", account, admin, engine_->clock().Now(), &secret);
  EXPECT_TRUE(token.ok()) << token.status().ToString();
  return {.name = account, .token = secret, .token_name = token.ok() ? token->name : ""};
}

HttpResponse Send(const std::string& token, std::string_view method, std::string_view target,
                  std::string_view body = {}, std::string_view type = "application/json") {
  HttpClient client(server_->url());
  client.set_token(token);
  auto response = client.Send(method, target, body, type);
  EXPECT_TRUE(response.ok()) << method << " " << target << ": " << response.status().ToString();
  return response.ok() ? *response : HttpResponse{};
}
json::object Json(const std::string& token, std::string_view method, std::string_view target,
                  int expected, std::string_view body = {},
                  std::string_view type = "application/json") {
  HttpResponse response = Send(token, method, target, body, type);
  EXPECT_EQ(response.status, expected) << method << " " << target << ": " << response.body;
  json::value value = json::parse(response.body.empty() ? "{}" : response.body);
  return value.is_object() ? value.get_object() : json::object();
}

void WaitFinal(const std::string& id) {
  auto deadline = std::chrono::steady_clock::now() + kBound;
  while (std::chrono::steady_clock::now() < deadline) {
    json::object run = Json(admin_, "GET", "/api/v1/runs/" + id + "?wait=10", 200);
    auto status = ParseRunStatus(run["status"].as_string());
    if (status && IsFinal(*status)) return;
  }
  ADD_FAILURE() << "run " << id << " not final within the bound";
}

// What an account makes: finished, running and pending runs, a batch, a task run, a
// CSV run with its files. `round` tells a second set apart.
void MakeRuns(const Account& a, const std::string& round) {
  auto body = [&](std::string_view function, std::string_view what, std::string_view queue,
                  std::string_view extra = "") {
    return "{\"function\":\"" + std::string(function) + "\",\"id\":\"" + a.id(what) + round +
           "\",\"queue\":\"" + std::string(queue) + "\",\"data\":{\"secret\":\"" + a.id("secret") +
           round + "\"},\"args\":[\"" + a.id("arg") + "\"]" + std::string(extra) + "}";
  };
  Json(a.token, "POST", "/api/v1/runs", 201, body("demo.echo", "echo", a.queue()));
  Json(a.token, "POST", "/api/v1/runs", 201, body("demo.block", "block", "shared"));
  Json(a.token, "POST", "/api/v1/runs", 201,
       body("demo.echo", "later", a.queue(), ",\"delay\":3600"));
  Json(a.token, "POST", "/api/v1/runs:batch", 201,
       "{\"runs\":[" + body("demo.echo", "batch", "shared") + "]}");
  Json(a.token, "POST", "/api/v1/tasks/report/start", 201,
       "{\"id\":\"" + a.id("task") + round + "\",\"queue\":\"" + a.queue() + "\"}");
  Json(a.token, "POST",
       "/api/v1/runs?function=numbers.import&queue=" + a.queue() + "&id=" + a.id("csv") + round +
           "&name=" + a.id("input") + round + ".csv",
       201, "e164\n+1555" + std::to_string(a.name.size()) + "0001\n", "text/csv");
  for (const char* what : {"echo", "later", "batch", "task", "csv"}) {
    if (std::string_view(what) != "later") WaitFinal(a.id(what) + round);
  }
  ASSERT_TRUE(blocked_.WaitStarted(a.id("block") + round));
}

// The admin's own runs: a command task and a run of no account.
void MakeAdminRuns(const std::string& round) {
  Json(admin_, "POST", "/api/v1/tasks/shell/start", 201,
       "{\"id\":\"admin-shell" + round + "\",\"data\":{\"secret\":\"admin-secret\"}}");
  Json(admin_, "POST", "/api/v1/runs", 201,
       "{\"function\":\"demo.echo\",\"id\":\"admin-echo" + round +
           "\",\"data\":{\"secret\":\"admin-secret\"}}");
  WaitFinal("admin-shell" + round);
  WaitFinal("admin-echo" + round);
}

// Every run but `viewer`'s, as the admin lists them, and the other's CSV files:
// what `viewer` must neither see nor change.
std::string OthersState(const Account& viewer, const Account& other) {
  json::object page = Json(admin_, "GET", "/api/v1/runs?limit=1000", 200);
  json::array runs;
  for (json::value& run : page["runs"].as_array()) {
    if (run.as_object()["account_id"] != json::value(viewer.name)) runs.push_back(run);
  }
  json::value value = std::move(runs);
  Normalize(value);
  std::string state = json::serialize(value);
  for (const char* file : {"input.csv", "output.csv"}) {
    state += Send(admin_, "GET", "/api/v1/runs/" + other.id("csv") + "/" + file).body;
  }
  return state;
}

// Strings that must never appear in an answer to `other`'s neighbour unless its
// request named them: the other account's name, each of its ids, queue, secrets,
// argument, file names, token and CSV values, and the admin's runs.
static std::vector<std::string> Forbidden(const Account& other) {
  std::vector<std::string> out = {other.name,
                                  other.queue(),
                                  other.token_name,
                                  "admin-shell",
                                  "admin-echo",
                                  "admin-secret",
                                  "+1555" + std::to_string(other.name.size()) + "0001"};
  for (const char* what :
       {"echo", "block", "later", "batch", "task", "csv", "secret", "arg", "input", "sentinel"}) {
    out.push_back(other.id(what));
  }
  return out;
}

void ExpectNothingOf(const Account& other, const std::string& request, const std::string& answer) {
  for (const std::string& marker : Forbidden(other)) {
    if (request.find(marker) != std::string::npos) continue;  // echoed back: not a leak
    EXPECT_EQ(answer.find(marker), std::string::npos)
        << request << " answered '" << marker << "': " << answer;
  }
}

// Path parameters, by the collection they name: another account's objects.
std::vector<std::string> Fill(const std::string& pattern, const Account& other,
                              const Account& viewer, bool own) {
  const Account& of = own ? viewer : other;
  std::vector<std::string> targets{pattern};
  auto replace = [&](std::string_view param, std::vector<std::string> values) {
    std::vector<std::string> out;
    for (const std::string& t : targets) {
      size_t at = t.find(param);
      if (at == std::string::npos) {
        out.push_back(t);
        continue;
      }
      for (const std::string& v : values) {
        out.push_back(t.substr(0, at) + cli::UrlEncode(v) + t.substr(at + param.size()));
      }
    }
    targets = std::move(out);
  };
  if (pattern.starts_with("/api/v1/runs/{id}")) {
    // A run of every status, named with and without its queue.
    std::vector<std::string> ids;
    for (const char* what : {"echo", "block", "later", "csv"}) ids.push_back(of.id(what));
    replace("{id}", ids);
    std::vector<std::string> with_queue;
    for (const std::string& t : targets) {
      with_queue.push_back(t);
      with_queue.push_back(
          t + "?queue=" + (t.find(of.id("block")) != std::string::npos ? "shared" : of.queue()));
    }
    targets = std::move(with_queue);
  }
  if (pattern.starts_with("/api/v1/tasks/{name}")) replace("{name}", {"report", "shell"});
  if (pattern.starts_with("/api/v1/queues/{name}")) replace("{name}", {of.queue(), "shared"});
  if (pattern.starts_with("/api/v1/tokens/{name}")) replace("{name}", {of.token_name});
  // Flows: the other's runs taken for flow runs, and a flow name.
  if (pattern.starts_with("/api/v1/flows/runs/{run_id}")) {
    replace("{run_id}", {of.id("echo"), of.id("block")});
    replace("{step}", {"fetch"});
  }
  if (pattern.starts_with("/api/v1/flows/{name}")) replace("{name}", {"ingest"});
  if (pattern.starts_with("/api/v1/runners/{runner}")) replace("{runner}", {"walker"});
  if (pattern.starts_with("/api/v1/functions/{name}")) {
    replace("{name}", {"demo.echo", "demo.block", "numbers.import"});
  }
  for (const std::string& t : targets) {
    EXPECT_EQ(t.find('{'), std::string::npos) << "no value fills a parameter of " << pattern;
  }
  return targets;
}

struct Body {
  std::string query;  // appended to the target
  std::string type;
  std::string text;
};
// Request bodies, by route: each aims at the other account's runs, with every
// conflict mode where there is one.
std::vector<Body> Bodies(const std::string& route, const Account& other) {
  const std::vector<std::string> modes = {"error", "ignore", "overwrite"};
  std::vector<Body> out;
  if (route == "POST /api/v1/runs") {
    for (const auto& m : modes) {
      out.push_back({"", "application/json",
                     "{\"function\":\"demo.echo\",\"id\":\"" + other.id("echo") +
                         "\",\"queue\":\"" + other.queue() + "\",\"conflict\":\"" + m + "\"}"});
      out.push_back({"?function=numbers.import&queue=" + other.queue() + "&id=" + other.id("csv") +
                         "&conflict=" + m,
                     "text/csv", "e164\n+15550009\n"});
    }
  } else if (route == "POST /api/v1/runs:batch") {
    for (const auto& m : modes) {
      out.push_back({"", "application/json",
                     "{\"conflict\":\"" + m + "\",\"runs\":[{\"function\":\"demo.echo\",\"id\":\"" +
                         other.id("later") + "\",\"queue\":\"" + other.queue() + "\"}]}"});
    }
  } else if (route == "POST /api/v1/tasks/{name}/start") {
    for (const auto& m : modes) {
      out.push_back({"", "application/json",
                     "{\"id\":\"" + other.id("task") + "\",\"queue\":\"" + other.queue() +
                         "\",\"conflict\":\"" + m + "\"}"});
    }
  } else if (route == "POST /api/v1/flows/{name}/runs") {
    // A flow run for the other account, or under one of its run ids.
    out.push_back({"?account=" + other.name, "application/json", "{\"args\":{}}"});
    out.push_back({"", "application/json", "{\"id\":\"" + other.id("echo") + "\"}"});
  } else if (route == "PUT /api/v1/tasks/{name}") {
    // Admin only: an account token may not redefine a task, its own or another's.
    out.push_back({"", "application/json", "{\"function\":\"demo.echo\"}"});
  } else if (route == "POST /api/v1/runners/{runner}/heartbeat") {
    out.push_back({"", "application/json",
                   "{\"runs\":[{\"id\":\"" + other.id("block") + "\",\"queue\":\"shared\"," +
                       "\"fencing_token\":1}]}"});
  } else if (route == "POST /api/v1/runners/{runner}/finish") {
    out.push_back({"", "application/json",
                   "{\"runs\":[{\"id\":\"" + other.id("block") + "\",\"queue\":\"shared\"," +
                       "\"fencing_token\":1,\"status\":\"failed\"}]}"});
  } else if (route == "POST /api/v1/tokens") {
    out.push_back({"", "application/json", "{\"account\":\"" + other.name + "\"}"});
  }
  return out;
}

// The event stream as `viewer` receives it, from the first event the server kept up
// to the creation of a run the viewer makes now.
std::string ReadEvents(const Account& viewer, const std::string& sentinel) {
  auto url = server_->url().substr(std::string("http://").size());
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket socket(ioc);
  boost::asio::ip::tcp::resolver resolver(ioc);
  boost::asio::connect(
      socket, resolver.resolve(url.substr(0, url.rfind(':')), url.substr(url.rfind(':') + 1)));
  timeval timeout{.tv_sec = 30, .tv_usec = 0};  // a stream that stays silent fails
  setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  boost::asio::write(socket, boost::asio::buffer("GET /api/v1/events HTTP/1.1\r\nHost: x\r\n"
                                                 "Authorization: Bearer " +
                                                 viewer.token + "\r\nLast-Event-ID: 0\r\n\r\n"));
  Json(viewer.token, "POST", "/api/v1/runs", 201,
       "{\"function\":\"demo.echo\",\"id\":\"" + sentinel + "\"}");
  std::string received;
  char buffer[8192];
  while (received.find("\"run_id\":\"" + sentinel + "\"") == std::string::npos) {
    boost::system::error_code ec;
    size_t n = socket.read_some(boost::asio::buffer(buffer), ec);
    if (ec) {
      ADD_FAILURE() << "the event stream ended before the sentinel: " << ec.message();
      break;
    }
    received.append(buffer, n);
  }
  return received;
}

// What `viewer` reads on every GET route of the document, of its own objects.
std::map<std::string, std::string> ViewOf(const Account& viewer, const Account& other) {
  std::map<std::string, std::string> view;
  for (const Route& route : routes_) {
    if (route.method != "GET" || kSpecialRoutes.contains(route.Key())) continue;
    for (const std::string& target : Fill(route.path, other, viewer, /*own=*/true)) {
      HttpResponse response = Send(viewer.token, "GET", target);
      json::value body = response.content_type == "application/json" ? json::parse(response.body)
                                                                     : json::value(response.body);
      Normalize(body);
      view[target] = std::to_string(response.status) + " " + json::serialize(body);
    }
  }
  return view;
}

struct Route {
  std::string method;
  std::string path;
  bool has_body = false;
  std::string Key() const { return method + " " + path; }
};

std::string dir_;
BlockedRuns blocked_;
std::unique_ptr<Engine> engine_;
std::unique_ptr<ApiServer> server_;
std::string admin_;
Account alpha_, beta_;
std::vector<Route> routes_;  // every route of the OpenAPI document
};                           // namespace

// A command task's environment may hold the operator's secrets: the task routes send
// `env` to admins only.
TEST_F(IsolationTest, AccountTokensNeverSeeACommandTasksEnv) {
  for (const std::string& target :
       {std::string("/api/v1/tasks"), std::string("/api/v1/tasks/shell")}) {
    SCOPED_TRACE(target);
    json::object answer = Json(alpha_.token, "GET", target, 200);
    json::object shell = target == "/api/v1/tasks" ? json::object{} : answer;
    if (target == "/api/v1/tasks") {
      for (const auto& task : answer.at("tasks").as_array()) {
        if (task.at("name") == "shell") shell = task.as_object();
      }
    }
    ASSERT_EQ(shell.at("name"), "shell");
    EXPECT_FALSE(shell.contains("env")) << json::serialize(shell);
    EXPECT_EQ(json::serialize(answer).find("admin-secret"), std::string::npos);
    json::object admin = Json(admin_, "GET", "/api/v1/tasks/shell", 200);
    EXPECT_EQ(admin.at("env").at("SHELL_SECRET"), "admin-secret");
  }
}

TEST_F(IsolationTest, NoRouteShowsOrChangesAnotherAccountsRuns) {
  // Every documented route is served: one that is not cannot be walked.
  std::vector<std::string> served = server_->RouteList();
  for (const Route& route : routes_) {
    EXPECT_NE(std::find(served.begin(), served.end(), route.Key()), served.end())
        << route.Key() << " is in the document but not served";
  }
  ASSERT_NO_FATAL_FAILURE(MakeRuns(alpha_, ""));
  ASSERT_NO_FATAL_FAILURE(MakeRuns(beta_, ""));
  ASSERT_NO_FATAL_FAILURE(MakeAdminRuns(""));

  int round = 0;
  for (auto [viewer, other] : {std::pair{&alpha_, &beta_}, std::pair{&beta_, &alpha_}}) {
    SCOPED_TRACE("viewer " + viewer->name);
    const std::string more = "-more" + std::to_string(++round);
    // 1. What the viewer reads does not move when the other account and the admin act.
    std::map<std::string, std::string> before = ViewOf(*viewer, *other);
    ASSERT_NO_FATAL_FAILURE(MakeRuns(*other, more));
    ASSERT_NO_FATAL_FAILURE(MakeAdminRuns(more));
    std::map<std::string, std::string> after = ViewOf(*viewer, *other);
    for (const auto& [target, answer] : before) {
      EXPECT_EQ(after[target], answer) << "GET " << target << " changed when others acted";
      ExpectNothingOf(*other, target, answer);
    }

    // 2. Every route, aimed at the other's objects, answers nothing of them and
    // changes none of them.
    std::string others_before = OthersState(*viewer, *other);
    for (const Route& route : routes_) {
      auto special = kSpecialRoutes.find(route.Key());
      if (special != kSpecialRoutes.end()) {
        if (special->second == "stream") {
          std::string events = ReadEvents(*viewer, viewer->id("sentinel"));
          ExpectNothingOf(*other, route.Key(), events);
        }
        continue;
      }
      std::vector<Body> bodies = Bodies(route.Key(), *other);
      if (route.has_body && bodies.empty()) {
        ADD_FAILURE() << route.Key() << " takes a body: add one to Bodies()";
        continue;
      }
      if (bodies.empty()) bodies.push_back({});
      for (const std::string& target : Fill(route.path, *other, *viewer, /*own=*/false)) {
        for (const Body& body : bodies) {
          std::string full = target + (target.find('?') == std::string::npos || body.query.empty()
                                           ? body.query
                                           : "&" + body.query.substr(1));
          HttpResponse response = Send(viewer->token, route.method, full, body.text,
                                       body.type.empty() ? "application/json" : body.type);
          EXPECT_NE(response.status, 0) << route.method << " " << full;
          EXPECT_FALSE(response.status >= 200 && response.status < 300 &&
                       body.text.find(other->name) != std::string::npos)
              << route.method << " " << full << " " << body.text
              << " was accepted: " << response.body;
          ExpectNothingOf(*other, route.method + " " + full + " " + body.text, response.body);
        }
      }
    }
    EXPECT_EQ(OthersState(*viewer, *other), others_before)
        << "a route changed another account's runs";
  }
}

}  // namespace taskmill::api
}  // namespace taskmill::api
