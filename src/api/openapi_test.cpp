// Tests of the OpenAPI document (src/api/openapi.json) as the server answers it.
//
// The document is written by hand, so these tests are what keeps it honest: every
// route the server registers must be described (a route added without documenting
// it fails here, naming every one missing), and every $ref must resolve. Routes the
// document describes but the server does not register pass: the document may
// describe routes that changes in progress are adding.
#include "api/openapi.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <taskmill/engine.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <filesystem>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "api/server.h"
#include "cli/client.h"

namespace taskmill::api {
namespace {
namespace json = boost::json;
using cli::HttpClient;

class OpenApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/taskmill-openapi-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    EngineOptions engine_options;
    engine_options.storage.url = "sqlite://" + dir_ + "/taskmill.db";
    engine_options.storage.url += "?synchronous=normal";
    engine_options.runner = false;
    engine_options.scheduler = false;
    auto engine = Engine::Open(engine_options, std::make_shared<FunctionRegistry>());
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    engine_ = std::move(*engine);
    ASSERT_TRUE(engine_->Start().ok());
    ApiOptions options;
    options.listen = "127.0.0.1:0";
    server_ = std::make_unique<ApiServer>(options, *engine_);
    ASSERT_TRUE(server_->Start().ok());
    client_ = std::make_unique<HttpClient>(server_->url());
    ASSERT_NO_FATAL_FAILURE(FetchDocument());
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

  // GET /api/v1/openapi.json into document_.
  void FetchDocument() {
    auto response = client_->Send("GET", "/api/v1/openapi.json");
    ASSERT_TRUE(response.ok()) << response.status().ToString();
    ASSERT_EQ(response->status, 200) << response->body;
    EXPECT_EQ(response->content_type, "application/json");
    EXPECT_EQ(response->body, OpenApiDocument());
    boost::system::error_code ec;
    json::value parsed = json::parse(response->body, ec);
    ASSERT_FALSE(ec) << "the OpenAPI document is not valid JSON: " << ec.message();
    ASSERT_TRUE(parsed.is_object());
    document_ = std::move(parsed.get_object());
  }

  const json::object& paths() const { return document_.at("paths").as_object(); }

  std::string dir_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<ApiServer> server_;
  std::unique_ptr<HttpClient> client_;
  json::object document_;
};

// The value a local JSON pointer ("#/components/schemas/Run") names; nullptr when
// it names nothing.
const json::value* Resolve(const json::value& root, std::string_view ref) {
  if (!ref.starts_with("#/")) return nullptr;
  const json::value* at = &root;
  std::string_view rest = ref.substr(2);
  while (true) {
    size_t slash = rest.find('/');
    std::string token;
    std::string_view raw = rest.substr(0, slash);
    // RFC 6901: "~1" is '/', "~0" is '~'.
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '~' && i + 1 < raw.size() && (raw[i + 1] == '0' || raw[i + 1] == '1')) {
        token.push_back(raw[i + 1] == '0' ? '~' : '/');
        ++i;
      } else {
        token.push_back(raw[i]);
      }
    }
    if (!at->is_object()) return nullptr;
    at = at->as_object().if_contains(token);
    if (!at) return nullptr;
    if (slash == std::string_view::npos) return at;
    rest = rest.substr(slash + 1);
  }
}

// Calls `visit(key, value, where)` for every member of every object in `value`;
// `where` is the member's JSON pointer, so that a failure names the place exactly.
void Walk(
    const json::value& value, const std::string& where,
    const std::function<void(std::string_view, const json::value&, const std::string&)>& visit) {
  if (value.is_object()) {
    for (const auto& member : value.as_object()) {
      std::string path = where + "/";
      for (char c : member.key()) {
        if (c == '~') {
          path += "~0";
        } else if (c == '/') {
          path += "~1";
        } else {
          path += c;
        }
      }
      visit(member.key(), member.value(), path);
      Walk(member.value(), path, visit);
    }
  } else if (value.is_array()) {
    const json::array& items = value.as_array();
    for (size_t i = 0; i < items.size(); ++i) {
      Walk(items[i], where + "/" + std::to_string(i), visit);
    }
  }
}

std::string Join(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) out += "\n  " + line;
  return out;
}

TEST_F(OpenApiTest, IsAnOpenApi31Document) {
  ASSERT_TRUE(document_.contains("openapi"));
  EXPECT_TRUE(document_.at("openapi").as_string().starts_with("3.1")) << document_.at("openapi");
  EXPECT_EQ(document_.at("info").at("title").as_string(), "taskmill API");
  EXPECT_FALSE(document_.at("info").at("version").as_string().empty());
  EXPECT_EQ(
      document_.at("components").at("securitySchemes").at("bearerAuth").at("scheme").as_string(),
      "bearer");
  for (const char* schema :
       {"Run", "Attempt", "Progress", "Task", "FunctionCatalogue", "Stats", "Error"}) {
    EXPECT_TRUE(document_.at("components").at("schemas").as_object().contains(schema)) << schema;
  }
}

