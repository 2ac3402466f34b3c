#include "csv/csv_writer.h"

#include <gtest/gtest.h>

#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "csv/csv_reader.h"
#include "csv/csv_test_util.h"

namespace taskmill::csv {
namespace {

// Writes `records` with `options` and returns the whole output.
std::string WriteAll(const std::vector<std::vector<std::string>>& records,
                     WriterOptions options = {}) {
  std::string out;
  {
    Writer writer([&out](std::string_view bytes) { out.append(bytes); }, options);
    for (const auto& record : records) writer.WriteRecord(record);
  }
  return out;
}

TEST(CsvWriterTest, WritesPlainFieldsUnquotedWithLfLineEnds) {
  EXPECT_EQ(WriteAll({{"a", "b", "c"}, {"1", "2", "3"}}), "a,b,c\n1,2,3\n");
}

TEST(CsvWriterTest, QuotesOnlyFieldsThatNeedIt) {
  EXPECT_EQ(WriteAll({{"a,b", "say \"hi\"", "x\ny", "x\ry", "plain", " spaced "}}),
            "\"a,b\",\"say \"\"hi\"\"\",\"x\ny\",\"x\ry\",plain, spaced \n");
  EXPECT_EQ(WriteAll({{"\""}}), "\"\"\"\"\n");
}

TEST(CsvWriterTest, QuotesEdgeSpacesWhenAsked) {
  WriterOptions options;
  options.quote_edge_spaces = true;
  EXPECT_EQ(WriteAll({{" a", "a\t", "a b", "a"}}, options), "\" a\",\"a\t\",a b,a\n");
}

TEST(CsvWriterTest, WritesCrLfWhenAsked) {
  WriterOptions options;
  options.line_ending = LineEnding::kCrLf;
  EXPECT_EQ(WriteAll({{"a", "b"}, {"c"}}, options), "a,b\r\nc\r\n");
}

TEST(CsvWriterTest, EmptyFieldsAreWrittenAsNothing) {
  EXPECT_EQ(WriteAll({{"", "a", ""}, {"", ""}}), ",a,\n,\n");
}

TEST(CsvWriterTest, RecordOfOneEmptyFieldIsWrittenAsQuotedEmptyNotBlankLine) {
  EXPECT_EQ(WriteAll({{"a"}, {""}, {"b"}}), "a\n\"\"\nb\n");
  EXPECT_EQ(testing::ParseWhole(WriteAll({{"a"}, {""}, {"b"}})),
            (std::vector<std::string>{"1:a", "2:\"\"", "3:b"}));
}

TEST(CsvWriterTest, RecordWithNoFieldsIsABlankLine) {
  EXPECT_EQ(WriteAll({{"a"}, {}, {"b"}}), "a\n\nb\n");
}

TEST(CsvWriterTest, QuotesAByteOrderMarkAtTheVeryStartOnly) {
  const std::string bom = "\xEF\xBB\xBF";
  EXPECT_EQ(WriteAll({{bom + "a", bom}, {bom}}), "\"" + bom + "a\"," + bom + "\n" + bom + "\n");
  EXPECT_EQ(testing::ParseWhole(WriteAll({{bom + "a"}})),
            (std::vector<std::string>{"1:\"" + bom + "a\""}));
}

TEST(CsvWriterTest, FieldByFieldEqualsWholeRecords) {
  std::string out;
  {
    Writer writer([&out](std::string_view bytes) { out.append(bytes); });
    writer.WriteField("a");
    writer.WriteField("b,c");
    writer.EndRecord();
    writer.WriteRecord({"d", "e"});
    const std::vector<std::string_view> views = {"f", "g"};
    writer.WriteRecord(std::span<const std::string_view>(views));
    EXPECT_EQ(writer.records_written(), 3);
  }
  EXPECT_EQ(out, "a,\"b,c\"\nd,e\nf,g\n");
}

TEST(CsvWriterTest, CopiesRecordsFromAReader) {
  const std::string input = "a,\"b,c\",,\"\"\n\"x\"\"y\",z\n";
  Reader reader = Reader::FromString(input);
  std::string out;
  {
    Writer writer([&out](std::string_view bytes) { out.append(bytes); });
    for (;;) {
      Result<bool> more = reader.Next();
      ASSERT_TRUE(more.ok());
      if (!*more) break;
      writer.WriteRecord(reader.record().fields);
    }
  }
  EXPECT_EQ(out, "a,\"b,c\",,\n\"x\"\"y\",z\n");  // the quoted empty becomes unquoted
}

TEST(CsvWriterTest, HandsBytesToTheSinkOnlyWhenTheBufferIsFullOrFlushed) {
  std::vector<std::string> pieces;
  WriterOptions options;
  options.buffer_size = 10;
  Writer writer([&pieces](std::string_view bytes) { pieces.emplace_back(bytes); }, options);
  writer.WriteRecord({"abcd"});  // 5 bytes
  EXPECT_TRUE(pieces.empty());
  writer.WriteRecord({"efgh"});  // 10 bytes: full
  EXPECT_EQ(pieces, (std::vector<std::string>{"abcd\nefgh\n"}));
  writer.WriteField("ij");
  writer.Flush();  // a record not yet ended is flushed too
  EXPECT_EQ(pieces, (std::vector<std::string>{"abcd\nefgh\n", "ij"}));
  writer.Flush();  // nothing new: the sink is not called
  EXPECT_EQ(pieces.size(), 2u);
}

TEST(CsvWriterTest, DestructorFlushes) {
  std::string out;
  {
    Writer writer([&out](std::string_view bytes) { out.append(bytes); });
    writer.WriteRecord({"a"});
    EXPECT_EQ(out, "");
  }
  EXPECT_EQ(out, "a\n");
}

TEST(CsvWriterTest, SinkFailureReachesTheCallerOfFlush) {
  Writer writer([](std::string_view) { throw std::runtime_error("disk full"); });
  writer.WriteRecord({"a"});
  EXPECT_THROW(writer.Flush(), std::runtime_error);
  writer.WriteRecord({"b"});  // the destructor's flush fails too, silently
}

TEST(CsvWriterTest, LongFieldsGrowTheBuffer) {
  const std::string quotes(100000, '"');
  const std::string out = WriteAll({{quotes, "x"}}, WriterOptions{.buffer_size = 16});
  EXPECT_EQ(out, "\"" + std::string(200000, '"') + "\",x\n");
}

// ---- round trip ---------------------------------------------------------------------

// Random tables (fixed seed) written and read back: every value survives; an empty
// cell reads back as undefined, except in a one-column row, where it reads back as the
// empty string; line numbers account for line breaks inside fields.
TEST(CsvWriterTest, RandomTablesRoundTrip) {
  static const std::vector<std::string> kPieces = {
      "a", "Z", "0", ",", "\"", "\r", "\n", "\r\n", " ", "\t", "\xC3\xA9", "\xEF\xBB\xBF", "''"};
  std::mt19937 rng(20240601);
  auto uniform = [&rng](size_t low, size_t high) {
    return std::uniform_int_distribution<size_t>(low, high)(rng);
  };
  for (int table_index = 0; table_index < 300; ++table_index) {
    const size_t rows = uniform(1, 20);
    const size_t columns = uniform(1, 6);
    std::vector<std::vector<std::string>> table(rows, std::vector<std::string>(columns));
    for (auto& row : table) {
      for (auto& cell : row) {
        const size_t pieces = uniform(0, 3) == 0 ? 0 : uniform(1, 6);
        for (size_t i = 0; i < pieces; ++i) cell += kPieces[uniform(0, kPieces.size() - 1)];
      }
    }
    WriterOptions options;
    options.line_ending = table_index % 2 == 0 ? LineEnding::kLf : LineEnding::kCrLf;
    options.quote_edge_spaces = table_index % 3 == 0;
    options.buffer_size = uniform(1, 100);
    const std::string text = WriteAll(table, options);

    const auto whole = testing::ParseWhole(text);
    EXPECT_EQ(testing::ParseRandomChunks(text, 13, table_index, ReaderOptions{.read_size = 8}),
              whole);

    Reader reader = Reader::FromString(text);
    int64_t expected_line = 1;
    for (const auto& row : table) {
      Result<bool> more = reader.Next();
      ASSERT_TRUE(more.ok()) << more.status().message() << "\n" << text;
      ASSERT_TRUE(*more) << text;
      const Record& record = reader.record();
      EXPECT_EQ(record.line, expected_line) << text;
      ASSERT_EQ(record.fields.size(), row.size()) << text;
      for (size_t column = 0; column < row.size(); ++column) {
        const Field& field = record.fields[column];
        EXPECT_EQ(field.value, row[column]) << text;
        if (row[column].empty()) {
          EXPECT_EQ(field.undefined(), row.size() > 1) << text;
        }
        for (size_t i = 0; i < row[column].size(); ++i) {  // CRLF, CR and LF: one line each
          const char c = row[column][i];
          if (c == '\r' || (c == '\n' && (i == 0 || row[column][i - 1] != '\r'))) ++expected_line;
        }
      }
      ++expected_line;
    }
    Result<bool> more = reader.Next();
    ASSERT_TRUE(more.ok());
    EXPECT_FALSE(*more);
  }
}

}  // namespace
}  // namespace taskmill::csv
