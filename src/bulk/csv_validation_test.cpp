#include "bulk/csv_validation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace taskmill::bulk {
namespace {
namespace json = boost::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::vector<std::string> kMandatory = {"e164"};
const std::vector<std::string> kOptional = {"account_id", "carrier", "state"};

CsvCheck Check(std::string_view text, size_t max = 100) {
  auto reader = csv::Reader::FromString(text);
  return CheckCsv(reader, kMandatory, kOptional, max);
}

// "line: message" per problem, the way a user reads them.
std::vector<std::string> Lines(const CsvCheck& check) {
  std::vector<std::string> out;
  for (const auto& p : check.problems) {
    out.push_back(std::to_string(p.line) + (p.column ? ":" + std::to_string(*p.column) : "") + " " +
                  p.message);
  }
  return out;
}

TEST(CheckCsv, AcceptsAValidFileAndCountsItsRows) {
  CsvCheck check = Check("e164,state,extra\r\n+15550001,active,x\n\"+15550002\",\"\",\"a,b\"\n");
  EXPECT_TRUE(check.ok()) << ::testing::PrintToString(Lines(check));
  EXPECT_EQ(check.rows, 2);
  EXPECT_THAT(check.header, ElementsAre("e164", "state", "extra"));
}

TEST(CheckCsv, RejectsAnEmptyFile) {
  for (std::string_view empty : {"", "\xEF\xBB\xBF"}) {
    CsvCheck check = Check(empty);
    ASSERT_EQ(check.problem_count, 1);
    EXPECT_EQ(check.problems[0].line, 1);
    EXPECT_THAT(check.problems[0].message, HasSubstr("the file is empty"));
    EXPECT_THAT(check.problems[0].message, HasSubstr("mandatory: e164"));
  }
}

TEST(CheckCsv, RejectsAHeaderWithoutRows) {
  CsvCheck check = Check("e164,state\n");
  EXPECT_THAT(Lines(check),
              ElementsAre("1 the file has a header but no rows; at least one row is required"));
}

TEST(CheckCsv, RejectsAMissingMandatoryColumnNamingTheAcceptedOnes) {
  CsvCheck check = Check("number,state\n+1555,active\n");
  ASSERT_EQ(check.problem_count, 1);
  EXPECT_EQ(check.problems[0].line, 1);
  EXPECT_FALSE(check.problems[0].column.has_value());
  EXPECT_EQ(check.problems[0].message,
            "the header lacks the mandatory column e164 (mandatory: e164; optional: account_id, "
            "carrier, state)");
}

TEST(CheckCsv, RejectsEmptyAndDuplicateHeaderCells) {
  CsvCheck check = Check("e164,,state,e164\n+1,,x,+1\n");
  EXPECT_THAT(Lines(check),
              ElementsAre("1:2 header cell 2 is empty; every column needs a name",
                          "1:4 column 'e164' appears twice in the header (cells 1 and 4)"));
}

TEST(CheckCsv, ListsEveryRaggedRowAndEveryRowWithoutAMandatoryValueAtOnce) {
  CsvCheck check = Check(
      "e164,state,carrier\n"     // 1
      "+15550001,active,acme\n"  // 2 fine
      "+15550002,active\n"       // 3 short
      ",free,acme\n"             // 4 no e164
      "+15550004,a,b,c\n"        // 5 long
      "\n"                       // 6 blank line: one cell
      "\"\",free,acme\n"         // 7 quoted empty e164 is no value either
      "\"+1555\n0008\",x,y\n"    // 8-9 a value across lines is fine
      "+15550010,x,y\n");        // 10 fine
  EXPECT_THAT(Lines(check), ElementsAre("3 the row has 2 cells; the header has 3",
                                        "4:1 no value in the mandatory column e164",
                                        "5 the row has 4 cells; the header has 3",
                                        "6 the row has 1 cell; the header has 3",
                                        "7:1 no value in the mandatory column e164"));
  EXPECT_EQ(check.rows, 8);
}

TEST(CheckCsv, NamesEveryEmptyMandatoryColumnOfARow) {
  auto reader = csv::Reader::FromString("a,b,c\n1,,\n,,3\n");
  CsvCheck check = CheckCsv(reader, {"a", "b", "c"}, {}, 10);
  EXPECT_THAT(Lines(check), ElementsAre("2:2 no value in the mandatory columns b, c",
                                        "3:1 no value in the mandatory columns a, b"));
}

TEST(CheckCsv, ReportsMalformedQuotingWithLineAndColumnAndStopsThere) {
  CsvCheck check = Check(
      "e164,state\n"
      ",x\n"           // 2: no e164 (reported before the quoting error)
      "+1555,ab\"c\n"  // 3: quote in an unquoted field
      ",y\n");         // not reached
  ASSERT_EQ(check.problem_count, 2);
  EXPECT_EQ(check.problems[1].line, 3);
  EXPECT_EQ(check.problems[1].column, 9);
  EXPECT_THAT(check.problems[1].message, HasSubstr("quote in unquoted field"));
  EXPECT_THAT(check.problems[1].message, ::testing::Not(HasSubstr("line 3:")));

  CsvCheck open = Check("e164,state\n+1,\"never closed\n");
  ASSERT_EQ(open.problem_count, 1);
  EXPECT_EQ(open.problems[0].line, 2);
  EXPECT_THAT(open.problems[0].message, HasSubstr("unterminated quoted field"));
}

TEST(CheckCsv, CountsProblemsBeyondTheListedOnes) {
  std::string text = "e164,state\n";
  for (int i = 0; i < 50; ++i) text += ",x\n";
  CsvCheck check = Check(text, /*max=*/5);
  EXPECT_EQ(check.problems.size(), 5u);
  EXPECT_EQ(check.problem_count, 50);
  EXPECT_EQ(check.problems[4].line, 6);
}

TEST(CheckStatus, CarriesEveryProblemAsDetails) {
  CsvCheck check = Check("e164,state\n+1,x,y\n,z\n");
  Status status = CheckStatus(check, "numbers.csv", "numbers.import");
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "numbers.csv is not a valid input for numbers.import:\n"
            "line 2: the row has 3 cells; the header has 2\n"
            "line 3: no value in the mandatory column e164");
  EXPECT_EQ(json::serialize(status.details()),
            R"({"code":"invalid_csv","errors":[{"line":2,"message":"the row has 3 cells; the )"
            R"(header has 2"},{"line":3,"column":1,"message":"no value in the mandatory column )"
            R"(e164"}],"error_count":2})");

  std::string many = "e164\n";
  for (int i = 0; i < 8; ++i) many += "\"\"\n";
  auto reader = csv::Reader::FromString(many);
  Status capped = CheckStatus(CheckCsv(reader, kMandatory, {}, 3), "the CSV", "numbers.import");
  EXPECT_THAT(capped.message(), HasSubstr("... and 5 more problems"));
  EXPECT_EQ(capped.details().at("error_count").as_int64(), 8);
}

}  // namespace
}  // namespace taskmill::bulk
