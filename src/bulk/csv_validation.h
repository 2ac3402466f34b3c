// bulk/csv_validation.h — checking a CSV file against a bulk function's columns before
// a run is created (DESIGN.md, "Bulk CSV runs"):
//   - the file is not empty, and its quoting is well formed (the reader's errors);
//   - no header cell is empty, no column is named twice;
//   - the header has every mandatory column;
//   - every row has as many cells as the header;
//   - every row has a value (not empty, quoted or not) in each mandatory column;
//   - there is at least one data row.
// Every problem is reported, in file order, up to a limit (the rest are counted), so
// that a user fixes a file in one go. A quoting error ends the check: after it the
// reader cannot tell where records start.
//
// Pure functions over a csv::Reader; thread-safe.
#pragma once

#include <taskmill/status.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "csv/csv_reader.h"

namespace taskmill::bulk {

struct CsvProblem {
  int64_t line = 0;
  std::optional<int64_t> column;  // 1-based cell (header problems) or character column
  std::string message;            // without the "line N: " prefix
};

struct CsvCheck {
  std::vector<std::string> header;
  int64_t rows = 0;                  // data rows read
  std::vector<CsvProblem> problems;  // at most the limit given
  int64_t problem_count = 0;         // all problems found
  // The reader's error when a record exceeds max_record_size (also in `problems`).
  std::optional<Status> record_too_large;
  bool ok() const { return problem_count == 0; }
};

CsvCheck CheckCsv(csv::Reader& reader, const std::vector<std::string>& mandatory,
                  const std::vector<std::string>& optional, size_t max_problems);

// The Status a failed check answers: kInvalidArgument, message
//   "<what> is not a valid input for <function>:\nline 1: ...\nline 7: ..."
// and details {"code": "invalid_csv", "errors": [{"line", "column"?, "message"}],
// "error_count": N}; kTooLarge (413 too_large) with the same message and details
// (without the code, with "max_record_size") when a record is over the limit.
Status CheckStatus(const CsvCheck& check, const std::string& what, const std::string& function);

}  // namespace taskmill::bulk
