// The one JSON reader of request bodies and of the CLI's --args/--data.
#include "api/json_body.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace taskmill::api {
namespace {
namespace json = boost::json;
using ::testing::HasSubstr;

std::string Field(const Status& status) {
  const json::value& details = status.details();
  const json::value* field =
      details.is_object() ? details.get_object().if_contains("field") : nullptr;
  return field && field->is_string() ? std::string(field->get_string()) : "";
}

std::string Code(const Status& status) {
  const json::value& details = status.details();
  const json::value* code =
      details.is_object() ? details.get_object().if_contains("code") : nullptr;
  return code && code->is_string() ? std::string(code->get_string()) : "";
}

TEST(JsonBodyTest, NumbersThatOverflowADoubleAreRefusedNamingTheField) {
  auto parsed = ParseJsonText(R"({"function":"demo.echo","args":[1, 1e400]})");
  ASSERT_FALSE(parsed.ok());
  EXPECT_TRUE(parsed.status().IsInvalidArgument());
  EXPECT_EQ(Code(parsed.status()), "") << "a field error: 422, not malformed_json";
  EXPECT_EQ(Field(parsed.status()), "args[1]");
  EXPECT_THAT(parsed.status().message(), HasSubstr("1e400"));
  EXPECT_THAT(parsed.status().message(), HasSubstr("out of range"));

  auto nested = ParseJsonText(R"({"data":{"a":{"b":[[-2e999]]}}})");
  ASSERT_FALSE(nested.ok());
  EXPECT_EQ(Field(nested.status()), "data.a.b[0][0]");
  auto top = ParseJsonText("1e400");
  ASSERT_FALSE(top.ok());
  EXPECT_EQ(Field(top.status()), "");
}

TEST(JsonBodyTest, LargeButFiniteNumbersAreKept) {
  auto parsed =
      ParseJsonText(R"({"a":[1.7976931348623157e308, -1e308, 1e-400, 18446744073709551615]})");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->at("a").at(0).as_double(), 1.7976931348623157e308);
  EXPECT_EQ(parsed->at("a").at(2).as_double(), 0.0);
}

TEST(JsonBodyTest, DuplicateKeysAreRefusedWithTheKeyAndWhere) {
  auto parsed = ParseJsonText("{\"function\":\"demo.echo\",\n\"id\":\"a\",\n\"id\":\"b\"}");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(Code(parsed.status()), "duplicate_key");
  EXPECT_EQ(Field(parsed.status()), "id");
  EXPECT_THAT(parsed.status().message(), HasSubstr("duplicate key \"id\""));
  EXPECT_THAT(parsed.status().message(), HasSubstr("line 3"));
  EXPECT_EQ(parsed.status().details().at("line"), 3);

  auto nested = ParseJsonText(R"({"runs":[{"id":"x"},{"retry":{"delay":1,"delay":2}}]})");
  ASSERT_FALSE(nested.ok());
  EXPECT_EQ(Field(nested.status()), "runs[1].retry.delay");

  // Many keys: the check does not depend on the object's size.
  std::string big = "{";
  for (int i = 0; i < 100; ++i) big += "\"k" + std::to_string(i) + "\":" + std::to_string(i) + ",";
  auto unique = ParseJsonText(big + "\"last\":0}");
  EXPECT_TRUE(unique.ok()) << unique.status().ToString();
  auto twice = ParseJsonText(big + "\"k57\":0}");
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(Field(twice.status()), "k57");
}

TEST(JsonBodyTest, TheSameKeyInDifferentObjectsIsFine) {
  auto parsed = ParseJsonText(R"({"a":{"id":1},"b":{"id":2},"c":[{"id":3},{"id":4}]})");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(json::serialize(*parsed), R"({"a":{"id":1},"b":{"id":2},"c":[{"id":3},{"id":4}]})");
}

TEST(JsonBodyTest, SyntaxErrorsStillSayWhere) {
  auto parsed = ParseJsonText("{\"a\":\n  tru}");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(Code(parsed.status()), "malformed_json");
  EXPECT_EQ(parsed.status().details().at("line"), 2);
  auto extra = ParseJsonText("{} x");
  ASSERT_FALSE(extra.ok());
  EXPECT_EQ(Code(extra.status()), "malformed_json");
  auto bad_utf8 = ParseJsonText("{\"a\":\"\xff\"}");
  EXPECT_FALSE(bad_utf8.ok());
}

}  // namespace
}  // namespace taskmill::api
