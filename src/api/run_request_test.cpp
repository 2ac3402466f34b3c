#include "api/run_request.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "api/api_error.h"
#include "api/json_body.h"

namespace taskmill::api {
namespace {
namespace json = boost::json;

Result<ParsedRunBody> Parse(std::string_view text, RunBodyOptions options = {}) {
  return ParseRunBody(json::parse(text), options);
}

std::string FieldOf(const Status& status) {
  if (!status.details().is_object()) return "<no details>";
  auto* field = status.details().get_object().if_contains("field");
  return field && field->is_string() ? std::string(field->get_string()) : "<no field>";
}

TEST(RunRequestTest, MapsEveryKeyToTheEnqueueRequest) {
  auto parsed = Parse(R"({"function":"demo.echo","args":["a"],"data":{"k":1},"queue":"q",
      "id":"x1","conflict":"ignore","delay":2.5,"priority":7,"timeout":10,
      "time_to_resolve":30,"retry":{"max_attempts":3,"delay":1,"delay_factor":2,"max_delay":60}})");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  const EnqueueRequest& r = parsed->request;
  EXPECT_EQ(r.function, "demo.echo");
  EXPECT_EQ(*r.args, json::parse(R"(["a"])"));
  EXPECT_EQ(r.data, json::parse(R"({"k":1})"));
  EXPECT_EQ(r.queue, "q");
  EXPECT_EQ(r.id, "x1");
  EXPECT_EQ(parsed->conflict, ConflictMode::kIgnore);
  EXPECT_EQ(*r.delay, std::chrono::milliseconds(2500));
  EXPECT_EQ(*r.priority, 7);
  EXPECT_EQ(*r.timeout, std::chrono::seconds(10));
  EXPECT_EQ(*r.time_to_resolve, std::chrono::seconds(30));
  ASSERT_TRUE(r.retry.has_value());
  EXPECT_EQ(r.retry->max_attempts, 3);
  EXPECT_EQ(r.retry->delay, std::chrono::seconds(1));
  EXPECT_EQ(r.retry->delay_factor, 2.0);
  EXPECT_EQ(*r.retry->max_delay, std::chrono::seconds(60));
}

TEST(RunRequestTest, TopLevelRetryKeysAreTheSamePolicy) {
  auto parsed = Parse(R"({"function":"demo.fail","max_attempts":3,"retry_delay":1,
      "retry_delay_factor":2,"max_retry_delay":5})");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->request.retry->max_attempts, 3);
  EXPECT_EQ(parsed->request.retry->delay, std::chrono::seconds(1));
  EXPECT_EQ(parsed->request.retry->delay_factor, 2.0);
  EXPECT_EQ(*parsed->request.retry->max_delay, std::chrono::seconds(5));
  // `delay` alone is the start delay, never the retry delay.
  auto start_delay = Parse(R"({"function":"demo.fail","delay":4})");
  ASSERT_TRUE(start_delay.ok());
  EXPECT_FALSE(start_delay->request.retry.has_value());
  EXPECT_EQ(*start_delay->request.delay, std::chrono::seconds(4));
}

TEST(RunRequestTest, PartialRetryPolicyKeepsTheTasksOtherFields) {
  RetryPolicy task_policy;
  task_policy.max_attempts = 5;
  task_policy.delay = std::chrono::seconds(10);
  task_policy.delay_factor = 3;
  RunBodyOptions options;
  options.task_retry = [&](const std::string& task) -> Result<RetryPolicy> {
    EXPECT_EQ(task, "nightly");
    return task_policy;
  };
  auto parsed = Parse(R"({"task":"nightly","max_attempts":2})", options);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->request.retry->max_attempts, 2);
  EXPECT_EQ(parsed->request.retry->delay, std::chrono::seconds(10));
  EXPECT_EQ(parsed->request.retry->delay_factor, 3.0);
}

