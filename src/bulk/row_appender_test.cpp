#include "bulk/row_appender.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "csv/csv_writer.h"

namespace taskmill::bulk {
namespace {

using Rows = std::vector<std::vector<std::string>>;

std::string WithWriter(const Rows& rows) {
  std::string out;
  {
    csv::Writer writer([&](std::string_view bytes) { out.append(bytes); });
    for (const auto& row : rows) writer.WriteRecord(row);
    writer.Flush();
  }
  return out;
}

std::string WithAppender(const Rows& rows) {
  std::string out;
  RowAppender appender;
  for (const auto& row : rows) appender.Append(out, row);
  return out;
}

TEST(RowAppender, WritesWhatCsvWriterWritesInTheEdgeCases) {
  Rows rows = {{"\xEF\xBB\xBF"
                "bom",
                "plain"},
               {"a,b", "say \"hi\"", "line\nbreak", "cr\rhere", ""},
               {""},
               {"", ""},
               {"\xEF\xBB\xBF"
                "not first",
                "x"},
               {" spaced ", "\t"}};
  EXPECT_EQ(WithAppender(rows), WithWriter(rows));
  EXPECT_EQ(WithAppender({{""}}), "\"\"\n");
}

// Differential: random tables of awkward cells, byte for byte.
TEST(RowAppender, WritesWhatCsvWriterWritesForRandomTables) {
  std::mt19937 rng(42);
  const std::string alphabet = "ab ,\"\r\n\xEF\xBB\xBF\xC3\xA9";
  for (int table = 0; table < 300; ++table) {
    Rows rows;
    int width = 1 + static_cast<int>(rng() % 6);
    for (int r = 0; r < 1 + static_cast<int>(rng() % 20); ++r) {
      std::vector<std::string> row;
      for (int c = 0; c < width; ++c) {
        std::string cell;
        for (int k = static_cast<int>(rng() % 6); k > 0; --k)
          cell += alphabet[rng() % alphabet.size()];
        row.push_back(cell);
      }
      rows.push_back(std::move(row));
    }
    ASSERT_EQ(WithAppender(rows), WithWriter(rows)) << "table " << table;
  }
}

}  // namespace
}  // namespace taskmill::bulk
