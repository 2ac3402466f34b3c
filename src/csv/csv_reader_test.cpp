#include "csv/csv_reader.h"

#include <gtest/gtest.h>

#include <random>
#include <sstream>
#include <streambuf>
#include <string>
#include <vector>

#include "csv/csv_test_util.h"

namespace taskmill::csv {
namespace {

using testing::ParseChunked;
using testing::ParseRandomChunks;
using testing::ParseWhole;
using Rows = std::vector<std::string>;

const std::string kBom = "\xEF\xBB\xBF";  // the UTF-8 byte order mark

// ---- records and fields -----------------------------------------------------------

TEST(CsvReaderTest, ReadsRecordsAndFields) {
  EXPECT_EQ(ParseWhole("a,b,c\n1,2,3\n"), (Rows{"1:a|b|c", "2:1|2|3"}));
}

TEST(CsvReaderTest, FinalLineWithoutLineBreakIsARecord) {
  EXPECT_EQ(ParseWhole("a,b\nc,d"), (Rows{"1:a|b", "2:c|d"}));
  EXPECT_EQ(ParseWhole("\"a\""), (Rows{"1:\"a\""}));
  EXPECT_EQ(ParseWhole("\"\""), (Rows{"1:\"\""}));
}

TEST(CsvReaderTest, EmptyInputHasNoRecords) {
  EXPECT_EQ(ParseWhole(""), Rows{});
  EXPECT_EQ(ParseWhole(kBom), Rows{});
}

TEST(CsvReaderTest, EmptyLastLineIsNotARecord) {
  EXPECT_EQ(ParseWhole("a\n"), (Rows{"1:a"}));
  EXPECT_EQ(ParseWhole("a\r\n"), (Rows{"1:a"}));
  EXPECT_EQ(ParseWhole("a\r"), (Rows{"1:a"}));
}

TEST(CsvReaderTest, BlankLineIsARecordWithOneUndefinedField) {
  EXPECT_EQ(ParseWhole("a\n\nb\n"), (Rows{"1:a", "2:~", "3:b"}));
  EXPECT_EQ(ParseWhole("\n"), (Rows{"1:~"}));
  EXPECT_EQ(ParseWhole("a\n\n"), (Rows{"1:a", "2:~"}));
  EXPECT_EQ(ParseWhole("\r\n\r\n"), (Rows{"1:~", "2:~"}));
  EXPECT_EQ(ParseWhole("\r\r\n"), (Rows{"1:~", "2:~"}));
}

TEST(CsvReaderTest, UnquotedEmptyIsUndefinedAndQuotedEmptyIsEmptyString) {
  Reader reader = Reader::FromString("a,,\"\",b");
  Result<bool> more = reader.Next();
  ASSERT_TRUE(more.ok() && *more);
  const std::vector<Field>& fields = reader.record().fields;
  ASSERT_EQ(fields.size(), 4u);
  EXPECT_FALSE(fields[0].undefined());
  EXPECT_TRUE(fields[1].undefined());
  EXPECT_FALSE(fields[1].quoted);
  EXPECT_FALSE(fields[2].undefined());
  EXPECT_TRUE(fields[2].quoted);
  EXPECT_EQ(fields[2].value, "");
  EXPECT_FALSE(fields[3].undefined());
}

TEST(CsvReaderTest, TrailingCommaEndsWithUndefinedField) {
  EXPECT_EQ(ParseWhole("a,\n,\n"), (Rows{"1:a|~", "2:~|~"}));
  EXPECT_EQ(ParseWhole("a,"), (Rows{"1:a|~"}));
  EXPECT_EQ(ParseWhole("\"a\","), (Rows{"1:\"a\"|~"}));
}

TEST(CsvReaderTest, QuotedFieldsHoldCommasDoubledQuotesAndLineBreaks) {
  EXPECT_EQ(ParseWhole("\"a,b\",\"say \"\"hi\"\"\",\"x\ny\"\nnext"),
            (Rows{"1:\"a,b\"|\"say \"hi\"\"|\"x\ny\"", "3:next"}));
  EXPECT_EQ(ParseWhole("\"\"\"\"\n"), (Rows{"1:\"\"\""}));  // one quote, shown in quotes
  EXPECT_EQ(ParseWhole("\"a\r\nb\",\"c\rd\""), (Rows{"1:\"a\r\nb\"|\"c\rd\""}));
}

TEST(CsvReaderTest, DoubledQuotesInSeveralFieldsOfOneRecord) {
  Reader reader = Reader::FromString("\"a\"\"b\",plain,\"c\"\"\"\"d\",\"\"\"\"\n");
  Result<bool> more = reader.Next();
  ASSERT_TRUE(more.ok() && *more);
  const std::vector<Field>& fields = reader.record().fields;
  ASSERT_EQ(fields.size(), 4u);
  EXPECT_EQ(fields[0].value, "a\"b");
  EXPECT_EQ(fields[1].value, "plain");
  EXPECT_EQ(fields[2].value, "c\"\"d");
  EXPECT_EQ(fields[3].value, "\"");
}

TEST(CsvReaderTest, AcceptsCrLfLoneCrAndLfLineEnds) {
  EXPECT_EQ(ParseWhole("a\r\nb\rc\nd"), (Rows{"1:a", "2:b", "3:c", "4:d"}));
  EXPECT_EQ(ParseWhole("\"a\"\r\n\"b\"\r\"c\"\n"), (Rows{"1:\"a\"", "2:\"b\"", "3:\"c\""}));
}

TEST(CsvReaderTest, LineNumbersCountPhysicalLinesInsideQuotedFields) {
  EXPECT_EQ(ParseWhole("\"a\nb\",c\nd\n\"x\r\ny\rz\",w\nlast"),
            (Rows{"1:\"a\nb\"|c", "3:d", "4:\"x\r\ny\rz\"|w", "7:last"}));
}

TEST(CsvReaderTest, SkipsByteOrderMarkOnlyAtTheStart) {
  EXPECT_EQ(ParseWhole(kBom + "a,b\n"), (Rows{"1:a|b"}));
  EXPECT_EQ(ParseWhole(kBom + "\"a\""), (Rows{"1:\"a\""}));
  EXPECT_EQ(ParseWhole("a\n" + kBom + "b"), (Rows{"1:a", "2:" + kBom + "b"}));
  EXPECT_EQ(ParseWhole("\xEF\xBB"), (Rows{"1:\xEF\xBB"}));  // not a whole mark
}

TEST(CsvReaderTest, KeepsSpaces) { EXPECT_EQ(ParseWhole(" a , b \n"), (Rows{"1: a | b "})); }

TEST(CsvReaderTest, ReusesTheFieldVectorFromRecordToRecord) {
  Reader reader = Reader::FromString("a,b,c,d,e\nf,g,h,i,j\nk,l,m,n,o\n");
  ASSERT_TRUE(*reader.Next());
  const Field* storage = reader.record().fields.data();
  ASSERT_TRUE(*reader.Next());
  EXPECT_EQ(reader.record().fields.data(), storage);
  ASSERT_TRUE(*reader.Next());
  EXPECT_EQ(reader.record().fields.data(), storage);
  EXPECT_EQ(reader.record().fields[4].value, "o");
}

// ---- errors -------------------------------------------------------------------------

TEST(CsvReaderTest, UnterminatedQuoteNamesLineAndColumnOfTheOpeningQuote) {
  EXPECT_EQ(ParseWhole("a,b\nc,\"de\nf"),
            (Rows{"1:a|b", "error: line 2: unterminated quoted field starting at column 3"}));
  // The record starts on line 2; the open quote is on line 3.
  EXPECT_EQ(ParseWhole("x\n\"ok\nok\",\"open"),
            (Rows{"1:x", "error: line 3: unterminated quoted field starting at column 5"}));
  EXPECT_EQ(ParseWhole("\""),
            (Rows{"error: line 1: unterminated quoted field starting at column 1"}));
}

TEST(CsvReaderTest, QuoteInUnquotedFieldIsAnError) {
  EXPECT_EQ(ParseWhole("a,b\"c\n"),
            (Rows{"error: line 1: quote in unquoted field at column 4; a field containing quotes "
                  "must be quoted as a whole, with each quote doubled"}));
  EXPECT_EQ(ParseWhole("ok\n x,\"y\"\n a \"b\""),
            (Rows{"1:ok", "2: x|\"y\"",
                  "error: line 3: quote in unquoted field at column 4; a field containing quotes "
                  "must be quoted as a whole, with each quote doubled"}));
}

TEST(CsvReaderTest, CharacterAfterClosingQuoteIsAnError) {
  EXPECT_EQ(ParseWhole("\"a\"b,c"),
            (Rows{"error: line 1: unexpected 'b' after closing quote at column 4; expected ',' "
                  "or end of line"}));
  EXPECT_EQ(ParseWhole("x,\"a\" ,c"),
            (Rows{"error: line 1: unexpected ' ' after closing quote at column 6; expected ',' "
                  "or end of line"}));
  EXPECT_EQ(ParseWhole("\"multi\nline\"\t"),
            (Rows{"error: line 2: unexpected byte 0x09 after closing quote at column 6; expected "
                  "',' or end of line"}));
}

TEST(CsvReaderTest, ErrorColumnsCountUtf8Characters) {
  // é and ü take two bytes each; the quote is the fourth character.
  EXPECT_EQ(ParseWhole("\xC3\xA9,\xC3\xBC\"x"),
            (Rows{"error: line 1: quote in unquoted field at column 4; a field containing quotes "
                  "must be quoted as a whole, with each quote doubled"}));
}

TEST(CsvReaderTest, ErrorDetailsHoldLineAndColumn) {
  Reader reader = Reader::FromString("a\nb,\"c");
  ASSERT_TRUE(*reader.Next());
  Result<bool> more = reader.Next();
  ASSERT_FALSE(more.ok());
  EXPECT_TRUE(more.status().IsInvalidArgument());
  const boost::json::object& details = more.status().details().as_object();
  EXPECT_EQ(details.at("line").as_int64(), 2);
  EXPECT_EQ(details.at("column").as_int64(), 3);
}

TEST(CsvReaderTest, ErrorsAreFinal) {
  Reader reader = Reader::FromString("\"a\"x\nb\n");
  Result<bool> first = reader.Next();
  ASSERT_FALSE(first.ok());
  Result<bool> second = reader.Next();
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().message(), first.status().message());
}

// ---- record size --------------------------------------------------------------------

TEST(CsvReaderTest, RecordLongerThanMaxRecordSizeIsAnErrorNamingItsLine) {
  ReaderOptions options;
  options.max_record_size = 10;
  EXPECT_EQ(ParseWhole("0123456789\n0123456789\r\n", options),
            (Rows{"1:0123456789", "2:0123456789"}));
  EXPECT_EQ(ParseWhole("ok\n\"a\nb\"\n0123456789a\n", options),
            (Rows{"1:ok", "2:\"a\nb\"",
                  "error: line 4: record longer than the maximum of 10 bytes (max_record_size)"}));
  // Quotes and line breaks inside a quoted field count.
  EXPECT_EQ(ParseWhole("\"01234\n678\"", options),
            (Rows{"error: line 1: record longer than the maximum of 10 bytes (max_record_size)"}));
  EXPECT_EQ(ParseWhole("\"01234\n67\"", options), (Rows{"1:\"01234\n67\""}));
}

TEST(CsvReaderTest, SizeLimitWinsOverFormatErrorsBeyondIt) {
  ReaderOptions options;
  options.max_record_size = 5;
  const std::string too_long =
      "error: line 1: record longer than the maximum of 5 bytes (max_record_size)";
  EXPECT_EQ(ParseWhole("abcdefg\"", options), (Rows{too_long}));
  EXPECT_EQ(ParseWhole("\"abcdefg", options), (Rows{too_long}));
  EXPECT_EQ(ParseWhole("ab\"cdefgh", options),
            (Rows{"error: line 1: quote in unquoted field at column 3; a field containing quotes "
                  "must be quoted as a whole, with each quote doubled"}));
}

TEST(CsvReaderTest, EndlessLineEndsWithAnErrorAfterBoundedReading) {
  ReaderOptions options;
  options.max_record_size = 1 << 16;
  options.read_size = 1 << 12;
  size_t pulled = 0;
  Reader reader(
      [&pulled](char* buf, size_t cap) {
        std::fill_n(buf, cap, 'x');
        pulled += cap;
        return cap;
      },
      options);
  Result<bool> more = reader.Next();
  ASSERT_FALSE(more.ok());
  EXPECT_EQ(more.status().message(),
            "line 1: record longer than the maximum of 65536 bytes (max_record_size)");
  EXPECT_LE(pulled, 4 * options.max_record_size);
}

// ---- sources ------------------------------------------------------------------------

TEST(CsvReaderTest, ReadsFromAnIstream) {
  std::istringstream in("a,\"b\nc\"\r\nd");
  Reader reader(in, ReaderOptions{.max_record_size = 100, .read_size = 3});
  EXPECT_EQ(testing::Render(reader), (Rows{"1:a|\"b\nc\"", "3:d"}));
}

// A stream buffer that fails after serving some bytes.
class FailingStreamBuf : public std::streambuf {
 protected:
  int_type underflow() override {
    if (served_) throw std::runtime_error("disk on fire");
    served_ = true;
    setg(text_, text_, text_ + 4);
    return traits_type::to_int_type(text_[0]);
  }

