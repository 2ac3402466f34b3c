#include "api/router.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/url/parse.hpp>

#include "api/api_error.h"

namespace taskmill::api {
namespace {
namespace http = boost::beast::http;

Handler Named(std::string name) {
  return [name](Exchange&) { return Reply(JsonResponse(http::status::ok, name)); };
}

class RouterTest : public ::testing::Test {
 protected:
  RouterTest() {
    router_.Add(http::verb::get, "/api/v1/runs", Named("list"));
    router_.Add(http::verb::post, "/api/v1/runs", Named("create"));
    router_.Add(http::verb::post, "/api/v1/runs:batch", Named("batch"));
    router_.Add(http::verb::get, "/api/v1/runs/{id}", Named("get"));
    router_.Add(http::verb::delete_, "/api/v1/runs/{id}", Named("delete"));
    router_.Add(http::verb::post, "/api/v1/runs/{id}/cancel", Named("cancel"));
  }

  // The name of the handler a request reaches, or "" when none.
  std::string Route(http::verb method, std::string_view target, Router::Match* out = nullptr) {
    auto url = boost::urls::parse_origin_form(target);
    EXPECT_TRUE(url.has_value()) << target;
    Router::Match match = router_.Find(method, *url);
    std::string name;
    if (match.handler) {
      Request request;
      Exchange exchange(request, *url, match.params, {}, nullptr);
      name = (*match.handler)(exchange).response().body();
    }
    if (out) *out = std::move(match);
    return name;
  }

  Router router_;
};

TEST_F(RouterTest, MatchesLiteralsAndCaptures) {
  EXPECT_EQ(Route(http::verb::get, "/api/v1/runs"), "list");
  EXPECT_EQ(Route(http::verb::post, "/api/v1/runs"), "create");
  EXPECT_EQ(Route(http::verb::post, "/api/v1/runs:batch"), "batch");
  EXPECT_EQ(Route(http::verb::post, "/api/v1/runs/abc/cancel"), "cancel");
  Router::Match match;
  EXPECT_EQ(Route(http::verb::get, "/api/v1/runs/a%20b?wait=3", &match), "get");
  ASSERT_EQ(match.params.size(), 1u);
  EXPECT_EQ(match.params[0], "a b");
}

TEST_F(RouterTest, WrongMethodListsTheAllowedOnes) {
  Router::Match match;
  EXPECT_EQ(Route(http::verb::put, "/api/v1/runs/abc", &match), "");
  EXPECT_EQ(match.allow, "GET, DELETE");
}

TEST_F(RouterTest, MatchNamesThePatternNotThePath) {
  Router::Match match;
  EXPECT_EQ(Route(http::verb::post, "/api/v1/runs/r-123/cancel", &match), "cancel");
  EXPECT_EQ(match.pattern, "/api/v1/runs/{id}/cancel");
  EXPECT_EQ(Route(http::verb::get, "/api/v1/runs", &match), "list");
  EXPECT_EQ(match.pattern, "/api/v1/runs");
  // A wrong method still names the pattern its path matched.
  EXPECT_EQ(Route(http::verb::put, "/api/v1/runs/r-123", &match), "");
  EXPECT_EQ(match.pattern, "/api/v1/runs/{id}");
  EXPECT_EQ(Route(http::verb::get, "/nowhere", &match), "");
  EXPECT_TRUE(match.pattern.empty());

  router_.AddUpload(http::verb::post, "/api/v1/runs", [](Exchange&) {
    return Result<std::unique_ptr<BodySink>>(std::unique_ptr<BodySink>());
  });
  auto url = boost::urls::parse_origin_form("/api/v1/runs?function=f");
  std::vector<std::string> params;
  std::string_view pattern;
  EXPECT_NE(router_.FindUpload(http::verb::post, *url, &params, &pattern), nullptr);
  EXPECT_EQ(pattern, "/api/v1/runs");
}

TEST_F(RouterTest, UnknownPathsMatchNothing) {
  Router::Match match;
  for (const char* target : {"/api/v1/run", "/api/v1/runs/", "/api/v1/runs/a/b/c", "/",
                             "/api/v2/runs", "/a/b/c/d/e/f/g/h/i/j"}) {
    EXPECT_EQ(Route(http::verb::get, target, &match), "") << target;
    EXPECT_TRUE(match.allow.empty()) << target;
  }
}

TEST_F(RouterTest, RouteListNamesEachRouteOnceUploadsIncluded) {
  router_.AddUpload(http::verb::post, "/api/v1/runs", [](Exchange&) {
    return Result<std::unique_ptr<BodySink>>(std::unique_ptr<BodySink>());
  });
  router_.AddUpload(http::verb::put, "/api/v1/files/{name}", [](Exchange&) {
    return Result<std::unique_ptr<BodySink>>(std::unique_ptr<BodySink>());
  });
  EXPECT_EQ(
      router_.RouteList(),
      (std::vector<std::string>{"GET /api/v1/runs", "POST /api/v1/runs", "POST /api/v1/runs:batch",
                                "GET /api/v1/runs/{id}", "DELETE /api/v1/runs/{id}",
                                "POST /api/v1/runs/{id}/cancel", "PUT /api/v1/files/{name}"}));
}

TEST(ApiErrorTest, MapsCodesToHttpStatuses) {
  EXPECT_EQ(ToApiError(Status::NotFound("x")).http_status, http::status::not_found);
  EXPECT_EQ(ToApiError(Status::Conflict("x")).http_status, http::status::conflict);
  EXPECT_EQ(ToApiError(Status::FailedPrecondition("x")).http_status, http::status::conflict);
  EXPECT_EQ(ToApiError(Status::TooLarge("x")).http_status, http::status::payload_too_large);
  EXPECT_EQ(ToApiError(Status::Unavailable("x")).http_status, http::status::service_unavailable);
  EXPECT_EQ(ToApiError(Status::Internal("x")).http_status, http::status::internal_server_error);
  ApiError full = ToApiError(Status::InsufficientStorage("disk full: x"));
  EXPECT_EQ(full.http_status, http::status::insufficient_storage);
  EXPECT_EQ(full.code, "insufficient_storage");
  EXPECT_EQ(ToApiError(Status::InvalidArgument("x")).http_status, http::status::bad_request);
  EXPECT_EQ(ToApiError(FieldError("delay", "bad")).http_status, http::status::unprocessable_entity);
  EXPECT_EQ(ToApiError(ParameterError("limit", "bad")).http_status, http::status::bad_request);

  ApiError unknown = ToApiError(
      ApiStatus(StatusCode::kInvalidArgument, "unknown_function", "unknown function 'a.b'"));
  EXPECT_EQ(unknown.http_status, http::status::unprocessable_entity);
  EXPECT_EQ(unknown.code, "unknown_function");
  EXPECT_FALSE(unknown.details.contains("code"));
  EXPECT_EQ(
      ErrorBody(unknown),
      R"({"error":{"code":"unknown_function","message":"unknown function 'a.b'","details":{}}})");
}

}  // namespace
}  // namespace taskmill::api

namespace taskmill::api {
namespace {

TEST(PlainJsonTest, WritesNumbersAsPeopleReadThem) {
  boost::json::value v =
      boost::json::parse(R"({"a":0.0,"b":[0.002,1.5,-2.0],"c":"x\"y","d":7,"e":null})");
  EXPECT_EQ(PlainJson(v), R"({"a":0,"b":[0.002,1.5,-2],"c":"x\"y","d":7,"e":null})");
}

}  // namespace
}  // namespace taskmill::api