TEST_F(OpenApiTest, EveryRegisteredRouteIsDocumented) {
  std::vector<std::string> routes = server_->RouteList();
  // The route list itself must be complete for this test to mean anything.
  ASSERT_NE(std::find(routes.begin(), routes.end(), "GET /api/v1/openapi.json"), routes.end());
  ASSERT_NE(std::find(routes.begin(), routes.end(), "POST /api/v1/runs"), routes.end());
  std::vector<std::string> missing;
  for (const std::string& route : routes) {
    size_t space = route.find(' ');
    ASSERT_NE(space, std::string::npos) << route;
    std::string method = route.substr(0, space);
    for (char& c : method) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string pattern = route.substr(space + 1);
    const json::value* path = paths().if_contains(pattern);
    if (!path || !path->is_object() || !path->as_object().contains(method)) {
      missing.push_back(route);
    }
  }
  EXPECT_TRUE(missing.empty()) << missing.size()
                               << " route(s) the server registers are missing from "
                                  "src/api/openapi.json (add each under paths):"
                               << Join(missing);
}

TEST_F(OpenApiTest, EveryRefResolves) {
  json::value root = document_;
  std::vector<std::string> broken;
  size_t refs = 0;
  Walk(root, "#", [&](std::string_view key, const json::value& value, const std::string& where) {
    if (key != "$ref") return;
    ++refs;
    if (!value.is_string()) {
      broken.push_back(where + ": not a string");
      return;
    }
    std::string_view ref = value.as_string();
    if (!ref.starts_with("#/components/")) {
      broken.push_back(where + ": " + std::string(ref) + " is not a local component");
    } else if (!Resolve(root, ref)) {
      broken.push_back(where + ": " + std::string(ref) + " names nothing");
    }
  });
  EXPECT_GT(refs, 0u);
  EXPECT_TRUE(broken.empty()) << broken.size() << " broken $ref(s):" << Join(broken);
}

// A path template's captures must be declared as path parameters of each of its
// operations (OpenAPI requires it, and code generators rely on it).
TEST_F(OpenApiTest, PathCapturesAreDeclaredParameters) {
  json::value root = document_;
  std::vector<std::string> problems;
  auto path_params = [&](const json::value* list, std::set<std::string>* names) {
    if (!list || !list->is_array()) return;
    for (const json::value& item : list->as_array()) {
      const json::value* param = &item;
      if (const json::value* ref = item.as_object().if_contains("$ref"); ref && ref->is_string()) {
        param = Resolve(root, ref->as_string());
        if (!param) continue;  // reported by EveryRefResolves
      }
      const json::object& p = param->as_object();
      if (p.contains("in") && p.at("in").as_string() == "path")
        names->insert(std::string(p.at("name").as_string()));
    }
  };
  for (const auto& [pattern, item] : paths()) {
    std::set<std::string> captures;
    for (size_t open = pattern.find('{'); open != std::string::npos;
         open = pattern.find('{', open + 1)) {
      captures.insert(std::string(pattern.substr(open + 1, pattern.find('}', open) - open - 1)));
    }
    std::set<std::string> shared;
    path_params(item.as_object().if_contains("parameters"), &shared);
    for (const auto& [method, operation] : item.as_object()) {
      if (method == "parameters" || method == "summary" || method == "description") continue;
      std::set<std::string> declared = shared;
      path_params(operation.as_object().if_contains("parameters"), &declared);
      if (declared != captures) {
        problems.push_back(std::string(method) + " " + std::string(pattern) +
                           ": path parameters do not match the template");
      }
      if (!operation.as_object().contains("responses")) {
        problems.push_back(std::string(method) + " " + std::string(pattern) + ": no responses");
      }
    }
  }
  EXPECT_TRUE(problems.empty()) << Join(problems);
}

TEST_F(OpenApiTest, PublicRoutesNeedNoToken) {
  EXPECT_TRUE(document_.at("security").as_array().size() == 1 &&
              document_.at("security").at(0).as_object().contains("bearerAuth"));
  for (const char* path : {"/healthz", "/metrics", "/api/v1/openapi.json"}) {
    const json::value* security = paths().at(path).at("get").as_object().if_contains("security");
    ASSERT_NE(security, nullptr) << path;
    EXPECT_TRUE(security->as_array().empty()) << path;
  }
}

}  // namespace
}  // namespace taskmill::api
