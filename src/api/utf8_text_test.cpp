#include "api/utf8_text.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "api/api_error.h"

namespace taskmill::api {
namespace {
namespace json = boost::json;

TEST(Utf8TextTest, ValidatesUtf8) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ascii"));
  EXPECT_TRUE(IsValidUtf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\xFF\xFE"));
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));      // a surrogate
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // beyond U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xE2\x82"));          // cut short
}

TEST(Utf8TextTest, ErrorMessagesThatQuoteInputAreValidUtf8) {
  json::object details;
  details["parameter"] = std::string("id\xFF");
  ApiError error{.code = "not_found", .message = "no run 'x\xFF\xFEy'", .details = details};
  std::string body = ErrorBody(error);
  EXPECT_TRUE(IsValidUtf8(body)) << body;
  auto parsed = json::parse(body);
  EXPECT_EQ(parsed.at("error").at("message"), "no run 'x\xEF\xBF\xBD\xEF\xBF\xBDy'");
  EXPECT_EQ(parsed.at("error").at("details").at("parameter"), "id\xEF\xBF\xBD");
}

}  // namespace
}  // namespace taskmill::api