 private:
  char text_[4] = {'a', '\n', 'b', ','};
  bool served_ = false;
};

TEST(CsvReaderTest, StreamThatGoesBadIsAnInternalError) {
  FailingStreamBuf buf;
  std::istream in(&buf);
  Reader reader(in);
  const Rows rows = testing::Render(reader);  // how many bytes got through is up to the stream
  ASSERT_FALSE(rows.empty());
  EXPECT_TRUE(rows.back().starts_with("error: reading the CSV input stream failed near line "))
      << rows.back();
}

TEST(CsvReaderTest, SourceReturningTooMuchIsAnInternalError) {
  Reader reader([](char*, size_t cap) { return cap + 1; });
  Result<bool> more = reader.Next();
  ASSERT_FALSE(more.ok());
  EXPECT_EQ(more.status().code(), StatusCode::kInternal);
}

// ---- chunk boundaries -----------------------------------------------------------------

// Inputs whose special bytes fall on every kind of boundary when fed in small pieces.
const std::vector<std::string>& TrickyInputs() {
  static const std::vector<std::string> inputs = {
      "",
      "\n",
      "a",
      "a,b,c\n1,2,3\n",
      "a,b\nc,d",
      "a\r\nb\rc\nd\r\n",
      "\r\r\n\n\r",
      kBom + "a,b\r\n",
      "\xEF\xBB\xBF",
      "\xEF\xBB",
      "\xEF\xBB\xBF\"q\"\r",
      "a,,\"\",b\r\n,\n",
      "\"a,b\",\"say \"\"hi\"\"\",\"x\ny\"\nnext",
      "\"\"\"\"\r\n\"\"\r\n\"\"",
      "\"a\nb\",c\nd\n\"x\r\ny\rz\",w\nlast",
      "\"ab\"\"\",\"\"\"cd\"\r\"\"\"\"\"\"\"\n",
      "a,b\nc,\"de\nf",
      "x\n\"ok\nok\",\"open",
      "a,b\"c\n",
      "\"a\"b,c",
      "x,\"a\" ,c",
      "\"a\"\"",
      "\"a\"\"\"",
      std::string(200, 'x') + "\n" + std::string(300, ',') + "\n\"" + std::string(250, 'y') +
          "\"\n",
  };
  return inputs;
}

TEST(CsvReaderTest, ChunkedParsingEqualsWholeBufferParsing) {
  for (const std::string& input : TrickyInputs()) {
    const Rows whole = ParseWhole(input);
    for (size_t chunk : {1, 2, 3, 5, 16, 17}) {
      EXPECT_EQ(ParseChunked(input, chunk), whole) << "chunk " << chunk << " input " << input;
      // A tiny read size forces the record to move and the buffer to grow mid-record.
      EXPECT_EQ(ParseChunked(input, chunk, ReaderOptions{.read_size = 1}), whole)
          << "read_size 1, chunk " << chunk << " input " << input;
    }
    for (uint32_t seed = 0; seed < 20; ++seed) {
      EXPECT_EQ(ParseRandomChunks(input, 9, seed, ReaderOptions{.read_size = 4}), whole)
          << "seed " << seed << " input " << input;
    }
  }
}

// Random byte soup over CSV's alphabet: whatever it is, chunked and whole parsing agree
// (and, under the sanitizers, neither touches memory it should not).
TEST(CsvReaderTest, RandomInputsParseTheSameInAnyChunking) {
  static const std::vector<std::string> kPieces = {
      "a", "b", ",", "\"", "\"\"", "\r", "\n", "\r\n", " ", "\xC3\xA9", "\xEF\xBB\xBF", "\t"};
  std::mt19937 rng(4180);
  for (int round = 0; round < 3000; ++round) {
    std::string input;
    const int pieces = std::uniform_int_distribution<int>(0, 40)(rng);
    for (int i = 0; i < pieces; ++i) {
      input += kPieces[std::uniform_int_distribution<size_t>(0, kPieces.size() - 1)(rng)];
    }
    ReaderOptions options;
    if (round % 3 == 0) options.max_record_size = std::uniform_int_distribution<size_t>(0, 12)(rng);
    const Rows whole = ParseWhole(input, options);
    options.read_size = 1 + round % 5;
    ASSERT_EQ(ParseChunked(input, 1, options), whole) << "input " << input;
    ASSERT_EQ(ParseRandomChunks(input, 7, static_cast<uint32_t>(round), options), whole)
        << "input " << input;
  }
}

// ---- the record's text ---------------------------------------------------------------

// Each record's text, "(q)" after it when a field was quoted. A record without quoted
// fields must be its fields joined by ',' (what the bulk run copies in one piece).
Rows Texts(Reader& reader) {
  Rows out;
  for (;;) {
    Result<bool> more = reader.Next();
    if (!more.ok()) {
      out.push_back("error");
      return out;
    }
    if (!*more) return out;
    const Record& record = reader.record();
    if (!record.any_quoted) {
      std::string joined;
      for (size_t i = 0; i < record.fields.size(); ++i) {
        if (i > 0) joined += ',';
        joined += record.fields[i].value;
      }
      EXPECT_EQ(joined, record.text);
    }
    out.push_back(std::string(record.text) + (record.any_quoted ? "(q)" : ""));
  }
}

TEST(CsvReaderTest, RecordTextIsTheRecordAsWrittenWithoutItsLineBreak) {
  const std::string input = kBom + "a,b\r\n\"x,\"\"y\",z\n\n,\rlast,\"\"";
  const Rows expected = {"a,b", "\"x,\"\"y\",z(q)", "", ",", "last,\"\"(q)"};
  Reader whole = Reader::FromString(input);
  EXPECT_EQ(Texts(whole), expected);
  for (size_t chunk : {1, 2, 5, 64}) {
    Reader reader(testing::ChunkedSource(input, [chunk] { return chunk; }),
                  ReaderOptions{.read_size = 4});
    EXPECT_EQ(Texts(reader), expected) << "chunk " << chunk;
  }
}

TEST(CsvReaderTest, RecordTextIsTheSameInAnyChunking) {
  static const std::vector<std::string> kPieces = {"a", ",", "\"", "\"\"", "\r", "\n", "\r\n", "b"};
  std::mt19937 rng(1180);
  std::vector<std::string> inputs = TrickyInputs();
  for (int round = 0; round < 1000; ++round) {
    std::string input;
    const int pieces = std::uniform_int_distribution<int>(0, 30)(rng);
    for (int i = 0; i < pieces; ++i) {
      input += kPieces[std::uniform_int_distribution<size_t>(0, kPieces.size() - 1)(rng)];
    }
    inputs.push_back(std::move(input));
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    Reader whole = Reader::FromString(inputs[i]);
    const Rows expected = Texts(whole);
    Reader chunked(testing::ChunkedSource(inputs[i], [] { return 3; }),
                   ReaderOptions{.read_size = 1 + i % 5});
    ASSERT_EQ(Texts(chunked), expected) << "input " << inputs[i];
  }
}

}  // namespace
}  // namespace taskmill::csv