TEST(RunRequestTest, BadValuesNameTheirField) {
  struct Case {
    const char* body;
    const char* field;
  };
  const Case cases[] = {
      {R"({"function":"demo.echo","args":"hello"})", "args"},
      {R"({"function":"demo.echo","args":5})", "args"},
      {R"({"function":"demo.echo","data":[1]})", "data"},
      {R"({"function":"demo.echo","delay":-1})", "delay"},
      {R"({"function":"demo.echo","delay":"soon"})", "delay"},
      {R"({"function":"demo.echo","run_at":"tomorrow"})", "run_at"},
      {R"({"function":"demo.echo","run_at":"2026-01-01T00:00:00Z","delay":1})", "delay"},
      {R"({"function":"demo.echo","priority":1.5})", "priority"},
      {R"({"function":"demo.echo","timeout":0})", "timeout"},
      {R"({"function":"demo.echo","conflict":"replace"})", "conflict"},
      {R"({"function":"demo.echo","max_attempts":0})", "max_attempts"},
      {R"({"function":"demo.echo","retry_delay_factor":0.5})", "retry_delay_factor"},
      {R"({"function":"demo.echo","retry":{"max_attempts":2,"delay_factr":2}})",
       "retry.delay_factr"},
      {R"({"function":"demo.echo","retry":{"max_attempts":2},"max_attempts":3})", "max_attempts"},
      {R"({"function":"demo.echo","retry":3})", "retry"},
      {R"({"function":"demo.echo","queue":""})", "queue"},
      {R"({"function":7})", "function"},
      {R"({"fucntion":"demo.echo"})", "fucntion"},
      {R"({"args":[]})", "function"},
      {R"({"function":"demo.echo","task":"nightly"})", "task"},
  };
  for (const Case& c : cases) {
    auto parsed = Parse(c.body);
    ASSERT_FALSE(parsed.ok()) << c.body;
    EXPECT_EQ(FieldOf(parsed.status()), c.field) << c.body << " → " << parsed.status().ToString();
    // A field error is answered 422 with the code invalid_argument.
    ApiError error = ToApiError(parsed.status());
    EXPECT_EQ(error.http_status, boost::beast::http::status::unprocessable_entity) << c.body;
    EXPECT_EQ(error.code, "invalid_argument");
  }
}

TEST(RunRequestTest, UnknownKeyMessageListsTheAcceptedKeys) {
  auto parsed = Parse(R"({"function":"demo.echo","wait":true})");
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.status().message().find("wait: unknown key; accepted: function, task, args"),
            std::string::npos)
      << parsed.status().message();
}

TEST(RunRequestTest, BatchItemsArePrefixedAndTakeNoConflict) {
  RunBodyOptions options{.kind = RunBodyKind::kBatchItem, .field_prefix = "runs[3]."};
  auto bad = Parse(R"({"function":"demo.echo","delay":-2})", options);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(FieldOf(bad.status()), "runs[3].delay");
  auto conflict = Parse(R"({"function":"demo.echo","conflict":"error"})", options);
  ASSERT_FALSE(conflict.ok());
  EXPECT_EQ(FieldOf(conflict.status()), "runs[3].conflict");
}

TEST(RunRequestTest, TaskStartTakesTheTaskFromThePath) {
  RunBodyOptions options{.kind = RunBodyKind::kTaskStart, .path_task = "nightly"};
  auto parsed = Parse(R"({"args":{"day":"mon"}})", options);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->request.task, "nightly");
  EXPECT_TRUE(parsed->request.function.empty());
  auto with_function = Parse(R"({"function":"demo.echo"})", options);
  ASSERT_FALSE(with_function.ok());
  EXPECT_EQ(FieldOf(with_function.status()), "function");
}

TEST(JsonBodyTest, MalformedJsonReportsLineAndColumn) {
  auto parsed = ParseJsonText("{\n  \"function\": \"demo.echo\",\n  \"args\": [1,,2]\n}");
  ASSERT_FALSE(parsed.ok());
  ApiError error = ToApiError(parsed.status());
  EXPECT_EQ(error.http_status, boost::beast::http::status::bad_request);
  EXPECT_EQ(error.code, "malformed_json");
  EXPECT_EQ(error.details.at("line").as_int64(), 3);
  EXPECT_EQ(error.details.at("column").as_int64(), 14);
  EXPECT_NE(error.message.find("line 3, column 14"), std::string::npos) << error.message;

  auto trailing = ParseJsonText(R"({"a":1} x)");
  ASSERT_FALSE(trailing.ok());
  EXPECT_EQ(ToApiError(trailing.status()).code, "malformed_json");
  EXPECT_FALSE(ParseJsonText("").ok());
}

TEST(JsonBodyTest, ContentTypeIgnoresCaseAndParameters) {
  EXPECT_TRUE(IsJsonContentType("application/json"));
  EXPECT_TRUE(IsJsonContentType("Application/JSON; charset=utf-8"));
  EXPECT_FALSE(IsJsonContentType("text/plain"));
  EXPECT_FALSE(IsJsonContentType("application/jsonx"));
  EXPECT_FALSE(IsJsonContentType(""));
}

}  // namespace
}  // namespace taskmill::api
